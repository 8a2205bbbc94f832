//! The local backend's configuration and its validation.

use crate::ClusterError;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The subnet used when none is given.
pub const DEFAULT_SUBNET: &str = "10.77.0.0/24";

/// Where the state of runs lives unless a run says otherwise, and where
/// `cleanup_leftovers` looks for runs that crashed.
pub const STATE_ROOT: &str = "/run/splitbrain";

/// A LocalConfig describes the local cluster to bring up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalConfig {
    /// The run's id: 1 to 24 characters of `a-z`, `0-9` and `-`. It names the
    /// namespaces (`sb-<run_id>-n1`) so leftovers can be traced to their run.
    pub run_id: String,
    /// How many lock-server nodes (`n1..nN`), 1 to 64.
    pub nodes: usize,
    /// A private IPv4 subnet (`10/8`, `172.16/12`, `192.168/16`) in CIDR form with room
    /// for the nodes, the resource node and one spare address. Its addresses exist only
    /// inside the run's namespaces, so runs may share a subnet.
    pub subnet: String,
    /// A directory the cluster owns: created at `up`, holds the pid file, removed at
    /// teardown. Do not point it at a directory with other files.
    pub state_dir: PathBuf,
}

impl LocalConfig {
    /// A configuration with the default subnet and the state under
    /// `/run/splitbrain/state/<run_id>`.
    pub fn new(run_id: impl Into<String>, nodes: usize) -> LocalConfig {
        let run_id = run_id.into();
        let state_dir = PathBuf::from(STATE_ROOT).join("state").join(&run_id);
        LocalConfig {
            run_id,
            nodes,
            subnet: DEFAULT_SUBNET.to_string(),
            state_dir,
        }
    }
}

/// A Subnet is a validated private IPv4 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Subnet {
    pub(crate) base: Ipv4Addr,
    pub(crate) prefix: u8,
}

impl Subnet {
    /// The `i`-th host address (1-based).
    pub(crate) fn host(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + i)
    }

    /// How many host addresses it has (network and broadcast excluded).
    pub(crate) fn host_count(&self) -> u64 {
        (1u64 << (32 - u32::from(self.prefix))).saturating_sub(2)
    }
}

const MAX_RUN_ID_LEN: usize = 24;
const MAX_NODES: usize = 64;

/// Checks the run id: it becomes part of namespace names and file names.
pub(crate) fn validate_run_id(run_id: &str) -> Result<(), ClusterError> {
    let ok_chars = run_id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if run_id.is_empty() || run_id.len() > MAX_RUN_ID_LEN || !ok_chars {
        return Err(ClusterError::InvalidConfig {
            field: "run_id",
            value: run_id.to_string(),
            reason: format!("use 1 to {MAX_RUN_ID_LEN} characters of a-z, 0-9 and '-'"),
        });
    }
    Ok(())
}

/// Checks the node count.
pub(crate) fn validate_nodes(nodes: usize) -> Result<(), ClusterError> {
    if nodes == 0 || nodes > MAX_NODES {
        return Err(ClusterError::InvalidConfig {
            field: "nodes",
            value: nodes.to_string(),
            reason: format!("use 1 to {MAX_NODES} nodes"),
        });
    }
    Ok(())
}

/// Parses and checks the subnet: CIDR form, host bits zero, inside a private range, big
/// enough for `nodes` + 2 hosts.
pub(crate) fn parse_subnet(text: &str, nodes: usize) -> Result<Subnet, ClusterError> {
    let bad = |reason: String| ClusterError::InvalidConfig {
        field: "subnet",
        value: text.to_string(),
        reason,
    };
    let (addr, prefix) = text
        .split_once('/')
        .ok_or_else(|| bad(format!("write it in CIDR form, e.g. {DEFAULT_SUBNET}")))?;
    let base: Ipv4Addr = addr
        .parse()
        .map_err(|_| bad(format!("{addr:?} is not an IPv4 address")))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 30)
        .ok_or_else(|| bad(format!("prefix {prefix:?} must be a number up to 30")))?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    if u32::from(base) & !mask != 0 {
        let net = Ipv4Addr::from(u32::from(base) & mask);
        return Err(bad(format!(
            "host bits are set; did you mean {net}/{prefix}?"
        )));
    }
    let private = [
        (Ipv4Addr::new(10, 0, 0, 0), 8),
        (Ipv4Addr::new(172, 16, 0, 0), 12),
    ]
    .into_iter()
    .chain([(Ipv4Addr::new(192, 168, 0, 0), 16)])
    .any(|(net, len)| prefix >= len && same_network(base, net, len));
    if !private {
        return Err(bad(
            "use a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) so no real \
             address is shadowed"
                .to_string(),
        ));
    }
    let subnet = Subnet { base, prefix };
    let needed = nodes as u64 + 2;
    if subnet.host_count() < needed {
        return Err(bad(format!(
            "it has {} host addresses but nodes={nodes} needs {needed}; use a shorter prefix",
            subnet.host_count()
        )));
    }
    Ok(subnet)
}

fn same_network(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX << (32 - u32::from(len));
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_subnet_is_accepted_and_numbers_hosts_from_one() {
        let s = parse_subnet(DEFAULT_SUBNET, 5).unwrap();
        assert_eq!(s.host(1), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(s.host_count(), 254);
    }

    #[test]
    fn public_malformed_or_small_subnets_are_refused_with_the_reason() {
        let err = |t: &str, n: usize| parse_subnet(t, n).unwrap_err().to_string();
        assert!(err("8.8.8.0/24", 3).contains("private range"));
        assert!(err("10.77.0.0", 3).contains("CIDR"));
        assert!(err("10.77.0.5/24", 3).contains("did you mean 10.77.0.0/24"));
        assert!(err("10.77.0.0/29", 5).contains("needs 7"));
        assert!(err("10.77.0.0/33", 5).contains("prefix"));
        assert!(err("172.32.0.0/16", 5).contains("private range"));
        assert!(parse_subnet("172.20.0.0/16", 5).is_ok());
        assert!(parse_subnet("192.168.5.0/29", 4).is_ok());
    }

    #[test]
    fn run_ids_that_cannot_name_a_namespace_are_refused() {
        assert!(validate_run_id("abc-12").is_ok());
        for bad in ["", "ABC", "a b", "a/b", "x".repeat(25).as_str()] {
            let err = validate_run_id(bad).unwrap_err().to_string();
            assert!(err.contains("run_id="), "{err}");
        }
        assert!(validate_nodes(0).is_err());
        assert!(validate_nodes(5).is_ok());
    }
}
