//! The `redis-sentinel` lock: the [`redis`](super::redis) lock on whichever server the
//! sentinels currently name as primary.
//!
//! The client asks the sentinels for the primary (the redis crate's Sentinel support,
//! which also checks that the server calls itself master), then runs the `redis` lock
//! there, fencing INCR counter included. After a connection failure, a timeout, or a
//! refusal such as READONLY (a demoted primary), it asks the sentinels again before the
//! next call. Like most Sentinel clients it does not ask on every call: a client whose
//! primary was paused and came back still talks to it until something fails, which is
//! the two-primaries window this lock is tested for. Replication is asynchronous, so a
//! failover can lose the lock key and the fencing counter's latest increments.

use super::{LockOptions, RedisLock, RedisLockConfig, duration_ms};
use crate::lock::{Guard, Lock, LockError, LockFuture};
use redis::ConnectionAddr;
use redis::sentinel::Sentinel;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A SentinelLockConfig is where the sentinels are and how the lock behaves.
#[derive(Clone, Debug)]
pub struct SentinelLockConfig {
    /// The sentinels, `host:port` each.
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the primary under.
    pub master: String,
    /// Fencing, the call bound and the holder-id prefix.
    pub options: LockOptions,
}

/// The primary in use and the `redis` lock client talking to it.
struct Current {
    addr: String,
    lock: Arc<RedisLock>,
}

/// A SentinelLock is a client of the `redis-sentinel` lock.
pub struct SentinelLock {
    cfg: SentinelLockConfig,
    current: Mutex<Option<Current>>,
    /// Counts primaries looked up, so holder ids stay unique across lock clients.
    lookups: AtomicU64,
}

impl SentinelLock {
    /// A client that finds the primary through `cfg.sentinels` on its first call.
    pub fn new(cfg: SentinelLockConfig) -> SentinelLock {
        SentinelLock {
            cfg,
            current: Mutex::new(None),
            lookups: AtomicU64::new(0),
        }
    }

    /// The primary the client is using, if it has looked one up.
    pub async fn primary(&self) -> Option<String> {
        self.current.lock().await.as_ref().map(|c| c.addr.clone())
    }

    fn connect_error(&self, message: String) -> LockError {
        LockError::Connect {
            addr: format!("sentinels={}", self.cfg.sentinels.join(",")),
            message,
        }
    }

    /// Asks the sentinels for the primary's address by `deadline` (definite on
    /// failure: nothing was sent to any primary).
    async fn lookup(&self, deadline: Instant) -> Result<String, LockError> {
        let urls: Vec<String> = self
            .cfg
            .sentinels
            .iter()
            .map(|s| format!("redis://{s}/"))
            .collect();
        let mut sentinel = Sentinel::build(urls).map_err(|e| {
            self.connect_error(format!("{e} (hint: give each sentinel as host:port)"))
        })?;
        let found = sentinel.async_master_for(&self.cfg.master, None);
        let client = match tokio::time::timeout_at(deadline, found).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(self.connect_error(format!("no primary: {e}"))),
            Err(_) => {
                let ms = duration_ms(self.cfg.options.op_timeout);
                return Err(self.connect_error(format!("no primary named within {ms} ms")));
            }
        };
        match client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, port) => Ok(format!("{host}:{port}")),
            other => Err(self.connect_error(format!("unexpected primary address {other}"))),
        }
    }

    /// The lock client for the current primary, looking it up if needed.
    async fn lock_client(&self) -> Result<Arc<RedisLock>, LockError> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref() {
            return Ok(c.lock.clone());
        }
        let deadline = Instant::now() + self.cfg.options.op_timeout;
        let addr = self.lookup(deadline).await?;
        let n = self.lookups.fetch_add(1, Ordering::Relaxed);
        let lock = Arc::new(RedisLock::new(RedisLockConfig {
            addr: addr.clone(),
            fencing: self.cfg.options.fencing,
            op_timeout: self.cfg.options.op_timeout,
            holder_prefix: format!("{}@{n}", self.cfg.options.holder_prefix),
        })?);
        tracing::info!(primary = %addr, "redis-sentinel: using primary");
        *current = Some(Current {
            addr,
            lock: lock.clone(),
        });
        Ok(lock)
    }

    /// Forgets the primary after a failure that suggests it may have changed.
    async fn after(&self, result: &Result<impl Sized, LockError>) {
        let stale = match result {
            Ok(_) => false,
            Err(LockError::Held { .. } | LockError::NotHolder { .. }) => false,
            Err(_) => true,
        };
        if stale {
            *self.current.lock().await = None;
        }
    }

    async fn acquire_inner(&self, key: &str, ttl: Duration) -> Result<Guard, LockError> {
        let lock = self.lock_client().await?;
        let result = lock.acquire(key, ttl).await;
        self.after(&result).await;
        result
    }

    async fn release_inner(&self, guard: &Guard) -> Result<(), LockError> {
        // The compare-and-delete carries the holder id, so any primary can judge it.
        let lock = self.lock_client().await?;
        let result = lock.release(guard).await;
        self.after(&result).await;
        result
    }
}

impl Lock for SentinelLock {
    fn name(&self) -> &str {
        "redis-sentinel"
    }

    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard> {
        Box::pin(self.acquire_inner(key, ttl))
    }

    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()> {
        Box::pin(self.release_inner(guard))
    }
}
