//! The search's guarantees beyond the verdict: a time budget that answers `unknown`
//! instead of hanging, a memory bound that does not change verdicts, and
//! counterexamples that point at the right operation.

use serde_json::{Value, json};
use splitbrain_checker::Validity;
use splitbrain_checker::linear::{CheckOptions, check_with_model};
use splitbrain_checker::models::ModelKind;
use splitbrain_history::{History, Op, OpType, Process};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn op(process: u64, kind: OpType, f: &str, value: Value) -> Op {
    Op::new(0, 0, Process::Client(process), kind, f, value)
}

fn numbered(mut ops: Vec<Op>) -> History {
    for (i, op) in ops.iter_mut().enumerate() {
        op.index = i as u64;
        op.time_ns = i as u64 * 100;
    }
    History::new(ops)
}

/// `writers` writes that never return, then reads that see each written value in
/// turn, then a read of a value nobody wrote: not linearizable, but only after trying
/// the ways the unread writes could have been placed. Its writes are unique, which the
/// check decides without search, so the tests of the search turn that off.
fn hard(writers: u64) -> History {
    let mut ops: Vec<Op> = (0..writers)
        .map(|p| op(p, OpType::Invoke, "write", json!(p)))
        .collect();
    for v in (0..writers as i64).chain([-1]) {
        ops.push(op(writers, OpType::Invoke, "read", Value::Null));
        ops.push(op(writers, OpType::Ok, "read", json!(v)));
    }
    numbered(ops)
}

#[test]
fn a_hard_history_with_a_time_limit_answers_unknown_promptly() {
    let options = CheckOptions {
        time_limit: Some(Duration::from_millis(100)),
        reads_from: false,
        ..CheckOptions::default()
    };
    let started = Instant::now();
    let report = check_with_model(ModelKind::Register, &hard(40), None, &options).unwrap();
    assert_eq!(report.valid, Validity::Unknown);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        report.summary().contains("--time-limit"),
        "{}",
        report.summary()
    );
}

#[test]
fn a_cancelled_check_answers_unknown() {
    let options = CheckOptions {
        cancel: Some(Arc::new(AtomicBool::new(true))),
        reads_from: false,
        ..CheckOptions::default()
    };
    let report = check_with_model(ModelKind::Register, &hard(40), None, &options).unwrap();
    assert_eq!(report.valid, Validity::Unknown);
}

#[test]
fn a_cache_with_no_room_changes_no_verdict_and_reports_it_was_full() {
    let small = CheckOptions {
        max_cache_bytes: 0,
        reads_from: false,
        ..CheckOptions::default()
    };
    let report = check_with_model(ModelKind::Register, &hard(8), None, &small).unwrap();
    assert_eq!(report.valid, Validity::Invalid);
    assert!(report.stats.cache_full);
    assert_eq!(report.stats.cache_entries_peak, 0);
    let general = CheckOptions {
        reads_from: false,
        ..CheckOptions::default()
    };
    let full = check_with_model(ModelKind::Register, &hard(8), None, &general).unwrap();
    assert_eq!(full.valid, Validity::Invalid);
    assert!(full.stats.cache_entries_peak > 0 && !full.stats.cache_full);
    assert!(full.stats.steps < report.stats.steps, "the cache prunes");
}

#[test]
fn the_counterexample_names_the_stale_read_and_the_state_before_it() {
    let history = numbered(vec![
        op(0, OpType::Invoke, "write", json!(1)),
        op(0, OpType::Ok, "write", json!(1)),
        op(0, OpType::Invoke, "write", json!(2)),
        op(0, OpType::Ok, "write", json!(2)),
        op(1, OpType::Invoke, "read", Value::Null),
        op(1, OpType::Ok, "read", json!(1)),
    ]);
    let report = check_with_model(
        ModelKind::Register,
        &history,
        None,
        &CheckOptions::default(),
    )
    .unwrap();
    assert_eq!(report.valid, Validity::Invalid);
    let c = report.counterexample.unwrap();
    let prefix: Vec<u64> = c.prefix.iter().map(|s| s.index).collect();
    assert_eq!(prefix, vec![0, 2]);
    assert_eq!(c.prefix[1].state, "2");
    let failed = c.failed.unwrap();
    assert_eq!(
        (failed.index, failed.state.as_str(), failed.op.as_str()),
        (4, "2", "read -> 1")
    );
    assert!(c.explanation.contains("index=4"), "{}", c.explanation);
    let json = serde_json::to_value(report.partitions).unwrap();
    assert_eq!(json[0]["valid"], json!(false));
}

#[test]
fn a_valid_history_reports_its_linearization_in_order() {
    let history = numbered(vec![
        op(0, OpType::Invoke, "write", json!(1)),
        op(1, OpType::Invoke, "read", Value::Null),
        op(1, OpType::Ok, "read", Value::Null),
        op(0, OpType::Ok, "write", json!(1)),
    ]);
    let report = check_with_model(
        ModelKind::Register,
        &history,
        None,
        &CheckOptions::default(),
    )
    .unwrap();
    assert_eq!(report.valid, Validity::Valid);
    assert_eq!(report.partitions[0].linearization, vec![1, 0]);
    assert_eq!(report.to_checker_result().valid, Validity::Valid);
}

#[test]
fn an_operation_the_model_cannot_read_is_a_clear_error() {
    let history = numbered(vec![op(0, OpType::Invoke, "cas", json!([1, 2]))]);
    let err = check_with_model(
        ModelKind::Register,
        &history,
        None,
        &CheckOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("model=register") && err.contains("f=\"cas\""),
        "{err}"
    );
    assert!(err.contains("--model"), "{err}");
    let err = check_with_model(
        ModelKind::Kv,
        &history,
        Some(&json!(3)),
        &CheckOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("init=3"), "{err}");
}

#[test]
fn a_completion_before_its_invocation_is_a_clear_error() {
    let mut history = numbered(vec![
        op(0, OpType::Invoke, "read", Value::Null),
        op(0, OpType::Ok, "read", Value::Null),
    ]);
    history.ops[1].time_ns = 0;
    history.ops[0].time_ns = 50;
    let err = check_with_model(
        ModelKind::Register,
        &history,
        None,
        &CheckOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("call_ns=50") && err.contains("return_ns=0"),
        "{err}"
    );
}
