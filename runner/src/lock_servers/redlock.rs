//! Independent Redis primaries for Redlock, one per node (at least 3): no replication,
//! no sentinel, each unaware of the others, as the algorithm assumes.

use super::LockServers;
use super::wait::{READY_LIMIT, exchange, redis_request, until_ready};
use crate::RunError;
use splitbrain_nemesis::{Cluster, Node, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The TCP port each Redis listens on inside its node.
pub const REDLOCK_PORT: u16 = 6379;
/// The fewest instances for which a majority tolerates a failure.
pub const REDLOCK_MIN_INSTANCES: usize = 3;

/// A redis-server in the foreground on `node`, keeping its data in `data` with an
/// append-only file fsynced on every write, so a kill and restart keeps the keys (what
/// Redlock's analysis asks for, short of delaying restarts by a TTL). `extra` adds
/// settings such as `--replicaof`.
pub(super) fn redis_spec(
    name: &str,
    node: &Node,
    port: u16,
    data: &Path,
    run_dir: &Path,
    extra: &[&str],
) -> ProcessSpec {
    let mut args: Vec<String> = [
        "--bind",
        &node.addr.to_string(),
        "--port",
        &port.to_string(),
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
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ProcessSpec {
        name: name.to_string(),
        kind: ProcessKind::LockServer,
        program: PathBuf::from("redis-server"),
        args,
        env: vec![],
        log: run_dir.join(format!("logs/{name}.log")),
    }
}

/// Starts one Redis on every node and waits until each answers PING.
pub fn start(cluster: &dyn Cluster, run_dir: &Path, state: &Path) -> Result<LockServers, RunError> {
    let nodes = cluster.nodes().to_vec();
    if nodes.len() < REDLOCK_MIN_INSTANCES {
        return Err(RunError::Config(format!(
            "lock=redlock nodes={}: Redlock needs at least {REDLOCK_MIN_INSTANCES} independent \
             primaries, one per node; run with --nodes 3 or more",
            nodes.len()
        )));
    }
    let mut addrs = Vec::new();
    for node in &nodes {
        let name = format!("redis-{}", node.name);
        let data = state.join(&name);
        std::fs::create_dir_all(&data).map_err(RunError::io(&data))?;
        cluster.spawn(
            &node.name,
            redis_spec(&name, node, REDLOCK_PORT, &data, run_dir, &[]),
        )?;
        addrs.push((name, SocketAddr::new(node.addr.into(), REDLOCK_PORT)));
    }
    let from = nodes[0].name.clone();
    until_ready("redlock", READY_LIMIT, || {
        for (name, addr) in &addrs {
            let reply = exchange(cluster, &from, *addr, &redis_request("PING"))?;
            if !reply.starts_with("+PONG") {
                return Err(format!("instance={name} answered {reply:?}"));
            }
        }
        Ok(())
    })?;
    let list = addrs
        .iter()
        .map(|(_, a)| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    Ok(LockServers {
        agent_args: vec!["--redlock".into(), list],
        ready_addrs: addrs,
    })
}
