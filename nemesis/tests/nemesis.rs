//! The nemesis executor against a real local cluster: faults applied, recorded as
//! paired ops in the history, and healed at the end whatever happens.

mod common;

use common::*;
use serde_json::json;
use splitbrain_history::{History, Op, OpType, Process, Recorder};
use splitbrain_nemesis::faults::{
    FaultKind, PlannedFault, ScheduleConfig, Targets, plan, run_nemesis,
};
use splitbrain_nemesis::local::LocalCluster;
use splitbrain_nemesis::probe::reachability;
use splitbrain_nemesis::{Cluster, Grudge, ProcessKind, ProcessState};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Targets whose lock holder never changes.
struct FixedHolder(Option<String>);

impl Targets for FixedHolder {
    fn holder_agent(&self) -> Option<String> {
        self.0.clone()
    }
}

/// A 3-node cluster with a listener per node as lock server, an agent on n1 and the
/// resource.
fn three_nodes(tag: &str) -> Arc<LocalCluster> {
    let cluster = up(tag, 3);
    start_listeners(&cluster, &["n1", "n2", "n3"], ProcessKind::LockServer);
    cluster
        .spawn(
            "n1",
            spec(&cluster, "agent-1", ProcessKind::Agent, "sleep", &["1000"]),
        )
        .unwrap();
    cluster
        .spawn(
            "resource",
            spec(
                &cluster,
                "resource",
                ProcessKind::Resource,
                "sleep",
                &["1000"],
            ),
        )
        .unwrap();
    cluster
}

fn nemesis_ops(path: &Path) -> Vec<Op> {
    let ops: Vec<Op> = splitbrain_history::jsonl::read(path)
        .unwrap()
        .strict()
        .unwrap();
    assert!(ops.iter().all(|o| o.process == Process::Nemesis));
    ops
}

/// Every invoke is followed at once by its `info` completion with the same f.
fn assert_paired(ops: &[Op]) {
    let history = History::new(ops.to_vec());
    let pairs = history.pairs();
    assert_eq!(pairs.len() * 2, ops.len(), "{ops:#?}");
    for p in pairs {
        let c = p.completion.expect("every nemesis op completes");
        assert_eq!(c, p.invoke + 1);
        assert_eq!(ops[c].kind, OpType::Info);
        assert_eq!(ops[c].f, ops[p.invoke].f);
    }
}

fn all_running(cluster: &dyn Cluster) -> bool {
    cluster
        .processes()
        .iter()
        .all(|p| p.state == ProcessState::Running)
}

fn fully_connected(cluster: &LocalCluster) -> bool {
    let nodes = cluster.nodes().to_vec();
    reachability(cluster, &nodes, PORT, Duration::from_secs(1))
        .values()
        .all(|ok| *ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_plan_runs_against_three_nodes_with_paired_ops_and_everything_healed() {
    require_root();
    let cluster = three_nodes("nem");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
    // The first seed whose plan has every kind of fault.
    let faults = (0..)
        .map(|seed| {
            let mut cfg = ScheduleConfig::new(
                seed,
                ORIGINAL_FOUR.to_vec(),
                Duration::from_secs(9),
                Duration::from_millis(200),
            );
            cfg.interval = Duration::from_millis(200);
            plan(&cfg, &names)
        })
        .find(|p| ORIGINAL_FOUR.iter().all(|k| p.iter().any(|f| f.kind == *k)))
        .unwrap();
    let (_stop_tx, stop) = watch::channel(false);
    let summary = run_nemesis(
        faults.clone(),
        cluster.clone(),
        Arc::new(FixedHolder(Some("agent-1".into()))),
        recorder,
        stop,
    )
    .await;
    assert_eq!(summary.planned, faults.len());
    assert_eq!(summary.applied, faults.len(), "{summary:?}");
    assert_eq!(summary.healed, faults.len(), "{summary:?}");
    assert!(
        summary.errors.is_empty() && !summary.stopped_early,
        "{summary:?}"
    );

    let ops = nemesis_ops(&path);
    assert_paired(&ops);
    assert_eq!(ops.len(), faults.len() * 4);
    assert!(ops.iter().all(|o| o.error.is_none()), "{ops:#?}");
    assert_ops_follow_the_plan(&faults, &ops);
    assert!(all_running(cluster.as_ref()));
    // A restarted listener takes a moment to bind again on a loaded machine: healed
    // means fully connected again within a few seconds, not at the very instant.
    let nodes = cluster.nodes().to_vec();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let reach = loop {
        let reach = reachability(cluster.as_ref(), &nodes, PORT, Duration::from_secs(1));
        if reach.values().all(|ok| *ok) || std::time::Instant::now() > deadline {
            break reach;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        reach.values().all(|ok| *ok),
        "not healed after {faults:#?}: {reach:?}"
    );
}

/// Each planned fault became four ops (apply, its completion, heal, its completion)
/// naming exactly what the plan chose.
/// The faults of the first schedules.
const ORIGINAL_FOUR: [FaultKind; 4] = [
    FaultKind::PAUSE,
    FaultKind::PAUSE_HOLDER,
    FaultKind::KILL,
    FaultKind::PARTITION,
];

fn assert_ops_follow_the_plan(faults: &[PlannedFault], ops: &[Op]) {
    for (fault, four) in faults.iter().zip(ops.chunks(4)) {
        let fs: Vec<&str> = four.iter().map(|o| o.f.as_str()).collect();
        let expected = match fault.kind {
            FaultKind::PAUSE | FaultKind::PAUSE_HOLDER => ["pause", "pause", "resume", "resume"],
            FaultKind::KILL => ["kill", "kill", "start", "start"],
            _ => [
                "start-partition",
                "start-partition",
                "stop-partition",
                "stop-partition",
            ],
        };
        assert_eq!(fs, expected);
        match fault.kind {
            FaultKind::PARTITION => {
                let grudge = &fault.partition.as_ref().unwrap().grudge;
                assert_eq!(four[0].value["grudge"], json!(grudge));
                assert_eq!(four[3].value["grudge"], json!(grudge));
            }
            FaultKind::PAUSE_HOLDER => {
                assert_eq!(four[0].value["processes"], json!(["agent-1"]));
                assert_eq!(four[0].value["nodes"], json!(["n1"]));
            }
            _ => {
                let process = four[0].value["processes"][0].as_str().unwrap();
                assert!(process.starts_with("listener-") || process == "agent-1");
                assert_eq!(four[2].value["processes"], four[0].value["processes"]);
                assert_eq!(four[2].value["nodes"], four[0].value["nodes"]);
                assert_eq!(four[2].node, four[0].node);
            }
        }
    }
}

fn at_once(kind: FaultKind, partition: Option<Grudge>) -> PlannedFault {
    let mut fault = PlannedFault::new(Duration::ZERO, kind, Duration::from_secs(60));
    fault.partition = partition.map(|grudge| splitbrain_nemesis::faults::PartitionPlan {
        shape: splitbrain_nemesis::faults::PartitionShape::One,
        grudge,
    });
    fault
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_in_the_middle_of_a_fault_heals_it_at_once() {
    require_root();
    let cluster = three_nodes("stop");
    let names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let faults = [
        at_once(FaultKind::PAUSE, None),
        at_once(FaultKind::KILL, None),
        at_once(FaultKind::PARTITION, Some(Grudge::isolate("n2", &names))),
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        let path = dir.path().join(format!("history-{i}.jsonl"));
        let recorder = Arc::new(Recorder::create(&path).unwrap());
        let before: Vec<u32> = cluster.processes().iter().map(|p| p.pid).collect();
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run_nemesis(
            vec![fault.clone()],
            cluster.clone(),
            Arc::new(FixedHolder(None)),
            recorder.clone(),
            stop,
        ));
        // Wait until the fault is in force (its completion is recorded).
        assert!(eventually(Duration::from_secs(5), || recorder
            .counts()
            .info
            == 1));
        let victim = recorder.counts();
        assert_eq!(victim.invoke, 1);
        stop_tx.send(true).unwrap();
        let summary = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the nemesis stops within 5 s of the signal")
            .unwrap();
        assert!(summary.stopped_early && summary.healed == 1, "{summary:?}");
        let ops = nemesis_ops(&path);
        assert_paired(&ops);
        let fs: Vec<&str> = ops.iter().map(|o| o.f.as_str()).collect();
        match fault.kind {
            FaultKind::PAUSE => assert_eq!(fs, ["pause", "pause", "resume", "resume"]),
            FaultKind::KILL => {
                assert_eq!(fs, ["kill", "kill", "start", "start"]);
                let after: Vec<u32> = cluster.processes().iter().map(|p| p.pid).collect();
                assert_ne!(before, after, "the killed process has a new pid");
            }
            _ => assert_eq!(
                fs,
                [
                    "start-partition",
                    "start-partition",
                    "stop-partition",
                    "stop-partition"
                ]
            ),
        }
        assert!(all_running(cluster.as_ref()), "{:?}", cluster.processes());
        assert!(
            cluster
                .processes()
                .iter()
                .all(|p| stat_state(p.pid) != Some('T'))
        );
        assert!(fully_connected(&cluster));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_that_cannot_be_applied_is_recorded_with_its_reason_and_the_run_goes_on() {
    require_root();
    let cluster = three_nodes("refuse");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let mut holder = at_once(FaultKind::PAUSE_HOLDER, None);
    holder.duration = Duration::from_millis(100);
    holder.target_wait = Duration::from_millis(300);
    let mut pause = at_once(FaultKind::PAUSE, None);
    pause.at = Duration::from_millis(100);
    pause.duration = Duration::from_millis(200);
    let (_stop_tx, stop) = watch::channel(false);
    let summary = run_nemesis(
        vec![holder, pause],
        cluster.clone(),
        Arc::new(FixedHolder(None)),
        recorder,
        stop,
    )
    .await;
    assert_eq!(
        (summary.refused, summary.applied, summary.healed),
        (1, 1, 1)
    );
    let ops = nemesis_ops(&path);
    assert_paired(&ops);
    assert_eq!(ops.len(), 6);
    let waited = ops[1].value["waited_ms"].as_u64().unwrap();
    assert!(waited >= 300, "waited_ms={waited}");
    assert_eq!(
        ops[1].error.as_deref(),
        Some(format!("no lock holder appeared within {waited} ms").as_str())
    );
    assert_eq!(ops[0].value["fault"], "pause-holder");
    assert!(ops[2..].iter().all(|o| o.error.is_none()));
    assert!(all_running(cluster.as_ref()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_nemesis_still_heals_the_fault_in_force() {
    require_root();
    let cluster = three_nodes("abort");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let (_stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(run_nemesis(
        vec![at_once(FaultKind::PAUSE, None)],
        cluster.clone(),
        Arc::new(FixedHolder(None)),
        recorder.clone(),
        stop,
    ));
    assert!(eventually(Duration::from_secs(5), || recorder
        .counts()
        .info
        == 1));
    assert!(
        cluster
            .processes()
            .iter()
            .any(|p| p.state == ProcessState::Paused)
    );
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // The faults run in a task of their own, which heals just after the drop.
    assert!(eventually(Duration::from_secs(5), || recorder
        .counts()
        .info
        == 2));
    let ops = nemesis_ops(&path);
    assert_paired(&ops);
    let fs: Vec<&str> = ops.iter().map(|o| o.f.as_str()).collect();
    assert_eq!(fs, ["pause", "pause", "resume", "resume"]);
    assert!(all_running(cluster.as_ref()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nemesis_dropped_by_a_timeout_stops_and_heals_instead_of_running_on() {
    require_root();
    let cluster = three_nodes("timeout");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let (_stop_tx, stop) = watch::channel(false);
    let mut second = at_once(FaultKind::KILL, None);
    second.at = Duration::from_secs(2);
    let run = run_nemesis(
        vec![at_once(FaultKind::PAUSE, None), second],
        cluster.clone(),
        Arc::new(FixedHolder(None)),
        recorder.clone(),
        stop,
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), run)
            .await
            .is_err()
    );
    assert!(eventually(Duration::from_secs(5), || recorder
        .counts()
        .info
        == 2));
    // Well past the second fault's start: it never ran.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fs: Vec<String> = nemesis_ops(&path).into_iter().map(|o| o.f).collect();
    assert_eq!(fs, ["pause", "pause", "resume", "resume"]);
    assert!(all_running(cluster.as_ref()));
}

#[test]
fn a_runtime_shut_down_mid_fault_still_heals_it_on_the_way_out() {
    require_root();
    let cluster = three_nodes("shutdown");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stop_tx, stop) = watch::channel(false);
    runtime.spawn(run_nemesis(
        vec![at_once(FaultKind::PAUSE, None)],
        cluster.clone(),
        Arc::new(FixedHolder(None)),
        recorder.clone(),
        stop,
    ));
    assert!(eventually(Duration::from_secs(5), || recorder
        .counts()
        .info
        == 1));
    // Dropping the runtime drops every task where it stands: no async heal can run.
    drop(runtime);
    drop(stop_tx);
    let fs: Vec<String> = nemesis_ops(&path).into_iter().map(|o| o.f).collect();
    assert_eq!(fs, ["pause", "pause", "resume", "resume"]);
    assert!(all_running(cluster.as_ref()));
}
