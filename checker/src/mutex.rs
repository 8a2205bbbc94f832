//! The mutex checker: the acquire/release history of a lock run, checked for
//! linearizability against the owner-aware mutex model, and read alongside the lease
//! times.
//!
//! A lease is not a mutex: a holder that dies or is paused past its TTL loses the lock
//! without releasing it, and another client rightly takes it. So the model is a mutex
//! whose every grant also expires: an acquire invoked at T adds a release on the
//! holder's behalf that may take effect at any time from T + TTL on (or never, when the
//! holder released first). A paused holder that acts late is then not this checker's
//! business (exclusive-holding and resource-safety judge what it did); what it catches
//! is a lock that grants while a lease cannot have run out yet, which no pause or kill
//! explains: the lock is not a lock at all. A plug-in that grants every request at once
//! is caught here even when fencing saves its resource, so the verdict is invalid with
//! fencing on or off. Clock faults are the one excuse: a lock server whose clock was
//! pushed forward may expire a lease early, a finding about clocks, reported as an
//! observation when fencing is on.

use crate::exclusive::{self, Overlap, fmt_ns};
use crate::linear::{
    CheckOptions, LinearError, Operation, Partition, Prepared, SearchOp, check_prepared, prepare,
};
use crate::models::{Mutex, MutexOp, MutexRet};
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

/// The lock's history as the search sees it: its acquires and releases decoded for the
/// mutex model, and for every grant its holder did not give back, its lease's expiry: a
/// release on the holder's behalf that can take effect at any time from the acquire's
/// invocation plus the TTL on, or never (a holder that renewed). A grant whose holder's
/// next lock operation is a release that succeeded needs none, and leaving those out
/// matters: every expiry stays pending to the end of the history, and hundreds of them
/// would make the search hopeless.
fn prepare_lease_mutex(history: &History, ttl_ns: u64) -> Result<Prepared<Mutex>, LinearError> {
    let prepared = prepare::<Mutex>(&lock_ops(history), None, true)?;
    let partitions = prepared
        .partitions
        .into_iter()
        .map(|part| {
            let mut ops = part.ops;
            let expiries = expiries(&ops, ttl_ns);
            ops.extend(expiries);
            Partition::new(part.key, ops)
        })
        .collect();
    Ok(Prepared {
        partitions,
        ..prepared
    })
}

/// The expiries of the grants in `ops` (one lock's operations, in invocation order)
/// whose holder did not release them.
fn expiries(ops: &[SearchOp<Mutex>], ttl_ns: u64) -> Vec<SearchOp<Mutex>> {
    let mut out = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let MutexOp::Acquire { lock, process } = o.op else {
            continue;
        };
        if o.ret == Some(MutexRet::Refused) {
            continue;
        }
        let next_of_holder = ops[i + 1..].iter().find(|n| match n.op {
            MutexOp::Acquire { process: p, .. } | MutexOp::Release { process: p, .. } => {
                p == process
            }
        });
        let released = next_of_holder.is_some_and(|n| {
            matches!(n.op, MutexOp::Release { .. }) && n.ret == Some(MutexRet::Released)
        });
        if !released {
            out.push(Operation {
                op: MutexOp::Release { lock, process },
                ret: None,
                call_ns: o.call_ns.saturating_add(ttl_ns),
                return_ns: u64::MAX,
                index: o.index,
                process: o.process,
            });
        }
    }
    out
}

/// Checks a lock run's acquires and releases, with the lock's TTL and whether the
/// resource was fenced.
pub fn check(history: &History, ttl_ms: u64, fencing: bool) -> CheckerResult {
    let options = CheckOptions {
        time_limit: Some(TIME_LIMIT),
        ..CheckOptions::default()
    };
    let ttl_ns = ttl_ms.saturating_mul(1_000_000);
    let linear = prepare_lease_mutex(history, ttl_ns).map(|p| check_prepared(&p, &options));
    let (mut live, excused) = live_lease_grants(history, ttl_ns);
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
    let clock_faults = !clock_fault_windows(history).is_empty();
    let stats = json!({
        "linearizable": linear_valid,
        "live_lease_grants": live_count,
        "live_lease_grants_during_clock_faults": excused,
    });
    let first_live = live
        .first()
        .map_or(String::new(), |e| format!("; first: {}", e.explanation));
    let (valid, summary) = match linear_valid {
        Validity::Invalid if fencing && clock_faults => (
            Validity::Valid,
            format!(
                "{linear_summary} with leases of at least the TTL{first_live}: clock faults \
                 can expire leases early, and fencing is what protected the resource"
            ),
        ),
        Validity::Invalid => (
            Validity::Invalid,
            format!(
                "not a lock: the grants fit no mutex whose leases last at least the TTL \
                 ({linear_summary}){first_live}"
            ),
        ),
        Validity::Valid => (
            Validity::Valid,
            format!("{linear_summary}, with leases expiring no sooner than the TTL"),
        ),
        Validity::Unknown => (Validity::Unknown, linear_summary),
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
    fn taking_over_an_expired_lease_is_what_a_lease_does_fenced_or_not() {
        for fencing in [true, false] {
            let r = check(&takeover(1500), 1000, fencing);
            assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        }
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
    fn only_grants_that_were_not_given_back_get_an_expiry() {
        // Regression: an expiry for every grant left hundreds of operations pending to
        // the end of a 10 s run, and the search ran out of time on a valid history.
        let mut ops = Vec::new();
        for i in 0..300u64 {
            let p = i % 3;
            let t = i * 10;
            ops.push(op(4 * i, t, p, OpType::Invoke, "acquire"));
            ops.push(op(4 * i + 1, t + 1, p, OpType::Ok, "acquire"));
            ops.push(op(4 * i + 2, t + 2, p, OpType::Invoke, "release"));
            ops.push(op(4 * i + 3, t + 3, p, OpType::Ok, "release"));
        }
        // One holder that never released: killed with the lock.
        ops.push(op(1200, 3000, 0, OpType::Invoke, "acquire"));
        ops.push(op(1201, 3001, 0, OpType::Ok, "acquire"));
        ops.push(op(1202, 5000, 1, OpType::Invoke, "acquire"));
        ops.push(op(1203, 5001, 1, OpType::Ok, "acquire"));
        let h = History::new(ops);
        let prepared = prepare::<Mutex>(&lock_ops(&h), None, true).unwrap();
        assert_eq!(
            expiries(&prepared.partitions[0].ops, 1_000_000_000).len(),
            2
        );
        let r = check(&h, 1000, false);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
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
