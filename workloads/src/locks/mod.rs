//! The lock clients under test, one module per lock system, the CLI's name for each, and
//! how the agent builds one from its command line.

pub mod etcd;
pub mod external;
pub mod k8s_configmap;
pub mod k8s_elector;
pub mod k8s_elector_lock;
pub mod k8s_lease;
pub mod k8s_lease_manager;
pub mod redis;
pub mod redlock;
pub mod registry;
pub mod sentinel;
pub mod zookeeper;

pub use self::etcd::{EtcdLock, EtcdLockConfig};
pub use self::external::{ExternalLock, ExternalLockConfig};
pub use self::redis::{RedisLock, RedisLockConfig};
pub use self::redlock::{RedlockConfig, RedlockLock};
pub use self::registry::{Client, LockKind, LockSystem, ServerSet, Token};
pub use self::sentinel::{SentinelLock, SentinelLockConfig};
pub use self::zookeeper::{ZookeeperLock, ZookeeperLockConfig};

use crate::Error;
use crate::lock::Lock;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
                hint: format!("--lock {} needs --{flag} host:port,...", kind.name()),
            })
        } else {
            Ok(list.clone())
        }
    };
    let lock_err = |source| Error::Lock { source };
    let lock: Box<dyn Lock> = match kind {
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
        _ => {
            return Err(Error::Config {
                name: "lock",
                value: kind.name(),
                hint: "the agent builds this lock itself (from --redis, --kubeconfig or \
                       --plugin-command)"
                    .into(),
            });
        }
    };
    Ok(lock)
}

/// A duration in whole milliseconds, for error messages.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The namespace the Kubernetes lock objects live in by default: the one
/// `manifests/rbac.yaml` grants the agents' service account.
pub const KUBE_NAMESPACE: &str = "splitbrain";

/// KubeAgentArgs are the agent's flags for the `k8s-*` locks.
#[derive(Clone, Debug, clap::Args)]
pub struct KubeAgentArgs {
    /// Kubeconfig files (for the `k8s-*` locks), comma-separated, one per node in node
    /// order: the agent on node nI uses the I-th (wrapping), the API server nearest to
    /// it. Each file's current context gives the server, its CA and the credentials.
    #[arg(long, value_delimiter = ',')]
    pub kubeconfig: Vec<PathBuf>,
    /// The namespace of the Kubernetes lock objects.
    #[arg(long, default_value = KUBE_NAMESPACE)]
    pub kube_namespace: String,
}

impl Default for KubeAgentArgs {
    fn default() -> Self {
        KubeAgentArgs {
            kubeconfig: vec![],
            kube_namespace: KUBE_NAMESPACE.into(),
        }
    }
}

impl KubeAgentArgs {
    /// The kubeconfig of the API server nearest to `node`, if any was given.
    pub fn kubeconfig_for(&self, node: &str) -> Option<&Path> {
        pick_for_node(&self.kubeconfig, node).map(PathBuf::as_path)
    }

    /// The kube-rs config of the API server nearest to `node`, read from its kubeconfig.
    pub async fn api_for(&self, node: &str) -> Result<kube::Config, crate::Error> {
        let path = self
            .kubeconfig_for(node)
            .ok_or_else(|| crate::Error::Config {
                name: "kubeconfig",
                value: "(missing)".into(),
                hint: "the k8s locks need --kubeconfig FILE[,...], one per node".into(),
            })?;
        k8s_elector_lock::load_kubeconfig(path).await
    }
}

/// Builds the `k8s-*` lock an agent's arguments ask for, on the API server `api`,
/// judging time by `clocks`.
pub(crate) fn kube_lock_for_agent(
    args: &crate::agent::AgentArgs,
    api: kube::Config,
    clocks: k8s_elector::Clocks,
) -> Result<Box<dyn crate::Lock>, crate::Error> {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let cfg = k8s_elector_lock::KubeLockConfig {
        api,
        namespace: args.kube.kube_namespace.clone(),
        op_timeout: std::time::Duration::from_millis(args.op_timeout_ms),
        // Node, pid and start time: unique across agents and across restarts.
        holder_prefix: format!("{}-{}-{started}", args.node, std::process::id()),
        clocks,
    };
    let lock: Result<Box<dyn crate::Lock>, crate::LockError> = match args.lock {
        LockKind::K8sConfigmap => k8s_configmap::configmap_lock(cfg).map(|l| Box::new(l) as _),
        LockKind::K8sLeaseManager => {
            k8s_lease_manager::LeaseManagerLock::new(cfg).map(|l| Box::new(l) as _)
        }
        _ => k8s_lease::lease_lock(cfg).map(|l| Box::new(l) as _),
    };
    lock.map_err(|source| crate::Error::Lock { source })
}

/// The elector's clocks from an agent's clock (the one the nemesis skews): the wall
/// clock is the agent's local time, steps and all; the monotonic clock advances at the
/// agent clock's rate (so a drift reaches it) but ignores its steps and strobes, as
/// CLOCK_MONOTONIC ignores a step of the wall clock. The rate in force when it is read
/// applies to the time since the previous read; the elector reads it every attempt.
pub fn elector_clocks(clock: std::sync::Arc<crate::clock::Clock>) -> k8s_elector::Clocks {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    let wall_of = std::sync::Arc::clone(&clock);
    let wall: k8s_elector::Clock = std::sync::Arc::new(move || {
        let secs = (wall_of.now_unix_ms() / 1000.0).max(0.0);
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    });
    let last = std::sync::Mutex::new((Instant::now(), SystemTime::now()));
    let monotonic: k8s_elector::Clock = std::sync::Arc::new(move || {
        let rate = clock.control().rate;
        let rate = if rate.is_finite() { rate.max(0.0) } else { 1.0 };
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let advanced = now.duration_since(last.0).mul_f64(rate);
        *last = (now, last.1 + advanced);
        last.1
    });
    k8s_elector::Clocks { wall, monotonic }
}

/// The entry for a node: the one at the node's number (`n3` -> the third), wrapping,
/// so each agent talks to the server on its own node when there is one.
pub fn pick_for_node<'a, T>(entries: &'a [T], node: &str) -> Option<&'a T> {
    if entries.is_empty() {
        return None;
    }
    let number: usize = node
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(1);
    entries.get(number.saturating_sub(1) % entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ClockControl};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    fn ms_between(a: SystemTime, b: SystemTime) -> f64 {
        b.duration_since(a)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(-1.0)
    }

    #[test]
    fn a_stepped_agent_clock_moves_the_wall_clock_but_not_the_monotonic_one() {
        let hour_ahead = ClockControl {
            offset_ms: 3_600_000,
            ..ClockControl::default()
        };
        let clocks = elector_clocks(Arc::new(Clock::fixed(hour_ahead)));
        let wall_skew = ms_between(SystemTime::now(), (clocks.wall)());
        assert!(
            wall_skew > 3_599_000.0,
            "the wall clock is an hour ahead: {wall_skew}"
        );
        let m1 = (clocks.monotonic)();
        assert!(
            ms_between(SystemTime::now(), m1) < 1000.0,
            "no step in the monotonic clock"
        );
        std::thread::sleep(Duration::from_millis(50));
        let step = ms_between(m1, (clocks.monotonic)());
        assert!(
            (40.0..500.0).contains(&step),
            "it runs at the true rate: {step}"
        );
    }

    #[test]
    fn a_fast_agent_clock_makes_the_monotonic_clock_run_fast() {
        let fast = ClockControl {
            rate: 4.0,
            ..ClockControl::default()
        };
        let clocks = elector_clocks(Arc::new(Clock::fixed(fast)));
        let m1 = (clocks.monotonic)();
        std::thread::sleep(Duration::from_millis(100));
        let advanced = ms_between(m1, (clocks.monotonic)());
        assert!(advanced >= 380.0, "four times the true 100 ms: {advanced}");
    }

    #[test]
    fn each_agent_uses_the_api_server_of_its_own_node() {
        let urls: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(pick_for_node(&urls, "n2").map(String::as_str), Some("b"));
        assert_eq!(
            pick_for_node(&urls, "n5").map(String::as_str),
            Some("b"),
            "wrapping"
        );
        assert_eq!(pick_for_node::<String>(&[], "n1"), None);
    }

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
    }
}
