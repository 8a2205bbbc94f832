//! A Sentinel-managed Redis: the primary on n1, a replica on n2, and three sentinels on
//! n1..n3 (quorum 2, `down-after-milliseconds 1000`). Isolating or pausing n1's primary
//! long enough makes the other two sentinels promote the replica.

use super::LockServers;
use super::redlock::redis_spec;
use super::wait::{READY_LIMIT, exchange, redis_request, until_ready};
use crate::RunError;
use splitbrain_nemesis::{Cluster, Node, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The port of the primary and the replica.
pub const SENTINEL_REDIS_PORT: u16 = 6379;
/// The port of each sentinel.
pub const SENTINEL_PORT: u16 = 26379;
/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "splitbrain";
/// Sentinels that must agree the primary is down before a failover.
pub const SENTINEL_QUORUM: usize = 2;

/// Starts the primary, the replica and the sentinels, and waits until replication is up
/// and every sentinel knows the replica and the two other sentinels (without that a
/// failover cannot happen, and the run would not test what it says).
pub fn start(cluster: &dyn Cluster, run_dir: &Path, state: &Path) -> Result<LockServers, RunError> {
    let nodes = cluster.nodes().to_vec();
    if nodes.len() < 3 {
        return Err(RunError::Config(format!(
            "lock=redis-sentinel nodes={}: the primary, the replica and three sentinels need \
             3 nodes; run with --nodes 3 or more",
            nodes.len()
        )));
    }
    let (primary, replica) = (&nodes[0], &nodes[1]);
    let primary_addr = SocketAddr::new(primary.addr.into(), SENTINEL_REDIS_PORT);
    // Without this a replica waits 5 s before its first full sync.
    let fast_sync = ["--repl-diskless-sync-delay", "0"];
    spawn_redis(
        cluster,
        "redis-primary",
        primary,
        run_dir,
        state,
        &fast_sync,
    )?;
    let primary_ip = primary.addr.to_string();
    let port = SENTINEL_REDIS_PORT.to_string();
    let replicaof = [&fast_sync[..], &["--replicaof", &primary_ip, &port]].concat();
    spawn_redis(
        cluster,
        "redis-replica",
        replica,
        run_dir,
        state,
        &replicaof,
    )?;
    let topology = Topology {
        primary: primary_addr,
        replica: SocketAddr::new(replica.addr.into(), SENTINEL_REDIS_PORT),
        sentinels: nodes.iter().take(3).cloned().collect(),
    };
    let mut sentinels = Vec::new();
    for i in 0..topology.sentinels.len() {
        sentinels.push(spawn_sentinel(cluster, &topology, i, run_dir, state)?);
    }
    wait_ready(cluster, primary_addr, replica, &sentinels)?;
    let list = sentinels
        .iter()
        .map(|(_, a)| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut ready_addrs = vec![("redis-primary".to_string(), primary_addr)];
    ready_addrs.extend(sentinels);
    Ok(LockServers {
        agent_args: vec![
            "--sentinels".into(),
            list,
            "--sentinel-master".into(),
            MASTER_NAME.into(),
        ],
        ready_addrs,
    })
}

fn spawn_redis(
    cluster: &dyn Cluster,
    name: &str,
    node: &Node,
    run_dir: &Path,
    state: &Path,
    extra: &[&str],
) -> Result<(), RunError> {
    let data = state.join(name);
    std::fs::create_dir_all(&data).map_err(RunError::io(&data))?;
    let spec = redis_spec(name, node, SENTINEL_REDIS_PORT, &data, run_dir, extra);
    cluster.spawn(&node.name, spec)?;
    Ok(())
}

/// The Topology is what every sentinel is told at start: the primary, the replica and
/// its fellow sentinels.
struct Topology {
    primary: SocketAddr,
    replica: SocketAddr,
    sentinels: Vec<Node>,
}

impl Topology {
    /// A sentinel's run id, fixed so the others can be told about it in advance.
    fn sentinel_id(i: usize) -> String {
        format!("{:040x}", i + 1)
    }

    /// The replica and the other sentinels, in sentinel.conf's own syntax. A sentinel
    /// would learn them by itself, the replica from the primary's INFO every 10 s and the
    /// sentinels from hello messages every 2 s; telling it saves the run that wait.
    fn known(&self, me: usize) -> String {
        let mut text = format!(
            "sentinel myid {}\nsentinel known-replica {MASTER_NAME} {} {}\n",
            Self::sentinel_id(me),
            self.replica.ip(),
            self.replica.port()
        );
        for (i, other) in self.sentinels.iter().enumerate().filter(|(i, _)| *i != me) {
            text.push_str(&format!(
                "sentinel known-sentinel {MASTER_NAME} {} {SENTINEL_PORT} {}\n",
                other.addr,
                Self::sentinel_id(i)
            ));
        }
        text
    }
}

/// A sentinel rewrites its configuration file as it learns the topology, so the file
/// lives in the state directory and a restarted sentinel remembers what it knew.
fn spawn_sentinel(
    cluster: &dyn Cluster,
    topology: &Topology,
    me: usize,
    run_dir: &Path,
    state: &Path,
) -> Result<(String, SocketAddr), RunError> {
    let node = &topology.sentinels[me];
    let primary = topology.primary;
    let name = format!("sentinel-{}", node.name);
    let dir = state.join(&name);
    std::fs::create_dir_all(&dir).map_err(RunError::io(&dir))?;
    let conf = dir.join("sentinel.conf");
    let mut text = format!(
        "port {SENTINEL_PORT}\nbind {addr}\nprotected-mode no\ndaemonize no\ndir {dir}\n\
         sentinel monitor {MASTER_NAME} {pip} {pport} {SENTINEL_QUORUM}\n\
         sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
         sentinel failover-timeout {MASTER_NAME} 3000\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n",
        addr = node.addr,
        dir = dir.display(),
        pip = primary.ip(),
        pport = primary.port(),
    );
    text.push_str(&topology.known(me));
    std::fs::write(&conf, text).map_err(RunError::io(&conf))?;
    cluster.spawn(
        &node.name,
        ProcessSpec {
            name: name.clone(),
            kind: ProcessKind::LockServer,
            program: PathBuf::from("redis-sentinel"),
            args: vec![conf.display().to_string()],
            env: vec![],
            log: run_dir.join(format!("logs/{name}.log")),
        },
    )?;
    Ok((name, SocketAddr::new(node.addr.into(), SENTINEL_PORT)))
}

fn wait_ready(
    cluster: &dyn Cluster,
    primary: SocketAddr,
    replica: &Node,
    sentinels: &[(String, SocketAddr)],
) -> Result<(), RunError> {
    let from = cluster.nodes()[0].name.clone();
    let replica_addr = SocketAddr::new(replica.addr.into(), SENTINEL_REDIS_PORT);
    let others = format!("num-other-sentinels\r\n$1\r\n{}\r\n", sentinels.len() - 1);
    until_ready("redis-sentinel", READY_LIMIT, || {
        let info = exchange(
            cluster,
            &from,
            replica_addr,
            &redis_request("INFO replication"),
        )?;
        if !info.contains("master_link_status:up") {
            return Err(format!(
                "replica={replica_addr} not in sync with primary={primary}"
            ));
        }
        for (name, addr) in sentinels {
            let cmd = format!("SENTINEL master {MASTER_NAME}");
            let reply = exchange(cluster, &from, *addr, &redis_request(&cmd))?;
            if !reply.contains("num-slaves\r\n$1\r\n1\r\n") || !reply.contains(&others) {
                return Err(format!(
                    "{name} does not yet know the replica and the other sentinels"
                ));
            }
        }
        Ok(())
    })
}
