//! A single Redis primary on the first node.

use super::LockServers;
use crate::RunError;
use splitbrain_nemesis::{Cluster, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The TCP port Redis listens on inside its node.
pub const REDIS_PORT: u16 = 6379;

/// Starts one redis-server on the first node.
pub fn start(cluster: &dyn Cluster, run_dir: &Path, state: &Path) -> Result<LockServers, RunError> {
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
