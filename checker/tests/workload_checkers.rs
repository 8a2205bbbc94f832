//! `check_run_dir` picks the checkers of the run's workload: `optimistic` runs get
//! `linearizability` (and no lock checkers), `leader` runs get `split-brain` beside the
//! lock checkers.

use splitbrain_checker::Validity;
use splitbrain_checker::run_dir::check_run_dir;
use splitbrain_history::RunInfo;
use std::path::Path;

fn run_info(workload: &str) -> RunInfo {
    RunInfo {
        splitbrain_version: "0.1.0".into(),
        seed: 1,
        lock: "redis".into(),
        workload: workload.into(),
        nemesis: vec![],
        clients: 2,
        nodes: 3,
        time_limit_s: 1.0,
        ttl_ms: 1000,
        fencing: false,
        command: "splitbrain run --seed 1".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        cluster: Vec::new(),
        schedule: serde_json::Value::Null,
        extra: serde_json::Value::Null,
        end: Some(splitbrain_history::RunEnd::completed(1.0)),
    }
}

fn write_run(dir: &Path, workload: &str, history: &str) {
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_vec(&run_info(workload)).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("history.jsonl"), history).unwrap();
}

fn op(index: u64, process: u64, kind: &str, f: &str, value: &str) -> String {
    format!(
        "{{\"index\":{index},\"time_ns\":{},\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":{value}}}\n",
        index * 10
    )
}

/// Two slots both read 0 and both swap 0 -> 1: one of the swaps cannot have happened.
fn lost_cas() -> String {
    [
        op(0, 0, "invoke", "read", "null"),
        op(1, 0, "ok", "read", "0"),
        op(2, 1, "invoke", "read", "null"),
        op(3, 1, "ok", "read", "0"),
        op(4, 0, "invoke", "cas", "[0,1]"),
        op(5, 0, "ok", "cas", "[0,1]"),
        op(6, 1, "invoke", "cas", "[0,1]"),
        op(7, 1, "ok", "cas", "[0,1]"),
    ]
    .concat()
}

#[test]
fn an_optimistic_run_is_checked_for_linearizability_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), "optimistic", &lost_cas());
    let results = check_run_dir(dir.path()).unwrap();
    let lin = &results.checkers["linearizability"];
    assert_eq!(lin.valid, Validity::Invalid, "{}", lin.summary);
    assert_eq!(results.valid, Validity::Invalid);
    assert!(!results.checkers.contains_key("resource-safety"));
    assert!(!results.checkers.contains_key("exclusive-holding"));
}

#[test]
fn the_same_ops_in_a_counter_run_get_no_linearizability_checker() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), "counter", &lost_cas());
    let results = check_run_dir(dir.path()).unwrap();
    assert!(!results.checkers.contains_key("linearizability"));
    assert!(results.checkers.contains_key("exclusive-holding"));
}

#[test]
fn a_leader_run_gets_the_split_brain_checker_beside_the_lock_checkers() {
    let dir = tempfile::tempdir().unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/split-brain/paused-leader-work-accepted-bad.jsonl");
    write_run(
        dir.path(),
        "leader",
        &std::fs::read_to_string(golden).unwrap(),
    );
    let results = check_run_dir(dir.path()).unwrap();
    assert_eq!(results.checkers["split-brain"].valid, Validity::Invalid);
    assert!(results.checkers.contains_key("exclusive-holding"));
    assert!(results.checkers.contains_key("resource-safety"));
}
