//! The servers of each lock system: what to start on which node, what the agents need
//! to be told to reach them, and which addresses must answer before the workload starts.
//! Adding a lock system means a module here, an arm in each function below, and its
//! client in splitbrain-workloads.

pub mod external;
mod kubernetes;
mod redis;

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
        LockKind::Redis => &[("redis-server", "redis-server")],
        // The plug-in's servers are listed by external::required_programs.
        LockKind::External => &[],
        LockKind::K8sLease | LockKind::K8sConfigmap | LockKind::K8sLeaseManager => {
            &[("etcd", "etcd-server")]
        }
    }
}

/// Starts the servers of `kind` on the cluster's nodes.
pub fn start(
    kind: LockKind,
    cluster: &dyn Cluster,
    run_dir: &Path,
    state: &Path,
) -> Result<LockServers, RunError> {
    match kind {
        LockKind::Redis => redis::start(cluster, run_dir, state),
        // A plug-in names the servers it wants; see external::start.
        LockKind::External => Ok(LockServers {
            agent_args: vec![],
            ready_addrs: vec![],
        }),
        LockKind::K8sLease | LockKind::K8sConfigmap | LockKind::K8sLeaseManager => {
            kubernetes::start(cluster, run_dir, state)
        }
    }
}
