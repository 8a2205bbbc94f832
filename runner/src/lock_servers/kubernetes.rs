//! The servers of the Kubernetes locks on the local backend: a 3-member etcd cluster on
//! the first three nodes (fewer if the run has fewer) and the Kubernetes API stand-in
//! (`splitbrain apiserver-standin`, see the splitbrain-apiserver-standin crate) on every
//! node, each talking to etcd with its own node's member first. Agents use the stand-in
//! on their own node, so a partition cuts an agent off the API exactly as it cuts the
//! stand-in off etcd's majority. Both are lock servers: the nemesis pauses, kills and
//! restarts them like any other.

use super::LockServers;
use super::etcd::{ETCD_CLIENT_PORT, EtcdCluster};
use crate::RunError;
use splitbrain_nemesis::{Cluster, Node, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::Path;

/// The stand-in's plain-HTTP port inside a node (kube-apiserver's old insecure port).
pub const STANDIN_PORT: u16 = 8080;

/// Starts etcd and the stand-ins, and tells agents where the stand-ins are.
pub fn start(cluster: &dyn Cluster, run_dir: &Path, state: &Path) -> Result<LockServers, RunError> {
    let nodes = cluster.nodes().to_vec();
    // The stand-ins wait for etcd themselves before they listen, so their readiness
    // covers etcd's.
    let etcd = super::etcd::start_cluster(cluster, run_dir, state)?;
    let me = std::env::current_exe().map_err(RunError::io("/proc/self/exe"))?;
    let mut urls = Vec::with_capacity(nodes.len());
    let mut ready_addrs = Vec::with_capacity(nodes.len());
    for node in &nodes {
        let addr = SocketAddr::new(node.addr.into(), STANDIN_PORT);
        let name = format!("apiserver-{}", node.name);
        cluster.spawn(
            &node.name,
            ProcessSpec {
                name: name.clone(),
                kind: ProcessKind::LockServer,
                program: me.clone(),
                args: vec![
                    "apiserver-standin".into(),
                    "--listen".into(),
                    addr.to_string(),
                    "--etcd".into(),
                    etcd_endpoints(&etcd, node).join(","),
                ],
                env: vec![],
                log: run_dir.join(format!("logs/{name}.log")),
            },
        )?;
        urls.push(format!("http://{addr}"));
        ready_addrs.push((name, addr));
    }
    Ok(LockServers {
        agent_args: vec!["--kube-api".into(), urls.join(",")],
        ready_addrs,
    })
}

/// The members' client URLs, `node`'s own member first when it has one.
fn etcd_endpoints(etcd: &EtcdCluster, node: &Node) -> Vec<String> {
    let mut urls: Vec<String> = etcd
        .client_addrs
        .iter()
        .map(|a| format!("http://{a}"))
        .collect();
    let own = SocketAddr::new(node.addr.into(), ETCD_CLIENT_PORT);
    if let Some(i) = etcd.client_addrs.iter().position(|a| *a == own) {
        urls.swap(0, i);
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn node(i: u8) -> Node {
        Node {
            name: format!("n{i}"),
            addr: Ipv4Addr::new(10, 77, 0, i),
        }
    }

    #[test]
    fn a_stand_in_talks_to_its_own_etcd_member_first() {
        let members = EtcdCluster {
            processes: vec![],
            client_addrs: [node(1), node(2), node(3)]
                .iter()
                .map(|n| SocketAddr::new(n.addr.into(), ETCD_CLIENT_PORT))
                .collect(),
        };
        let urls = etcd_endpoints(&members, &node(2));
        assert_eq!(urls[0], "http://10.77.0.2:2379");
        assert_eq!(urls.len(), 3);
        // A node without a member keeps the members' order.
        assert_eq!(
            etcd_endpoints(&members, &node(5))[0],
            "http://10.77.0.1:2379"
        );
    }
}
