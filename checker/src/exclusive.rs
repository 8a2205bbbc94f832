//! The exclusive-holding checker: intervals, in controller time, in which two processes
//! believed they held the same lock.
//!
//! A hold begins at the `ok` of an `acquire` and ends at the invocation of that process's
//! `release`. A process that stops otherwise (its op ended `info` and it was retired, or
//! the history ended) is taken to hold until the last op it recorded. Both ends are lower
//! bounds on what the process believed: it believed it held the lock at least from the
//! moment it was told so until it asked to give it up. So an overlap found here is a real
//! overlap of beliefs, never an artefact of where the bounds were drawn.
//!
//! Whether an overlap is a violation depends on fencing. Without fencing, the resource
//! relies on mutual exclusion alone, so any overlap is one. With fencing, a lease is
//! expected to outlive a paused holder's belief; safety is then judged at the resource
//! (see [`crate::resource_safety`]) and overlaps here are observations.

use crate::{CheckerResult, Evidence, Validity};
use serde_json::json;
use splitbrain_history::{History, Op, OpType, Process};
use std::collections::{BTreeMap, HashMap};

/// The name this checker has in `results.json`.
pub const NAME: &str = "exclusive-holding";

/// Evidence entries kept at most; the count in the summary and stats is always complete.
const MAX_EVIDENCE: usize = 200;

/// How a hold ended, as far as the history tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldEnd {
    /// The process invoked `release`.
    Release,
    /// The process was retired (an op ended `info`) while holding; the hold ends at its
    /// last recorded op.
    Retired,
    /// The history ended while the process still held; the hold ends at its last op.
    EndOfHistory,
}

/// A Hold is one interval in which a process believed it held a lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The holding process.
    pub process: u64,
    /// The lock's key (the acquire's value, as JSON text when it is not a string).
    pub key: String,
    /// Index of the `ok` completion of the acquire.
    pub acquire_index: u64,
    /// Index of the op that ends the hold: the release invocation, or the process's last op.
    pub end_index: u64,
    /// Controller time of the acquire's `ok`.
    pub start_ns: u64,
    /// Controller time at which the hold ends.
    pub end_ns: u64,
    /// The fencing token the acquire returned, if any.
    pub token: Option<u64>,
    /// How the hold ended.
    pub end: HoldEnd,
}

/// An Overlap is a pair of holds of the same lock by two processes that intersect in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// The hold that began first.
    pub first: Hold,
    /// The hold that began while the first was still held.
    pub second: Hold,
    /// Start of the intersection.
    pub start_ns: u64,
    /// End of the intersection.
    pub end_ns: u64,
}

impl Overlap {
    /// Length of the intersection in nanoseconds.
    pub fn len_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// The text a lock key is known by: a string as itself, anything else as JSON.
pub(crate) fn key_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A hold that has begun but not ended yet, while walking the history.
struct OpenHold {
    key: String,
    acquire: u64,
    start_ns: u64,
    token: Option<u64>,
}

/// Extracts every hold from a history, in order of their start. Nemesis ops are ignored.
pub fn holds(history: &History) -> Vec<Hold> {
    let mut open: HashMap<u64, Vec<OpenHold>> = HashMap::new();
    let mut last_op: HashMap<u64, &Op> = HashMap::new();
    let mut retired: HashMap<u64, bool> = HashMap::new();
    // The `f` of each process's open invocation, so a completion is read as its own op.
    let mut invoked: HashMap<u64, &Op> = HashMap::new();
    let mut out = Vec::new();
    for op in &history.ops {
        let Process::Client(p) = op.process else {
            continue;
        };
        last_op.insert(p, op);
        match op.kind {
            OpType::Invoke => {
                if op.f == "release" {
                    let key = key_of(&op.value);
                    let held = open.entry(p).or_default();
                    if let Some(pos) = held.iter().position(|h| h.key == key) {
                        let h = held.remove(pos);
                        out.push(close(p, h, op, HoldEnd::Release));
                    }
                }
                invoked.insert(p, op);
            }
            OpType::Ok => {
                let Some(inv) = invoked.remove(&p) else {
                    continue;
                };
                if inv.f == "acquire" {
                    let key = key_of(&inv.value);
                    let held = open.entry(p).or_default();
                    // Acquiring a lock already held (re-entry) keeps the earlier start:
                    // the belief began then.
                    if !held.iter().any(|h| h.key == key) {
                        held.push(OpenHold {
                            key,
                            acquire: op.index,
                            start_ns: op.time_ns,
                            token: op.token.or(inv.token),
                        });
                    }
                }
            }
            OpType::Fail => {
                invoked.remove(&p);
            }
            OpType::Info => {
                invoked.remove(&p);
                retired.insert(p, true);
            }
        }
    }
    for (p, held) in open {
        let last = last_op[&p];
        let end = if retired.get(&p).copied().unwrap_or(false) {
            HoldEnd::Retired
        } else {
            HoldEnd::EndOfHistory
        };
        out.extend(held.into_iter().map(|h| close(p, h, last, end)));
    }
    out.sort_by_key(|h| (h.start_ns, h.acquire_index));
    out
}

fn close(process: u64, h: OpenHold, end_op: &Op, end: HoldEnd) -> Hold {
    Hold {
        process,
        key: h.key,
        acquire_index: h.acquire,
        end_index: end_op.index,
        start_ns: h.start_ns,
        // A release invoked with an earlier timestamp than the acquire's ok cannot happen
        // in a well-formed history; clamping keeps odd input from underflowing.
        end_ns: end_op.time_ns.max(h.start_ns),
        token: h.token,
        end,
    }
}

/// Finds every pair of holds of the same key, by different processes, whose intervals
/// intersect with positive length. Holds that only touch (one ends at the very time the
/// other begins) do not overlap.
pub fn overlaps(holds: &[Hold]) -> Vec<Overlap> {
    let mut by_key: BTreeMap<&str, Vec<&Hold>> = BTreeMap::new();
    for h in holds {
        by_key.entry(&h.key).or_default().push(h);
    }
    let mut out = Vec::new();
    for list in by_key.values_mut() {
        list.sort_by_key(|h| (h.start_ns, h.acquire_index));
        // Sweep in start order, keeping the holds that are still active.
        let mut active: Vec<&Hold> = Vec::new();
        for &h in list.iter() {
            active.retain(|a| a.end_ns > h.start_ns);
            for a in &active {
                if a.process != h.process {
                    out.push(Overlap {
                        first: (*a).clone(),
                        second: h.clone(),
                        start_ns: h.start_ns,
                        end_ns: a.end_ns.min(h.end_ns),
                    });
                }
            }
            active.push(h);
        }
    }
    out.retain(|o| o.len_ns() > 0);
    out
}

/// Checks a history for overlapping holds. With `fencing` on, overlaps are reported as
/// observations and the verdict stays valid; with it off, any overlap is a violation.
pub fn check(history: &History, fencing: bool) -> CheckerResult {
    let holds = holds(history);
    let found = overlaps(&holds);
    let longest_ns = found.iter().map(Overlap::len_ns).max().unwrap_or(0);
    let total_ns: u64 = found.iter().map(Overlap::len_ns).sum();
    let evidence: Vec<Evidence> = found.iter().take(MAX_EVIDENCE).map(evidence).collect();
    let summary = summary(holds.len(), &found, longest_ns, fencing);
    let valid = if found.is_empty() || fencing {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    CheckerResult {
        valid,
        summary,
        evidence,
        stats: json!({
            "holds": holds.len(),
            "overlaps": found.len(),
            "overlap_ns_longest": longest_ns,
            "overlap_ns_total": total_ns,
            "fencing": fencing,
            "evidence_kept": found.len().min(MAX_EVIDENCE),
        }),
    }
}

fn summary(hold_count: usize, found: &[Overlap], longest_ns: u64, fencing: bool) -> String {
    if found.is_empty() {
        return format!("{hold_count} holds, none overlapping");
    }
    let n = found.len();
    let s = if n == 1 { "" } else { "s" };
    let base = format!(
        "{n} overlapping hold{s} among {hold_count} holds (longest {})",
        fmt_ns(longest_ns)
    );
    if fencing {
        format!(
            "{base}: expected with fencing on (a lease outlives a paused holder); \
             safety is judged at the resource"
        )
    } else {
        format!("{base}: mutual exclusion violated (fencing off)")
    }
}

fn evidence(o: &Overlap) -> Evidence {
    let (a, b) = (&o.first, &o.second);
    let explanation = format!(
        "processes {} and {} both believed they held lock {:?} for {} (from {} to {}): \
         process {} acquired it at op {} and held it until op {} ({}); process {} acquired it \
         at op {} while process {} still held it, and held it until op {} ({})",
        a.process,
        b.process,
        a.key,
        fmt_ns(o.len_ns()),
        fmt_at(o.start_ns),
        fmt_at(o.end_ns),
        a.process,
        a.acquire_index,
        a.end_index,
        end_words(a.end),
        b.process,
        b.acquire_index,
        a.process,
        b.end_index,
        end_words(b.end),
    );
    Evidence {
        explanation,
        op_indexes: vec![a.acquire_index, a.end_index, b.acquire_index, b.end_index],
        resource_seqs: Vec::new(),
        detail: json!({
            "kind": "overlapping-holds",
            "key": a.key,
            "overlap_start_ns": o.start_ns,
            "overlap_end_ns": o.end_ns,
            "overlap_ns": o.len_ns(),
            "holds": [hold_json(a), hold_json(b)],
        }),
    }
}

fn hold_json(h: &Hold) -> serde_json::Value {
    json!({
        "process": h.process,
        "acquire_index": h.acquire_index,
        "end_index": h.end_index,
        "start_ns": h.start_ns,
        "end_ns": h.end_ns,
        "token": h.token,
        "end": h.end,
    })
}

fn end_words(end: HoldEnd) -> &'static str {
    match end {
        HoldEnd::Release => "its release",
        HoldEnd::Retired => "its last op before it was retired",
        HoldEnd::EndOfHistory => "its last op; the history ended while it held",
    }
}

/// Formats a controller time as seconds since the start of the run: `2.400s`.
fn fmt_at(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

/// Formats nanoseconds for people: `850µs`, `12.3ms`, `2.50s`.
pub fn fmt_ns(ns: u64) -> String {
    if ns < 1_000_000 {
        format!("{}µs", ns / 1_000)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.2}s", ns as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A tiny history builder: ops get consecutive indexes; times are given.
    struct Builder(Vec<Op>);

    impl Builder {
        fn op(mut self, t: u64, p: u64, kind: OpType, f: &str, value: Value) -> Self {
            let index = self.0.len() as u64;
            self.0
                .push(Op::new(index, t, Process::Client(p), kind, f, value));
            self
        }
        fn acquire(self, t0: u64, t1: u64, p: u64) -> Self {
            self.op(t0, p, OpType::Invoke, "acquire", json!("k")).op(
                t1,
                p,
                OpType::Ok,
                "acquire",
                json!("k"),
            )
        }
        fn release(self, t0: u64, t1: u64, p: u64) -> Self {
            self.op(t0, p, OpType::Invoke, "release", json!("k")).op(
                t1,
                p,
                OpType::Ok,
                "release",
                json!("k"),
            )
        }
        fn history(self) -> History {
            History::new(self.0)
        }
    }

    #[test]
    fn back_to_back_holds_that_touch_at_equal_times_do_not_overlap() {
        let h = Builder(vec![])
            .acquire(0, 10, 1)
            .release(20, 25, 1)
            .op(15, 2, OpType::Invoke, "acquire", json!("k"))
            .op(20, 2, OpType::Ok, "acquire", json!("k"))
            .release(30, 31, 2)
            .history();
        let r = check(&h, false);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.summary, "2 holds, none overlapping");
    }

    #[test]
    fn overlap_without_fencing_is_a_violation_with_op_indexes_and_length() {
        let h = Builder(vec![])
            .acquire(0, 10, 1) // ops 0, 1
            .acquire(12, 20, 2) // ops 2, 3
            .release(50, 51, 1) // ops 4, 5
            .release(60, 61, 2) // ops 6, 7
            .history();
        let r = check(&h, false);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.evidence.len(), 1);
        let e = &r.evidence[0];
        assert_eq!(e.op_indexes, vec![1, 4, 3, 6]);
        assert_eq!(e.detail["overlap_start_ns"], 20);
        assert_eq!(e.detail["overlap_end_ns"], 50);
        assert_eq!(e.detail["overlap_ns"], 30);
        assert!(
            e.explanation.contains(
                "process 1 acquired it at op 1 and held it until op 4 (its release); process 2 \
                 acquired it at op 3 while process 1 still held it"
            ),
            "{}",
            e.explanation
        );
    }

    #[test]
    fn overlap_with_fencing_is_an_observation_and_says_so() {
        let h = Builder(vec![])
            .acquire(0, 10, 1)
            .acquire(12, 20, 2)
            .release(50, 51, 1)
            .release(60, 61, 2)
            .history();
        let r = check(&h, true);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.evidence.len(), 1);
        assert!(
            r.summary.contains("expected with fencing on"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn a_process_retired_mid_hold_holds_until_its_last_op() {
        let h = Builder(vec![])
            .acquire(0, 10, 1) // ops 0, 1
            .op(15, 1, OpType::Invoke, "write", json!(1)) // op 2
            .op(40, 1, OpType::Info, "write", json!(1)) // op 3: retired
            .acquire(30, 35, 2) // ops 4, 5
            .release(60, 61, 2)
            .history();
        let all = holds(&h);
        let retired = all.iter().find(|h| h.process == 1).unwrap();
        assert_eq!(retired.end, HoldEnd::Retired);
        assert_eq!((retired.end_index, retired.end_ns), (3, 40));
        let r = check(&h, false);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.evidence[0].detail["overlap_ns"], 5);
    }

    #[test]
    fn a_hold_still_open_at_the_end_of_the_history_ends_at_its_last_op() {
        let h = Builder(vec![])
            .acquire(0, 10, 1)
            .op(20, 1, OpType::Invoke, "read", Value::Null) // op 2, never completes
            .history();
        let all = holds(&h);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].end, HoldEnd::EndOfHistory);
        assert_eq!((all[0].end_index, all[0].end_ns), (2, 20));
    }

    #[test]
    fn a_failed_or_indeterminate_acquire_begins_no_hold() {
        let h = Builder(vec![])
            .op(0, 1, OpType::Invoke, "acquire", json!("k"))
            .op(5, 1, OpType::Fail, "acquire", json!("k"))
            .op(6, 2, OpType::Invoke, "acquire", json!("k"))
            .op(9, 2, OpType::Info, "acquire", json!("k"))
            .acquire(10, 11, 3)
            .history();
        let all = holds(&h);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].process, 3);
    }

    #[test]
    fn holds_of_different_keys_never_overlap() {
        let h = Builder(vec![])
            .acquire(0, 10, 1)
            .op(11, 2, OpType::Invoke, "acquire", json!("other"))
            .op(12, 2, OpType::Ok, "acquire", json!("other"))
            .release(50, 51, 1)
            .history();
        assert_eq!(check(&h, false).valid, Validity::Valid);
    }

    #[test]
    fn the_token_an_acquire_returned_is_kept_with_its_hold() {
        let mut ops = Builder(vec![]).acquire(0, 10, 1).0;
        ops[1].token = Some(7);
        let all = holds(&History::new(ops));
        assert_eq!(all[0].token, Some(7));
    }

    #[test]
    fn nanoseconds_read_as_people_write_them() {
        assert_eq!(fmt_ns(850_000), "850µs");
        assert_eq!(fmt_ns(12_345_678), "12.3ms");
        assert_eq!(fmt_ns(2_500_000_000), "2.50s");
    }
}
