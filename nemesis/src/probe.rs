//! Reachability probes: which nodes can open a TCP connection to which, as seen through
//! a cluster's own `connect`. Used to check that partitions cut exactly what their
//! grudge says, and that a cluster is wired before a run starts.

use crate::{Cluster, Node};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

/// A Reachability is, for each ordered pair `(from, to)` of node names, whether `from`
/// could connect to `to`'s listener and read its greeting.
pub type Reachability = BTreeMap<(String, String), bool>;

/// Probes every ordered pair of distinct nodes among `nodes`, in parallel: a pair is
/// reachable when a connection from `from` to `to.addr:port` opens and delivers at
/// least one byte within `timeout`. A listener that writes a greeting must run on every
/// node (the probe binary's `listen` mode does). Dropped packets make a probe wait the
/// whole timeout, so keep it short (a few hundred milliseconds on one host).
pub fn reachability(
    cluster: &dyn Cluster,
    nodes: &[Node],
    port: u16,
    timeout: Duration,
) -> Reachability {
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .flat_map(|from| nodes.iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.name != to.name)
            .map(|(from, to)| {
                let handle = s.spawn(move || probe(cluster, &from.name, to, port, timeout));
                ((from.name.clone(), to.name.clone()), handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(pair, h)| (pair, h.join().unwrap_or(false)))
            .collect()
    })
}

fn probe(cluster: &dyn Cluster, from: &str, to: &Node, port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from((to.addr, port));
    let Ok(mut stream) = cluster.connect(from, addr, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(1))
}
