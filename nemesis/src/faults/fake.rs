//! An in-memory cluster and targets for the executor's unit tests: faults change process
//! states and the grudge in force, nothing runs, no root is needed.

use super::Targets;
use crate::clock::ClockSetting;
use crate::{
    ClockControl, ClockReach, Cluster, ClusterError, Grudge, Node, NodeKill, ProcessInfo,
    ProcessKind, ProcessSpec, ProcessState, TeardownReport,
};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

/// A FakeCluster is three nodes, each with a lock server `server-nN` and an agent
/// `agent-N`, whose faults only change what `processes` and `grudge` report. It sets
/// clocks (every one reached) unless made [`FakeCluster::without_clocks`] and kills whole
/// nodes (a process of a killed node cannot start until the node is back); it has no
/// packet loss and no latency.
pub(super) struct FakeCluster {
    nodes: Vec<Node>,
    resource: Node,
    processes: Mutex<Vec<ProcessInfo>>,
    grudge: Mutex<Grudge>,
    with_clocks: bool,
    dead_nodes: Mutex<Vec<String>>,
}

impl FakeCluster {
    pub(super) fn new() -> FakeCluster {
        let node = |name: &str, last: u8| Node {
            name: name.to_string(),
            addr: Ipv4Addr::new(10, 77, 0, last),
        };
        let mut processes = Vec::new();
        for i in 1..=3 {
            for (name, kind) in [
                (format!("agent-{i}"), ProcessKind::Agent),
                (format!("server-n{i}"), ProcessKind::LockServer),
            ] {
                processes.push(ProcessInfo {
                    name,
                    node: format!("n{i}"),
                    kind,
                    pid: 100 + processes.len() as u32,
                    state: ProcessState::Running,
                });
            }
        }
        processes.sort_by(|a, b| a.name.cmp(&b.name));
        FakeCluster {
            nodes: (1..=3).map(|i| node(&format!("n{i}"), i + 1)).collect(),
            resource: node("resource", 10),
            processes: Mutex::new(processes),
            grudge: Mutex::new(Grudge::default()),
            with_clocks: true,
            dead_nodes: Mutex::new(Vec::new()),
        }
    }

    /// The same cluster with no clock control.
    pub(super) fn without_clocks() -> FakeCluster {
        FakeCluster {
            with_clocks: false,
            ..FakeCluster::new()
        }
    }

    /// The state of one process.
    pub(super) fn state(&self, name: &str) -> Option<ProcessState> {
        let processes = self.processes.lock().unwrap();
        processes.iter().find(|p| p.name == name).map(|p| p.state)
    }

    /// The partition in force.
    pub(super) fn grudge(&self) -> Grudge {
        self.grudge.lock().unwrap().clone()
    }

    fn set_state(&self, name: &str, state: ProcessState) -> Result<(), ClusterError> {
        let mut processes = self.processes.lock().unwrap();
        let known = processes.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        let p = processes
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| ClusterError::UnknownProcess {
                name: name.to_string(),
                known: known.join(","),
            })?;
        p.state = state;
        Ok(())
    }
}

impl Cluster for FakeCluster {
    fn run_id(&self) -> &str {
        "fake"
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn resource_node(&self) -> &Node {
        &self.resource
    }

    fn spawn(&self, _node: &str, _spec: ProcessSpec) -> Result<(), ClusterError> {
        Err(self.unsupported("spawn"))
    }

    fn kill(&self, name: &str) -> Result<(), ClusterError> {
        self.set_state(name, ProcessState::Killed)
    }

    fn restart(&self, name: &str) -> Result<(), ClusterError> {
        let node = self.processes().into_iter().find(|p| p.name == name);
        if let Some(p) = node.filter(|p| self.dead_nodes.lock().unwrap().contains(&p.node)) {
            return Err(ClusterError::Kube {
                operation: format!("start {name}"),
                reason: format!("its node {} is dead", p.node),
            });
        }
        self.set_state(name, ProcessState::Running)
    }

    fn pause(&self, name: &str) -> Result<(), ClusterError> {
        self.set_state(name, ProcessState::Paused)
    }

    fn resume(&self, name: &str) -> Result<(), ClusterError> {
        self.set_state(name, ProcessState::Running)
    }

    fn partition(&self, grudge: &Grudge) -> Result<(), ClusterError> {
        *self.grudge.lock().unwrap() = grudge.clone();
        Ok(())
    }

    fn heal(&self) -> Result<(), ClusterError> {
        *self.grudge.lock().unwrap() = Grudge::default();
        Ok(())
    }

    fn processes(&self) -> Vec<ProcessInfo> {
        self.processes.lock().unwrap().clone()
    }

    fn connect(&self, _: &str, _: SocketAddr, _: Duration) -> Result<TcpStream, ClusterError> {
        Err(self.unsupported("connect"))
    }

    fn teardown(&self) -> Result<TeardownReport, ClusterError> {
        Ok(TeardownReport::default())
    }

    fn clocks(&self) -> Option<&dyn ClockControl> {
        self.with_clocks.then_some(self as &dyn ClockControl)
    }

    fn node_kill(&self) -> Option<&dyn NodeKill> {
        Some(self)
    }
}

impl NodeKill for FakeCluster {
    fn kill_nodes(&self, nodes: &[String]) -> Vec<(String, Result<Vec<String>, ClusterError>)> {
        self.dead_nodes
            .lock()
            .unwrap()
            .extend(nodes.iter().cloned());
        let mut processes = self.processes.lock().unwrap();
        nodes
            .iter()
            .map(|node| {
                let mut killed = Vec::new();
                for p in processes.iter_mut() {
                    if &p.node == node && p.state.is_alive() {
                        p.state = ProcessState::Killed;
                        killed.push(p.name.clone());
                    }
                }
                (node.clone(), Ok(killed))
            })
            .collect()
    }

    fn restore_nodes(&self, nodes: &[String]) -> Result<(), ClusterError> {
        self.dead_nodes
            .lock()
            .unwrap()
            .retain(|n| !nodes.contains(n));
        Ok(())
    }
}

impl ClockControl for FakeCluster {
    fn set_clock(&self, _: &str, _: &ClockSetting) -> Result<ClockReach, ClusterError> {
        Ok(ClockReach::ClockFile)
    }
}

/// FakeTargets are a holder and a leader that a test sets, or has appear after a delay.
#[derive(Default)]
pub(super) struct FakeTargets {
    holder: Mutex<Option<String>>,
    leader: Mutex<Option<String>>,
}

impl FakeTargets {
    pub(super) fn set_holder(&self, agent: Option<&str>) {
        *self.holder.lock().unwrap() = agent.map(str::to_string);
    }

    pub(super) fn set_leader(&self, node: Option<&str>) {
        *self.leader.lock().unwrap() = node.map(str::to_string);
    }
}

impl Targets for FakeTargets {
    fn holder_agent(&self) -> Option<String> {
        self.holder.lock().unwrap().clone()
    }

    fn leader_node(&self) -> Option<String> {
        self.leader.lock().unwrap().clone()
    }
}
