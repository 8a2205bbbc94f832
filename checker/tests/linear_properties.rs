//! Properties of the search on generated histories: what a correct register does is
//! always linearizable, and one read changed to a value it could not have seen is always
//! caught.

use proptest::prelude::*;
use serde_json::{Value, json};
use splitbrain_checker::Validity;
use splitbrain_checker::linear::{CheckOptions, check_with_model};
use splitbrain_checker::models::ModelKind;
use splitbrain_history::{History, Op, OpType, Process};

/// A step of a generated run: a process starts an op, or a pending op takes effect, or
/// a process whose op took effect sees it return.
#[derive(Clone, Debug)]
enum Step {
    Start { process: u64, write: bool },
    Effect { process: u64 },
    Return { process: u64 },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (0..4u64, any::<bool>()).prop_map(|(process, write)| Step::Start { process, write }),
        (0..4u64).prop_map(|process| Step::Effect { process }),
        (0..4u64).prop_map(|process| Step::Return { process }),
    ];
    prop::collection::vec(step, 1..60)
}

/// Runs the steps against a real register: each op takes effect at one moment inside its
/// interval. Writes carry unique values. Ops still pending at the end stay open.
fn run(steps: &[Step]) -> Vec<Op> {
    let mut register = Value::Null;
    let mut pending: [Option<(bool, Value, bool)>; 4] = Default::default();
    let mut ops = Vec::new();
    let mut next_value = 1;
    for step in steps {
        let t = ops.len() as u64;
        match *step {
            Step::Start { process, write } if pending[process as usize].is_none() => {
                let value = if write {
                    json!(next_value)
                } else {
                    Value::Null
                };
                next_value += 1;
                let f = if write { "write" } else { "read" };
                ops.push(Op::new(
                    t,
                    t,
                    Process::Client(process),
                    OpType::Invoke,
                    f,
                    value.clone(),
                ));
                pending[process as usize] = Some((write, value, false));
            }
            Step::Effect { process } => {
                if let Some((write, value, done)) = &mut pending[process as usize]
                    && !*done
                {
                    if *write {
                        register = value.clone();
                    } else {
                        *value = register.clone();
                    }
                    *done = true;
                }
            }
            Step::Return { process } => {
                if let Some((write, value, true)) = pending[process as usize].clone() {
                    let f = if write { "write" } else { "read" };
                    ops.push(Op::new(
                        t,
                        t,
                        Process::Client(process),
                        OpType::Ok,
                        f,
                        value,
                    ));
                    pending[process as usize] = None;
                }
            }
            Step::Start { .. } => {}
        }
    }
    ops
}

fn verdict(ops: Vec<Op>) -> Validity {
    check_with_model(
        ModelKind::Register,
        &History::new(ops),
        None,
        &CheckOptions::default(),
    )
    .unwrap()
    .valid
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        max_global_rejects: 100_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn what_a_correct_register_does_is_always_linearizable(steps in steps()) {
        let ops = run(&steps);
        // A history with no completed operation tests nothing: unknown, never valid.
        prop_assume!(ops.iter().any(|o| o.kind == OpType::Ok));
        prop_assert_eq!(verdict(ops), Validity::Valid);
    }

    #[test]
    fn a_read_changed_to_an_unwritten_value_is_always_caught(steps in steps(), pick in any::<prop::sample::Index>()) {
        let mut ops = run(&steps);
        let reads: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].kind == OpType::Ok && ops[i].f == "read")
            .collect();
        prop_assume!(!reads.is_empty());
        let i = reads[pick.index(reads.len())];
        ops[i].value = json!(-1);
        prop_assert_eq!(verdict(ops), Validity::Invalid);
    }

    #[test]
    fn in_a_sequential_history_any_other_read_value_is_caught(
        steps in prop::collection::vec((0..4u64, any::<bool>()), 1..40),
        pick in any::<prop::sample::Index>(),
        other in 0..50i64,
    ) {
        // Each op starts, takes effect and returns before the next starts.
        let sequential: Vec<Step> = steps
            .iter()
            .flat_map(|&(process, write)| {
                [Step::Start { process, write }, Step::Effect { process }, Step::Return { process }]
            })
            .collect();
        let mut ops = run(&sequential);
        let reads: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].kind == OpType::Ok && ops[i].f == "read")
            .collect();
        prop_assume!(!reads.is_empty());
        let i = reads[pick.index(reads.len())];
        let replacement = if other == 0 { Value::Null } else { json!(other) };
        prop_assume!(ops[i].value != replacement);
        ops[i].value = replacement;
        prop_assert_eq!(verdict(ops), Validity::Invalid);
    }
}
