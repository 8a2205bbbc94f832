//! The `Cluster` trait: what the controller and the nemesis may do to the nodes of a run,
//! whatever backend provides them.

use crate::clock::ClockSetting;
use crate::{ClusterError, Grudge};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
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

impl From<&Node> for splitbrain_history::NodeInfo {
    /// The node as `run.json` lists it; roles are the caller's to fill in.
    fn from(node: &Node) -> Self {
        splitbrain_history::NodeInfo {
            name: node.name.clone(),
            addr: node.addr.to_string(),
            roles: Vec::new(),
        }
    }
}

/// A ProcessKind is the role of a process in a run; the nemesis picks its pause and kill
/// targets among lock servers and agents, never the resource or a setup step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessKind {
    /// A server of the lock under test (redis-server, etcd, ...).
    LockServer,
    /// An agent executing a client's operations.
    Agent,
    /// The protected resource: the ground truth, never faulted.
    Resource,
    /// A one-shot program that sets servers up before the workload (kubectl applying
    /// RBAC); it exits on its own and is never faulted.
    Setup,
}

/// A ProcessSpec is how to start a process on a node; `restart` reuses it unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// A name unique within the run: `redis-n1`, `resource`, `agent-3`.
    pub name: String,
    /// Its role.
    pub kind: ProcessKind,
    /// The program to execute (looked up in PATH when it has no slash). It must stay in
    /// the foreground (no daemonizing): pause, kill and restart act on its process
    /// group, and its exit is how the backend knows it died.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables added to the controller's environment.
    pub env: Vec<(String, String)>,
    /// The file stdout and stderr are appended to (created with its directory).
    pub log: PathBuf,
}

/// An AgentChannel is how the controller talks to one agent (see
/// [`Cluster::agent_channel`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentChannel {
    /// The agent's arguments saying where it listens (`--socket PATH`, `--listen ADDR`).
    pub agent_args: Vec<String>,
    /// The Unix socket on this machine the controller connects to.
    pub controller_socket: PathBuf,
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

impl ProcessInfo {
    /// The snapshot of a process started from `spec` on `node`.
    pub fn of(spec: &ProcessSpec, node: &str, pid: u32, state: ProcessState) -> ProcessInfo {
        ProcessInfo {
            name: spec.name.clone(),
            node: node.to_string(),
            kind: spec.kind,
            pid,
            state,
        }
    }
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

/// A ClockReach says whether, and how, a clock setting reached a process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "via", content = "reason")]
pub enum ClockReach {
    /// Through its clock control file: our agents read their clock from it.
    ClockFile,
    /// Through libfaketime, which the process was started under.
    Faketime,
    /// Through a fake clock written into the process's vDSO (Go programs, and C
    /// programs libfaketime cannot run: see the local backend's `vdso` module).
    Vdso,
    /// Not at all, and why (a server not under libfaketime, a Go program, ...).
    Unreached(String),
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
    /// The connection is subject to that node's partition rules; connect from the
    /// resource node for controller traffic that no partition may cut (the resource
    /// node never appears in a grudge, and nodes drop packets by source address).
    fn connect(
        &self,
        from_node: &str,
        to: SocketAddr,
        timeout: Duration,
    ) -> Result<TcpStream, ClusterError>;
    /// Kills every process of the run, removes its network and its state. Idempotent.
    fn teardown(&self) -> Result<TeardownReport, ClusterError>;

    /// What run.json records of the backend: its name and where the nodes are.
    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "backend": "local" })
    }

    /// The splitbrain program as the nodes run it (agents, the resource): this very
    /// binary on the local backend, the image's copy on the Kubernetes one.
    fn splitbrain_program(&self) -> Result<PathBuf, ClusterError> {
        std::env::current_exe().map_err(|e| ClusterError::io("/proc/self/exe", e))
    }

    /// Whether `path` exists as `node` sees it: here on the local backend, in the node's
    /// pod (its image) on the Kubernetes one.
    fn has_file(&self, node: &str, path: &Path) -> Result<bool, ClusterError> {
        let _ = node;
        Ok(path.exists())
    }

    /// The contents of file `path` as `node` sees it (a log a server writes there).
    fn read_file(&self, node: &str, path: &Path) -> Result<Vec<u8>, ClusterError> {
        let _ = node;
        std::fs::read(path).map_err(|e| ClusterError::io(format!("reading {}", path.display()), e))
    }

    /// How the controller reaches the agent `name` on `node`: what the agent is told to
    /// listen on, and the Unix socket on this machine the controller connects to, which
    /// no partition may cut. `socket` is where the caller wants that socket. The local
    /// backend has the agent listen on `socket` itself (a filesystem socket crosses
    /// network namespaces); the Kubernetes one relays `socket` to the agent's port in its
    /// pod through the API's port-forward.
    fn agent_channel(
        &self,
        node: &str,
        name: &str,
        socket: PathBuf,
    ) -> Result<AgentChannel, ClusterError> {
        let _ = (node, name);
        Ok(AgentChannel {
            agent_args: vec!["--socket".into(), socket.display().to_string()],
            controller_socket: socket,
        })
    }
    /// The backend's control of process clocks, if it has one.
    fn clocks(&self) -> Option<&dyn ClockControl> {
        None
    }

    /// The backend's control of packet loss between nodes, if it has one.
    fn packet_loss(&self) -> Option<&dyn PacketLoss> {
        None
    }

    /// The backend's control of latency between nodes, if it has one.
    fn latency(&self) -> Option<&dyn LatencyControl> {
        None
    }

    /// The backend's killing of whole nodes, if it has one.
    fn node_kill(&self) -> Option<&dyn NodeKill> {
        None
    }

    /// The error of an operation this backend lacks.
    fn unsupported(&self, operation: &'static str) -> ClusterError {
        ClusterError::Unsupported {
            operation,
            run_id: self.run_id().to_string(),
        }
    }
}

impl dyn Cluster + '_ {
    /// The backend's clock control, or the error that it has none.
    pub fn require_clocks(&self) -> Result<&dyn ClockControl, ClusterError> {
        self.clocks().ok_or_else(|| self.unsupported("set_clock"))
    }

    /// The backend's packet loss, or the error that it has none.
    pub fn require_packet_loss(&self) -> Result<&dyn PacketLoss, ClusterError> {
        self.packet_loss()
            .ok_or_else(|| self.unsupported("set_loss"))
    }

    /// The backend's latency control, or the error that it has none.
    pub fn require_latency(&self) -> Result<&dyn LatencyControl, ClusterError> {
        self.latency()
            .ok_or_else(|| self.unsupported("set_latency"))
    }

    /// The backend's node kill, or the error that it has none.
    pub fn require_node_kill(&self) -> Result<&dyn NodeKill, ClusterError> {
        self.node_kill()
            .ok_or_else(|| self.unsupported("kill_node"))
    }
}

/// ClockControl sets the clocks of the processes a backend runs. A backend offers it
/// through [`Cluster::clocks`]; one without it runs no clock fault.
pub trait ClockControl: Send + Sync {
    /// Sets the clock of one process (see [`crate::clock`]); the true time is
    /// [`ClockSetting::true_time`]. Says whether the setting reaches the process.
    fn set_clock(&self, process: &str, setting: &ClockSetting) -> Result<ClockReach, ClusterError>;
}

/// PacketLoss drops a share of the packets between nodes. A backend offers it through
/// [`Cluster::packet_loss`]; one without it runs no `loss` fault.
pub trait PacketLoss: Send + Sync {
    /// Makes every node drop `percent` of the packets from the other nodes; 0 stops it.
    fn set_loss(&self, percent: u8) -> Result<(), ClusterError>;
}

/// LatencyControl delays the traffic between nodes. A backend offers it through
/// [`Cluster::latency`]; one without it runs no `latency` fault.
pub trait LatencyControl: Send + Sync {
    /// Puts the latency mechanism in place, with no delay yet. Connections opened
    /// before may escape it, so call it before the workload starts.
    fn prepare_latency(&self) -> Result<(), ClusterError>;
    /// Delays traffic between nodes by `delay` each way; zero stops delaying.
    fn set_latency(&self, delay: Duration) -> Result<(), ClusterError>;
}

/// NodeKill kills a whole node and brings it back empty: on the Kubernetes backend the
/// node's pod is deleted through the API with no grace period, and made again. A backend
/// offers it through [`Cluster::node_kill`]; one without it runs no `kill-pod` fault.
pub trait NodeKill: Send + Sync {
    /// Kills the nodes, all at once: every process on them dies, with whatever the node
    /// kept (its volumes). Says for each node the processes that were alive on it and are
    /// now killed, or why it could not be killed.
    fn kill_nodes(&self, nodes: &[String]) -> Vec<(String, Result<Vec<String>, ClusterError>)>;
    /// Makes killed nodes again, all at once, under their names and addresses, with no
    /// process running; [`Cluster::restart`] then starts their processes.
    fn restore_nodes(&self, nodes: &[String]) -> Result<(), ClusterError>;
}

/// An Ability is an optional part of a backend, which some faults need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ability {
    /// Setting process clocks ([`ClockControl`]).
    Clocks,
    /// Dropping packets ([`PacketLoss`]).
    PacketLoss,
    /// Delaying traffic ([`LatencyControl`]).
    Latency,
    /// Killing whole nodes ([`NodeKill`]).
    NodeKill,
}

impl Ability {
    /// Whether a cluster has this ability.
    pub fn of(self, cluster: &dyn Cluster) -> bool {
        match self {
            Ability::Clocks => cluster.clocks().is_some(),
            Ability::PacketLoss => cluster.packet_loss().is_some(),
            Ability::Latency => cluster.latency().is_some(),
            Ability::NodeKill => cluster.node_kill().is_some(),
        }
    }
}

impl fmt::Display for Ability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ability::Clocks => "setting process clocks",
            Ability::PacketLoss => "dropping packets between nodes",
            Ability::Latency => "delaying traffic between nodes",
            Ability::NodeKill => "killing whole nodes (kill-pod needs --backend kubernetes)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_becomes_the_run_json_node_info_with_its_address_as_text() {
        let node = Node {
            name: "n2".into(),
            addr: Ipv4Addr::new(10, 77, 0, 2),
        };
        let info = splitbrain_history::NodeInfo::from(&node);
        assert_eq!(
            (info.name.as_str(), info.addr.as_str()),
            ("n2", "10.77.0.2")
        );
        assert_eq!(ProcessState::Exited(Some(3)).to_string(), "exited(code=3)");
        assert!(!ProcessState::Killed.is_alive() && ProcessState::Paused.is_alive());
    }
}
