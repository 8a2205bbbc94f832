//! The `zookeeper` lock: the ephemeral-sequential recipe of Curator's InterProcessMutex,
//! tried once.
//!
//! Acquire creates `/splitbrain/locks/<key>/lock-<seq>` as an ephemeral-sequential znode
//! and lists its siblings: the lowest sequence holds the lock. If ours is not the lowest
//! the attempt deletes its znode and reports the lock held (a try-lock does not queue).
//! The hold lasts as long as the ZooKeeper session: the client's heartbeats keep it
//! alive, and if they stop for longer than the session timeout (the lock's TTL, within
//! ZooKeeper's bounds of 2 to 20 ticks) the ensemble expires the session and deletes the
//! znode. A paused holder does not notice, which is why the fencing token matters: the
//! znode's `czxid`, the transaction id of its creation, which only grows.
//!
//! After any outcome that leaves the session's state unknown (connection lost, timeout)
//! the client drops its session, so a znode it may have created goes away with it and
//! can never turn into a hold nobody knows about.

use super::{LockOptions, duration_ms};
use crate::lock::{Guard, Lock, LockError, LockFuture};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use zookeeper_client::{Acls, Client, CreateMode, SessionId};

/// The parent of every lock's directory.
pub const LOCK_ROOT: &str = "/splitbrain/locks";

/// ZooKeeper's session-timeout bounds with the ensemble's tickTime of 500 ms (2 and 20
/// ticks); the server would clamp anything outside them.
const SESSION_MIN: Duration = Duration::from_millis(1000);
const SESSION_MAX: Duration = Duration::from_millis(10_000);

/// A ZookeeperLockConfig is how to reach the ensemble and how the lock behaves.
#[derive(Clone, Debug)]
pub struct ZookeeperLockConfig {
    /// The ensemble's client addresses, `host:port` each.
    pub servers: Vec<String>,
    /// Fencing, the call bound and the holder-id prefix.
    pub options: LockOptions,
}

/// A ZookeeperLock is a client of the `zookeeper` lock with one session at a time.
pub struct ZookeeperLock {
    cfg: ZookeeperLockConfig,
    session: tokio::sync::Mutex<Option<Client>>,
    /// The session each grant's znode belongs to, by holder id (the znode path).
    owners: Mutex<HashMap<String, SessionId>>,
    /// Lock directories known to exist.
    dirs: Mutex<HashSet<String>>,
}

impl ZookeeperLock {
    /// A client for the ensemble at `cfg.servers`; connects on the first acquire.
    pub fn new(cfg: ZookeeperLockConfig) -> ZookeeperLock {
        ZookeeperLock {
            cfg,
            session: tokio::sync::Mutex::new(None),
            owners: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashSet::new()),
        }
    }

    /// The znode directory of a lock key.
    pub fn lock_dir(key: &str) -> String {
        format!("{LOCK_ROOT}/{}", key.replace('/', "_"))
    }

    fn op_timeout(&self) -> Duration {
        self.cfg.options.op_timeout
    }

    fn timeout(&self, op: &str) -> LockError {
        LockError::Timeout {
            op: op.to_string(),
            after_ms: duration_ms(self.op_timeout()),
        }
    }

    /// The live session, or a new one (session timeout from `ttl`) by `deadline`.
    /// Failing here is definite: a session that is not established holds nothing.
    async fn client(&self, ttl: Duration, deadline: Instant) -> Result<Client, LockError> {
        let mut slot = self.session.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.state().is_terminated()) {
            return Ok(c.clone());
        }
        *slot = None;
        let servers = self.cfg.servers.join(",");
        let connect = Client::connector()
            .with_session_timeout(ttl.clamp(SESSION_MIN, SESSION_MAX))
            .with_connection_timeout(self.op_timeout())
            .connect(&servers);
        let message = match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                return Ok(c);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no session within {} ms", duration_ms(self.op_timeout())),
        };
        Err(LockError::Connect {
            addr: self.cfg.servers.join(","),
            message,
        })
    }

    /// Forgets the session: dropping the last handle closes it, and the ensemble
    /// deletes its ephemeral znodes (at once, or when it expires if it cannot be told).
    async fn drop_session(&self) {
        *self.session.lock().await = None;
    }

    /// Runs one request by `deadline`; indeterminate outcomes drop the session.
    async fn call<T>(
        &self,
        op: &str,
        deadline: Instant,
        fut: impl std::future::Future<Output = Result<T, zookeeper_client::Error>>,
    ) -> Result<T, ZkFailure> {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if !is_refusal(&e) {
                    self.drop_session().await;
                }
                Err(ZkFailure::Server(e))
            }
            Err(_) => {
                self.drop_session().await;
                Err(ZkFailure::Deadline(self.timeout(op)))
            }
        }
    }

    async fn ensure_dir(
        &self,
        client: &Client,
        dir: &str,
        deadline: Instant,
    ) -> Result<(), LockError> {
        if self
            .dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(dir)
        {
            return Ok(());
        }
        let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
        // Creating directories grants nothing, so its failure is a definite one.
        self.call("acquire", deadline, client.mkdir(dir, &opts))
            .await
            .map_err(|f| f.definite("acquire"))?;
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_string());
        Ok(())
    }

    async fn acquire_inner(&self, key: &str, ttl: Duration) -> Result<Guard, LockError> {
        let deadline = Instant::now() + self.op_timeout();
        let client = self.client(ttl, deadline).await?;
        let dir = Self::lock_dir(key);
        self.ensure_dir(&client, &dir, deadline).await?;
        let opts = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
        let prefix = format!("{dir}/lock-");
        let data = self.cfg.options.holder_prefix.as_bytes();
        let create = client.create(&prefix, data, &opts);
        let (stat, seq) = self
            .call("acquire", deadline, create)
            .await
            .map_err(|f| f.classify("acquire"))?;
        let ours = format!("{prefix}{seq}");
        let children = self
            .call("acquire", deadline, client.list_children(&dir))
            .await
            .map_err(|f| f.classify("acquire"))?;
        if lowest(&children).map(|c| format!("{dir}/{c}")) != Some(ours.clone()) {
            // Not first: withdraw. If the delete fails the session is dropped, which
            // removes the znode too, so the refusal stays definite either way.
            let _ = self
                .call("acquire", deadline, client.delete(&ours, None))
                .await;
            return Err(LockError::Held { key: key.into() });
        }
        self.owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ours.clone(), client.session_id());
        Ok(Guard {
            key: key.to_string(),
            holder_id: ours,
            token: u64::try_from(stat.czxid).ok(),
        })
    }

    /// The current session, if the guard's znode was created in it; otherwise the
    /// session that held it is gone and so is the znode.
    async fn session_of(&self, guard: &Guard) -> Result<Client, LockError> {
        let owner = self
            .owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&guard.holder_id)
            .copied();
        let current = self.session.lock().await.clone();
        match (owner, current) {
            (Some(owner), Some(c)) if c.session_id() == owner && !c.state().is_terminated() => {
                Ok(c)
            }
            _ => Err(not_holder(guard)),
        }
    }

    async fn release_inner(&self, guard: &Guard) -> Result<(), LockError> {
        let deadline = Instant::now() + self.op_timeout();
        let result = match self.session_of(guard).await {
            Ok(client) => self
                .call("release", deadline, client.delete(&guard.holder_id, None))
                .await
                .map_err(|f| match f {
                    ZkFailure::Server(zookeeper_client::Error::NoNode)
                    | ZkFailure::Server(zookeeper_client::Error::SessionExpired) => {
                        not_holder(guard)
                    }
                    other => other.classify("release"),
                }),
            Err(e) => Err(e),
        };
        if result
            .as_ref()
            .map_or_else(LockError::is_definite, |_| true)
        {
            self.owners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&guard.holder_id);
        }
        result
    }

    /// The session's heartbeats renew the hold; renewing checks it is still ours.
    async fn renew_inner(&self, guard: &Guard) -> Result<(), LockError> {
        let deadline = Instant::now() + self.op_timeout();
        let client = self.session_of(guard).await?;
        let stat = self
            .call("renew", deadline, client.check_stat(&guard.holder_id))
            .await
            .map_err(|f| f.classify("renew"))?;
        match stat {
            Some(s) if s.ephemeral_owner == client.session_id().0 => Ok(()),
            _ => Err(not_holder(guard)),
        }
    }
}

impl Lock for ZookeeperLock {
    fn name(&self) -> &str {
        "zookeeper"
    }

    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard> {
        Box::pin(self.acquire_inner(key, ttl))
    }

    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()> {
        Box::pin(self.release_inner(guard))
    }

    fn renew<'a>(&'a self, guard: &'a Guard, _ttl: Duration) -> LockFuture<'a, ()> {
        Box::pin(self.renew_inner(guard))
    }
}

/// A ZkFailure is a failed request before it is classified for the operation it
/// belongs to.
enum ZkFailure {
    Server(zookeeper_client::Error),
    Deadline(LockError),
}

impl ZkFailure {
    /// Refusals are definite; a lost connection or a deadline may have been applied.
    fn classify(self, op: &str) -> LockError {
        match self {
            ZkFailure::Deadline(e) => e,
            ZkFailure::Server(e) if is_refusal(&e) => LockError::Rejected {
                message: format!("op={op}: {e}"),
            },
            ZkFailure::Server(e) => LockError::Unknown {
                op: op.to_string(),
                message: e.to_string(),
                source: Some(Box::new(e)),
            },
        }
    }

    /// For requests whose effect grants nothing (making directories).
    fn definite(self, op: &str) -> LockError {
        let message = match self {
            ZkFailure::Deadline(e) => e.to_string(),
            ZkFailure::Server(e) => e.to_string(),
        };
        LockError::Rejected {
            message: format!("op={op}: {message}"),
        }
    }
}

/// Errors the server returns instead of applying the request. An expired session
/// applies nothing, and its ephemeral znodes are gone.
fn is_refusal(e: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error as E;
    matches!(
        e,
        E::NoNode
            | E::NodeExists
            | E::NoAuth
            | E::BadVersion
            | E::NoChildrenForEphemerals
            | E::NotEmpty
            | E::SessionExpired
            | E::InvalidAcl
            | E::AuthFailed
            | E::NotReadOnly
            | E::BadArguments(_)
            | E::ClientClosed
            | E::Throttled
    )
}

/// The child with the lowest sequence number: the holder. Sequence numbers are the
/// fixed-width digits after the last `-`.
fn lowest(children: &[String]) -> Option<&String> {
    children
        .iter()
        .filter_map(|c| {
            let seq = c.rsplit('-').next()?.parse::<i64>().ok()?;
            Some((seq, c))
        })
        .min()
        .map(|(_, c)| c)
}

fn not_holder(guard: &Guard) -> LockError {
    LockError::NotHolder {
        key: guard.key.clone(),
        holder_id: guard.holder_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_sequence_holds_whatever_the_listing_order() {
        let children = vec![
            "lock-0000000012".to_string(),
            "lock-0000000009".to_string(),
            "junk".to_string(),
            "lock-0000000010".to_string(),
        ];
        assert_eq!(lowest(&children).unwrap(), "lock-0000000009");
        assert_eq!(lowest(&[]), None);
    }

    #[test]
    fn a_lost_connection_is_indeterminate_and_an_expired_session_is_not() {
        let lost = ZkFailure::Server(zookeeper_client::Error::ConnectionLoss).classify("acquire");
        assert!(!lost.is_definite(), "{lost}");
        let expired =
            ZkFailure::Server(zookeeper_client::Error::SessionExpired).classify("acquire");
        assert!(expired.is_definite(), "{expired}");
        assert_eq!(
            ZookeeperLock::lock_dir("a/b"),
            format!("{LOCK_ROOT}/a_b"),
            "a key never adds directory levels"
        );
    }
}
