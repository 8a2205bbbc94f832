//! A 3-member etcd cluster on the first three nodes (fewer if the run has fewer).
//!
//! [`start_cluster`] is public so other services that keep their state in etcd (the
//! Kubernetes API servers) can start the same cluster. Each member keeps its data in
//! the run's state directory, so a member killed and restarted with the same command
//! line rejoins as the member it was: etcd ignores the `--initial-cluster*` flags once
//! its data directory holds a write-ahead log, which is what `--initial-cluster-state
//! existing` would otherwise have to say.

use super::LockServers;
use super::wait::{READY_LIMIT, exchange, until_ready};
use crate::RunError;
use splitbrain_nemesis::{Cluster, Node, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The port etcd serves clients on inside its node.
pub const ETCD_CLIENT_PORT: u16 = 2379;
/// The port etcd members talk to each other on.
pub const ETCD_PEER_PORT: u16 = 2380;
/// How many members the cluster has when the run has enough nodes.
pub const ETCD_MEMBERS: usize = 3;

/// An EtcdCluster is a started etcd cluster: its members' process names and client
/// addresses, in node order.
#[derive(Clone, Debug)]
pub struct EtcdCluster {
    /// The members' process names (`etcd-n1`, ...), for the nemesis and for logs.
    pub processes: Vec<String>,
    /// The members' client addresses (`10.77.0.1:2379`, ...).
    pub client_addrs: Vec<SocketAddr>,
}

impl EtcdCluster {
    /// The client addresses as one `host:port,host:port` list, as etcd clients take it.
    pub fn endpoints(&self) -> String {
        self.client_addrs
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Starts etcd on the first [`ETCD_MEMBERS`] nodes (all nodes if fewer) and returns at
/// once; call [`wait_healthy`] before using it. Data lives under `state/etcd-<node>`,
/// logs in `run_dir/logs/etcd-<node>.log`.
pub fn start_cluster(
    cluster: &dyn Cluster,
    run_dir: &Path,
    state: &Path,
) -> Result<EtcdCluster, RunError> {
    let members: Vec<Node> = cluster.nodes().iter().take(ETCD_MEMBERS).cloned().collect();
    let initial_cluster = members
        .iter()
        .map(|n| format!("{}=http://{}:{ETCD_PEER_PORT}", n.name, n.addr))
        .collect::<Vec<_>>()
        .join(",");
    let mut out = EtcdCluster {
        processes: vec![],
        client_addrs: vec![],
    };
    for node in &members {
        let data = state.join(format!("etcd-{}", node.name));
        std::fs::create_dir_all(&data).map_err(RunError::io(&data))?;
        let name = format!("etcd-{}", node.name);
        cluster.spawn(
            &node.name,
            ProcessSpec {
                name: name.clone(),
                kind: ProcessKind::LockServer,
                program: PathBuf::from("etcd"),
                args: member_args(node, &data, &initial_cluster, cluster.run_id()),
                env: vec![],
                log: run_dir.join(format!("logs/{name}.log")),
            },
        )?;
        out.processes.push(name);
        out.client_addrs
            .push(SocketAddr::new(node.addr.into(), ETCD_CLIENT_PORT));
    }
    Ok(out)
}

fn member_args(node: &Node, data: &Path, initial_cluster: &str, token: &str) -> Vec<String> {
    let client = format!("http://{}:{ETCD_CLIENT_PORT}", node.addr);
    let peer = format!("http://{}:{ETCD_PEER_PORT}", node.addr);
    [
        "--name",
        &node.name,
        "--data-dir",
        &data.display().to_string(),
        "--listen-client-urls",
        &client,
        "--advertise-client-urls",
        &client,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        initial_cluster,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        token,
        "--logger",
        "zap",
        "--log-outputs",
        "stderr",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Waits until every member answers `/health` with `"health":"true"`: it has a leader
/// and can serve a linearizable read.
pub fn wait_healthy(
    cluster: &dyn Cluster,
    etcd: &EtcdCluster,
    limit: Duration,
) -> Result<(), RunError> {
    let from = cluster.nodes()[0].name.clone();
    until_ready("etcd", limit, || {
        for addr in &etcd.client_addrs {
            let reply = exchange(cluster, &from, *addr, b"GET /health HTTP/1.0\r\n\r\n")?;
            if !reply.contains("\"health\":\"true\"") {
                let body = reply.lines().last().unwrap_or_default().to_string();
                return Err(format!("member={addr} not healthy: {body}"));
            }
        }
        Ok(())
    })
}

/// Starts the cluster for the `etcd` lock and waits until it is healthy.
pub fn start(cluster: &dyn Cluster, run_dir: &Path, state: &Path) -> Result<LockServers, RunError> {
    let etcd = start_cluster(cluster, run_dir, state)?;
    wait_healthy(cluster, &etcd, READY_LIMIT)?;
    Ok(LockServers {
        agent_args: vec!["--etcd".into(), etcd.endpoints()],
        ready_addrs: etcd
            .client_addrs
            .iter()
            .zip(&etcd.processes)
            .map(|(a, p)| (p.clone(), *a))
            .collect(),
    })
}
