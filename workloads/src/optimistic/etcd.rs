//! The optimistic workload's store on etcd: each counter is a key holding the number as
//! text; a read returns it with the key's `mod_revision`, and a compare-and-set is one
//! transaction: if the key's `mod_revision` still equals the one read, put the new
//! value. etcd applies a transaction atomically, and a transaction whose compare fails
//! changes nothing, so "compare failed" is a definite refusal.

use super::store::VersionedStore;
use crate::lock::{LockError, LockFuture};
use crate::locks::etcd::classify;
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, Txn, TxnOp};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// An EtcdVersionedStore keeps counters as etcd keys. It remembers, per counter, the
/// value and `mod_revision` its last read saw, so a compare-and-set from that value is
/// a transaction preconditioned on that revision (0 for a key never written).
pub struct EtcdVersionedStore {
    endpoints: Vec<String>,
    client: tokio::sync::Mutex<Option<Client>>,
    op_timeout: Duration,
    skip_version_check: bool,
    seen: Mutex<HashMap<String, (i64, i64)>>,
}

impl EtcdVersionedStore {
    /// A store on the etcd cluster at `endpoints` (`host:port` each); connects on the
    /// first call. `skip_version_check` makes every compare-and-set an unconditional
    /// put (for showing the checker a broken store).
    pub fn new(
        endpoints: &[String],
        op_timeout: Duration,
        skip_version_check: bool,
    ) -> Result<EtcdVersionedStore, LockError> {
        if endpoints.is_empty() {
            return Err(LockError::Connect {
                addr: "(none)".into(),
                message: "no etcd endpoints (hint: pass --etcd host:port,host:port)".into(),
            });
        }
        Ok(EtcdVersionedStore {
            endpoints: endpoints.to_vec(),
            client: tokio::sync::Mutex::new(None),
            op_timeout,
            skip_version_check,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// The client, built on first use; building sends nothing that changes state, so a
    /// failure is definite.
    async fn client(&self, deadline: Instant) -> Result<Client, LockError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        // require_leader: a member cut off from the leader answers at once instead of
        // holding the request until the deadline.
        let opts = ConnectOptions::new()
            .with_connect_timeout(self.op_timeout)
            .with_require_leader(true);
        let eps: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| format!("http://{e}"))
            .collect();
        let error = |message: String| LockError::Connect {
            addr: self.endpoints.join(","),
            message,
        };
        match tokio::time::timeout_at(deadline, Client::connect(eps, Some(opts))).await {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Ok(c)
            }
            Ok(Err(e)) => Err(error(e.to_string())),
            Err(_) => Err(error("no connection within the op timeout".into())),
        }
    }

    /// Runs one request by `deadline`; `writes` says whether a failure may have left
    /// an effect (a read's failure never does).
    async fn call<T>(
        &self,
        op: &str,
        deadline: Instant,
        fut: impl Future<Output = Result<T, etcd_client::Error>>,
        writes: bool,
    ) -> Result<T, LockError> {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(op, e, writes)),
            Err(_) if writes => Err(LockError::Timeout {
                op: op.into(),
                after_ms: u64::try_from(self.op_timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(_) => Err(LockError::Rejected {
                message: format!("op={op}: no answer within {:?}", self.op_timeout),
            }),
        }
    }

    fn remember(&self, key: &str, value: i64, revision: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(key.to_string(), (value, revision));
    }

    fn remembered(&self, key: &str) -> Option<(i64, i64)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(key).copied()
    }

    /// The counter and its `mod_revision` (0, 0 for a key never written).
    async fn fetch(&self, key: &str) -> Result<(i64, i64), LockError> {
        let deadline = Instant::now() + self.op_timeout;
        let mut client = self.client(deadline).await?;
        let resp = self
            .call("read", deadline, client.get(key, None), false)
            .await?;
        let Some(kv) = resp.kvs().first() else {
            self.remember(key, 0, 0);
            return Ok((0, 0));
        };
        let text = String::from_utf8_lossy(kv.value());
        let value = text.parse().map_err(|_| LockError::Rejected {
            message: format!(
                "key={key} value={text:?} is not an integer \
                 (hint: delete the key so the counter restarts from 0)"
            ),
        })?;
        self.remember(key, value, kv.mod_revision());
        Ok((value, kv.mod_revision()))
    }

    async fn swap(&self, key: &str, from: i64, to: i64) -> Result<bool, LockError> {
        // The revision the caller's read saw; a fresh read when it read something else,
        // so the precondition is always a revision at which the counter held `from`.
        let revision = match self.remembered(key) {
            Some((value, revision)) if value == from => revision,
            _ => match self.fetch(key).await? {
                (value, revision) if value == from => revision,
                _ => return Ok(false),
            },
        };
        let put = TxnOp::put(key, to.to_string(), None);
        let txn = if self.skip_version_check {
            Txn::new().and_then([put])
        } else {
            Txn::new()
                .when([Compare::mod_revision(key, CompareOp::Equal, revision)])
                .and_then([put])
        };
        let deadline = Instant::now() + self.op_timeout;
        let mut client = self.client(deadline).await?;
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        let resp = self.call("cas", deadline, client.txn(txn), true).await?;
        if let Some(h) = resp.header().filter(|_| resp.succeeded()) {
            self.remember(key, to, h.revision());
        }
        Ok(resp.succeeded())
    }
}

impl VersionedStore for EtcdVersionedStore {
    fn name(&self) -> &str {
        "etcd"
    }

    fn read<'a>(&'a self, key: &'a str) -> LockFuture<'a, i64> {
        Box::pin(async move { self.fetch(key).await.map(|(v, _)| v) })
    }

    fn cas<'a>(&'a self, key: &'a str, from: i64, to: i64) -> LockFuture<'a, bool> {
        Box::pin(self.swap(key, from, to))
    }
}
