//! Network namespaces: the nodes, the bridge between them, and running code inside them.
//!
//! Layout of a run: one namespace per node (`sb-<run>-n1`, ..., `sb-<run>-resource`),
//! each with `lo` and an `eth0` holding its address, and one namespace `sb-<run>-br`
//! holding the bridge `br0` and the other ends of the veth pairs. The bridge namespace
//! has no address at all, so the host's network is never part of the run.

use super::programs::{finish_all, run_with_input, start_with_input, system_command};
use crate::{ClusterError, Node};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

/// The prefix of every namespace this crate creates; `cleanup_leftovers` looks for it.
pub const NAMESPACE_PREFIX: &str = "sb-";

/// Where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/run/netns";

/// The name of a node's namespace.
pub(crate) fn ns_name(run_id: &str, node: &str) -> String {
    format!("{NAMESPACE_PREFIX}{run_id}-{node}")
}

/// The name of the bridge's namespace.
pub(crate) fn bridge_ns(run_id: &str) -> String {
    ns_name(run_id, "br")
}

/// The run a namespace belongs to: node names contain no `-`, so the run id is
/// everything between the prefix and the last `-`.
pub(crate) fn run_of_namespace(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(NAMESPACE_PREFIX)?;
    rest.rsplit_once('-').map(|(run, _)| run)
}

fn ns_path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// Creates the namespaces of `nodes` plus the bridge's, and wires them up. On error the
/// caller deletes whatever was created (it knows every name in advance).
pub(crate) fn create_network(run_id: &str, nodes: &[Node], prefix: u8) -> Result<(), ClusterError> {
    let bridge = bridge_ns(run_id);
    // One `ip` process creates every namespace.
    let mut script = format!("netns add {bridge}\n");
    for node in nodes {
        script.push_str(&format!("netns add {}\n", ns_name(run_id, &node.name)));
    }
    run_with_input(ip(None), &script)?;

    // One more, inside the bridge namespace, makes the bridge and a veth pair per node
    // whose far end is created directly inside the node's namespace as eth0.
    let mut script = String::from("link set lo up\nlink add br0 type bridge\nlink set br0 up\n");
    for node in nodes {
        let veth = veth_name(&node.name);
        let ns = ns_name(run_id, &node.name);
        script.push_str(&format!(
            "link add {veth} type veth peer name eth0 netns {ns}\n\
             link set {veth} master br0\nlink set {veth} up\n"
        ));
    }
    run_with_input(ip(Some(&bridge)), &script)?;

    // Then every node configures its own end, all in parallel.
    let mut running = Vec::new();
    for node in nodes {
        let script = format!(
            "link set lo up\naddr add {}/{prefix} dev eth0\nlink set eth0 up\n",
            node.addr
        );
        running.push(start_with_input(
            ip(Some(&ns_name(run_id, &node.name))),
            &script,
        )?);
    }
    finish_all(running)
}

/// The bridge-side name of a node's veth (at most 15 characters, as Linux requires).
fn veth_name(node: &str) -> String {
    let mut name = format!("v-{node}");
    name.truncate(15);
    name
}

fn ip(netns: Option<&str>) -> Command {
    let mut cmd = system_command("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    cmd.args(["-batch", "-"]);
    cmd
}

/// Deletes the namespaces that exist among `names`; returns how many were deleted.
pub(crate) fn delete_namespaces(names: &[String]) -> Result<usize, ClusterError> {
    let existing: Vec<&String> = names.iter().filter(|n| ns_path(n).exists()).collect();
    if existing.is_empty() {
        return Ok(0);
    }
    let script: String = existing
        .iter()
        .map(|n| format!("netns del {n}\n"))
        .collect();
    // -force: delete the others even if one fails; the status still reports the failure.
    let mut cmd = system_command("ip");
    cmd.args(["-force", "-batch", "-"]);
    run_with_input(cmd, &script)?;
    Ok(existing.len())
}

/// Every namespace under /run/netns whose name starts with the prefix.
pub(crate) fn list_namespaces() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(NAMESPACE_PREFIX))
        .collect();
    names.sort();
    names
}

/// Whether the namespace exists.
pub(crate) fn namespace_exists(name: &str) -> bool {
    ns_path(name).exists()
}

/// The pids of every process living in one of the namespaces, found by comparing each
/// process's `/proc/PID/ns/net` with the namespace's inode (what `ip netns pids` does,
/// in one pass for all namespaces instead of one `ip` run per namespace).
pub(crate) fn pids_in_namespaces(names: &[String]) -> BTreeMap<u32, String> {
    let inodes: BTreeMap<u64, &String> = names
        .iter()
        .filter_map(|n| Some((std::fs::metadata(ns_path(n)).ok()?.ino(), n)))
        .collect();
    let mut found = BTreeMap::new();
    if inodes.is_empty() {
        return found;
    }
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in proc_dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(entry.path().join("ns/net")) else {
            continue;
        };
        if let Some(ns) = inodes.get(&meta.ino()) {
            found.insert(pid, (*ns).clone());
        }
    }
    found
}

/// An open handle on a namespace, to enter it from a child before exec or from a thread.
pub(crate) struct NsHandle(File);

impl NsHandle {
    /// Opens a namespace by name.
    pub(crate) fn open(name: &str) -> Result<NsHandle, ClusterError> {
        File::open(ns_path(name))
            .map(NsHandle)
            .map_err(|e| ClusterError::io(format!("cannot open namespace netns={name}"), e))
    }

    /// Moves the calling thread into the namespace. Only a raw system call, so it is
    /// safe between fork and exec.
    pub(crate) fn enter(&self) -> std::io::Result<()> {
        enter_raw(self.0.as_raw_fd())
    }

    /// The raw descriptor, for a `pre_exec` closure (which must not allocate).
    pub(crate) fn raw_fd(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

/// setns(2) into a network namespace.
pub(crate) fn enter_raw(fd: i32) -> std::io::Result<()> {
    // SAFETY: setns only reads the descriptor; a bad one gives EBADF, not UB.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `f` on a fresh thread that has entered the namespace; the network namespace is
/// per thread, so the rest of the program stays where it was. Sockets opened by `f` stay
/// in the namespace after the thread ends.
pub(crate) fn in_namespace<T: Send>(
    name: &str,
    f: impl FnOnce() -> T + Send,
) -> Result<T, ClusterError> {
    let handle = NsHandle::open(name)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            handle
                .enter()
                .map_err(|e| ClusterError::io(format!("cannot enter namespace netns={name}"), e))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(ClusterError::io(
                format!("thread working in netns={name} panicked"),
                std::io::Error::other("panic"),
            ))
        })
    })
}

/// The set of namespace names a run with these nodes owns.
pub(crate) fn run_namespaces(run_id: &str, nodes: &[Node]) -> Vec<String> {
    let mut names: BTreeSet<String> = nodes.iter().map(|n| ns_name(run_id, &n.name)).collect();
    names.insert(bridge_ns(run_id));
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_name_leads_back_to_its_run_even_when_the_run_id_has_dashes() {
        assert_eq!(run_of_namespace(&ns_name("a-n1", "n1")), Some("a-n1"));
        assert_eq!(run_of_namespace(&bridge_ns("x")), Some("x"));
        assert_eq!(run_of_namespace("other-ns"), None);
    }

    #[test]
    fn veth_names_fit_the_kernel_limit() {
        assert_eq!(veth_name("resource"), "v-resource");
        assert!(veth_name("a-very-long-node-name").len() <= 15);
    }
}
