//! The `redis` lock: a single Redis server, `SET key holder NX PX ttl` to acquire, a
//! compare-and-delete script to release and a compare-and-`PEXPIRE` script to renew.
//! With fencing on, the acquire is a script that does the `SET NX PX` and, only if it
//! succeeded, an `INCR` of `{key}:fence`, so a token is handed out if and only if the
//! lock was granted (both happen atomically in Redis).

use crate::clock::Clock;
use crate::lock::{Guard, Lock, LockError, LockFuture};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, Script, ServerErrorKind};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// SET NX PX, then INCR only on success; nil means someone else holds the lock.
const FENCED_ACQUIRE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"#;

/// Deletes the key only if it still holds our value: a holder whose TTL ran out must not
/// free the lock of whoever took it next.
const COMPARE_AND_DELETE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Extends the TTL only if the key still holds our value, for the same reason.
const COMPARE_AND_EXTEND: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// A RedisLockConfig is how to reach the Redis server and how the lock behaves.
#[derive(Clone, Debug)]
pub struct RedisLockConfig {
    /// The server, `host:port`.
    pub addr: String,
    /// Hand out an INCR fencing token with every grant.
    pub fencing: bool,
    /// The bound on every call, connecting included; past it the call is a timeout
    /// (or, if it was still connecting, a definite connect failure).
    pub op_timeout: Duration,
    /// The start of every holder id; the lock appends a grant counter. Make it unique
    /// per client (node, pid, process), so holder ids never repeat across clients.
    pub holder_prefix: String,
}

/// A RedisLock is a client of the `redis` lock. It keeps one connection and replaces it
/// after any timeout or connection error, so a reply that arrives late can never be
/// mistaken for the answer to a later request.
pub struct RedisLock {
    cfg: RedisLockConfig,
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    grants: AtomicU64,
    clock: Arc<Clock>,
    fenced_acquire: Script,
    release: Script,
    extend: Script,
}

impl RedisLock {
    /// A client for the server at `cfg.addr`; connects lazily, on the first call.
    pub fn new(cfg: RedisLockConfig) -> Result<RedisLock, LockError> {
        let client = redis::Client::open(format!("redis://{}/", cfg.addr)).map_err(|e| {
            LockError::Connect {
                addr: cfg.addr.clone(),
                message: format!("{e} (hint: give the address as host:port)"),
            }
        })?;
        Ok(RedisLock {
            cfg,
            client,
            conn: Mutex::new(None),
            grants: AtomicU64::new(0),
            clock: Arc::new(Clock::system()),
            fenced_acquire: Script::new(FENCED_ACQUIRE),
            release: Script::new(COMPARE_AND_DELETE),
            extend: Script::new(COMPARE_AND_EXTEND),
        })
    }

    /// The same client with its request timeouts measured on `clock` (the agent's
    /// injectable clock) instead of the true time.
    pub fn with_clock(mut self, clock: Arc<Clock>) -> RedisLock {
        self.clock = clock;
        self
    }

    /// The fencing counter's key for a lock key.
    pub fn fence_key(key: &str) -> String {
        format!("{key}:fence")
    }

    /// The current connection, or a new one by `deadline`. Failing here is definite:
    /// nothing was sent.
    async fn connection(&self, deadline: Instant) -> Result<MultiplexedConnection, LockError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        // Our own timeouts bound every call; the library's would only race with them.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.cfg.op_timeout))
            .set_response_timeout(None);
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let conn = match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(self.connect_error(e.to_string())),
            Err(_) => {
                let ms = self.cfg.op_timeout.as_millis();
                return Err(self.connect_error(format!("no connection within {ms} ms")));
            }
        };
        *slot = Some(conn.clone());
        Ok(conn)
    }

    fn connect_error(&self, message: String) -> LockError {
        LockError::Connect {
            addr: self.cfg.addr.clone(),
            message,
        }
    }

    /// Runs one request on the connection within the op timeout and classifies what
    /// went wrong. Any indeterminate outcome also drops the connection.
    async fn call<T, F, Fut>(&self, op: &str, f: F) -> Result<T, LockError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let started = Instant::now();
        let conn = self.connection(started + self.cfg.op_timeout).await?;
        // The request's bound runs on the injectable clock: a skewed agent gives up
        // early (fast clock, forward jump) or late (slow clock, backward jump), as a
        // client on a machine with a wrong clock would.
        let left = self.cfg.op_timeout.saturating_sub(started.elapsed());
        let result = tokio::select! {
            reply = f(conn) => match reply {
                Ok(value) => return Ok(value),
                Err(e) => classify(op, e),
            },
            () = self.clock.sleep(left) => LockError::Timeout {
                op: op.to_string(),
                after_ms: u64::try_from(self.cfg.op_timeout.as_millis()).unwrap_or(u64::MAX),
            },
        };
        if !result.is_definite() {
            *self.conn.lock().await = None;
        }
        Err(result)
    }

    fn next_holder_id(&self) -> String {
        let n = self.grants.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.cfg.holder_prefix)
    }

    async fn acquire_inner(&self, key: &str, ttl: Duration) -> Result<Guard, LockError> {
        let holder_id = self.next_holder_id();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let token = if self.cfg.fencing {
            let fence = Self::fence_key(key);
            let reply: Option<u64> = self
                .call("acquire", |mut conn| {
                    let mut inv = self.fenced_acquire.prepare_invoke();
                    inv.key(key).key(&fence).arg(&holder_id).arg(ttl_ms);
                    async move { inv.invoke_async(&mut conn).await }
                })
                .await?;
            match reply {
                Some(token) => Some(token),
                None => return Err(LockError::Held { key: key.into() }),
            }
        } else {
            let reply: Option<String> = self
                .call("acquire", |mut conn| {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(key).arg(&holder_id).arg("NX").arg("PX").arg(ttl_ms);
                    async move { cmd.query_async(&mut conn).await }
                })
                .await?;
            if reply.is_none() {
                return Err(LockError::Held { key: key.into() });
            }
            None
        };
        Ok(Guard {
            key: key.to_string(),
            holder_id,
            token,
        })
    }

    async fn release_inner(&self, guard: &Guard) -> Result<(), LockError> {
        self.compare_and(guard, "release", &self.release, None)
            .await
    }

    /// Runs a compare-and-something script on the guard's key: 1 means done, 0 means
    /// the key no longer holds our value.
    async fn compare_and(
        &self,
        guard: &Guard,
        op: &str,
        script: &Script,
        ttl: Option<Duration>,
    ) -> Result<(), LockError> {
        let done: i64 = self
            .call(op, |mut conn| {
                let mut inv = script.prepare_invoke();
                inv.key(&guard.key).arg(&guard.holder_id);
                if let Some(ttl) = ttl {
                    inv.arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
                }
                async move { inv.invoke_async(&mut conn).await }
            })
            .await?;
        if done == 1 {
            Ok(())
        } else {
            Err(LockError::NotHolder {
                key: guard.key.clone(),
                holder_id: guard.holder_id.clone(),
            })
        }
    }
}

impl Lock for RedisLock {
    fn name(&self) -> &str {
        "redis"
    }

    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard> {
        Box::pin(self.acquire_inner(key, ttl))
    }

    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()> {
        Box::pin(self.release_inner(guard))
    }

    fn renew<'a>(&'a self, guard: &'a Guard, ttl: Duration) -> LockFuture<'a, ()> {
        Box::pin(self.compare_and(guard, "renew", &self.extend, Some(ttl)))
    }
}

/// Sorts a Redis error into definite or indeterminate. Only errors the server returns
/// before running anything are definite; a Lua error mid-script may have written.
pub(crate) fn classify(op: &str, e: RedisError) -> LockError {
    let refused_before_running =
        matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::ReadOnly
                    | ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::NoPerm
            )
        ) || matches!(e.code(), Some("OOM" | "BUSY" | "NOREPLICAS" | "MISCONF"));
    if refused_before_running {
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
