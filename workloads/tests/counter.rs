//! The counter workload driving real agents, a real redis-server and the resource,
//! recorded through a real Recorder.

mod support;

use splitbrain_history::{
    History, Op, OpType, Process, Recorder, ResourceAction, ResourceEntry, jsonl,
};
use splitbrain_workloads::Fencing;
use splitbrain_workloads::counter::{ClientSummary, CounterClientConfig, HolderBoard, run_client};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{RedisServer, Resource, Task, agent_args, start_agent, start_resource};
use tokio::sync::watch;

fn config(slot: usize, clients: usize, socket: &Path) -> CounterClientConfig {
    CounterClientConfig {
        slot,
        clients,
        seed: 42,
        rate: 300.0,
        key: "lock".into(),
        ttl: Duration::from_secs(2),
        cs_wait: Duration::from_millis(5),
        op_timeout: Duration::from_secs(2),
        agent_socket: socket.to_path_buf(),
        node: format!("n{}", slot + 1),
        agent_name: format!("agent-{slot}"),
        final_notices: None,
    }
}

struct Cluster {
    redis: RedisServer,
    resource: Resource,
    agents: Vec<Task>,
}

async fn cluster(dir: &Path, clients: usize, fencing: Fencing) -> Cluster {
    let redis = RedisServer::start();
    let resource = start_resource(dir, fencing).await;
    let mut agents = Vec::new();
    for slot in 0..clients {
        let socket = dir.join(format!("agent-{slot}.sock"));
        let node = format!("n{}", slot + 1);
        let args = agent_args(&socket, &node, &redis.addr(), &resource.addr, fencing);
        agents.push(start_agent(&args).await);
    }
    Cluster {
        redis,
        resource,
        agents,
    }
}

async fn run_for(
    dir: &Path,
    clients: usize,
    recorder: &Arc<Recorder>,
    board: &Arc<HolderBoard>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<ClientSummary>> {
    (0..clients)
        .map(|slot| {
            let cfg = config(slot, clients, &dir.join(format!("agent-{slot}.sock")));
            tokio::spawn(run_client(
                cfg,
                Arc::clone(recorder),
                Arc::clone(board),
                stop.clone(),
            ))
        })
        .collect()
}

/// Checks what every history must satisfy: each process alternates invoke and
/// completion, completions repeat the invoke's f, and every invoke completed.
fn assert_well_formed(ops: &[Op]) {
    let history = History::new(ops.to_vec());
    for pair in history.pairs() {
        let invoke = &ops[pair.invoke];
        let done = pair.completion.map(|c| &ops[c]);
        let done = done.unwrap_or_else(|| panic!("invoke never completed: {invoke:?}"));
        assert_eq!(invoke.f, done.f, "{invoke:?} / {done:?}");
        assert!(["acquire", "read", "write", "release"].contains(&invoke.f.as_str()));
        assert!(invoke.node.is_some());
    }
    let completions = ops.iter().filter(|o| o.kind.is_completion()).count();
    assert_eq!(completions * 2, ops.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_without_faults_produce_a_well_formed_history_and_no_lost_update() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path(), 3, Fencing::On).await;
    let recorder = Arc::new(Recorder::create(&dir.path().join("history.jsonl")).unwrap());
    let board = Arc::new(HolderBoard::new());
    let (stop_tx, stop) = watch::channel(false);
    let clients = run_for(dir.path(), 3, &recorder, &board, &stop).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_tx.send(true).unwrap();
    let mut summaries = Vec::new();
    for c in clients {
        summaries.push(c.await.unwrap());
    }

    let ops: Vec<Op> = jsonl::read(&dir.path().join("history.jsonl"))
        .unwrap()
        .strict()
        .unwrap();
    assert_well_formed(&ops);
    assert!(
        ops.iter().all(|o| o.kind != OpType::Info),
        "no faults, no info"
    );
    let writes_ok = ops
        .iter()
        .filter(|o| o.f == "write" && o.kind == OpType::Ok)
        .count();
    assert!(writes_ok >= 20, "only {writes_ok} writes in 2 s");
    assert_eq!(
        writes_ok as u64,
        summaries.iter().map(|s| s.writes_ok).sum::<u64>()
    );
    // The summaries count exactly what the history holds, even for ops cut by stop.
    let count =
        |f: &str, kind: OpType| ops.iter().filter(|o| o.f == f && o.kind == kind).count() as u64;
    let sum = |get: fn(&ClientSummary) -> u64| summaries.iter().map(get).sum::<u64>();
    assert_eq!(sum(|s| s.acquired), count("acquire", OpType::Ok));
    assert_eq!(sum(|s| s.released), count("release", OpType::Ok));
    assert_eq!(sum(|s| s.acquires), count("acquire", OpType::Invoke));
    // Processes never change without a fault.
    for op in &ops {
        assert!(matches!(op.process, Process::Client(0..=2)), "{op:?}");
    }
    // Fencing tokens on acquire-ok strictly increase in history order.
    let tokens: Vec<u64> = ops
        .iter()
        .filter(|o| o.f == "acquire" && o.kind == OpType::Ok)
        .map(|o| o.token.expect("fenced acquire has a token"))
        .collect();
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");

    // The resource: the counter equals the accepted writes, and sections never overlap.
    let log: Vec<ResourceEntry> = jsonl::read(&cluster.resource.log)
        .unwrap()
        .strict()
        .unwrap();
    let accepted = log.iter().filter(|e| e.accepted == Some(true)).count();
    assert_eq!(accepted, writes_ok);
    let last = log.iter().rev().find(|e| e.accepted == Some(true)).unwrap();
    assert_eq!(last.value, serde_json::json!(accepted));
    let mut inside: Option<u64> = None;
    for e in &log {
        match e.op {
            ResourceAction::Enter => assert_eq!(inside.replace(e.process), None, "seq={}", e.seq),
            ResourceAction::Exit => assert_eq!(inside.take(), Some(e.process), "seq={}", e.seq),
            _ => assert_eq!(inside, Some(e.process), "seq={}", e.seq),
        }
    }
    drop(cluster);
}

async fn run_and_stop(
    cfgs: Vec<CounterClientConfig>,
    recorder: &Arc<Recorder>,
    run: Duration,
) -> Vec<ClientSummary> {
    let board = Arc::new(HolderBoard::new());
    let (stop_tx, stop) = watch::channel(false);
    let handles: Vec<_> = cfgs
        .into_iter()
        .map(|cfg| {
            tokio::spawn(run_client(
                cfg,
                Arc::clone(recorder),
                Arc::clone(&board),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(run).await;
    stop_tx.send(true).unwrap();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_retires_the_process_and_the_slot_reconnects_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path(), 1, Fencing::Off).await;
    let socket = dir.path().join("agent-0.sock");
    let recorder = Arc::new(Recorder::create(&dir.path().join("history.jsonl")).unwrap());
    let board = Arc::new(HolderBoard::new());
    let (stop_tx, stop) = watch::channel(false);
    let mut cfg = config(0, 1, &socket);
    cfg.ttl = Duration::from_millis(300);
    let client = tokio::spawn(run_client(cfg, Arc::clone(&recorder), board, stop));
    tokio::time::sleep(Duration::from_millis(400)).await;
    cluster.agents.remove(0).kill().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let args = agent_args(
        &socket,
        "n1",
        &cluster.redis.addr(),
        &cluster.resource.addr,
        Fencing::Off,
    );
    let _agent = start_agent(&args).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop_tx.send(true).unwrap();
    let summary = client.await.unwrap();

    let ops: Vec<Op> = jsonl::read(&dir.path().join("history.jsonl"))
        .unwrap()
        .strict()
        .unwrap();
    assert_well_formed(&ops);
    let info = ops
        .iter()
        .find(|o| o.kind == OpType::Info)
        .expect("the kill gives an info");
    assert_eq!(info.process, Process::Client(0));
    assert!(
        info.error.as_deref().unwrap().contains("agent connection"),
        "{info:?}"
    );
    // After the info the slot continues as process 0 + clients = 1, starting with acquire.
    let next = ops
        .iter()
        .find(|o| o.process == Process::Client(1))
        .expect("process 1 ran");
    assert_eq!((next.kind, next.f.as_str()), (OpType::Invoke, "acquire"));
    assert!(
        ops.iter()
            .any(|o| o.process == Process::Client(1) && o.f == "write" && o.kind == OpType::Ok)
    );
    assert!(summary.reconnects >= 1, "{summary:?}");
    assert!(summary.last_process >= 1);
}

#[tokio::test]
async fn stop_during_an_unanswered_op_records_info_within_op_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("silent.sock");
    // An agent that accepts and never answers: the case a paused agent presents.
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let _silent = Task(tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    }));
    let recorder = Arc::new(Recorder::create(&dir.path().join("history.jsonl")).unwrap());
    let mut cfg = config(0, 1, &socket);
    cfg.op_timeout = Duration::from_secs(1);
    let board = Arc::new(HolderBoard::new());
    let (stop_tx, stop) = watch::channel(false);
    let client = tokio::spawn(run_client(cfg, Arc::clone(&recorder), board, stop));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped_at = Instant::now();
    stop_tx.send(true).unwrap();
    let summary = client.await.unwrap();
    assert!(
        stopped_at.elapsed() < Duration::from_millis(1300),
        "{:?}",
        stopped_at.elapsed()
    );
    let ops: Vec<Op> = jsonl::read(&dir.path().join("history.jsonl"))
        .unwrap()
        .strict()
        .unwrap();
    assert_well_formed(&ops);
    let last = ops.last().unwrap();
    assert_eq!(
        (last.kind, last.f.as_str()),
        (OpType::Info, "acquire"),
        "{last:?}"
    );
    assert_eq!(summary.infos, 1);
    assert_eq!(summary.error, None);
}

/// The canary setup: slot 0's critical section outlasts the TTL (as if the holder were
/// paused), the others' are short, so they take the lock while slot 0 still acts on it.
fn slow_section(slot: usize, dir: &Path) -> CounterClientConfig {
    let mut cfg = config(slot, 3, &dir.join(format!("agent-{slot}.sock")));
    cfg.ttl = Duration::from_millis(60);
    cfg.cs_wait = Duration::from_millis(if slot == 0 { 150 } else { 5 });
    cfg.rate = 150.0;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_section_longer_than_the_ttl_loses_updates_without_fencing() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path(), 3, Fencing::Off).await;
    let recorder = Arc::new(Recorder::create(&dir.path().join("history.jsonl")).unwrap());
    let cfgs = (0..3).map(|s| slow_section(s, dir.path())).collect();
    let summaries = run_and_stop(cfgs, &recorder, Duration::from_millis(1500)).await;
    let writes_ok: u64 = summaries.iter().map(|s| s.writes_ok).sum();
    let log: Vec<ResourceEntry> = jsonl::read(&cluster.resource.log)
        .unwrap()
        .strict()
        .unwrap();
    let last = log.iter().rev().find(|e| e.accepted == Some(true)).unwrap();
    let counter = last.value.as_i64().unwrap() as u64;
    assert!(
        counter < writes_ok,
        "counter={counter} writes_ok={writes_ok}: no update was lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fencing_the_resource_rejects_the_late_writes_and_loses_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path(), 3, Fencing::On).await;
    let recorder = Arc::new(Recorder::create(&dir.path().join("history.jsonl")).unwrap());
    let cfgs = (0..3).map(|s| slow_section(s, dir.path())).collect();
    let summaries = run_and_stop(cfgs, &recorder, Duration::from_millis(1500)).await;
    let rejected: u64 = summaries.iter().map(|s| s.writes_failed).sum();
    assert!(rejected > 0, "{summaries:?}");
    let ops: Vec<Op> = jsonl::read(&dir.path().join("history.jsonl"))
        .unwrap()
        .strict()
        .unwrap();
    assert_well_formed(&ops);
    let failed = ops
        .iter()
        .find(|o| o.f == "write" && o.kind == OpType::Fail)
        .unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .starts_with("stale token rejected"),
        "{failed:?}"
    );
    // Every accepted write carried a token at least as high as any accepted before it.
    let log: Vec<ResourceEntry> = jsonl::read(&cluster.resource.log)
        .unwrap()
        .strict()
        .unwrap();
    let mut max = 0;
    let mut accepted = 0;
    for e in log.iter().filter(|e| e.accepted == Some(true)) {
        let t = e.token.unwrap();
        assert!(t >= max, "seq={} token={t} max={max}", e.seq);
        max = t;
        accepted += 1;
        // And no update is lost: each accepted write is one more than the last.
        assert_eq!(e.value, serde_json::json!(accepted), "seq={}", e.seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_board_names_the_agent_inside_its_critical_section() {
    let dir = tempfile::tempdir().unwrap();
    let _cluster = cluster(dir.path(), 1, Fencing::Off).await;
    let recorder = Arc::new(Recorder::unrecorded());
    let board = Arc::new(HolderBoard::new());
    let (stop_tx, stop) = watch::channel(false);
    let mut cfg = config(0, 1, &dir.path().join("agent-0.sock"));
    cfg.cs_wait = Duration::from_millis(150);
    cfg.rate = 5.0;
    let client = tokio::spawn(run_client(
        cfg,
        Arc::clone(&recorder),
        Arc::clone(&board),
        stop,
    ));
    let (mut held, mut free) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        match board.current().as_deref() {
            Some("agent-0") => held += 1,
            None => free += 1,
            Some(other) => panic!("unexpected holder {other}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_tx.send(true).unwrap();
    let summary = client.await.unwrap();
    assert!(summary.acquired >= 2, "{summary:?}");
    assert!(held > 10 && free > 10, "held={held} free={free}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_offers_the_configured_rate_when_cycles_are_short() {
    let dir = tempfile::tempdir().unwrap();
    let _cluster = cluster(dir.path(), 2, Fencing::Off).await;
    let recorder = Arc::new(Recorder::unrecorded());
    let cfgs = (0..2)
        .map(|slot| {
            let mut cfg = config(slot, 2, &dir.path().join(format!("agent-{slot}.sock")));
            cfg.rate = 100.0;
            cfg.cs_wait = Duration::ZERO;
            cfg
        })
        .collect();
    let summaries = run_and_stop(cfgs, &recorder, Duration::from_secs(2)).await;
    let attempts: u64 = summaries.iter().map(|s| s.acquires).sum();
    // 100 attempts/s over all slots for 2 s, counted start to start.
    assert!((150..=250).contains(&attempts), "attempts={attempts}");
}

#[tokio::test]
async fn a_bad_config_ends_the_slot_at_once_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::unrecorded());
    let (_stop_tx, stop) = watch::channel(false);
    let board = Arc::new(HolderBoard::new());
    let mut cfg = config(3, 3, &dir.path().join("none.sock"));
    let summary = run_client(
        cfg.clone(),
        Arc::clone(&recorder),
        Arc::clone(&board),
        stop.clone(),
    )
    .await;
    let err = summary.error.unwrap();
    assert!(err.contains("slot=3 clients=3"), "{err}");
    cfg.slot = 0;
    cfg.rate = -1.0;
    let summary = run_client(cfg, Arc::clone(&recorder), board, stop).await;
    assert!(summary.error.unwrap().contains("rate=-1"));
    assert_eq!(recorder.counts().invoke, 0);
}
