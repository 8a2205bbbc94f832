//! The `redis-sentinel` lock: the [`redis`](super::redis) lock on whichever server the
//! sentinels currently name as primary.
//!
//! The client asks every sentinel at once for the primary (`SENTINEL
//! get-master-addr-by-name`) and takes the first answer, then runs the `redis` lock
//! there, fencing INCR counter included. The redis crate's own Sentinel support asks the
//! sentinels one after another with no bound per sentinel, so a single unreachable
//! sentinel (a partition) would stall every lookup; asking all at once is what a client
//! that must follow failovers under partitions needs. After a connection failure, a
//! timeout, or a refusal such as READONLY (a demoted primary), the client asks again
//! before its next call. Like most Sentinel clients it does not ask on every call: a
//! client whose primary was cut off or paused and came back still talks to it until
//! something fails, which is the two-primaries window this lock is tested for.
//! Replication is asynchronous, so a failover can lose the lock key and the fencing
//! counter's latest increments.

use super::{LockOptions, RedisLock, RedisLockConfig, duration_ms};
use crate::lock::{Guard, Lock, LockError, LockFuture};
use redis::AsyncConnectionConfig;
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

    /// Asks every sentinel at once for the primary's address and returns the first
    /// answer by `deadline` (definite on failure: nothing was sent to any primary).
    async fn lookup(&self, deadline: Instant) -> Result<String, LockError> {
        let mut asks = tokio::task::JoinSet::new();
        for sentinel in &self.cfg.sentinels {
            let (sentinel, master) = (sentinel.clone(), self.cfg.master.clone());
            let timeout = self.cfg.options.op_timeout;
            asks.spawn(async move {
                let answer = ask_sentinel(&sentinel, &master, timeout).await;
                answer.map_err(|e| format!("sentinel={sentinel}: {e}"))
            });
        }
        let mut errors = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, asks.join_next()).await {
                Ok(Some(Ok(Ok(addr)))) => return Ok(addr),
                Ok(Some(Ok(Err(e)))) => errors.push(e),
                Ok(Some(Err(e))) => errors.push(e.to_string()),
                Ok(None) => break,
                Err(_) => {
                    let ms = duration_ms(self.cfg.options.op_timeout);
                    errors.push(format!("no sentinel answered within {ms} ms"));
                    break;
                }
            }
        }
        Err(self.connect_error(format!("no primary: {}", errors.join("; "))))
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

/// One sentinel's answer to `SENTINEL get-master-addr-by-name`, as `host:port`.
async fn ask_sentinel(sentinel: &str, master: &str, timeout: Duration) -> Result<String, String> {
    let client = redis::Client::open(format!("redis://{sentinel}/")).map_err(|e| e.to_string())?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| e.to_string())?;
    let reply: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(master)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    match reply {
        Some((host, port)) => Ok(format!("{host}:{port}")),
        None => Err(format!("does not monitor master={master}")),
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
