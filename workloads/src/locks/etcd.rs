//! The `etcd` lock: etcd v3's concurrency-mutex recipe reduced to a try-lock on one key.
//!
//! Acquire grants a lease of the lock's TTL, then runs one transaction: if the lock key
//! has never been created (`create_revision == 0`), put our holder id on it, attached to
//! the lease; otherwise read who holds it. The revision at which the put happened is the
//! key's create revision, and etcd revisions only grow, so it is the fencing token.
//! Release revokes the lease, which deletes the key in the same step; a lease that has
//! already expired answers "not found", which means the hold was lost. The hold ends on
//! its own when the lease expires, unless [`Lock::renew`] keeps it alive.
//!
//! etcd rounds lease TTLs to whole seconds and raises them to its minimum (1.5 x the
//! election timeout, 2 s with the defaults), so a 1000 ms TTL holds for 2 s.

use super::{LockOptions, duration_ms};
use crate::lock::{Guard, Lock, LockError, LockFuture};
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, PutOptions, Txn, TxnOp, TxnOpResponse,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// An EtcdLockConfig is how to reach the etcd cluster and how the lock behaves.
#[derive(Clone, Debug)]
pub struct EtcdLockConfig {
    /// The cluster's client endpoints, `host:port` each.
    pub endpoints: Vec<String>,
    /// Fencing, the call bound and the holder-id prefix.
    pub options: LockOptions,
}

/// An EtcdLock is a client of the `etcd` lock. It remembers the lease of each grant it
/// made, so a release revokes exactly that lease.
pub struct EtcdLock {
    cfg: EtcdLockConfig,
    client: tokio::sync::Mutex<Option<Client>>,
    leases: Mutex<HashMap<String, i64>>,
    grants: AtomicU64,
}

impl EtcdLock {
    /// A client for the cluster at `cfg.endpoints`; connects lazily, on the first call.
    pub fn new(cfg: EtcdLockConfig) -> Result<EtcdLock, LockError> {
        if cfg.endpoints.is_empty() {
            return Err(LockError::Connect {
                addr: "(none)".into(),
                message: "no etcd endpoints (hint: pass --etcd host:port,host:port)".into(),
            });
        }
        Ok(EtcdLock {
            cfg,
            client: tokio::sync::Mutex::new(None),
            leases: Mutex::new(HashMap::new()),
            grants: AtomicU64::new(0),
        })
    }

    fn addrs(&self) -> String {
        self.cfg.endpoints.join(",")
    }

    /// The client, built on first use. Building sends nothing (the channel connects on
    /// the first request), so a failure here is definite.
    async fn client(&self, deadline: Instant) -> Result<Client, LockError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        // require_leader: a member cut off from the leader answers "no leader" at once
        // instead of holding the request until our deadline.
        let opts = ConnectOptions::new()
            .with_connect_timeout(self.cfg.options.op_timeout)
            .with_require_leader(true);
        let eps: Vec<String> = self
            .cfg
            .endpoints
            .iter()
            .map(|e| format!("http://{e}"))
            .collect();
        let connect = Client::connect(eps, Some(opts));
        match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Ok(c)
            }
            Ok(Err(e)) => Err(LockError::Connect {
                addr: self.addrs(),
                message: e.to_string(),
            }),
            Err(_) => Err(LockError::Connect {
                addr: self.addrs(),
                message: format!("no connection within {} ms", duration_ms(self.op_timeout())),
            }),
        }
    }

    fn op_timeout(&self) -> Duration {
        self.cfg.options.op_timeout
    }

    /// Runs one request by `deadline` and classifies its failure. `may_have_effect`
    /// says whether a failed request may have left an effect (false for requests that
    /// change nothing a holder relies on, such as granting a lease nobody uses yet).
    async fn call<T, Fut>(
        &self,
        op: &str,
        deadline: Instant,
        fut: Fut,
        may_have_effect: bool,
    ) -> Result<T, LockError>
    where
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(op, e, may_have_effect)),
            Err(_) if may_have_effect => Err(LockError::Timeout {
                op: op.to_string(),
                after_ms: duration_ms(self.op_timeout()),
            }),
            Err(_) => Err(LockError::Rejected {
                message: format!(
                    "op={op}: no answer within {} ms before the lock was requested",
                    duration_ms(self.op_timeout())
                ),
            }),
        }
    }

    async fn acquire_inner(&self, key: &str, ttl: Duration) -> Result<Guard, LockError> {
        let deadline = Instant::now() + self.op_timeout();
        let mut client = self.client(deadline).await?;
        // A lease nobody has attached a key to changes nothing: failing to grant one is
        // a definite failure of the acquire.
        let ttl_s = i64::try_from(ttl.as_millis().div_ceil(1000)).unwrap_or(i64::MAX);
        let grant = client.lease_grant(ttl_s.max(1), None);
        let lease = self.call("acquire", deadline, grant, false).await?.id();
        let holder_id = format!(
            "{}:{}",
            self.cfg.options.holder_prefix,
            self.grants.fetch_add(1, Ordering::Relaxed)
        );
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key,
                holder_id.as_str(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(key, None)]);
        let mut txn_client = client.clone();
        let resp = self
            .call("acquire", deadline, txn_client.txn(txn), true)
            .await?;
        if !resp.succeeded() {
            // Someone holds it. Our unused lease would expire anyway; revoking it now
            // just keeps the server tidy, so its outcome does not matter.
            let _ = tokio::time::timeout_at(deadline, client.lease_revoke(lease)).await;
            let holder = resp.op_responses().into_iter().find_map(holder_of);
            tracing::debug!(key, holder = ?holder, "etcd lock held");
            return Err(LockError::Held { key: key.into() });
        }
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        self.remember(&holder_id, lease);
        Ok(Guard {
            key: key.to_string(),
            holder_id,
            token: u64::try_from(revision).ok().filter(|r| *r > 0),
        })
    }

    fn remember(&self, holder_id: &str, lease: i64) {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        leases.insert(holder_id.to_string(), lease);
    }

    fn lease_of(&self, guard: &Guard) -> Result<i64, LockError> {
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        leases
            .get(&guard.holder_id)
            .copied()
            .ok_or_else(|| not_holder(guard))
    }

    fn forget(&self, guard: &Guard) {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        leases.remove(&guard.holder_id);
    }

    async fn release_inner(&self, guard: &Guard) -> Result<(), LockError> {
        let lease = self.lease_of(guard)?;
        let deadline = Instant::now() + self.op_timeout();
        let mut client = self.client(deadline).await?;
        let revoke = client.lease_revoke(lease);
        match self.call("release", deadline, revoke, true).await {
            Ok(_) => {
                self.forget(guard);
                Ok(())
            }
            Err(e) if is_lease_not_found(&e) => {
                self.forget(guard);
                Err(not_holder(guard))
            }
            Err(e) => Err(e),
        }
    }

    async fn renew_inner(&self, guard: &Guard) -> Result<(), LockError> {
        let lease = self.lease_of(guard)?;
        let deadline = Instant::now() + self.op_timeout();
        let mut client = self.client(deadline).await?;
        let once = async {
            let (mut keeper, mut stream) = client.lease_keep_alive(lease).await?;
            keeper.keep_alive().await?;
            stream.message().await
        };
        match self.call("renew", deadline, once, true).await? {
            // A TTL of 0 is etcd's way of saying the lease is gone.
            Some(resp) if resp.ttl() > 0 => Ok(()),
            Some(_) => {
                self.forget(guard);
                Err(not_holder(guard))
            }
            None => Err(LockError::Unknown {
                op: "renew".into(),
                message: "keep-alive stream closed without an answer".into(),
                source: None,
            }),
        }
    }
}

impl Lock for EtcdLock {
    fn name(&self) -> &str {
        "etcd"
    }

    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard> {
        Box::pin(self.acquire_inner(key, ttl))
    }

    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()> {
        Box::pin(self.release_inner(guard))
    }

    /// Keeps the grant's lease alive for another full lease TTL (etcd renews to the TTL
    /// the lease was granted with; `ttl` is not used).
    fn renew<'a>(&'a self, guard: &'a Guard, _ttl: Duration) -> LockFuture<'a, ()> {
        Box::pin(self.renew_inner(guard))
    }
}

fn not_holder(guard: &Guard) -> LockError {
    LockError::NotHolder {
        key: guard.key.clone(),
        holder_id: guard.holder_id.clone(),
    }
}

fn holder_of(op: TxnOpResponse) -> Option<String> {
    match op {
        TxnOpResponse::Get(get) => get
            .kvs()
            .first()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
        _ => None,
    }
}

fn is_lease_not_found(e: &LockError) -> bool {
    matches!(e, LockError::Rejected { message } if message.contains("lease not found"))
}

/// Sorts an etcd error into definite or indeterminate. gRPC codes the server returns
/// after refusing to apply a request (bad argument, failed precondition, not found,
/// permission) are definite; a transport failure, "no leader", a deadline or anything
/// unknown may have been applied after the request left. `may_have_effect` false turns
/// every failure definite: the request changed nothing a lock holder relies on.
pub(crate) fn classify(op: &str, e: etcd_client::Error, may_have_effect: bool) -> LockError {
    use tonic::Code;
    let refused = match &e {
        etcd_client::Error::GRpcStatus(status) => matches!(
            status.code(),
            Code::InvalidArgument
                | Code::FailedPrecondition
                | Code::NotFound
                | Code::PermissionDenied
                | Code::Unauthenticated
                | Code::OutOfRange
                | Code::ResourceExhausted
        ),
        etcd_client::Error::InvalidArgs(_) | etcd_client::Error::InvalidUri(_) => true,
        _ => false,
    };
    if refused || !may_have_effect {
        LockError::Rejected {
            message: format!("op={op}: {e}"),
        }
    } else {
        LockError::Unknown {
            op: op.to_string(),
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_refusal_is_definite_and_an_unavailable_cluster_is_not() {
        let not_found = etcd_client::Error::GRpcStatus(tonic::Status::not_found(
            "etcdserver: requested lease not found",
        ));
        let e = classify("release", not_found, true);
        assert!(e.is_definite());
        assert!(is_lease_not_found(&e), "{e}");
        let no_leader =
            etcd_client::Error::GRpcStatus(tonic::Status::unavailable("etcdserver: no leader"));
        assert!(!classify("acquire", no_leader, true).is_definite());
        let timeout = etcd_client::Error::GRpcStatus(tonic::Status::deadline_exceeded("slow"));
        assert!(classify("acquire", timeout, false).is_definite());
    }
}
