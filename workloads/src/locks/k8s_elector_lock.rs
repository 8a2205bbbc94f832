//! The [`Lock`] contract over client-go's leader election ([`super::k8s_elector`]), and
//! what every Kubernetes lock shares: the kube-rs client for an API URL and the sorting
//! of its errors into definite and indeterminate.
//!
//! The mapping: `acquire` runs `tryAcquireOrRenew` every RetryPeriod until this client
//! leads or the op timeout is near (then [`LockError::Held`]); `renew` is one
//! `tryAcquireOrRenew` as the leader; `release` is client-go's ReleaseOnCancel. Every
//! grant uses a fresh identity (`holder_prefix:n`), as a fresh process would, so
//! `leaderTransitions` grows with every grant and serves as the fencing token.

use super::k8s_elector::{Attempt, Clocks, Elector, RecordStore, StoreError, StoreErrorKind};
use crate::lock::{Guard, Lock, LockError, LockFuture};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A KubeLockConfig is how to reach the Kubernetes API and how a lock client behaves.
#[derive(Clone)]
pub struct KubeLockConfig {
    /// How to reach the API server: its URL, CA and credentials (from a kubeconfig,
    /// see [`load_kubeconfig`]).
    pub api: kube::Config,
    /// The namespace holding the lock objects.
    pub namespace: String,
    /// The bound on every lock call; `acquire` keeps retrying until close to it.
    pub op_timeout: Duration,
    /// The start of every holder identity; the lock appends a grant counter. Make it
    /// unique per client (node, pid, start time).
    pub holder_prefix: String,
    /// Where the elector takes "now" from.
    pub clocks: Clocks,
}

impl std::fmt::Debug for KubeLockConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeLockConfig")
            .field("api", &self.api.cluster_url)
            .field("namespace", &self.namespace)
            .field("op_timeout", &self.op_timeout)
            .field("holder_prefix", &self.holder_prefix)
            .finish_non_exhaustive()
    }
}

/// Reads a kubeconfig file (its current context) into a kube-rs config: the API
/// server's URL, its CA and the user's credentials. A file that cannot be read or
/// names no usable context is an [`crate::Error::Config`] naming the file.
pub async fn load_kubeconfig(path: &std::path::Path) -> Result<kube::Config, crate::Error> {
    let config_error = |message: String| crate::Error::Config {
        name: "kubeconfig",
        value: path.display().to_string(),
        hint: format!(
            "{message}; give a kubeconfig file with a current context, as `splitbrain \
             run` writes one for each node"
        ),
    };
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).map_err(|e| config_error(e.to_string()))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| config_error(e.to_string()))
}

/// A kube-rs client for `api`, without kube-rs's own retries (client-go does not
/// retry a lock write either: the algorithm's next round is the retry).
pub fn kube_client(api: &kube::Config, op_timeout: Duration) -> Result<kube::Client, LockError> {
    let mut config = api.clone();
    config.default_retry = false;
    config.connect_timeout = Some(op_timeout);
    kube::Client::try_from(config).map_err(|e| LockError::Connect {
        addr: api.cluster_url.to_string(),
        message: e.to_string(),
    })
}

/// Sorts a kube-rs error into the store's kinds.
pub fn classify(op: &str, e: kube::Error) -> StoreError {
    let kind = match &e {
        kube::Error::Api(s) => match s.code {
            409 => StoreErrorKind::Conflict,
            404 => StoreErrorKind::NotFound,
            504 => StoreErrorKind::Timeout,
            400..=499 => StoreErrorKind::Refused,
            _ => StoreErrorKind::Unknown,
        },
        kube::Error::BuildRequest(_) | kube::Error::HttpError(_) => StoreErrorKind::Refused,
        other if never_connected(other) => StoreErrorKind::Refused,
        _ => StoreErrorKind::Unknown,
    };
    let detail = match &e {
        kube::Error::Api(s) => format!("code={} reason={}: {}", s.code, s.reason, s.message),
        other => chain(other),
    };
    StoreError {
        kind,
        message: format!("op={op}: {detail}"),
    }
}

/// An error and its causes in one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// True when the request never left: the connection could not be made.
fn never_connected(e: &kube::Error) -> bool {
    let text = chain(e);
    text.contains("client error (Connect)") || text.contains("Connection refused")
}

/// A lock's lease duration: the TTL in whole seconds, rounded up, at least 1 (the
/// record's `leaseDurationSeconds` is an integer).
pub fn lease_duration(ttl: Duration) -> Duration {
    let secs = ttl.as_millis().div_ceil(1000).max(1);
    Duration::from_secs(u64::try_from(secs).unwrap_or(u64::MAX))
}

/// The RetryPeriod for a lease duration: a fifth of it, so that
/// LeaseDuration > RenewDeadline (two thirds) > RetryPeriod, as client-go requires.
pub fn retry_period(lease: Duration) -> Duration {
    lease / 5
}

/// A StoreFactory makes the record store for one lock key.
pub type StoreFactory = Box<dyn Fn(&str) -> Box<dyn RecordStore> + Send + Sync>;

/// An ElectionLock is a [`Lock`] driven by client-go's leader election, with one
/// [`Elector`] per key.
pub struct ElectionLock {
    name: &'static str,
    cfg: KubeLockConfig,
    stores: StoreFactory,
    electors: Mutex<HashMap<String, Arc<Elector>>>,
    grants: AtomicU64,
}

impl ElectionLock {
    /// A lock named `name` whose records live in the stores `stores` makes.
    pub fn new(name: &'static str, cfg: KubeLockConfig, stores: StoreFactory) -> ElectionLock {
        ElectionLock {
            name,
            cfg,
            stores,
            electors: Mutex::new(HashMap::new()),
            grants: AtomicU64::new(0),
        }
    }

    /// The elector of `key`, made on first use.
    pub fn elector(&self, key: &str) -> Arc<Elector> {
        let mut map = self.electors.lock().unwrap_or_else(|e| e.into_inner());
        let make = || Arc::new(Elector::new((self.stores)(key), self.cfg.clocks.clone()));
        Arc::clone(map.entry(key.to_string()).or_insert_with(make))
    }

    fn next_identity(&self) -> String {
        let n = self.grants.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.cfg.holder_prefix)
    }

    fn after_ms(&self) -> u64 {
        u64::try_from(self.cfg.op_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    fn lock_error(&self, op: &str, e: StoreError, definite: LockError) -> LockError {
        match e.kind {
            StoreErrorKind::Conflict | StoreErrorKind::NotFound => definite,
            StoreErrorKind::Refused => LockError::Rejected { message: e.message },
            StoreErrorKind::Timeout => LockError::Timeout {
                op: op.to_string(),
                after_ms: self.after_ms(),
            },
            StoreErrorKind::Unknown => LockError::Unknown {
                op: op.to_string(),
                source: Some(Box::new(e.clone())),
                message: e.message,
            },
        }
    }

    async fn acquire_inner(&self, key: &str, ttl: Duration) -> Result<Guard, LockError> {
        let elector = self.elector(key);
        let identity = self.next_identity();
        let deadline = Instant::now() + self.cfg.op_timeout;
        let lease = lease_duration(ttl);
        let retry = retry_period(lease);
        // Once a write's outcome is unknown the acquire can no longer be called a
        // definite refusal, even if later rounds see someone else leading.
        let mut unknown = None;
        // Held only if the record was seen at least once; otherwise say why it was not.
        let (mut unread, mut seen) = (None, false);
        loop {
            match elector
                .try_acquire_or_renew(&identity, lease, deadline)
                .await
            {
                Attempt::Leader(transitions) => {
                    return Ok(Guard {
                        key: key.to_string(),
                        holder_id: identity,
                        token: u64::try_from(transitions).ok(),
                    });
                }
                Attempt::NotLeader => seen = true,
                Attempt::Unknown(e) => unknown = Some(e),
                Attempt::Unreadable(e) => unread = Some(e),
            }
            if Instant::now() + retry >= deadline {
                break;
            }
            tokio::time::sleep(retry).await;
        }
        let held = LockError::Held { key: key.into() };
        match (unknown, unread) {
            (Some(e), _) => Err(self.lock_error("acquire", e, held)),
            (None, Some(e)) if !seen => Err(LockError::Rejected {
                message: format!(
                    "op=acquire: the leader record could not be read: {}: {e}",
                    elector.describe()
                ),
            }),
            (None, _) => Err(held),
        }
    }

    async fn release_inner(&self, guard: &Guard) -> Result<(), LockError> {
        let elector = self.elector(&guard.key);
        let deadline = Instant::now() + self.cfg.op_timeout;
        let not_holder = || LockError::NotHolder {
            key: guard.key.clone(),
            holder_id: guard.holder_id.clone(),
        };
        match elector.release(&guard.holder_id, deadline).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_holder()),
            Err(e) => Err(self.lock_error("release", e, not_holder())),
        }
    }

    async fn renew_inner(&self, guard: &Guard, ttl: Duration) -> Result<(), LockError> {
        let elector = self.elector(&guard.key);
        let deadline = Instant::now() + self.cfg.op_timeout;
        let not_holder = LockError::NotHolder {
            key: guard.key.clone(),
            holder_id: guard.holder_id.clone(),
        };
        match elector
            .try_acquire_or_renew(&guard.holder_id, lease_duration(ttl), deadline)
            .await
        {
            Attempt::Leader(_) => Ok(()),
            Attempt::NotLeader | Attempt::Unreadable(_) => Err(not_holder),
            Attempt::Unknown(e) => Err(self.lock_error("renew", e, not_holder)),
        }
    }
}

impl Lock for ElectionLock {
    fn name(&self) -> &str {
        self.name
    }

    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard> {
        Box::pin(self.acquire_inner(key, ttl))
    }

    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()> {
        Box::pin(self.release_inner(guard))
    }

    fn renew<'a>(&'a self, guard: &'a Guard, ttl: Duration) -> LockFuture<'a, ()> {
        Box::pin(self.renew_inner(guard, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_durations_round_up_to_whole_seconds() {
        assert_eq!(
            lease_duration(Duration::from_millis(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            lease_duration(Duration::from_millis(1000)),
            Duration::from_secs(1)
        );
        assert_eq!(
            lease_duration(Duration::from_millis(1001)),
            Duration::from_secs(2)
        );
        let lease = Duration::from_secs(1);
        assert!(
            retry_period(lease) < lease * 2 / 3,
            "RenewDeadline > RetryPeriod"
        );
    }

    #[test]
    fn conflicts_are_definite_and_server_errors_are_not() {
        let status = |code: u16| {
            let mut s = kube::core::Status::failure("m", "r");
            s.code = code;
            kube::Error::Api(Box::new(s))
        };
        assert_eq!(
            classify("update", status(409)).kind,
            StoreErrorKind::Conflict
        );
        assert_eq!(
            classify("update", status(422)).kind,
            StoreErrorKind::Refused
        );
        assert!(classify("update", status(500)).may_have_applied());
        assert!(classify("update", status(504)).may_have_applied());
    }
}
