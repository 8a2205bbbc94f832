//! Stable node addresses on the Kubernetes backend. A pod's IP changes when the pod is
//! made again (a `kill-pod` fault), but lock servers and agents are configured with
//! their nodes' addresses once, at the start of a run, as Jepsen's nodes are machines
//! with fixed addresses. So each node has a stable address from 198.18.0.0/24 (the
//! block set aside for network tests, RFC 2544), which never meets a cluster's own
//! ranges, and each pod translates it:
//!
//! - its own stable address is on its loopback, so servers bind it, and the block is
//!   routed out of its interface (a pod network need not give pods a default route);
//! - connections it opens to another node's stable address are sent to that node's
//!   current pod IP (`dnat` in the output hook);
//! - connections arriving at its pod IP go to its stable address (`dnat` in the
//!   prerouting hook), so a server bound to it answers.
//!
//! All of it lives in the pods' own network namespaces, so it works on any CNI and needs
//! neither Services nor kube-proxy (a Service forwards only the ports it lists, and every
//! lock server has its own). Packets between pods still carry pod IPs, which is what the
//! partition and loss rules match: `inet splitbrain` filters at the input hook by source.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The nftables table of the translation, apart from the partition and loss tables.
const TABLE: &str = "ip splitbrain-addresses";
/// The block of the stable addresses.
const BLOCK: &str = "198.18.0.0/24";

/// The stable address of node `n<index>` (1-based); the resource's is [`RESOURCE_ADDR`].
pub fn node_addr(index: usize) -> Ipv4Addr {
    let last = u8::try_from(index).expect("validate_nodes keeps node numbers small");
    Ipv4Addr::new(198, 18, 0, last)
}

/// The stable address of the resource's node.
pub const RESOURCE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

/// The command that gives pod `own` its stable address and the translation of every
/// node's stable address to its pod IP. `stable` and `pod_ips` are by node name; the
/// command can run again with new pod IPs (one nftables transaction replaces the table).
pub fn address_command(
    own: &str,
    stable: &BTreeMap<String, Ipv4Addr>,
    pod_ips: &BTreeMap<String, Ipv4Addr>,
) -> Vec<String> {
    let own_stable = stable[own];
    vec![
        "sh".into(),
        "-c".into(),
        "ip addr replace \"$1/32\" dev lo && ip route replace \"$2\" dev eth0 && \
         printf '%s' \"$3\" | nft -f -"
            .into(),
        "stable-address".into(),
        own_stable.to_string(),
        BLOCK.into(),
        address_script(own, stable, pod_ips),
    ]
}

/// The nft script of [`address_command`].
fn address_script(
    own: &str,
    stable: &BTreeMap<String, Ipv4Addr>,
    pod_ips: &BTreeMap<String, Ipv4Addr>,
) -> String {
    let outgoing: Vec<String> = stable
        .iter()
        .filter(|(name, _)| name.as_str() != own)
        .filter_map(|(name, addr)| {
            let pod = pod_ips.get(name)?;
            Some(format!("    ip daddr {addr} dnat to {pod}\n"))
        })
        .collect();
    let incoming = pod_ips
        .get(own)
        .map(|pod| {
            format!(
                "    iifname != \"lo\" ip daddr {pod} dnat to {}\n",
                stable[own]
            )
        })
        .unwrap_or_default();
    format!(
        "add table {TABLE}\ndelete table {TABLE}\ntable {TABLE} {{\n  chain outgoing {{\n    \
         type nat hook output priority -100; policy accept;\n{}  }}\n  chain incoming {{\n    \
         type nat hook prerouting priority -100; policy accept;\n{incoming}  }}\n}}\n",
        outgoing.concat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name(pairs: &[(&str, Ipv4Addr)]) -> BTreeMap<String, Ipv4Addr> {
        pairs.iter().map(|(n, a)| (n.to_string(), *a)).collect()
    }

    #[test]
    fn a_pod_sends_the_other_nodes_stable_addresses_to_their_pods_and_takes_its_own() {
        let stable = by_name(&[
            ("n1", node_addr(1)),
            ("n2", node_addr(2)),
            ("resource", RESOURCE_ADDR),
        ]);
        let pods = by_name(&[
            ("n1", Ipv4Addr::new(10, 88, 0, 7)),
            ("n2", Ipv4Addr::new(10, 88, 0, 9)),
            ("resource", Ipv4Addr::new(10, 88, 0, 4)),
        ]);
        let command = address_command("n1", &stable, &pods);
        assert_eq!(command[4], "198.18.0.1");
        assert_eq!(command[5], "198.18.0.0/24");
        let script = &command[6];
        assert!(script.starts_with("add table ip splitbrain-addresses\ndelete table"));
        assert!(
            script.contains("ip daddr 198.18.0.2 dnat to 10.88.0.9"),
            "{script}"
        );
        assert!(
            script.contains("ip daddr 198.18.0.254 dnat to 10.88.0.4"),
            "{script}"
        );
        assert!(!script.contains("ip daddr 198.18.0.1 dnat"), "{script}");
        assert!(
            script.contains("iifname != \"lo\" ip daddr 10.88.0.7 dnat to 198.18.0.1"),
            "{script}"
        );
    }
}
