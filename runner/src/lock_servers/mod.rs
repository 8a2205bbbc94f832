//! The servers of each lock system: what to start on which node, what the agents need
//! to be told to reach them, and which addresses must answer before the workload starts.
//! Adding a lock system means a module here, an arm in each function below, and its
//! client in splitbrain-workloads.

pub mod etcd;
pub mod external;
pub mod kubernetes;
pub mod leader;
mod redis;
mod redlock;
mod sentinel;
mod wait;
mod zookeeper;

use crate::RunError;
use splitbrain_nemesis::Cluster;
use splitbrain_workloads::locks::LockKind;
use std::net::SocketAddr;
use std::path::Path;

/// LockServers is what a lock system's start-up produced.
#[derive(Clone, Debug)]
pub struct LockServers {
    /// Flags that tell an agent where the servers are (`--redis 10.77.0.1:6379`).
    pub agent_args: Vec<String>,
    /// Addresses that must accept TCP connections before the workload starts, by name.
    pub ready_addrs: Vec<(String, SocketAddr)>,
}

/// The system programs a lock system needs, with the Debian package of each.
pub fn required_programs(kind: LockKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        LockKind::Redis | LockKind::Redlock => &[("redis-server", "redis-server")],
        LockKind::Etcd => &[("etcd", "etcd-server")],
        LockKind::Zookeeper => &[("java", "default-jre-headless")],
        LockKind::RedisSentinel => &[
            ("redis-server", "redis-server"),
            ("redis-sentinel", "redis-sentinel"),
        ],
        // The plug-in's servers are listed by external::required_programs.
        LockKind::External => &[],
        LockKind::K8sLease
        | LockKind::K8sConfigmap
        | LockKind::K8sLeaseManager
        | LockKind::K8sClientgo => &[("etcd", "etcd-server")],
    }
}

/// Checks, before anything starts, what [`required_programs`] cannot: files a lock
/// system needs (ZooKeeper's jars) and settings it cannot honour (fencing with Redlock,
/// which hands out no token).
pub fn preflight(kind: LockKind, fencing: bool) -> Result<(), RunError> {
    if kind == LockKind::Redlock && fencing {
        return Err(RunError::Config(
            "lock=redlock fencing=on: Redlock hands out no fencing token, so the resource \
             could not check one; run it with --fencing off"
                .into(),
        ));
    }
    if kind == LockKind::Zookeeper {
        require_files("zookeeper", zookeeper::REQUIRED_FILES)?;
    }
    if is_kubernetes(kind) {
        kubernetes::require_built()?;
    }
    if kind == LockKind::K8sClientgo {
        client_go_plugin()?;
    }
    Ok(())
}

/// True for the locks whose servers are a Kubernetes control plane.
pub fn is_kubernetes(kind: LockKind) -> bool {
    matches!(
        kind,
        LockKind::K8sLease
            | LockKind::K8sConfigmap
            | LockKind::K8sLeaseManager
            | LockKind::K8sClientgo
    )
}

/// The Go plug-in that runs client-go's leader election (`plugins/client-go-leaderelection`,
/// built by `scripts/build-plugins`).
pub fn client_go_plugin() -> Result<std::path::PathBuf, RunError> {
    crate::build_cache::require_built(
        crate::build_cache::plugins_bin_dir().join("client-go-leaderelection"),
        "scripts/build-plugins",
    )
}

/// Fails on the first of `files` that does not exist, naming its Debian package.
fn require_files(lock: &str, files: &[(&str, &str)]) -> Result<(), RunError> {
    for (file, package) in files {
        if !Path::new(file).is_file() {
            return Err(RunError::Config(format!(
                "lock={lock}: missing file={file}; install the Debian package {package} \
                 (apt-get install {package}, or scripts/install-deps)"
            )));
        }
    }
    Ok(())
}

/// What a run's report should know about a lock system's fencing token (recorded in
/// run.json as `lock_notes`): where it comes from, or that there is none.
pub fn notes(kind: LockKind) -> &'static [&'static str] {
    match kind {
        LockKind::Redis => &[
            "fencing token: an INCR counter in the same Redis, handed out \
             atomically with the grant",
        ],
        LockKind::Etcd => &[
            "fencing token: the lock key's revision (etcd's global revision at the grant)",
            "etcd raises leases to whole seconds and to its minimum of 2 s, so a TTL under \
             2 s holds for 2 s",
        ],
        LockKind::Zookeeper => &[
            "fencing token: the lock znode's czxid (the id of the transaction that created it)",
            "the hold lasts as long as the ZooKeeper session, whose timeout is the TTL \
             clamped to 1-10 s",
        ],
        LockKind::Redlock => &[
            "fencing token: none. Redlock hands out no fencing token, so \
             the resource cannot tell a paused holder from the next one",
        ],
        LockKind::RedisSentinel => &["fencing token: an INCR counter on the primary, \
             replicated asynchronously: after a failover the new primary can hand out \
             tokens the old one already gave"],
        LockKind::K8sLease | LockKind::K8sLeaseManager => {
            &["fencing token: the Lease's leaseTransitions"]
        }
        LockKind::K8sConfigmap => &["fencing token: the leader record's leaderTransitions"],
        LockKind::K8sClientgo => &[
            "fencing token: the Lease's leaseTransitions, read by the plug-in right after \
             client-go reports leading (client-go itself exposes no token)",
            "client-go's own timing: lease duration = TTL, renew deadline = 2/3 TTL, \
             retry period = 2/15 TTL (its 15 s / 10 s / 2 s)",
        ],
        LockKind::External => &["fencing token: whatever the plug-in returns with a grant"],
    }
}

/// Starts the servers of `kind` on the cluster's nodes and waits until they serve.
/// With `server_clocks`, servers that libfaketime reaches are started under it, so the
/// nemesis's clock faults reach them too (only then: it costs every clock call a file
/// check).
pub fn start(
    kind: LockKind,
    cluster: &dyn Cluster,
    run_dir: &Path,
    state: &Path,
    server_clocks: bool,
) -> Result<LockServers, RunError> {
    match kind {
        LockKind::Redis => redis::start(cluster, run_dir, state),
        // A plug-in names the servers it wants; see external::start.
        LockKind::External => Ok(LockServers {
            agent_args: vec![],
            ready_addrs: vec![],
        }),
        LockKind::Etcd => etcd::start(cluster, run_dir, state),
        LockKind::Zookeeper => zookeeper::start(cluster, run_dir, state, server_clocks),
        LockKind::Redlock => redlock::start(cluster, run_dir, state),
        LockKind::RedisSentinel => sentinel::start(cluster, run_dir, state),
        LockKind::K8sLease | LockKind::K8sConfigmap | LockKind::K8sLeaseManager => {
            kubernetes::start(cluster, run_dir, state)
        }
        LockKind::K8sClientgo => {
            let plugin = client_go_plugin()?;
            let mut servers = kubernetes::start(cluster, run_dir, state)?;
            servers.agent_args.extend([
                "--plugin-command".into(),
                shell_quote(&plugin.display().to_string()),
            ]);
            Ok(servers)
        }
    }
}

/// `text` as one word for `sh -c`: single-quoted, inner quotes escaped.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_path_is_one_shell_word() {
        assert_eq!(shell_quote("/a b/it's"), "'/a b/it'\\''s'");
    }

    #[test]
    fn redlock_with_fencing_is_refused_with_the_flag_to_change() {
        let err = preflight(LockKind::Redlock, true).unwrap_err().to_string();
        assert!(err.contains("no fencing token"), "{err}");
        assert!(err.contains("--fencing off"), "{err}");
        assert!(preflight(LockKind::Redlock, false).is_ok());
        assert!(preflight(LockKind::Etcd, true).is_ok());
    }

    #[test]
    fn a_missing_server_file_names_the_package_to_install() {
        let err = require_files("zookeeper", &[("/nonexistent/zk.jar", "zookeeper")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("file=/nonexistent/zk.jar"), "{err}");
        assert!(err.contains("apt-get install zookeeper"), "{err}");
    }

    #[test]
    fn every_lock_names_the_debian_package_of_each_program() {
        for kind in [
            LockKind::Redis,
            LockKind::Etcd,
            LockKind::Zookeeper,
            LockKind::Redlock,
            LockKind::RedisSentinel,
        ] {
            assert!(!required_programs(kind).is_empty(), "{kind:?}");
        }
        assert!(required_programs(LockKind::Etcd).contains(&("etcd", "etcd-server")));
    }
}
