//! The well-formedness check: is the history shaped as the other checkers assume?
//!
//! Every completion must close an open invocation of the same process and the same `f`,
//! indexes must increase, and controller time must not run backwards. A history that
//! breaks these is not evidence of a bug in the lock but of a bug in the recorder or an
//! importer, so the verdict is `unknown` (the other verdicts cannot be trusted), never
//! `false`, and the checker never panics on odd input.

use crate::{CheckerResult, Evidence, Validity};
use serde_json::json;
use splitbrain_history::{History, Op, OpType, Process};
use std::collections::{HashMap, HashSet};

/// The name this checker has in `results.json`.
pub const NAME: &str = "well-formed";

/// Problems listed at most; the count is always complete.
const MAX_EVIDENCE: usize = 50;

/// Checks the shape of a history. `notes` are remarks from reading it (such as a
/// truncated last line) that belong in the summary without changing the verdict.
pub fn check(history: &History, notes: &[String]) -> CheckerResult {
    let problems = problems(&history.ops);
    let valid = if problems.is_empty() {
        Validity::Valid
    } else {
        Validity::Unknown
    };
    let mut summary = if problems.is_empty() {
        format!("{} ops, well-formed", history.ops.len())
    } else {
        format!(
            "{} ops, {} problem{} (first: {}): other verdicts may not be trustworthy",
            history.ops.len(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems[0].explanation
        )
    };
    for note in notes {
        summary.push_str("; ");
        summary.push_str(note);
    }
    CheckerResult {
        valid,
        summary,
        stats: json!({ "ops": history.ops.len(), "problems": problems.len(), "notes": notes }),
        evidence: problems.into_iter().take(MAX_EVIDENCE).collect(),
    }
}

fn problem(op: &Op, what: String) -> Evidence {
    Evidence {
        explanation: format!("op {}: {what}", op.index),
        op_indexes: vec![op.index],
        ..Evidence::default()
    }
}

/// Every way the ops break the expected shape, in history order.
fn problems(ops: &[Op]) -> Vec<Evidence> {
    let mut out = Vec::new();
    let mut open: HashMap<Process, &Op> = HashMap::new();
    let mut retired: HashSet<Process> = HashSet::new();
    let mut prev: Option<&Op> = None;
    for op in ops {
        if let Some(p) = prev {
            if op.index <= p.index {
                out.push(problem(
                    op,
                    format!("index does not increase (previous index={})", p.index),
                ));
            }
            if op.time_ns < p.time_ns {
                out.push(problem(
                    op,
                    format!(
                        "time_ns={} runs backwards (previous time_ns={})",
                        op.time_ns, p.time_ns
                    ),
                ));
            }
        }
        prev = Some(op);
        if op.process == Process::Notice {
            // A notice stands alone: one info record, no invocation to close.
            if op.kind != OpType::Info {
                out.push(problem(
                    op,
                    format!("a notice must be an info record, not {}", op.kind),
                ));
            }
            continue;
        }
        if op.kind == OpType::Invoke {
            if let Some(earlier) = open.insert(op.process, op) {
                out.push(problem(
                    op,
                    format!(
                        "process {} invoked {:?} while op {} was still open",
                        op.process, op.f, earlier.index
                    ),
                ));
            }
            // The nemesis is one long-lived actor; only clients are retired.
            if op.is_client() && retired.contains(&op.process) {
                out.push(problem(
                    op,
                    format!(
                        "process {} was retired by an info completion and reused",
                        op.process
                    ),
                ));
            }
            continue;
        }
        match open.remove(&op.process) {
            None => out.push(problem(
                op,
                format!(
                    "{} completion of {:?} by process {} matches no open invocation",
                    op.kind, op.f, op.process
                ),
            )),
            Some(inv) if inv.f != op.f => out.push(problem(
                op,
                format!(
                    "completion f={:?} does not match its invocation (op {} f={:?})",
                    op.f, inv.index, inv.f
                ),
            )),
            Some(_) => {}
        }
        if op.kind == OpType::Info {
            retired.insert(op.process);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn op(index: u64, t: u64, p: Process, kind: OpType, f: &str) -> Op {
        Op::new(index, t, p, kind, f, Value::Null)
    }

    #[test]
    fn a_notice_stands_alone_and_must_be_info() {
        let ok = History::new(vec![
            op(0, 1, Process::Client(0), OpType::Invoke, "acquire"),
            op(1, 2, Process::Notice, OpType::Info, "lost"),
            op(2, 3, Process::Client(0), OpType::Ok, "acquire"),
        ]);
        assert_eq!(check(&ok, &[]).valid, Validity::Valid);
        let bad = History::new(vec![op(0, 1, Process::Notice, OpType::Invoke, "lost")]);
        let result = check(&bad, &[]);
        assert_eq!(result.valid, Validity::Unknown);
        assert!(
            result.summary.contains("a notice must be an info record"),
            "{}",
            result.summary
        );
    }

    #[test]
    fn a_paired_history_is_well_formed() {
        let c = Process::Client(0);
        let h = History::new(vec![
            op(0, 1, c, OpType::Invoke, "read"),
            op(1, 2, Process::Nemesis, OpType::Invoke, "pause"),
            op(2, 3, c, OpType::Ok, "read"),
            op(3, 4, Process::Nemesis, OpType::Info, "pause"),
            op(4, 5, Process::Nemesis, OpType::Invoke, "resume"),
            op(5, 6, Process::Nemesis, OpType::Info, "resume"),
        ]);
        let r = check(&h, &[]);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
    }

    #[test]
    fn odd_histories_are_unknown_with_the_offending_op() {
        let c = Process::Client(0);
        let cases = [
            vec![op(0, 1, c, OpType::Ok, "read")],
            vec![
                op(0, 1, c, OpType::Invoke, "read"),
                op(0, 2, c, OpType::Ok, "read"),
            ],
            vec![
                op(0, 5, c, OpType::Invoke, "read"),
                op(1, 2, c, OpType::Ok, "read"),
            ],
            vec![
                op(0, 1, c, OpType::Invoke, "read"),
                op(1, 2, c, OpType::Ok, "write"),
            ],
            vec![
                op(0, 1, c, OpType::Invoke, "read"),
                op(1, 2, c, OpType::Info, "read"),
                op(2, 3, c, OpType::Invoke, "read"),
                op(3, 4, c, OpType::Ok, "read"),
            ],
        ];
        for ops in cases {
            let r = check(&History::new(ops.clone()), &[]);
            assert_eq!(r.valid, Validity::Unknown, "{ops:?}");
            assert!(!r.evidence[0].op_indexes.is_empty());
        }
    }

    #[test]
    fn notes_are_kept_in_the_summary_without_changing_the_verdict() {
        let r = check(&History::default(), &["line 9 truncated".to_string()]);
        assert_eq!(r.valid, Validity::Valid);
        assert!(r.summary.ends_with("; line 9 truncated"), "{}", r.summary);
    }
}
