//! Helpers shared by the integration tests: run ids, specs, root checks and guards that
//! remove whatever a test created even when it fails.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use splitbrain_nemesis::local::{LocalCluster, LocalConfig};
use splitbrain_nemesis::{Cluster, ProcessKind, ProcessSpec};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The probe program built with this crate.
pub const PROBE: &str = env!("CARGO_BIN_EXE_splitbrain-cluster-probe");

/// The port the probe listeners use.
pub const PORT: u16 = 7000;

/// Fails the test, saying why, unless it runs as root: these tests create network
/// namespaces, and a test that cannot do its work must not pass. CI runs as root.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test creates network namespaces and needs root (CI runs as root)"
    );
}

/// A run id unique to this test process and tag (nextest runs each test in its own
/// process, possibly in parallel).
pub fn run_id(tag: &str) -> String {
    format!("t{}-{tag}", std::process::id())
}

/// Brings a cluster up with a temp-free state dir under /run/splitbrain.
pub fn up(tag: &str, nodes: usize) -> Arc<LocalCluster> {
    Arc::new(LocalCluster::up(LocalConfig::new(run_id(tag), nodes)).expect("cluster up"))
}

/// A spec whose log goes to the cluster's state dir.
pub fn spec(
    cluster: &LocalCluster,
    name: &str,
    kind: ProcessKind,
    program: &str,
    args: &[&str],
) -> ProcessSpec {
    ProcessSpec {
        name: name.to_string(),
        kind,
        program: PathBuf::from(program),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        log: cluster.state_dir().join(format!("{name}.log")),
    }
}

/// Starts a probe listener on every given node, named `listener-<node>`, and waits
/// until each answers from its own node.
pub fn start_listeners(cluster: &LocalCluster, nodes: &[&str], kind: ProcessKind) {
    for node in nodes {
        let name = format!("listener-{node}");
        cluster
            .spawn(node, spec(cluster, &name, kind, PROBE, &["listen", "7000"]))
            .expect("spawn listener");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for node in nodes {
        let addr = cluster_addr(cluster, node);
        while cluster
            .connect(node, (addr, PORT).into(), Duration::from_millis(200))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "listener on {node} never answered"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A node's address.
pub fn cluster_addr(cluster: &LocalCluster, node: &str) -> std::net::Ipv4Addr {
    cluster
        .nodes()
        .iter()
        .chain(std::iter::once(cluster.resource_node()))
        .find(|n| n.name == node)
        .map(|n| n.addr)
        .expect("known node")
}

/// The network namespaces under /run/netns whose name starts with `prefix`.
pub fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// True while a process exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    stat_state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The state letter of /proc/PID/stat.
pub fn stat_state(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..].trim_start().chars().next()
}

/// Polls until `cond` holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The inode of a process's network namespace.
pub fn netns_inode_of_pid(pid: u32) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .expect("process netns")
        .ino()
}

/// The inode of a named network namespace.
pub fn netns_inode(name: &str) -> u64 {
    std::fs::metadata(Path::new("/run/netns").join(name))
        .expect("namespace exists")
        .ino()
}

/// ChildGuard kills and reaps a child process when dropped, so a failing test leaves
/// no controller running.
pub struct ChildGuard(pub Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// LeftoverGuard runs `cleanup_leftovers` when dropped: after a test that simulates a
/// crash, whatever the crashed controller left is removed even if the test failed.
pub struct LeftoverGuard;

impl Drop for LeftoverGuard {
    fn drop(&mut self) {
        let _ = splitbrain_nemesis::local::cleanup_leftovers();
    }
}

/// Serializes the tests that run `cleanup_leftovers`: one test's cleanup would otherwise
/// remove the crashed run another test is about to clean and check. The lock is an
/// abstract unix socket, so nothing is left on disk; it is held until dropped.
pub fn cleanup_test_lock() -> std::os::unix::net::UnixListener {
    use std::os::linux::net::SocketAddrExt;
    let addr =
        std::os::unix::net::SocketAddr::from_abstract_name(b"splitbrain-nemesis-cleanup-tests")
            .expect("abstract address");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match std::os::unix::net::UnixListener::bind_addr(&addr) {
            Ok(listener) => return listener,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cleanup test lock not acquired in 60 s: {e}"),
        }
    }
}
