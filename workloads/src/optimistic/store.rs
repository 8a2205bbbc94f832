//! Versioned stores: where the optimistic workload's counter lives, and how each lock
//! system does a compare-and-set on it.
//!
//! This is the extension point for other systems: a Kubernetes object's
//! `resourceVersion` precondition or an etcd transaction comparing `mod_revision` is a
//! [`VersionedStore`] too; add an implementation and an arm in the agent's
//! `build_store`.

use crate::lock::{LockError, LockFuture};
use crate::locks::redis::classify;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, Script};
use std::future::Future;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A VersionedStore holds integer counters and swaps one only if it still has the value
/// the caller read (the value only grows, so it doubles as the version). Errors are
/// classified as for a [`crate::Lock`]: definite or indeterminate.
pub trait VersionedStore: Send + Sync {
    /// The store's name (`redis`).
    fn name(&self) -> &str;
    /// The counter's value; 0 when it was never written.
    fn read<'a>(&'a self, key: &'a str) -> LockFuture<'a, i64>;
    /// Sets the counter to `to` if it holds `from`; false (and no change) otherwise.
    fn cas<'a>(&'a self, key: &'a str, from: i64, to: i64) -> LockFuture<'a, bool>;
}

/// Compare-and-set in one Lua script: Redis runs it atomically.
const CAS: &str = r"
local v = redis.call('GET', KEYS[1]) or '0'
if v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// The deliberately broken variant (`--optimistic-unsafe`): it writes without
/// comparing, so concurrent read-modify-writes lose updates.
const UNSAFE_CAS: &str = r"
redis.call('SET', KEYS[1], ARGV[2])
return 1
";

/// A RedisVersionedStore keeps counters in one Redis, swapping them with a Lua
/// compare-and-set. Like the Redis lock it replaces its connection after any
/// indeterminate error, so a late reply is never read as the answer to a later call.
pub struct RedisVersionedStore {
    addr: String,
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    op_timeout: Duration,
    cas: Script,
}

impl RedisVersionedStore {
    /// A store on the Redis at `addr` (`host:port`); `skip_version_check` makes every
    /// compare-and-set succeed (for showing the checker a broken store).
    pub fn new(
        addr: &str,
        op_timeout: Duration,
        skip_version_check: bool,
    ) -> Result<RedisVersionedStore, LockError> {
        let client =
            redis::Client::open(format!("redis://{addr}/")).map_err(|e| LockError::Connect {
                addr: addr.into(),
                message: format!("{e} (hint: give the address as host:port)"),
            })?;
        Ok(RedisVersionedStore {
            addr: addr.into(),
            client,
            conn: Mutex::new(None),
            op_timeout,
            cas: Script::new(if skip_version_check { UNSAFE_CAS } else { CAS }),
        })
    }

    async fn connection(&self, deadline: Instant) -> Result<MultiplexedConnection, LockError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.op_timeout))
            .set_response_timeout(None);
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let error = |message: String| LockError::Connect {
            addr: self.addr.clone(),
            message,
        };
        let conn = match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(error(e.to_string())),
            Err(_) => return Err(error("no connection within the op timeout".into())),
        };
        *slot = Some(conn.clone());
        Ok(conn)
    }

    async fn call<T, F, Fut>(&self, op: &str, f: F) -> Result<T, LockError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let deadline = Instant::now() + self.op_timeout;
        let conn = self.connection(deadline).await?;
        let err = match tokio::time::timeout_at(deadline, f(conn)).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => classify(op, e),
            Err(_) => LockError::Timeout {
                op: op.into(),
                after_ms: u64::try_from(self.op_timeout.as_millis()).unwrap_or(u64::MAX),
            },
        };
        if !err.is_definite() {
            *self.conn.lock().await = None;
        }
        Err(err)
    }
}

impl VersionedStore for RedisVersionedStore {
    fn name(&self) -> &str {
        "redis"
    }

    fn read<'a>(&'a self, key: &'a str) -> LockFuture<'a, i64> {
        Box::pin(async move {
            let v: Option<i64> = self
                .call("read", |mut conn| async move {
                    redis::cmd("GET").arg(key).query_async(&mut conn).await
                })
                .await?;
            Ok(v.unwrap_or(0))
        })
    }

    fn cas<'a>(&'a self, key: &'a str, from: i64, to: i64) -> LockFuture<'a, bool> {
        Box::pin(async move {
            let swapped: i64 = self
                .call("cas", |mut conn| {
                    let mut inv = self.cas.prepare_invoke();
                    inv.key(key).arg(from).arg(to);
                    async move { inv.invoke_async(&mut conn).await }
                })
                .await?;
            Ok(swapped == 1)
        })
    }
}
