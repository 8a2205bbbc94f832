//! The lock clients under test, one module per lock system, the CLI's name for each, and
//! how the agent builds one from its command line.

pub mod etcd;
pub mod redis;
pub mod redlock;
pub mod sentinel;
pub mod zookeeper;

pub use self::etcd::{EtcdLock, EtcdLockConfig};
pub use self::redis::{RedisLock, RedisLockConfig};
pub use self::redlock::{RedlockConfig, RedlockLock};
pub use self::sentinel::{SentinelLock, SentinelLockConfig};
pub use self::zookeeper::{ZookeeperLock, ZookeeperLockConfig};

use crate::Error;
use crate::lock::Lock;
use std::time::Duration;

/// A LockKind is a lock system the agent can drive, as the CLI spells it (`--lock redis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum LockKind {
    /// A single Redis: `SET NX PX`, compare-and-delete release, INCR fencing token.
    Redis,
    /// A 3-member etcd cluster: a lease and a create-if-absent transaction; the key's
    /// revision is the fencing token.
    Etcd,
    /// A 3-server ZooKeeper ensemble: the ephemeral-sequential recipe; the znode's czxid
    /// is the fencing token.
    Zookeeper,
    /// Independent Redis primaries, one per node: a majority within the validity time.
    /// Redlock hands out no fencing token.
    Redlock,
    /// The `redis` lock on a Sentinel-managed primary with a replica, following
    /// failovers through three sentinels.
    RedisSentinel,
}

impl LockKind {
    /// Whether the lock hands out fencing tokens.
    pub fn has_fencing_token(self) -> bool {
        !matches!(self, LockKind::Redlock)
    }
}

/// LockOptions are the settings every lock client shares.
#[derive(Clone, Debug)]
pub struct LockOptions {
    /// Ask the lock system for a fencing token with every grant.
    pub fencing: bool,
    /// The bound on every call, connecting included.
    pub op_timeout: Duration,
    /// The start of every holder id; unique per client (node, pid, start time).
    pub holder_prefix: String,
}

/// LockEndpoints are the agent flags that say where each lock system's servers are
/// (the `redis` lock's `--redis` is the agent's own flag).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LockEndpoints {
    /// The etcd members' client addresses, `host:port,...` (for `--lock etcd`).
    #[arg(long, value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// The ZooKeeper servers, `host:port,...` (for `--lock zookeeper`).
    #[arg(long, value_delimiter = ',')]
    pub zookeeper: Vec<String>,
    /// The independent Redis primaries, `host:port,...` (for `--lock redlock`).
    #[arg(long, value_delimiter = ',')]
    pub redlock: Vec<String>,
    /// The sentinels, `host:port,...` (for `--lock redis-sentinel`).
    #[arg(long, value_delimiter = ',')]
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the primary under.
    #[arg(long, default_value = "splitbrain")]
    pub sentinel_master: String,
}

/// Builds the client of `kind` (any lock but `redis`, which the agent builds itself)
/// from its endpoints. Missing endpoints are a configuration error naming the flag.
pub fn build(
    kind: LockKind,
    endpoints: &LockEndpoints,
    options: LockOptions,
) -> Result<Box<dyn Lock>, Error> {
    let need = |list: &Vec<String>, flag: &'static str| {
        if list.is_empty() {
            Err(Error::Config {
                name: flag,
                value: "(missing)".into(),
                hint: format!("--lock {} needs --{flag} host:port,...", kind_name(kind)),
            })
        } else {
            Ok(list.clone())
        }
    };
    let lock_err = |source| Error::Lock { source };
    let lock: Box<dyn Lock> = match kind {
        LockKind::Redis => {
            return Err(Error::Config {
                name: "lock",
                value: "redis".into(),
                hint: "the agent builds the redis lock from --redis".into(),
            });
        }
        LockKind::Etcd => Box::new(
            EtcdLock::new(EtcdLockConfig {
                endpoints: need(&endpoints.etcd, "etcd")?,
                options,
            })
            .map_err(lock_err)?,
        ),
        LockKind::Zookeeper => Box::new(ZookeeperLock::new(ZookeeperLockConfig {
            servers: need(&endpoints.zookeeper, "zookeeper")?,
            options,
        })),
        LockKind::Redlock => {
            if options.fencing {
                return Err(Error::Config {
                    name: "fencing",
                    value: "on".into(),
                    hint: "Redlock hands out no fencing token; run it with --fencing off".into(),
                });
            }
            let instances = need(&endpoints.redlock, "redlock")?;
            Box::new(RedlockLock::new(RedlockConfig { instances, options }).map_err(lock_err)?)
        }
        LockKind::RedisSentinel => Box::new(SentinelLock::new(SentinelLockConfig {
            sentinels: need(&endpoints.sentinels, "sentinels")?,
            master: endpoints.sentinel_master.clone(),
            options,
        })),
    };
    Ok(lock)
}

/// The CLI spelling of a lock kind.
pub fn kind_name(kind: LockKind) -> String {
    use clap::ValueEnum;
    kind.to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_else(|| format!("{kind:?}"))
}

/// A duration in whole milliseconds, for error messages.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(fencing: bool) -> LockOptions {
        LockOptions {
            fencing,
            op_timeout: Duration::from_millis(100),
            holder_prefix: "t".into(),
        }
    }

    #[test]
    fn a_lock_without_its_endpoints_names_the_flag_to_add() {
        let none = LockEndpoints::default();
        for (kind, flag) in [
            (LockKind::Etcd, "--etcd"),
            (LockKind::Zookeeper, "--zookeeper"),
            (LockKind::Redlock, "--redlock"),
            (LockKind::RedisSentinel, "--sentinels"),
        ] {
            let err = build(kind, &none, options(false))
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(flag), "{kind:?}: {err}");
        }
    }

    #[test]
    fn redlock_refuses_fencing_because_it_has_no_token() {
        let endpoints = LockEndpoints {
            redlock: vec![
                "127.0.0.1:1".into(),
                "127.0.0.1:2".into(),
                "127.0.0.1:3".into(),
            ],
            ..LockEndpoints::default()
        };
        let err = build(LockKind::Redlock, &endpoints, options(true))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no fencing token"), "{err}");
        assert!(build(LockKind::Redlock, &endpoints, options(false)).is_ok());
        assert!(!LockKind::Redlock.has_fencing_token());
        assert!(LockKind::Etcd.has_fencing_token());
        assert_eq!(kind_name(LockKind::RedisSentinel), "redis-sentinel");
    }
}
