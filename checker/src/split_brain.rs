//! The split-brain checker of the `leader` workload: two leaders acting at the same
//! time, or two leaders sharing a fencing token.
//!
//! From the history: a **term** is a hold of the lock as [`crate::exclusive::holds`]
//! draws it (from the `ok` of an `acquire` to the invocation of the `release`, or to the
//! process's last op when it was retired). A leader **acts** with a `lead` op that ended
//! `ok` (the resource accepted its work). Two terms of different processes whose
//! intervals overlap, where each leader has an accepted `lead` op whose interval reaches
//! into the overlap, are a split brain: both believed they led and both had work
//! accepted while the other also led. Holds that overlap with no accepted work on one
//! side (a deposed leader fenced off by the resource) are safe and counted only.
//!
//! The controller's times bound an accepted `lead` only loosely: a leader paused after
//! the resource accepted its work, before it answered, completes its `lead` long after.
//! So where the resource log has both terms' writes (both terms have tokens), the
//! resource's order decides: a split brain is the earlier leader (the lower token)
//! having work accepted after the later leader's first accepted work. Work the resource
//! took from the earlier leader before any of the later one's is a clean handover there.
//!
//! From the tokens: two terms of different processes granted the same fencing token
//! (in the history's `acquire` replies), or accepted writes of different processes with
//! the same token in `resource.jsonl`, mean the lock handed one token to two leaders,
//! which makes fencing useless.

use crate::exclusive::{self, Hold, Overlap};
use crate::{CheckerResult, Evidence, Validity};
use serde_json::json;
use splitbrain_history::{History, Op, OpType, Process, ResourceAction, ResourceEntry};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The name this checker has in `results.json`.
pub const NAME: &str = "split-brain";

/// Evidence entries kept at most; the counts are always complete.
const MAX_EVIDENCE: usize = 200;

/// An Action is one accepted `lead` op: its interval in controller time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    /// Index of the invocation.
    pub invoke_index: u64,
    /// Index of the `ok` completion.
    pub ok_index: u64,
    /// Controller time of the invocation.
    pub start_ns: u64,
    /// Controller time of the completion.
    pub end_ns: u64,
}

/// A SplitBrain is two terms that overlapped with both leaders acting in the overlap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitBrain {
    /// The overlapping terms.
    pub overlap: Overlap,
    /// The first leader's accepted work reaching into the overlap.
    pub first_actions: Vec<Action>,
    /// The second leader's accepted work reaching into the overlap.
    pub second_actions: Vec<Action>,
}

/// A SharedToken is a fencing token that two leaders were given or wrote with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedToken {
    /// The token.
    pub token: u64,
    /// The processes that used it.
    pub processes: Vec<u64>,
    /// History indexes of the grants (acquire `ok`s) with this token.
    pub op_indexes: Vec<u64>,
    /// Resource seqs of accepted writes with this token.
    pub resource_seqs: Vec<u64>,
}

/// Every accepted `lead` op of each process, in history order.
pub fn actions(history: &History) -> HashMap<u64, Vec<Action>> {
    let mut invoked: HashMap<u64, &Op> = HashMap::new();
    let mut out: HashMap<u64, Vec<Action>> = HashMap::new();
    for op in &history.ops {
        let Process::Client(p) = op.process else {
            continue;
        };
        match op.kind {
            OpType::Invoke => {
                invoked.insert(p, op);
            }
            OpType::Ok => {
                if let Some(inv) = invoked.remove(&p).filter(|i| i.f == "lead") {
                    out.entry(p).or_default().push(Action {
                        invoke_index: inv.index,
                        ok_index: op.index,
                        start_ns: inv.time_ns,
                        end_ns: op.time_ns,
                    });
                }
            }
            OpType::Fail | OpType::Info => {
                invoked.remove(&p);
            }
        }
    }
    out
}

/// The accepted work of `hold`'s process, within its term, that reaches into
/// `[from_ns, to_ns]`.
fn acting_in(
    hold: &Hold,
    acts: &HashMap<u64, Vec<Action>>,
    from_ns: u64,
    to_ns: u64,
) -> Vec<Action> {
    acts.get(&hold.process)
        .into_iter()
        .flatten()
        .filter(|a| a.invoke_index > hold.acquire_index && a.invoke_index <= hold.end_index)
        .filter(|a| a.end_ns > from_ns && a.start_ns < to_ns)
        .copied()
        .collect()
}

/// Finds overlapping terms in which both leaders acted; with the resource log, as the
/// resource ordered their work when it can tell.
pub fn split_brains(
    history: &History,
    resource: Option<&[ResourceEntry]>,
) -> (usize, Vec<Overlap>, Vec<SplitBrain>) {
    let holds = exclusive::holds(history);
    let overlaps = exclusive::overlaps(&holds);
    let acts = actions(history);
    let found = overlaps
        .iter()
        .filter_map(|o| {
            let first = acting_in(&o.first, &acts, o.start_ns, o.end_ns);
            let second = acting_in(&o.second, &acts, o.start_ns, o.end_ns);
            let both_acted = !first.is_empty() && !second.is_empty();
            let interleaved = resource
                .and_then(|log| interleaved_at_resource(o, log))
                .unwrap_or(true);
            (both_acted && interleaved).then(|| SplitBrain {
                overlap: o.clone(),
                first_actions: first,
                second_actions: second,
            })
        })
        .collect();
    (holds.len(), overlaps, found)
}

/// Whether the resource accepted work of the overlap's earlier leader (the lower token)
/// after the later leader's first accepted work; None when the log cannot tell (a term
/// without a token, the same token on both sides, or no accepted write of one of them
/// in the log).
fn interleaved_at_resource(overlap: &Overlap, log: &[ResourceEntry]) -> Option<bool> {
    let (a, b) = (&overlap.first, &overlap.second);
    let (ta, tb) = (a.token?, b.token?);
    if ta == tb {
        return None;
    }
    let (earlier, later) = if ta < tb { (a, b) } else { (b, a) };
    let earlier_last = accepted_seqs(log, earlier).max()?;
    let later_first = accepted_seqs(log, later).min()?;
    Some(earlier_last > later_first)
}

/// The seqs of the resource's accepted writes by `hold`'s process with its token.
fn accepted_seqs<'a>(log: &'a [ResourceEntry], hold: &'a Hold) -> impl Iterator<Item = u64> + 'a {
    log.iter()
        .filter(|e| e.op == ResourceAction::Write && e.accepted != Some(false))
        .filter(move |e| e.process == hold.process && e.token == hold.token)
        .map(|e| e.seq)
}

/// Tokens granted to, or written with by, more than one process.
pub fn shared_tokens(history: &History, resource: Option<&[ResourceEntry]>) -> Vec<SharedToken> {
    /// Who used one token, and where.
    #[derive(Default)]
    struct Uses {
        processes: BTreeSet<u64>,
        op_indexes: Vec<u64>,
        resource_seqs: Vec<u64>,
    }
    let mut by_token: BTreeMap<u64, Uses> = BTreeMap::new();
    for hold in exclusive::holds(history) {
        if let Some(t) = hold.token {
            let e = by_token.entry(t).or_default();
            e.processes.insert(hold.process);
            e.op_indexes.push(hold.acquire_index);
        }
    }
    for entry in resource.unwrap_or_default() {
        let accepted_write = entry.op == ResourceAction::Write && entry.accepted != Some(false);
        if let (true, Some(t)) = (accepted_write, entry.token) {
            let e = by_token.entry(t).or_default();
            e.processes.insert(entry.process);
            e.resource_seqs.push(entry.seq);
        }
    }
    by_token
        .into_iter()
        .filter(|(_, uses)| uses.processes.len() > 1)
        .map(|(token, uses)| SharedToken {
            token,
            processes: uses.processes.into_iter().collect(),
            op_indexes: uses.op_indexes,
            resource_seqs: uses.resource_seqs,
        })
        .collect()
}

/// Checks a leader-election history (and the resource log, when there is one) for
/// split brains. Any finding is a violation, fenced or not: fencing turns a deposed
/// leader's work into a rejected (`fail`) `lead`, which is not counted as acting.
pub fn check(history: &History, resource: Option<&[ResourceEntry]>) -> CheckerResult {
    let (terms, overlaps, found) = split_brains(history, resource);
    let shared = shared_tokens(history, resource);
    let mut evidence: Vec<Evidence> = found.iter().map(split_evidence).collect();
    evidence.extend(shared.iter().map(token_evidence));
    evidence.truncate(MAX_EVIDENCE);
    let valid = if found.is_empty() && shared.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let longest_ns = found.iter().map(|s| s.overlap.len_ns()).max().unwrap_or(0);
    let summary = if valid == Validity::Valid {
        format!(
            "{terms} terms, no two leaders acting at once, no token shared{}",
            if overlaps.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} overlapping terms without work accepted on both sides)",
                    overlaps.len()
                )
            }
        )
    } else {
        format!(
            "SPLIT BRAIN: {} times two leaders acted at once (longest overlap {:.1} ms), \
             {} tokens shared by two leaders, in {terms} terms",
            found.len(),
            longest_ns as f64 / 1e6,
            shared.len()
        )
    };
    CheckerResult {
        valid,
        summary,
        evidence,
        stats: json!({
            "terms": terms,
            "overlapping_terms": overlaps.len(),
            "split_brains": found.len(),
            "shared_tokens": shared.len(),
            "overlap_ns_longest": longest_ns,
        }),
    }
}

fn term_detail(h: &Hold, acts: &[Action]) -> serde_json::Value {
    json!({
        "process": h.process,
        "token": h.token,
        "acquire_index": h.acquire_index,
        "start_ns": h.start_ns,
        "end_ns": h.end_ns,
        "lead_ok_indexes": acts.iter().map(|a| a.ok_index).collect::<Vec<_>>(),
    })
}

fn split_evidence(s: &SplitBrain) -> Evidence {
    let (a, b) = (&s.overlap.first, &s.overlap.second);
    let mut ops = vec![a.acquire_index, b.acquire_index];
    ops.extend(s.first_actions.iter().map(|x| x.ok_index));
    ops.extend(s.second_actions.iter().map(|x| x.ok_index));
    ops.sort_unstable();
    ops.dedup();
    Evidence {
        explanation: format!(
            "process {} (token {}) and process {} (token {}) both led for {:.1} ms and both \
             had work accepted then",
            a.process,
            token_text(a.token),
            b.process,
            token_text(b.token),
            s.overlap.len_ns() as f64 / 1e6
        ),
        op_indexes: ops,
        resource_seqs: vec![],
        detail: json!({
            "kind": "two-leaders",
            "overlap_start_ns": s.overlap.start_ns,
            "overlap_end_ns": s.overlap.end_ns,
            "first": term_detail(a, &s.first_actions),
            "second": term_detail(b, &s.second_actions),
            // The shape the report's timeline draws overlap bands from.
            "holds": [{"process": a.process}, {"process": b.process}],
        }),
    }
}

fn token_evidence(t: &SharedToken) -> Evidence {
    Evidence {
        explanation: format!(
            "token {} was used by {} leaders: processes {:?}",
            t.token,
            t.processes.len(),
            t.processes
        ),
        op_indexes: t.op_indexes.clone(),
        resource_seqs: t.resource_seqs.clone(),
        detail: json!({"kind": "shared-token", "token": t.token, "processes": t.processes}),
    }
}

fn token_text(t: Option<u64>) -> String {
    t.map_or_else(|| "none".into(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn op(i: u64, t: u64, p: u64, kind: OpType, f: &str, token: Option<u64>) -> Op {
        let mut o = Op::new(i, t, Process::Client(p), kind, f, Value::from("k"));
        o.token = token;
        o
    }

    /// Process 0 leads, is paused; process 1 takes over; both have `lead` accepted.
    fn paused_leader(second_lead_kind: OpType) -> History {
        use OpType::*;
        History::new(vec![
            op(0, 0, 0, Invoke, "acquire", None),
            op(1, 10, 0, Ok, "acquire", Some(1)),
            op(2, 20, 0, Invoke, "lead", Some(1)),
            op(3, 30, 1, Invoke, "acquire", None),
            op(4, 40, 1, Ok, "acquire", Some(2)),
            op(5, 50, 1, Invoke, "lead", Some(2)),
            op(6, 60, 1, Ok, "lead", Some(2)),
            op(7, 70, 0, second_lead_kind, "lead", Some(1)),
            op(8, 80, 0, Invoke, "release", Some(1)),
            op(9, 90, 1, Invoke, "release", Some(2)),
        ])
    }

    #[test]
    fn a_paused_leader_whose_late_work_is_accepted_is_a_split_brain() {
        let r = check(&paused_leader(OpType::Ok), None);
        assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
        assert_eq!(r.evidence.len(), 1);
        assert_eq!(r.evidence[0].op_indexes, vec![1, 4, 6, 7]);
        assert_eq!(r.stats["split_brains"], 1);
    }

    #[test]
    fn a_paused_leader_fenced_off_by_the_resource_is_no_split_brain() {
        let r = check(&paused_leader(OpType::Fail), None);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.stats["overlapping_terms"], 1);
    }

    fn write(seq: u64, process: u64, token: u64, accepted: bool) -> ResourceEntry {
        ResourceEntry {
            seq,
            process,
            token: Some(token),
            op: ResourceAction::Write,
            value: Value::from(seq),
            accepted: Some(accepted),
            max_token: None,
        }
    }

    #[test]
    fn work_the_resource_took_before_the_new_leaders_is_a_clean_handover() {
        // Process 0's late `lead` completed after process 1's, but the resource had
        // accepted it first (seq 0): the leader was paused after its work was done.
        let log = vec![write(0, 0, 1, true), write(1, 1, 2, true)];
        let r = check(&paused_leader(OpType::Ok), Some(&log));
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.stats["overlapping_terms"], 1);
    }

    #[test]
    fn work_the_resource_took_from_the_old_leader_after_the_new_ones_is_a_split_brain() {
        let log = vec![write(0, 1, 2, true), write(1, 0, 1, true)];
        let r = check(&paused_leader(OpType::Ok), Some(&log));
        assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
        assert_eq!(r.stats["split_brains"], 1);
        // A log that cannot tell (no accepted write of the old leader's term in it, which
        // its accepted `lead` contradicts) leaves the controller's times to decide.
        let silent = vec![write(0, 1, 2, true), write(1, 0, 1, false)];
        let r = check(&paused_leader(OpType::Ok), Some(&silent));
        assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
    }

    #[test]
    fn one_token_written_by_two_processes_is_a_split_brain() {
        let history = History::new(vec![]);
        let entry = |seq, process| ResourceEntry {
            seq,
            process,
            token: Some(5),
            op: ResourceAction::Write,
            value: Value::from(1),
            accepted: Some(true),
            max_token: None,
        };
        let log = vec![entry(0, 0), entry(1, 3)];
        let r = check(&history, Some(&log));
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.evidence[0].resource_seqs, vec![0, 1]);
        assert_eq!(r.stats["shared_tokens"], 1);
    }
}
