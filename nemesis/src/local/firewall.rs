//! Partitions and packet loss as nftables rules inside the node namespaces (the scripts
//! are [`crate::nft`]'s, shared with the Kubernetes backend).

use super::netns::{NsHandle, ns_name};
use super::programs::{Running, finish_all, start_with_input, system_command};
use crate::nft::{dropped_addrs, loss_script, other_addrs, partition_script};
use crate::{ClusterError, Grudge, Node};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Applies a grudge: nodes it names get their drop table, every other node's table is
/// removed, so the result is exactly this grudge. All nodes are updated in parallel.
pub(crate) fn apply(run_id: &str, nodes: &[Node], grudge: &Grudge) -> Result<(), ClusterError> {
    let mut running = Vec::new();
    for node in nodes {
        let dropped = dropped_addrs(nodes, grudge, &node.name);
        running.push(nft_in(run_id, &node.name, &partition_script(&dropped))?);
    }
    finish_all(running)
}

/// Removes every node's drop table.
pub(crate) fn heal(run_id: &str, nodes: &[Node]) -> Result<(), ClusterError> {
    apply(run_id, nodes, &Grudge::default())
}

/// Makes every node drop `percent` of the packets from the other nodes (0 removes the
/// rule). nftables draws a random number per packet: no netem in this kernel.
pub(crate) fn set_loss(run_id: &str, nodes: &[Node], percent: u8) -> Result<(), ClusterError> {
    let mut running = Vec::new();
    for node in nodes {
        let others = other_addrs(nodes, &node.name);
        running.push(nft_in(run_id, &node.name, &loss_script(&others, percent))?);
    }
    finish_all(running)
}

/// Starts `nft -f -` inside a node's namespace.
pub(crate) fn nft_in(run_id: &str, node: &str, script: &str) -> Result<Running, ClusterError> {
    let handle = NsHandle::open(&ns_name(run_id, node))?;
    let fd = handle.raw_fd();
    let mut cmd: Command = system_command("nft");
    cmd.args(["-f", "-"]);
    // SAFETY: the closure only makes the setns system call (async-signal-safe) on a
    // descriptor that `handle` keeps open until the child has started.
    unsafe {
        cmd.pre_exec(move || super::netns::enter_raw(fd));
    }
    let running = start_with_input(cmd, script);
    drop(handle);
    running
}
