//! Partitions as nftables rules inside the node namespaces.
//!
//! Each node that holds a grudge gets one table, `inet splitbrain`, whose input chain
//! drops packets from the addresses it holds a grudge against. Dropping (not rejecting)
//! is deliberate: a real partition loses packets silently, so connections time out
//! instead of failing fast, and clients must cope with not knowing. Healing deletes the
//! table.

use super::netns::{NsHandle, ns_name};
use super::programs::{Running, finish_all, start_with_input, system_command};
use crate::{ClusterError, Grudge, Node};
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::Command;

const TABLE: &str = "inet splitbrain";

/// Applies a grudge: nodes it names get their drop table, every other node's table is
/// removed, so the result is exactly this grudge. All nodes are updated in parallel.
pub(crate) fn apply(run_id: &str, nodes: &[Node], grudge: &Grudge) -> Result<(), ClusterError> {
    let mut running = Vec::new();
    for node in nodes {
        let dropped: Vec<Ipv4Addr> = grudge
            .dropped_by(&node.name)
            .into_iter()
            .flatten()
            .filter_map(|name| nodes.iter().find(|n| &n.name == name).map(|n| n.addr))
            .collect();
        running.push(nft_in(run_id, &node.name, &script(&dropped))?);
    }
    finish_all(running)
}

/// Removes every node's drop table.
pub(crate) fn heal(run_id: &str, nodes: &[Node]) -> Result<(), ClusterError> {
    apply(run_id, nodes, &Grudge::default())
}

/// The nft script that leaves a node dropping exactly `dropped`. Adding the table before
/// deleting it makes the delete succeed whether or not the table existed, and the whole
/// script is one atomic nftables transaction.
fn script(dropped: &[Ipv4Addr]) -> String {
    let mut s = format!("add table {TABLE}\ndelete table {TABLE}\n");
    if dropped.is_empty() {
        return s;
    }
    let set: Vec<String> = dropped.iter().map(Ipv4Addr::to_string).collect();
    s.push_str(&format!(
        "table {TABLE} {{\n  chain input {{\n    type filter hook input priority -10; policy accept;\n    ip saddr {{ {} }} drop\n  }}\n}}\n",
        set.join(", ")
    ));
    s
}

/// The table that holds packet loss, apart from partitions so each heals on its own.
const LOSS_TABLE: &str = "inet splitbrain-loss";

/// Makes every node drop `percent` of the packets from the other nodes (0 removes the
/// rule). nftables draws a random number per packet: no netem in this kernel.
pub(crate) fn set_loss(run_id: &str, nodes: &[Node], percent: u8) -> Result<(), ClusterError> {
    let mut running = Vec::new();
    for node in nodes {
        let others: Vec<String> = nodes
            .iter()
            .filter(|n| n.name != node.name)
            .map(|n| n.addr.to_string())
            .collect();
        running.push(nft_in(run_id, &node.name, &loss_script(&others, percent))?);
    }
    finish_all(running)
}

fn loss_script(others: &[String], percent: u8) -> String {
    let mut s = format!("add table {LOSS_TABLE}\ndelete table {LOSS_TABLE}\n");
    if percent == 0 || others.is_empty() {
        return s;
    }
    s.push_str(&format!(
        "table {LOSS_TABLE} {{\n  chain input {{\n    type filter hook input priority -5; policy accept;\n    ip saddr {{ {} }} numgen random mod 100 < {} drop\n  }}\n}}\n",
        others.join(", "),
        percent.min(100)
    ));
    s
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_drops_exactly_the_grudged_addresses_and_heal_only_deletes() {
        let s = script(&[Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 3)]);
        assert!(s.contains("ip saddr { 10.77.0.2, 10.77.0.3 } drop"), "{s}");
        assert!(s.starts_with("add table inet splitbrain\ndelete table inet splitbrain\n"));
        assert_eq!(
            script(&[]),
            "add table inet splitbrain\ndelete table inet splitbrain\n"
        );
    }

    #[test]
    fn the_loss_script_drops_a_random_share_of_the_other_nodes_packets() {
        let s = loss_script(&["10.77.0.2".into()], 30);
        assert!(
            s.contains("ip saddr { 10.77.0.2 } numgen random mod 100 < 30 drop"),
            "{s}"
        );
        assert!(!loss_script(&["10.77.0.2".into()], 0).contains("drop"));
    }
}
