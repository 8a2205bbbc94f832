//! The mutex checker: the acquire/release history of a lock run, checked for
//! linearizability against the owner-aware mutex model, and read alongside the lease
//! times.
//!
//! A lease is not a mutex: a holder paused past its TTL loses the lock without knowing,
//! another client takes it, and the history is no longer a mutex's. With fencing off
//! that is the violation the run is looking for. With fencing on it is expected, and
//! the resource's fencing is what keeps the data safe, so it is an observation. What a
//! lease lock must never do, fencing or not, is hand the lock to a second client while
//! the first one's lease cannot have run out yet: the first acquire was invoked at T,
//! so its lease lasts at least until T + TTL, and a grant before then, with no release
//! in between, means the lock is not a lock at all. A plug-in that grants every request
//! at once is caught here even when fencing saves its resource. Clock faults are the one
//! excuse: a lock server whose clock was pushed forward may expire a lease early, which
//! is a finding about clocks, reported as an observation when fencing is on.

use crate::exclusive::{self, Overlap, fmt_ns};
use crate::linear::{CheckOptions, check_history};
use crate::models::Mutex;
use crate::{CheckerResult, Evidence, Validity};
use serde_json::json;
use splitbrain_history::{History, OpType, Process};
use std::collections::HashMap;
use std::time::Duration;

/// The name this checker has in `results.json`.
pub const NAME: &str = "mutex";

/// How long the mutex search may take before it answers `unknown`.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Evidence entries kept at most.
const MAX_EVIDENCE: usize = 50;

/// The acquire and release operations of the clients, the rest left out.
fn lock_ops(history: &History) -> History {
    History::new(
        history
            .ops
            .iter()
            .filter(|o| o.is_client() && matches!(o.f.as_str(), "acquire" | "release"))
            .cloned()
            .collect(),
    )
}

/// Intervals of controller time in which a clock fault was in force.
fn clock_fault_windows(history: &History) -> Vec<(u64, u64)> {
    let mut windows = Vec::new();
    let mut since: Option<u64> = None;
    for op in &history.ops {
        if op.process != Process::Nemesis {
            continue;
        }
        match (op.f.as_str(), op.kind) {
            ("bump-clock" | "strobe-clock" | "drift-clock", OpType::Invoke) => {
                since.get_or_insert(op.time_ns);
            }
            ("reset-clock", OpType::Info) => {
                if let Some(start) = since.take() {
                    windows.push((start, op.time_ns));
                }
            }
            _ => {}
        }
    }
    if let Some(start) = since {
        windows.push((start, u64::MAX));
    }
    windows
}

/// Overlaps in which the second grant came before the first holder's lease could have
/// expired, and no clock fault was in force to excuse it; and those a clock fault
/// excuses.
fn live_lease_grants(history: &History, ttl_ns: u64) -> (Vec<Evidence>, usize) {
    let invoked_at: HashMap<u64, u64> = history
        .pairs()
        .into_iter()
        .filter_map(|p| {
            Some((
                history.ops[p.completion?].index,
                history.ops[p.invoke].time_ns,
            ))
        })
        .collect();
    let clocks = clock_fault_windows(history);
    let mut found = Vec::new();
    let mut excused = 0;
    for o in exclusive::overlaps(&exclusive::holds(history)) {
        let Some(&first_invoked) = invoked_at.get(&o.first.acquire_index) else {
            continue;
        };
        let live_until = first_invoked.saturating_add(ttl_ns);
        if o.second.start_ns >= live_until {
            continue;
        }
        let window = (first_invoked, o.second.start_ns);
        if clocks.iter().any(|&(a, b)| a <= window.1 && window.0 <= b) {
            excused += 1;
            continue;
        }
        found.push(live_grant_evidence(&o, live_until));
    }
    (found, excused)
}

fn live_grant_evidence(o: &Overlap, live_until: u64) -> Evidence {
    Evidence {
        explanation: format!(
            "process {} was granted {:?} at {} while process {}'s lease (acquired at {}) \
             could not have expired before {}: the lock granted a live lease twice",
            o.second.process,
            o.second.key,
            fmt_ns(o.second.start_ns),
            o.first.process,
            fmt_ns(o.first.start_ns),
            fmt_ns(live_until)
        ),
        op_indexes: vec![o.first.acquire_index, o.second.acquire_index],
        ..Evidence::default()
    }
}

/// Checks a lock run's acquires and releases, with the lock's TTL and whether the
/// resource was fenced.
pub fn check(history: &History, ttl_ms: u64, fencing: bool) -> CheckerResult {
    let options = CheckOptions {
        time_limit: Some(TIME_LIMIT),
        ..CheckOptions::default()
    };
    let linear = check_history::<Mutex>(&lock_ops(history), None, &options);
    let (mut live, excused) = live_lease_grants(history, ttl_ms.saturating_mul(1_000_000));
    let live_count = live.len();
    live.truncate(MAX_EVIDENCE);
    let (linear_valid, linear_summary, mut evidence) = match &linear {
        Ok(report) => {
            let r = report.to_checker_result();
            (r.valid, r.summary, r.evidence)
        }
        Err(e) => (
            Validity::Unknown,
            format!("could not be checked: {e}"),
            Vec::new(),
        ),
    };
    let stats = json!({
        "linearizable": linear_valid,
        "live_lease_grants": live_count,
        "live_lease_grants_excused_by_clock_faults": excused,
    });
    let (valid, summary) = if live_count > 0 {
        (
            Validity::Invalid,
            format!(
                "not a lock: {live_count} grant{} of a lease that was still live (first: {})",
                if live_count == 1 { "" } else { "s" },
                live[0].explanation
            ),
        )
    } else if fencing && linear_valid == Validity::Invalid {
        (
            Validity::Valid,
            format!(
                "{linear_summary}: leases were taken over once expired, as a lease does \
                 (fencing is what protects the resource); no live lease was granted twice"
            ),
        )
    } else {
        (linear_valid, linear_summary)
    };
    evidence.splice(0..0, live);
    CheckerResult {
        valid,
        summary,
        evidence,
        stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitbrain_history::Op;

    fn op(i: u64, t_ms: u64, p: u64, kind: OpType, f: &str) -> Op {
        Op::new(i, t_ms * 1_000_000, Process::Client(p), kind, f, json!("k"))
    }

    /// Process 0 acquires at 0-1 ms; process 1 acquires at `second_ms` with no release.
    fn takeover(second_ms: u64) -> History {
        History::new(vec![
            op(0, 0, 0, OpType::Invoke, "acquire"),
            op(1, 1, 0, OpType::Ok, "acquire"),
            op(2, second_ms, 1, OpType::Invoke, "acquire"),
            op(3, second_ms + 1, 1, OpType::Ok, "acquire"),
            op(4, second_ms + 2, 1, OpType::Invoke, "release"),
            op(5, second_ms + 3, 1, OpType::Ok, "release"),
            op(6, second_ms + 4, 0, OpType::Invoke, "release"),
            op(7, second_ms + 5, 0, OpType::Fail, "release"),
        ])
    }

    #[test]
    fn handing_a_live_lease_to_a_second_client_is_not_a_lock_even_when_fenced() {
        let r = check(&takeover(100), 1000, true);
        assert_eq!(r.valid, Validity::Invalid);
        assert!(r.summary.contains("not a lock"), "{}", r.summary);
    }

    #[test]
    fn taking_over_an_expired_lease_is_a_violation_only_without_fencing() {
        let fenced = check(&takeover(1500), 1000, true);
        assert_eq!(fenced.valid, Validity::Valid, "{}", fenced.summary);
        assert!(
            fenced.summary.contains("as a lease does"),
            "{}",
            fenced.summary
        );
        assert_eq!(check(&takeover(1500), 1000, false).valid, Validity::Invalid);
    }

    #[test]
    fn a_clock_fault_excuses_an_early_takeover_when_fenced() {
        let mut h = takeover(100);
        let nemesis =
            |i, t, kind, f: &str| Op::new(i, t, Process::Nemesis, kind, f, serde_json::Value::Null);
        h.ops
            .insert(0, nemesis(100, 0, OpType::Invoke, "bump-clock"));
        h.ops
            .push(nemesis(101, 200_000_000, OpType::Info, "reset-clock"));
        assert_eq!(check(&h, 1000, true).valid, Validity::Valid);
    }

    #[test]
    fn handoffs_after_release_are_linearizable() {
        let h = History::new(vec![
            op(0, 0, 0, OpType::Invoke, "acquire"),
            op(1, 1, 0, OpType::Ok, "acquire"),
            op(2, 2, 0, OpType::Invoke, "release"),
            op(3, 3, 0, OpType::Ok, "release"),
            op(4, 4, 1, OpType::Invoke, "acquire"),
            op(5, 5, 1, OpType::Ok, "acquire"),
        ]);
        assert_eq!(check(&h, 1000, false).valid, Validity::Valid);
    }
}
