//! The `Cluster` trait: what the controller and the nemesis may do to the nodes of a run,
//! whatever backend provides them.

use crate::{ClusterError, Grudge};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// A Node is one machine of the cluster: a name (`n1`, ..., `resource`) and its address
/// on the run's test subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `n1`, `n2`, ... or `resource`.
    pub name: String,
    /// Its address on the test subnet, reachable from every other node of the run.
    pub addr: Ipv4Addr,
}

/// A ProcessKind is the role of a process in a run; the nemesis picks its pause and kill
/// targets among lock servers and agents, never the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessKind {
    /// A server of the lock under test (redis-server, etcd, ...).
    LockServer,
    /// An agent executing a client's operations.
    Agent,
    /// The protected resource: the ground truth, never faulted.
    Resource,
}

/// A ProcessSpec is how to start a process on a node; `restart` reuses it unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// A name unique within the run: `redis-n1`, `resource`, `agent-3`.
    pub name: String,
    /// Its role.
    pub kind: ProcessKind,
    /// The program to execute (looked up in PATH when it has no slash).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables added to the controller's environment.
    pub env: Vec<(String, String)>,
    /// The file stdout and stderr are appended to (created with its directory).
    pub log: PathBuf,
}

/// A ProcessState is what the backend last did to a process, or saw it do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessState {
    /// Started and not stopped.
    Running,
    /// Stopped by SIGSTOP.
    Paused,
    /// Killed by the backend (SIGKILL).
    Killed,
    /// Exited on its own, with its exit code (None when a signal the backend did not
    /// send ended it).
    Exited(Option<i32>),
}

impl ProcessState {
    /// Returns true while the process exists (running or paused).
    pub fn is_alive(self) -> bool {
        matches!(self, ProcessState::Running | ProcessState::Paused)
    }
}

impl fmt::Display for ProcessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessState::Running => f.write_str("running"),
            ProcessState::Paused => f.write_str("paused"),
            ProcessState::Killed => f.write_str("killed"),
            ProcessState::Exited(Some(code)) => write!(f, "exited(code={code})"),
            ProcessState::Exited(None) => f.write_str("exited(by a signal)"),
        }
    }
}

/// A ProcessInfo is a snapshot of one spawned process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Its unique name.
    pub name: String,
    /// The node it runs on.
    pub node: String,
    /// Its role.
    pub kind: ProcessKind,
    /// The pid of its latest incarnation.
    pub pid: u32,
    /// What state it is in.
    pub state: ProcessState,
}

/// A TeardownReport says what tearing a cluster down removed and how long it took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeardownReport {
    /// Processes that were still alive and were killed.
    pub processes_killed: usize,
    /// Network namespaces deleted.
    pub namespaces_deleted: usize,
    /// Whether the state directory was removed.
    pub state_removed: bool,
    /// How long teardown took, in milliseconds.
    pub elapsed_ms: u64,
    /// False when an earlier call had already torn the cluster down.
    pub first_call: bool,
}

/// A Cluster is the set of nodes of one run and what can be done to them: start, kill,
/// pause and restart processes, and cut and heal the network between nodes. The
/// controller and the nemesis share it as `Arc<dyn Cluster>`; every method is
/// synchronous and quick (tens of milliseconds), so async callers use
/// `spawn_blocking`.
pub trait Cluster: Send + Sync {
    /// The run's id, which names its namespaces and state.
    fn run_id(&self) -> &str;
    /// The nodes `n1..nN` that run lock servers and agents.
    fn nodes(&self) -> &[Node];
    /// The node where the resource runs; it is never partitioned.
    fn resource_node(&self) -> &Node;
    /// Starts a process on a node.
    fn spawn(&self, node: &str, spec: ProcessSpec) -> Result<(), ClusterError>;
    /// Kills a process with SIGKILL (a paused one too) and waits for it to die.
    fn kill(&self, name: &str) -> Result<(), ClusterError>;
    /// Starts a process again with the same command line on the same node, killing it
    /// first if it is still alive.
    fn restart(&self, name: &str) -> Result<(), ClusterError>;
    /// Stops a running process with SIGSTOP and waits until the kernel shows it stopped.
    fn pause(&self, name: &str) -> Result<(), ClusterError>;
    /// Continues a paused process with SIGCONT.
    fn resume(&self, name: &str) -> Result<(), ClusterError>;
    /// Makes every node drop the packets of the nodes its grudge names, replacing any
    /// partition in force.
    fn partition(&self, grudge: &Grudge) -> Result<(), ClusterError>;
    /// Removes every partition rule.
    fn heal(&self) -> Result<(), ClusterError>;
    /// A snapshot of every process spawned in this run, sorted by name.
    fn processes(&self) -> Vec<ProcessInfo>;
    /// Opens a TCP connection from inside a node to an address on the test subnet, so
    /// the controller (which lives outside the nodes) can talk to agents and servers.
    /// The connection is subject to that node's partition rules.
    fn connect(
        &self,
        from_node: &str,
        to: SocketAddr,
        timeout: Duration,
    ) -> Result<TcpStream, ClusterError>;
    /// Kills every process of the run, removes its network and its state. Idempotent.
    fn teardown(&self) -> Result<TeardownReport, ClusterError>;
}
