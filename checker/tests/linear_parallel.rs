//! A history split by key and checked on two threads gets the verdict, figures and
//! counterexample the single-threaded check gets, and names the partition that failed.

use serde_json::json;
use splitbrain_checker::Validity;
use splitbrain_checker::generate::{GenModel, GenOptions, Violation, generate};
use splitbrain_checker::linear::{CheckOptions, LinearError, LinearReport, check_with_model};
use splitbrain_checker::models::ModelKind;
use splitbrain_history::{History, Op, OpType, Process};

fn check(history: &History, threads: usize) -> Result<LinearReport, LinearError> {
    let options = CheckOptions {
        threads,
        ..CheckOptions::default()
    };
    check_with_model(ModelKind::Kv, history, None, &options)
}

fn kv(violation: Option<Violation>, seed: u64) -> (History, Option<u64>) {
    let g = generate(&GenOptions {
        model: GenModel::Kv,
        ops: 20_000,
        clients: 10,
        info_rate: 0.05,
        keys: 50,
        seed,
        violation,
    })
    .unwrap();
    (History::new(g.ops), g.stale_read)
}

#[test]
fn two_threads_agree_with_one_on_valid_and_invalid_kv_histories() {
    for seed in 1..=3 {
        let (ok, _) = kv(None, seed);
        let (one, two) = (check(&ok, 1).unwrap(), check(&ok, 2).unwrap());
        assert_eq!((one.valid, two.valid), (Validity::Valid, Validity::Valid));
        assert_eq!(one.stats.operations, two.stats.operations);
        assert_eq!(one.stats.partitions, 50);
        assert_eq!(two.stats.partitions, 50);
        assert_eq!(two.stats.partitions_checked, 50);

        let (bad, stale) = kv(Some(Violation { at: 0.3 }), seed);
        let (one, two) = (check(&bad, 1).unwrap(), check(&bad, 2).unwrap());
        assert_eq!(
            (one.valid, two.valid),
            (Validity::Invalid, Validity::Invalid)
        );
        let failed = |r: &LinearReport| {
            r.counterexample
                .as_ref()
                .unwrap()
                .failed
                .as_ref()
                .unwrap()
                .index
        };
        assert_eq!(failed(&one), stale.unwrap());
        assert_eq!(failed(&two), stale.unwrap());
        let partition = &two.counterexample.as_ref().unwrap().partition;
        assert_eq!(partition, &one.counterexample.as_ref().unwrap().partition);
        assert!(
            partition.starts_with('k'),
            "the failing partition is named {partition:?}"
        );
    }
}

fn op(index: u64, process: u64, kind: OpType, f: &str, value: serde_json::Value) -> Op {
    Op::new(index, index * 10, Process::Client(process), kind, f, value)
}

#[test]
fn a_key_whose_operations_all_failed_does_not_make_the_verdict_unknown() {
    let history = History::new(vec![
        op(0, 0, OpType::Invoke, "put", json!(["a", "1"])),
        op(1, 0, OpType::Ok, "put", json!(["a", "1"])),
        op(2, 1, OpType::Invoke, "put", json!(["b", "2"])),
        op(3, 1, OpType::Fail, "put", json!(["b", "2"])),
        op(4, 0, OpType::Invoke, "get", json!(["a", null])),
        op(5, 0, OpType::Ok, "get", json!(["a", "1"])),
    ]);
    let one = check(&history, 1).unwrap();
    let two = check(&history, 2).unwrap();
    assert_eq!(one.valid, Validity::Valid);
    assert_eq!(two.valid, Validity::Valid, "{}", two.summary());
    assert_eq!(two.stats.operations, one.stats.operations);
}

#[test]
fn a_completion_without_invocation_is_refused_on_two_threads_too() {
    let history = History::new(vec![
        op(0, 0, OpType::Invoke, "put", json!(["a", "1"])),
        op(1, 0, OpType::Ok, "put", json!(["a", "1"])),
        op(2, 1, OpType::Invoke, "put", json!(["b", "2"])),
        op(3, 1, OpType::Ok, "put", json!(["b", "2"])),
        op(4, 2, OpType::Ok, "get", json!(["a", "1"])),
    ]);
    let err = check(&history, 2).unwrap_err();
    assert!(
        matches!(
            err,
            LinearError::CompletionWithoutInvocation { index: 4, .. }
        ),
        "{err:?}"
    );
}
