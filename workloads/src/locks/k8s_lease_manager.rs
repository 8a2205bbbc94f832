//! The `k8s-lease-manager` lock: an adapter that puts the third-party crate
//! [kube-lease-manager](https://crates.io/crates/kube-lease-manager) under test, so the
//! suite validates lease code it did not write. The crate is used as its documentation
//! shows: one `LeaseManager` per identity, `changed()` until it reports leadership,
//! `release()` to give it up.
//!
//! What the adapter adds, and only that: a fresh identity per grant (as a fresh process
//! would use), a bound on `acquire` (past it the manager is dropped and the Lease read
//! once: if it names this identity the grant stands, otherwise the acquire was
//! refused), and the fencing token, `spec.leaseTransitions` read right after the grant.
//!
//! What the crate decides on its own, and so what a run tests: it judges expiry by the
//! holder's `renewTime` against its own `SystemTime::now()` (so the injected clock of
//! [`KubeLockConfig`] does not reach it), takes a free Lease with a server-side apply
//! that conflicts over another manager's `holderIdentity`, force-releases an expired
//! Lease with a strategic merge patch that carries no resourceVersion, and bumps
//! `leaseTransitions` in a second, separate patch. Its lease duration is whole seconds
//! with a grace period below it, so the shortest lease it takes is 2 s.

use super::k8s_elector_lock::{KubeLockConfig, kube_client};
use crate::lock::{Guard, Lock, LockError, LockFuture};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerError, LeaseParams};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The shortest lease the crate accepts: its grace period must be at least 1 s and
/// below the duration.
const MIN_DURATION_SECONDS: u64 = 2;

/// A LeaseManagerLock is the [`Lock`] adapter over kube-lease-manager.
pub struct LeaseManagerLock {
    cfg: KubeLockConfig,
    client: kube::Client,
    managers: Mutex<HashMap<String, LeaseManager>>,
    grants: AtomicU64,
}

impl LeaseManagerLock {
    /// An adapter reaching the API at `cfg.api`.
    pub fn new(cfg: KubeLockConfig) -> Result<LeaseManagerLock, LockError> {
        let client = kube_client(&cfg.api, cfg.op_timeout)?;
        Ok(LeaseManagerLock {
            cfg,
            client,
            managers: Mutex::new(HashMap::new()),
            grants: AtomicU64::new(0),
        })
    }

    fn api(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.cfg.namespace)
    }

    /// The Lease's holder and transitions as the server has them now.
    async fn read(&self, key: &str, deadline: Instant) -> Result<(String, Option<u64>), LockError> {
        let lease = match tokio::time::timeout_at(deadline, self.api().get(key)).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(e)) => return Err(self.error("read", &e.to_string(), true)),
            Err(_) => return Err(self.timeout("read")),
        };
        let spec = lease.spec.unwrap_or_default();
        let token = spec.lease_transitions.and_then(|t| u64::try_from(t).ok());
        Ok((spec.holder_identity.unwrap_or_default(), token))
    }

    fn timeout(&self, op: &str) -> LockError {
        LockError::Timeout {
            op: op.to_string(),
            after_ms: u64::try_from(self.cfg.op_timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn error(&self, op: &str, message: &str, definite: bool) -> LockError {
        if definite {
            LockError::Rejected {
                message: format!("op={op}: {message}"),
            }
        } else {
            LockError::Unknown {
                op: op.to_string(),
                message: message.to_string(),
                source: None,
            }
        }
    }

    async fn acquire_inner(&self, key: &str, ttl: Duration) -> Result<Guard, LockError> {
        let deadline = Instant::now() + self.cfg.op_timeout;
        let n = self.grants.fetch_add(1, Ordering::Relaxed);
        let identity = format!("{}-{n}", self.cfg.holder_prefix);
        let duration = ttl.as_secs().max(MIN_DURATION_SECONDS);
        let params = LeaseParams::new(identity.clone(), duration, 1);
        let build = LeaseManager::new(
            self.client.clone(),
            key,
            self.cfg.namespace.clone(),
            params,
            LeaseCreateMode::AutoCreate,
        );
        let manager = match tokio::time::timeout_at(deadline, build).await {
            Ok(Ok(m)) => m,
            // Building reads or creates an empty Lease: nothing that grants the lock.
            Ok(Err(e)) => return Err(self.error("acquire", &e.to_string(), true)),
            Err(_) => return Err(LockError::Held { key: key.into() }),
        };
        let outcome = tokio::time::timeout_at(deadline, manager.changed()).await;
        // Whatever `changed` said or was cut off in, the server's Lease is the answer.
        let read_by = Instant::now() + self.cfg.op_timeout / 2;
        let (holder, token) = match self.read(key, read_by).await {
            Ok(found) => found,
            Err(e) => {
                let msg = format!("the lease could not be read after the attempt: {e}");
                return Err(self.error("acquire", &msg, false));
            }
        };
        if holder != identity {
            return match outcome {
                Ok(Err(LeaseManagerError::KubeError(e))) => {
                    Err(self.error("acquire", &e.to_string(), false))
                }
                _ => Err(LockError::Held { key: key.into() }),
            };
        }
        self.managers.lock().await.insert(identity.clone(), manager);
        Ok(Guard {
            key: key.to_string(),
            holder_id: identity,
            token,
        })
    }

    async fn release_inner(&self, guard: &Guard) -> Result<(), LockError> {
        let deadline = Instant::now() + self.cfg.op_timeout;
        let not_holder = || LockError::NotHolder {
            key: guard.key.clone(),
            holder_id: guard.holder_id.clone(),
        };
        let Some(manager) = self.managers.lock().await.remove(&guard.holder_id) else {
            return Err(not_holder());
        };
        // The crate's release is a no-op for a non-holder; ask the server first so a
        // lost lease is reported as such.
        let (holder, _) = self.read(&guard.key, deadline).await?;
        if holder != guard.holder_id {
            return Err(not_holder());
        }
        match tokio::time::timeout_at(deadline, manager.release()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.error("release", &e.to_string(), false)),
            Err(_) => Err(self.timeout("release")),
        }
    }
}

impl Lock for LeaseManagerLock {
    fn name(&self) -> &str {
        "k8s-lease-manager"
    }

    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard> {
        Box::pin(self.acquire_inner(key, ttl))
    }

    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()> {
        Box::pin(self.release_inner(guard))
    }
}
