//! The servers of each lock system: what to start on which node, what the agents need
//! to be told to reach them, and which addresses must answer before the workload starts.
//! Adding a lock system means adding an arm here and its client in splitbrain-workloads.

use crate::RunError;
use splitbrain_nemesis::{Cluster, ProcessKind, ProcessSpec};
use splitbrain_workloads::locks::LockKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The TCP port Redis listens on inside its node.
pub const REDIS_PORT: u16 = 6379;

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
        LockKind::Redis => start_redis(cluster, run_dir, state),
    }
}

fn start_redis(
    cluster: &dyn Cluster,
    run_dir: &Path,
    state: &Path,
) -> Result<LockServers, RunError> {
    let node = cluster.nodes()[0].clone();
    let addr = SocketAddr::new(node.addr.into(), REDIS_PORT);
    let data = state.join(format!("redis-{}", node.name));
    std::fs::create_dir_all(&data).map_err(RunError::io(&data))?;
    // The append-only file with fsync on every write keeps the lock and the fencing
    // counter across a kill and restart, as a lock service in production would be set
    // up; without it a restart hands out tokens from 1 again.
    let args = [
        "--bind",
        &node.addr.to_string(),
        "--port",
        &REDIS_PORT.to_string(),
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &data.display().to_string(),
        "--daemonize",
        "no",
    ];
    cluster.spawn(
        &node.name,
        ProcessSpec {
            name: format!("redis-{}", node.name),
            kind: ProcessKind::LockServer,
            program: PathBuf::from("redis-server"),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            log: run_dir.join(format!("logs/redis-{}.log", node.name)),
        },
    )?;
    Ok(LockServers {
        agent_args: vec!["--redis".into(), addr.to_string()],
        ready_addrs: vec![("redis".into(), addr)],
    })
}
