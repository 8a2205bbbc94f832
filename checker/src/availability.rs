//! The availability checker: does the lock keep granting? A lock that stops granting is
//! a bug as real as one that grants twice, and no safety checker sees it: a lock that
//! grants nothing is trivially exclusive.
//!
//! It counts, in each fault's window and outside any, how many acquires were tried and
//! how many were granted (a leader's renewals count too: a renewal the lock grants is
//! the lock serving its holder, and one it refuses a refusal), and it flags a *stuck*
//! lock: a stretch of at least
//! [`stuck_after`] (10 TTLs, at least 5 s) in which clients kept asking (at least
//! [`MIN_ATTEMPTS`] acquires), nothing was granted, and no fault was in force or had
//! healed less than [`recovery`] (5 TTLs, at least 5 s) before. The recovery allowance
//! is what a lock may honestly need after a fault: a paused or killed holder's lease
//! running out, a ZooKeeper session expiring, a restarted server rejoining.
//!
//! Its stats carry the per-second attempts and grants the report plots.

use crate::fault_windows::{Fault, faults};
use crate::{CheckerResult, Evidence, Validity};
use serde_json::json;
use splitbrain_history::{History, Op, OpType};

/// The name this checker has in `results.json`.
pub const NAME: &str = "availability";

/// The fewest acquires a stretch must have seen refused to count as stuck: clients
/// that hardly asked prove nothing.
pub const MIN_ATTEMPTS: usize = 3;

const SECOND_NS: u64 = 1_000_000_000;

/// How long a stretch without grants, free of faults, makes a lock stuck.
pub fn stuck_after(ttl_ms: u64) -> u64 {
    (ttl_ms.saturating_mul(10) * 1_000_000).max(5 * SECOND_NS)
}

/// How long after a fault heals a lock may still be recovering.
pub fn recovery(ttl_ms: u64) -> u64 {
    (ttl_ms.saturating_mul(5) * 1_000_000).max(5 * SECOND_NS)
}

/// An Attempt is one finished acquire or renewal: when it completed and whether it was
/// granted.
#[derive(Clone, Copy, Debug)]
struct Attempt {
    at_ns: u64,
    granted: bool,
}

/// Judges the acquires of a history whose locks have time-to-live `ttl_ms`.
pub fn check(history: &History, ttl_ms: u64) -> CheckerResult {
    let attempts = attempts(history);
    let end_ns = history.ops.last().map_or(0, |o| o.time_ns);
    let applied: Vec<Fault> = faults(history)
        .into_iter()
        .filter(|f| f.error.is_none())
        .collect();
    let disturbed = disturbed(&applied, end_ns, recovery(ttl_ms));
    let windows = window_stats(&applied, &attempts, end_ns);
    let outside = tally(attempts.iter().filter(|a| !inside(&disturbed, a.at_ns)));
    let noun = attempts_noun(history);
    let stats = json!({
        "outside_faults": outside,
        "fault_windows": windows,
        "per_second": per_second(&attempts, end_ns),
        "attempts_are": noun,
        "stuck_after_ms": stuck_after(ttl_ms) / 1_000_000,
        "recovery_ms": recovery(ttl_ms) / 1_000_000,
    });
    let granted = attempts.iter().filter(|a| a.granted).count();
    let result = |valid, summary: String, evidence: Vec<Evidence>| CheckerResult {
        valid,
        summary,
        evidence,
        stats: stats.clone(),
    };
    if attempts.is_empty() {
        return result(
            Validity::Unknown,
            "no acquire finished: nothing to judge".into(),
            vec![],
        );
    }
    if granted == 0 {
        return result(
            Validity::Unknown,
            format!(
                "none of {} acquires was granted: the lock never worked",
                attempts.len()
            ),
            vec![],
        );
    }
    let stuck = stuck_stretches(&attempts, &disturbed, end_ns, stuck_after(ttl_ms));
    let share = share_text(&outside, "outside faults", noun);
    if stuck.is_empty() {
        return result(Validity::Valid, format!("never stuck; {share}"), vec![]);
    }
    let first = &stuck[0];
    result(
        Validity::Invalid,
        format!(
            "stuck: {} stretch{} with no fault in force and no grant (the first {:.1}-{:.1} s, {} \
             acquires refused); {share}",
            stuck.len(),
            if stuck.len() == 1 { "" } else { "es" },
            first.detail["start_ns"].as_u64().unwrap_or(0) as f64 / 1e9,
            first.detail["end_ns"].as_u64().unwrap_or(0) as f64 / 1e9,
            first.detail["attempts"]
        ),
        stuck,
    )
}

/// Every finished client acquire and renewal, in history order; a renewal the lock
/// says it does not support is no attempt.
fn attempts(history: &History) -> Vec<Attempt> {
    history
        .ops
        .iter()
        .filter(|o| o.is_client() && o.kind != OpType::Invoke)
        .filter(|o| o.f == "acquire" || (o.f == "renew" && !unsupported(o)))
        .map(|o: &Op| Attempt {
            at_ns: o.time_ns,
            granted: o.kind == OpType::Ok,
        })
        .collect()
}

fn unsupported(op: &Op) -> bool {
    op.kind == OpType::Fail
        && op
            .error
            .as_deref()
            .is_some_and(|e| e.contains("unsupported"))
}

/// The intervals in which one of the `applied` faults was in force or had healed less
/// than `recovery_ns` before, merged and sorted.
fn disturbed(applied: &[Fault], end_ns: u64, recovery_ns: u64) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = applied
        .iter()
        .map(|f| {
            (
                f.start_ns,
                f.end_ns.unwrap_or(end_ns).saturating_add(recovery_ns),
            )
        })
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn inside(spans: &[(u64, u64)], t: u64) -> bool {
    spans.iter().any(|&(a, b)| a <= t && t < b)
}

/// Stretches without a grant, cut around the disturbed intervals, that lasted at least
/// `limit_ns` and saw at least [`MIN_ATTEMPTS`] refused acquires.
fn stuck_stretches(
    attempts: &[Attempt],
    disturbed: &[(u64, u64)],
    end_ns: u64,
    limit_ns: u64,
) -> Vec<Evidence> {
    let mut bounds: Vec<u64> = vec![attempts.first().map_or(0, |a| a.at_ns)];
    bounds.extend(attempts.iter().filter(|a| a.granted).map(|a| a.at_ns));
    bounds.push(end_ns);
    let mut out = Vec::new();
    for gap in bounds.windows(2) {
        for (start, end) in clean_parts((gap[0], gap[1]), disturbed) {
            let refused = attempts
                .iter()
                .filter(|a| start < a.at_ns && a.at_ns <= end && !a.granted)
                .count();
            if end - start >= limit_ns && refused >= MIN_ATTEMPTS {
                out.push(Evidence {
                    explanation: format!(
                        "nothing granted from {:.2} s to {:.2} s ({refused} refused) with no \
                         fault in force: the lock stopped granting",
                        start as f64 / 1e9,
                        end as f64 / 1e9
                    ),
                    detail: json!({
                        "kind": "stuck",
                        "start_ns": start,
                        "end_ns": end,
                        "attempts": refused,
                    }),
                    ..Evidence::default()
                });
            }
        }
    }
    out
}

/// `span` minus the disturbed intervals.
fn clean_parts(span: (u64, u64), disturbed: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut parts = vec![span];
    for &(a, b) in disturbed {
        parts = parts
            .into_iter()
            .flat_map(|(s, e)| {
                let mut kept = Vec::new();
                if s < a.min(e) {
                    kept.push((s, a.min(e)));
                }
                if b.max(s) < e {
                    kept.push((b.max(s), e));
                }
                kept
            })
            .collect();
    }
    parts
}

/// Attempts and grants among `attempts`, with the share granted.
fn tally<'a>(attempts: impl Iterator<Item = &'a Attempt>) -> serde_json::Value {
    let (mut tried, mut granted) = (0u64, 0u64);
    for a in attempts {
        tried += 1;
        granted += u64::from(a.granted);
    }
    json!({
        "attempts": tried,
        "granted": granted,
        "share": if tried == 0 { serde_json::Value::Null } else { json!(granted as f64 / tried as f64) },
    })
}

/// What the attempts are called: "acquires", or "acquires and renewals" where a leader
/// renewed.
fn attempts_noun(history: &History) -> &'static str {
    let renewed = history
        .ops
        .iter()
        .any(|o| o.is_client() && o.f == "renew" && o.kind == OpType::Ok);
    if renewed {
        "acquires and renewals"
    } else {
        "acquires"
    }
}

fn share_text(t: &serde_json::Value, where_: &str, noun: &str) -> String {
    match t["share"].as_f64() {
        Some(share) => format!(
            "{:.0}% of {noun} granted {where_} ({} of {})",
            share * 100.0,
            t["granted"],
            t["attempts"]
        ),
        None => format!("none of the {noun} finished {where_}"),
    }
}

/// Each applied fault's window (start to heal) with the acquires that finished in it.
fn window_stats(applied: &[Fault], attempts: &[Attempt], end_ns: u64) -> serde_json::Value {
    let windows: Vec<serde_json::Value> = applied
        .iter()
        .map(|f| {
            let until = f.end_ns.unwrap_or(end_ns);
            let within = attempts
                .iter()
                .filter(|a| f.start_ns <= a.at_ns && a.at_ns <= until);
            json!({
                "f": f.f,
                "target": f.target,
                "start_ns": f.start_ns,
                "end_ns": until,
                "acquires": tally(within),
            })
        })
        .collect();
    json!(windows)
}

/// Attempts and grants per second of the run, for the report's plot.
fn per_second(attempts: &[Attempt], end_ns: u64) -> serde_json::Value {
    let seconds = (end_ns / SECOND_NS + 1) as usize;
    let mut tried = vec![0u64; seconds];
    let mut granted = vec![0u64; seconds];
    for a in attempts {
        let s = ((a.at_ns / SECOND_NS) as usize).min(seconds - 1);
        tried[s] += 1;
        granted[s] += u64::from(a.granted);
    }
    json!({ "attempts": tried, "granted": granted })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use splitbrain_history::{Op, Process};

    const S: u64 = SECOND_NS;

    /// A history of acquires by process 0, one every 250 ms for `secs`, granted while
    /// `granted(t)` says so, plus nemesis ops `(t, kind, f)`.
    fn history(
        secs: u64,
        granted: impl Fn(u64) -> bool,
        nemesis: &[(u64, OpType, &str)],
    ) -> History {
        let mut ops = Vec::new();
        let mut t = 0;
        let mut nem = nemesis.to_vec();
        nem.sort_by_key(|n| n.0);
        let mut nem = nem.into_iter().peekable();
        while t < secs * S {
            while let Some(&(at, kind, f)) = nem.peek() {
                if at > t {
                    break;
                }
                ops.push(Op::new(0, at, Process::Nemesis, kind, f, Value::Null));
                nem.next();
            }
            ops.push(Op::new(
                0,
                t,
                Process::Client(0),
                OpType::Invoke,
                "acquire",
                Value::Null,
            ));
            let kind = if granted(t) { OpType::Ok } else { OpType::Fail };
            ops.push(Op::new(
                0,
                t + 1000,
                Process::Client(0),
                kind,
                "acquire",
                Value::Null,
            ));
            t += S / 4;
        }
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
        History::new(ops)
    }

    #[test]
    fn a_lock_that_keeps_granting_is_valid() {
        let r = check(&history(30, |_| true, &[]), 500);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert!(
            r.summary
                .contains("100% of acquires granted outside faults"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn a_lock_that_stops_granting_with_no_fault_in_force_is_stuck() {
        let r = check(&history(30, |t| t < 10 * S, &[]), 500);
        assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
        assert_eq!(r.evidence.len(), 1);
        assert_eq!(r.evidence[0].detail["kind"], "stuck");
        assert!(r.summary.contains("stuck"), "{}", r.summary);
    }

    #[test]
    fn refusals_during_a_fault_and_its_recovery_are_not_stuck() {
        // Nothing granted from 10 s to 22 s; a partition from 10 s to 16 s, healed, and
        // the 5 s recovery: the clean part (21-22 s) is too short to count.
        let nemesis = [
            (10 * S - 1, OpType::Invoke, "start-partition"),
            (10 * S, OpType::Info, "start-partition"),
            (16 * S, OpType::Invoke, "stop-partition"),
            (16 * S + 1, OpType::Info, "stop-partition"),
        ];
        let r = check(
            &history(30, |t| !(10 * S..22 * S).contains(&t), &nemesis),
            500,
        );
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        let windows = r.stats["fault_windows"].as_array().unwrap();
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0]["acquires"]["granted"], 0);
    }

    #[test]
    fn a_leader_that_keeps_renewing_keeps_the_lock_available() {
        // Process 1 wins at once and renews every 250 ms for 30 s; process 0's
        // acquires are all refused meanwhile. Counting acquires alone, that is stuck.
        let mut h = history(30, |_| false, &[]);
        let mut ops = std::mem::take(&mut h.ops);
        let leader = Process::Client(1);
        let (invoke, ok) = (OpType::Invoke, OpType::Ok);
        ops.push(Op::new(0, 1, leader, invoke, "acquire", Value::Null));
        ops.push(Op::new(0, 2, leader, ok, "acquire", Value::Null));
        for t in (1..120).map(|i| i * S / 4 + 500) {
            ops.push(Op::new(0, t, leader, invoke, "renew", Value::Null));
            ops.push(Op::new(0, t + 100, leader, ok, "renew", Value::Null));
        }
        ops.sort_by_key(|o| o.time_ns);
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
        let r = check(&History::new(ops.clone()), 500);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert!(
            r.summary
                .contains("of acquires and renewals granted outside faults"),
            "{}",
            r.summary
        );
        // The same renewals refused as unsupported are no grants: stuck.
        for op in ops.iter_mut().filter(|o| o.f == "renew" && o.kind == ok) {
            op.kind = OpType::Fail;
            op.error = Some("renew unsupported by this lock".into());
        }
        let r = check(&History::new(ops), 500);
        assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
    }

    #[test]
    fn a_lock_that_never_granted_is_unknown_and_an_empty_history_too() {
        assert_eq!(
            check(&history(30, |_| false, &[]), 500).valid,
            Validity::Unknown
        );
        assert_eq!(check(&History::new(vec![]), 500).valid, Validity::Unknown);
    }

    #[test]
    fn the_allowances_grow_with_the_ttl_and_never_drop_under_five_seconds() {
        assert_eq!(stuck_after(100), 5 * S);
        assert_eq!(stuck_after(2000), 20 * S);
        assert_eq!(recovery(2000), 10 * S);
        let parts = clean_parts((0, 100), &[(10, 20), (50, 200)]);
        assert_eq!(parts, vec![(0, 10), (20, 50)]);
    }
}
