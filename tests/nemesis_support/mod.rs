//! A harness for the nemesis tests: a local cluster, a history, targets the test sets
//! by hand, and a nemesis started and stopped on demand. Dropping it tears the cluster
//! down, even when a test fails.

#![allow(dead_code)]

use serde_json::Value;
use splitbrain_history::Recorder;
use splitbrain_nemesis::faults::{
    FaultKind, NemesisSummary, PlannedFault, ScheduleConfig, Targets, plan, run_nemesis,
};
use splitbrain_nemesis::local::{LocalCluster, LocalConfig};
use splitbrain_nemesis::{Cluster, ProcessKind, ProcessSpec};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Fails the test, saying why, unless it runs as root: these tests create namespaces,
/// and a test that cannot do its work must not pass. CI runs as root.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test creates network namespaces and needs root (CI runs as root)"
    );
}

/// TestTargets are a holder and a leader the test sets by hand.
#[derive(Default)]
pub struct TestTargets {
    holder: Mutex<Option<String>>,
    leader: Mutex<Option<String>>,
}

impl Targets for TestTargets {
    fn holder_agent(&self) -> Option<String> {
        self.holder.lock().unwrap().clone()
    }

    fn leader_node(&self) -> Option<String> {
        self.leader.lock().unwrap().clone()
    }
}

/// A Harness is one test's cluster, history and targets.
pub struct Harness {
    pub cluster: Arc<LocalCluster>,
    pub recorder: Arc<Recorder>,
    pub history: PathBuf,
    pub targets: Arc<TestTargets>,
    consumed: Mutex<usize>,
    _dir: tempfile::TempDir,
}

/// A Running nemesis.
pub struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<NemesisSummary>,
}

impl Running {
    /// Stops the nemesis (healing what is in force) and returns its summary.
    pub async fn stop(self) -> NemesisSummary {
        let _ = self.stop.send(true);
        self.task.await.expect("nemesis task")
    }

    /// Waits for the plan to end on its own.
    pub async fn finish(self) -> NemesisSummary {
        let summary = self.task.await.expect("nemesis task");
        drop(self.stop);
        summary
    }
}

impl Harness {
    /// A cluster of `nodes` nodes with a run id unique to this test process.
    pub fn up(tag: &str, nodes: usize) -> Harness {
        let run_id = format!("t{}-{tag}", std::process::id());
        let cluster =
            Arc::new(LocalCluster::up(LocalConfig::new(run_id, nodes)).expect("cluster up"));
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history.jsonl");
        Harness {
            cluster,
            recorder: Arc::new(Recorder::create(&history).unwrap()),
            history,
            targets: Arc::new(TestTargets::default()),
            consumed: Mutex::new(0),
            _dir: dir,
        }
    }

    /// The lock nodes' names.
    pub fn names(&self) -> Vec<String> {
        self.cluster
            .nodes()
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// Starts a process that only sleeps, with the given role.
    pub fn spawn_idle(&self, name: &str, node: &str, kind: ProcessKind) {
        self.spawn(name, node, kind, "sleep", &["600"], vec![]);
    }

    /// Starts a process.
    pub fn spawn(
        &self,
        name: &str,
        node: &str,
        kind: ProcessKind,
        program: &str,
        args: &[&str],
        env: Vec<(String, String)>,
    ) {
        let spec = ProcessSpec {
            name: name.into(),
            kind,
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env,
            log: self.cluster.state_dir().join(format!("{name}.log")),
        };
        self.cluster.spawn(node, spec).expect("spawn");
    }

    pub fn set_holder(&self, agent: Option<&str>) {
        *self.targets.holder.lock().unwrap() = agent.map(str::to_string);
    }

    pub fn set_leader(&self, node: Option<&str>) {
        *self.targets.leader.lock().unwrap() = node.map(str::to_string);
    }

    /// Starts a nemesis on `plan`.
    pub fn start(&self, plan: Vec<PlannedFault>) -> Running {
        self.start_on(self.cluster.clone(), plan)
    }

    /// Starts the nemesis on `cluster` (this harness's cluster, seen through a wrapper).
    pub fn start_on(&self, cluster: Arc<dyn Cluster>, plan: Vec<PlannedFault>) -> Running {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run_nemesis(
            plan,
            cluster,
            self.targets.clone(),
            self.recorder.clone(),
            stop_rx,
        ));
        Running { stop, task }
    }

    /// Every op recorded so far, as JSON.
    pub fn ops(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.history)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits for the next op with this `f` and `type` after the last one returned.
    pub async fn wait_for_op(&self, f: &str, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ops = self.ops();
            let start = *self.consumed.lock().unwrap();
            let found = ops
                .iter()
                .enumerate()
                .skip(start)
                .find(|(_, o)| o["f"] == f && o["type"] == kind);
            if let Some((i, op)) = found {
                *self.consumed.lock().unwrap() = i + 1;
                return op.clone();
            }
            assert!(Instant::now() < deadline, "no {f} {kind} op in {ops:#?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The first fault a schedule of only `kind` plans, starting at once and lasting long
/// enough for the test to measure it.
pub fn first_planned(kind: FaultKind, nodes: &[String]) -> PlannedFault {
    let mut cfg = ScheduleConfig::new(
        1,
        vec![kind],
        Duration::from_secs(600),
        Duration::from_secs(1),
    );
    cfg.interval = Duration::ZERO;
    let mut fault = plan(&cfg, nodes).remove(0);
    fault.duration = Duration::from_secs(60);
    fault
}
