//! The servers of the Kubernetes locks on the local backend: a 3-member etcd cluster on
//! the first three nodes (fewer if the run has fewer) and the Kubernetes API stand-in
//! (`splitbrain apiserver-standin`, see the splitbrain-apiserver-standin crate) on every
//! node, each talking to etcd with its own node's member first. Agents use the stand-in
//! on their own node, so a partition cuts an agent off the API exactly as it cuts the
//! stand-in off etcd's majority. Both are lock servers: the nemesis pauses, kills and
//! restarts them like any other.

use super::LockServers;
use crate::RunError;
use splitbrain_nemesis::{Cluster, Node, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The etcd client port inside a node.
pub const ETCD_CLIENT_PORT: u16 = 2379;
/// The etcd peer port inside a node.
pub const ETCD_PEER_PORT: u16 = 2380;
/// The stand-in's plain-HTTP port inside a node (kube-apiserver's old insecure port).
pub const STANDIN_PORT: u16 = 8080;
/// The most etcd members a run starts.
const ETCD_MEMBERS: usize = 3;

/// Starts etcd and the stand-ins, and tells agents where the stand-ins are.
pub fn start(cluster: &dyn Cluster, run_dir: &Path, state: &Path) -> Result<LockServers, RunError> {
    let nodes = cluster.nodes().to_vec();
    let members = &nodes[..nodes.len().min(ETCD_MEMBERS)];
    start_etcd_cluster(cluster, members, cluster.run_id(), run_dir, state)?;
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
                    etcd_endpoints(members, node).join(","),
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

fn client_url(node: &Node) -> String {
    format!("http://{}:{ETCD_CLIENT_PORT}", node.addr)
}

fn peer_url(node: &Node) -> String {
    format!("http://{}:{ETCD_PEER_PORT}", node.addr)
}

/// The members' client URLs, `node`'s own member first when it has one.
fn etcd_endpoints(members: &[Node], node: &Node) -> Vec<String> {
    let mut urls: Vec<String> = members.iter().map(client_url).collect();
    if let Some(i) = members.iter().position(|m| m.name == node.name) {
        urls.swap(0, i);
    }
    urls
}

/// Starts one etcd member per node of `members`, as one cluster. A restart reuses the
/// command line: etcd ignores the `--initial-*` flags once its data dir has a member,
/// so a killed member rejoins with its data.
fn start_etcd_cluster(
    cluster: &dyn Cluster,
    members: &[Node],
    run_id: &str,
    run_dir: &Path,
    state: &Path,
) -> Result<(), RunError> {
    let initial: Vec<String> = members
        .iter()
        .map(|m| format!("{}={}", m.name, peer_url(m)))
        .collect();
    for node in members {
        let data = state.join(format!("etcd-{}", node.name));
        std::fs::create_dir_all(&data).map_err(RunError::io(&data))?;
        let args = [
            "--name",
            &node.name,
            "--data-dir",
            &data.display().to_string(),
            "--listen-client-urls",
            &client_url(node),
            "--advertise-client-urls",
            &client_url(node),
            "--listen-peer-urls",
            &peer_url(node),
            "--initial-advertise-peer-urls",
            &peer_url(node),
            "--initial-cluster",
            &initial.join(","),
            "--initial-cluster-token",
            &format!("splitbrain-{run_id}"),
            "--initial-cluster-state",
            "new",
        ];
        cluster.spawn(
            &node.name,
            ProcessSpec {
                name: format!("etcd-{}", node.name),
                kind: ProcessKind::LockServer,
                program: PathBuf::from("etcd"),
                args: args.iter().map(|s| s.to_string()).collect(),
                env: vec![],
                log: run_dir.join(format!("logs/etcd-{}.log", node.name)),
            },
        )?;
    }
    Ok(())
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
        let members = [node(1), node(2), node(3)];
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
