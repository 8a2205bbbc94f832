//! The `redlock` lock: Redis's Redlock algorithm over N independent primaries.
//!
//! Acquire sends `SET key holder NX PX ttl` to every instance at once, each bounded by a
//! short per-instance timeout, and counts the grants. The lock is held if a majority
//! granted it and time is left: validity = TTL - elapsed - drift, with drift = 1% of the
//! TTL + 2 ms (the algorithm's allowance for clocks running at different rates).
//! Otherwise the attempt unlocks every instance and fails; having undone it, the failure
//! is definite. Release runs the compare-and-delete script on every instance.
//!
//! Redlock hands out no fencing token: nothing in the algorithm orders holders, so a
//! holder that pauses past its validity cannot be told apart from the next one by the
//! resource. The agent refuses `--fencing on` with this lock for that reason.

use super::{LockOptions, duration_ms};
use crate::lock::{Guard, Lock, LockError, LockFuture};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Deletes the key only if it still holds our value.
const COMPARE_AND_DELETE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// A RedlockConfig is the set of independent Redis primaries and the shared settings.
#[derive(Clone, Debug)]
pub struct RedlockConfig {
    /// The primaries, `host:port` each; at least 3 for a majority to mean anything.
    pub instances: Vec<String>,
    /// The call bound and the holder-id prefix (`fencing` must be off).
    pub options: LockOptions,
}

/// An Instance is one primary and its connection, replaced after any failure so a late
/// reply is never read as the answer to a later request.
struct Instance {
    addr: String,
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
}

/// What one instance said to one request.
#[derive(Debug)]
enum Answer {
    Yes,
    No,
    /// No answer, or an error: the request may or may not have been applied.
    Unknown(String),
}

/// A RedlockLock is a client of the `redlock` lock.
pub struct RedlockLock {
    cfg: RedlockConfig,
    instances: Vec<std::sync::Arc<Instance>>,
    grants: AtomicU64,
}

impl RedlockLock {
    /// A client for the instances in `cfg`; connects lazily. Fewer than 3 instances
    /// is a configuration error: a majority of 1 or 2 tolerates no failure at all.
    pub fn new(cfg: RedlockConfig) -> Result<RedlockLock, LockError> {
        if cfg.instances.len() < 3 {
            return Err(LockError::Connect {
                addr: cfg.instances.join(","),
                message: format!(
                    "instances={} (hint: Redlock needs at least 3 independent primaries)",
                    cfg.instances.len()
                ),
            });
        }
        let mut instances = Vec::new();
        for addr in &cfg.instances {
            let client = redis::Client::open(format!("redis://{addr}/")).map_err(|e| {
                LockError::Connect {
                    addr: addr.clone(),
                    message: format!("{e} (hint: give each address as host:port)"),
                }
            })?;
            instances.push(std::sync::Arc::new(Instance {
                addr: addr.clone(),
                client,
                conn: Mutex::new(None),
            }));
        }
        Ok(RedlockLock {
            cfg,
            instances,
            grants: AtomicU64::new(0),
        })
    }

    /// How many instances make a majority.
    pub fn quorum(&self) -> usize {
        self.instances.len() / 2 + 1
    }

    /// The per-instance bound: a slow instance must not eat the validity time, so each
    /// gets a fraction of the op timeout.
    fn instance_timeout(&self) -> Duration {
        (self.cfg.options.op_timeout / 3).max(Duration::from_millis(20))
    }

    /// Sends one request to every instance at once and collects their answers.
    async fn broadcast(&self, cmd: redis::Cmd, expect: fn(redis::Value) -> bool) -> Vec<Answer> {
        let mut set = JoinSet::new();
        let timeout = self.instance_timeout();
        for (i, inst) in self.instances.iter().enumerate() {
            let inst = inst.clone();
            let cmd = cmd.clone();
            set.spawn(async move { (i, inst.ask(cmd, timeout, expect).await) });
        }
        let mut answers: Vec<Answer> = self
            .instances
            .iter()
            .map(|_| Answer::Unknown("not asked".into()))
            .collect();
        while let Some(joined) = set.join_next().await {
            if let Ok((i, answer)) = joined {
                answers[i] = answer;
            }
        }
        answers
    }

    async fn acquire_inner(&self, key: &str, ttl: Duration) -> Result<Guard, LockError> {
        let holder_id = format!(
            "{}:{}",
            self.cfg.options.holder_prefix,
            self.grants.fetch_add(1, Ordering::Relaxed)
        );
        let ttl_ms = duration_ms(ttl).max(1);
        let started = Instant::now();
        let mut set = redis::cmd("SET");
        set.arg(key).arg(&holder_id).arg("NX").arg("PX").arg(ttl_ms);
        let answers = self
            .broadcast(set, |v| matches!(v, redis::Value::Okay))
            .await;
        let granted = answers.iter().filter(|a| matches!(a, Answer::Yes)).count();
        let refused = answers.iter().filter(|a| matches!(a, Answer::No)).count();
        let drift = ttl / 100 + Duration::from_millis(2);
        let validity = ttl.saturating_sub(started.elapsed() + drift);
        if granted >= self.quorum() && !validity.is_zero() {
            return Ok(Guard {
                key: key.to_string(),
                holder_id,
                token: None,
            });
        }
        // Undo whatever was granted, including grants whose replies were lost.
        let _ = self.unlock_all(key, &holder_id).await;
        let detail = format!(
            "granted={granted} refused={refused} unreachable={} quorum={} validity_ms={}",
            answers.len() - granted - refused,
            self.quorum(),
            duration_ms(validity)
        );
        tracing::debug!(key, %detail, "redlock not acquired");
        if refused > 0 && refused + self.quorum() > self.instances.len() {
            Err(LockError::Held { key: key.into() })
        } else {
            Err(LockError::Rejected {
                message: format!("op=acquire: no majority in time: {detail}"),
            })
        }
    }

    async fn unlock_all(&self, key: &str, holder_id: &str) -> Vec<Answer> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(COMPARE_AND_DELETE).arg(1).arg(key).arg(holder_id);
        self.broadcast(cmd, |v| matches!(v, redis::Value::Int(1)))
            .await
    }

    async fn release_inner(&self, guard: &Guard) -> Result<(), LockError> {
        let answers = self.unlock_all(&guard.key, &guard.holder_id).await;
        let deleted = answers.iter().filter(|a| matches!(a, Answer::Yes)).count();
        let unknown: Vec<&str> = answers
            .iter()
            .filter_map(|a| match a {
                Answer::Unknown(why) => Some(why.as_str()),
                _ => None,
            })
            .collect();
        if deleted >= self.quorum() {
            Ok(())
        } else if deleted + unknown.len() >= self.quorum() {
            Err(LockError::Unknown {
                op: "release".into(),
                message: format!(
                    "deleted={deleted} unknown={} quorum={}: {}",
                    unknown.len(),
                    self.quorum(),
                    unknown.join("; ")
                ),
                source: None,
            })
        } else {
            Err(LockError::NotHolder {
                key: guard.key.clone(),
                holder_id: guard.holder_id.clone(),
            })
        }
    }
}

impl Instance {
    /// One request to this instance within `timeout`, connection included.
    async fn ask(
        &self,
        cmd: redis::Cmd,
        timeout: Duration,
        expect: fn(redis::Value) -> bool,
    ) -> Answer {
        let deadline = Instant::now() + timeout;
        let mut conn = match self.connection(timeout, deadline).await {
            Ok(c) => c,
            // Nothing was sent, but the instance did not refuse either.
            Err(why) => return Answer::Unknown(why),
        };
        let reply: Result<Result<redis::Value, RedisError>, _> =
            tokio::time::timeout_at(deadline, cmd.query_async(&mut conn)).await;
        match reply {
            Ok(Ok(v)) if expect(v.clone()) => Answer::Yes,
            Ok(Ok(_)) => Answer::No,
            Ok(Err(e)) => {
                *self.conn.lock().await = None;
                Answer::Unknown(format!("addr={}: {e}", self.addr))
            }
            Err(_) => {
                *self.conn.lock().await = None;
                Answer::Unknown(format!(
                    "addr={}: no reply within {} ms",
                    self.addr,
                    duration_ms(timeout)
                ))
            }
        }
    }

    async fn connection(
        &self,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<MultiplexedConnection, String> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Ok(c)
            }
            Ok(Err(e)) => Err(format!("addr={}: {e}", self.addr)),
            Err(_) => Err(format!("addr={}: no connection in time", self.addr)),
        }
    }
}

impl Lock for RedlockLock {
    fn name(&self) -> &str {
        "redlock"
    }

    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard> {
        Box::pin(self.acquire_inner(key, ttl))
    }

    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()> {
        Box::pin(self.release_inner(guard))
    }
}
