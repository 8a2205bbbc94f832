//! The nftables scripts of partitions and packet loss, the same on every backend: the
//! local one runs them in each node's namespace, the Kubernetes one in each node pod.
//!
//! Each node that holds a grudge gets one table, `inet splitbrain`, whose input chain
//! drops packets from the addresses it holds a grudge against. Dropping (not rejecting)
//! is deliberate: a real partition loses packets silently, so connections time out
//! instead of failing fast, and clients must cope with not knowing. Healing deletes the
//! table. Loss lives in a table of its own, so each heals on its own.

use crate::{Grudge, Node};
use std::net::Ipv4Addr;

const TABLE: &str = "inet splitbrain";

/// The table that holds packet loss, apart from partitions so each heals on its own.
const LOSS_TABLE: &str = "inet splitbrain-loss";

/// The addresses of the nodes `node` holds a grudge against.
pub(crate) fn dropped_addrs(nodes: &[Node], grudge: &Grudge, node: &str) -> Vec<Ipv4Addr> {
    grudge
        .dropped_by(node)
        .into_iter()
        .flatten()
        .filter_map(|name| nodes.iter().find(|n| &n.name == name).map(|n| n.addr))
        .collect()
}

/// The addresses of every node but `node`.
pub(crate) fn other_addrs(nodes: &[Node], node: &str) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.name != node)
        .map(|n| n.addr.to_string())
        .collect()
}

/// The nft script that leaves a node dropping exactly `dropped`. Adding the table before
/// deleting it makes the delete succeed whether or not the table existed, and the whole
/// script is one atomic nftables transaction.
pub(crate) fn partition_script(dropped: &[Ipv4Addr]) -> String {
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

pub(crate) fn loss_script(others: &[String], percent: u8) -> String {
    let mut s = format!("add table {LOSS_TABLE}\ndelete table {LOSS_TABLE}\n");
    if percent == 0 || others.is_empty() {
        return s;
    }
    // nftables compares the draw with a value below the modulus: all loss is a plain drop.
    let rule = if percent >= 100 {
        "drop".to_string()
    } else {
        format!("numgen random mod 100 < {percent} drop")
    };
    s.push_str(&format!(
        "table {LOSS_TABLE} {{\n  chain input {{\n    type filter hook input priority -5; policy accept;\n    ip saddr {{ {} }} {rule}\n  }}\n}}\n",
        others.join(", ")
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_drops_exactly_the_grudged_addresses_and_heal_only_deletes() {
        let s = partition_script(&[Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 3)]);
        assert!(s.contains("ip saddr { 10.77.0.2, 10.77.0.3 } drop"), "{s}");
        assert!(s.starts_with("add table inet splitbrain\ndelete table inet splitbrain\n"));
        assert_eq!(
            partition_script(&[]),
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
        // 100 % is every packet: nft refuses `mod 100 < 100`.
        let all = loss_script(&["10.77.0.2".into()], 100);
        assert!(all.contains("ip saddr { 10.77.0.2 } drop"), "{all}");
    }
}
