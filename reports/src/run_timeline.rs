//! From a run to a [`Timeline`]: one row per client process, nemesis faults as shaded
//! intervals, and the ops and intervals that checkers found wrong as marks.

use crate::timeline::{Band, Mark, Outcome, Pin, Shade, Span, Timeline};
use splitbrain_checker::{Evidence, Results, Validity, exclusive};
use splitbrain_history::{History, OpType, Process, ResourceAction, ResourceEntry};
use std::collections::{BTreeSet, HashMap, HashSet};

pub use splitbrain_checker::fault_windows::{Fault, describe_target, faults};

/// The row of each client process, in process order.
fn rows(history: &History) -> (Vec<String>, HashMap<u64, usize>) {
    let procs: BTreeSet<u64> = history
        .ops
        .iter()
        .filter_map(|o| o.process.client())
        .collect();
    let names = procs.iter().map(|p| format!("process {p}")).collect();
    let index = procs.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    (names, index)
}

/// The most ops the page carries for its pointer to describe; a longer history keeps
/// those near a violation, every `fail` and `info`, and an even sample of the rest.
pub const MAX_PAGE_OPS: usize = 20_000;

/// Every client op of a history as the page's script reads it (`#ops-data`): its
/// invocation index, timeline row, start and end, process, f, completion value as JSON
/// text, outcome, error, node and token. Ops near `marked` (violations) are always kept.
pub fn ops_json(history: &History, marked: &HashSet<u64>) -> serde_json::Value {
    let (_, row_of) = rows(history);
    ops_json_in_rows(history, marked, &|p: Process| {
        p.client().and_then(|c| row_of.get(&c).copied())
    })
}

/// [`ops_json`] for a timeline whose rows are laid out otherwise: `row_of` says which row
/// a process's ops are on.
pub fn ops_json_in_rows(
    history: &History,
    marked: &HashSet<u64>,
    row_of: &dyn Fn(Process) -> Option<usize>,
) -> serde_json::Value {
    let end_ns = history.ops.last().map_or(0, |o| o.time_ns);
    let pairs: Vec<_> = history
        .pairs()
        .into_iter()
        .filter(|p| history.ops[p.invoke].is_client())
        .collect();
    let near_violation = |index: u64| marked.iter().any(|&m| m.abs_diff(index) <= 50);
    let stride = pairs.len().div_ceil(MAX_PAGE_OPS / 2).max(1);
    let ops: Vec<serde_json::Value> = pairs
        .iter()
        .enumerate()
        .filter_map(|(k, pair)| {
            let inv = &history.ops[pair.invoke];
            let done = pair.completion.map(|c| &history.ops[c]);
            let outcome = done.map_or(OpType::Info, |d| d.kind);
            let keep = pairs.len() <= MAX_PAGE_OPS
                || outcome != OpType::Ok
                || k % stride == 0
                || near_violation(inv.index);
            if !keep {
                return None;
            }
            let p = inv.process.client()?;
            let row = row_of(inv.process)?;
            let value = done.map_or(&inv.value, |d| &d.value);
            Some(serde_json::json!({
                "i": inv.index,
                "row": row,
                "s": inv.time_ns,
                "e": done.map_or(end_ns, |d| d.time_ns),
                "p": p,
                "f": inv.f,
                "v": value.to_string(),
                "o": match outcome { OpType::Ok => "ok", OpType::Fail => "fail", _ => "info" },
                "err": done.and_then(|d| d.error.clone()),
                "node": inv.node.clone().or_else(|| done.and_then(|d| d.node.clone())),
                "token": done.and_then(|d| d.token).or(inv.token),
            }))
        })
        .collect();
    serde_json::Value::Array(ops)
}

/// Names every row of a run's timeline by its process, the agent it ran through and its
/// node (`process 4: agent-1 on n2`), as the faults table names its targets. The node
/// comes from the process's ops; the agent is the client slot's (`process mod clients`)
/// when run.json lists it on that node.
pub fn name_rows(t: &mut Timeline, run: &splitbrain_checker::RunData) {
    let clients = run.info.clients.max(1) as u64;
    let mut node_of: HashMap<u64, String> = HashMap::new();
    for op in &run.history.ops {
        if let (Some(p), Some(n)) = (op.process.client(), &op.node) {
            node_of.entry(p).or_insert_with(|| n.clone());
        }
    }
    for row in &mut t.rows {
        let Some(p) = row
            .strip_prefix("process ")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let Some(node) = node_of.get(&p) else {
            continue;
        };
        let agent = format!("agent-{}", p % clients);
        let listed = run
            .info
            .cluster
            .iter()
            .any(|n| &n.name == node && n.roles.contains(&agent));
        *row = if listed {
            format!("process {p}: {agent} on {node}")
        } else {
            format!("process {p} on {node}")
        };
    }
}

/// The history op that a resource access corresponds to, when exactly one fits: a
/// write of the same value, or a read that returned the same value, by the same process.
pub fn op_for_resource_entry(history: &History, e: &ResourceEntry) -> Option<u64> {
    let f = match e.op {
        ResourceAction::Write => "write",
        ResourceAction::Read => "read",
        _ => return None,
    };
    let mut found = history.pairs().into_iter().filter(|pair| {
        let inv = &history.ops[pair.invoke];
        let comp = pair.completion.map(|c| &history.ops[c]);
        inv.process == Process::Client(e.process)
            && inv.f == f
            && match e.op {
                ResourceAction::Write => inv.value == e.value,
                _ => comp.is_some_and(|c| c.kind == OpType::Ok && c.value == e.value),
            }
    });
    let first = found.next()?;
    found
        .next()
        .is_none()
        .then_some(history.ops[first.invoke].index)
}

/// The op indexes a violation points at, including history ops matched to its resource
/// seqs.
pub fn violation_ops(
    history: &History,
    resource: Option<&[ResourceEntry]>,
    evidence: &Evidence,
) -> Vec<u64> {
    let mut ops = evidence.op_indexes.clone();
    if let Some(entries) = resource {
        let by_seq: HashMap<u64, &ResourceEntry> = entries.iter().map(|e| (e.seq, e)).collect();
        for seq in &evidence.resource_seqs {
            if let Some(op) = by_seq
                .get(seq)
                .and_then(|e| op_for_resource_entry(history, e))
            {
                ops.push(op);
            }
        }
    }
    ops
}

/// Builds the timeline of a history alone: one row per client process, a bar per op
/// (ops whose invocation or completion index is in `marked` outlined), and every applied
/// fault shaded. Pages that know more (holds, violations) add bands and marks to it.
pub fn history_timeline(history: &History, marked: &HashSet<u64>) -> Timeline {
    let (rows, row_of) = rows(history);
    let end_ns = history.ops.last().map(|o| o.time_ns).unwrap_or(0);
    let mut spans = Vec::new();
    for pair in history.pairs() {
        let inv = &history.ops[pair.invoke];
        let Some(&row) = inv.process.client().and_then(|p| row_of.get(&p)) else {
            continue;
        };
        let comp = pair.completion.map(|c| &history.ops[c]);
        spans.push(Span {
            row,
            start_ns: inv.time_ns,
            end_ns: comp.map_or(end_ns, |c| c.time_ns),
            outcome: match history.outcome(pair) {
                OpType::Ok => Outcome::Ok,
                OpType::Fail => Outcome::Fail,
                _ => Outcome::Info,
            },
            label: inv.f.clone(),
            highlighted: marked.contains(&inv.index)
                || comp.is_some_and(|c| marked.contains(&c.index)),
        });
    }
    let shades = faults(history)
        .into_iter()
        .filter(|f| f.error.is_none())
        .map(|f| Shade {
            start_ns: f.start_ns,
            end_ns: f.end_ns.unwrap_or(end_ns),
            // `start-partition` reads as `partition` on a shaded band: it is the fault.
            label: format!("{} {}", f.f.trim_start_matches("start-"), f.target)
                .trim()
                .to_string(),
        })
        .collect();
    Timeline {
        rows,
        spans,
        shades,
        end_ns,
        ..Timeline::default()
    }
}

/// Builds the run's timeline: the history's, plus a band for every hold of a lock, with
/// the ops of violations outlined and overlapping holds marked. Only the evidence of
/// invalid checkers is outlined, since those are the violations; overlapping holds that
/// a valid checker observed (under fencing) are marked in the observation color.
pub fn run_timeline(
    history: &History,
    resource: Option<&[ResourceEntry]>,
    results: &Results,
) -> Timeline {
    let violations: Vec<&Evidence> = results
        .checkers
        .values()
        .filter(|c| c.valid == Validity::Invalid)
        .flat_map(|c| c.evidence.iter())
        .collect();
    let marked: HashSet<u64> = violations
        .iter()
        .flat_map(|e| violation_ops(history, resource, e))
        .collect();
    let mut t = history_timeline(history, &marked);
    let (_, row_of) = rows(history);
    t.bands = exclusive::holds(history)
        .iter()
        .filter_map(|h| {
            row_of.get(&h.process).map(|&row| Band {
                row,
                start_ns: h.start_ns,
                end_ns: h.end_ns,
            })
        })
        .collect();
    t.marks = overlap_marks(results, &row_of);
    t.pins = notice_pins(history, &row_of);
    t
}

/// A pin for every notice whose process has a row: where the process's client said,
/// unprompted, that it lost its lock.
fn notice_pins(history: &History, row_of: &HashMap<u64, usize>) -> Vec<Pin> {
    history
        .ops
        .iter()
        .filter(|o| o.process == Process::Notice)
        .filter_map(|o| {
            let row = o.value["process"].as_u64().and_then(|p| row_of.get(&p))?;
            Some(Pin {
                row: *row,
                at_ns: o.time_ns,
                label: o.f.clone(),
            })
        })
        .collect()
}

/// Bands where holds overlapped, on both holders' rows: red for violations, purple for
/// observations (overlaps under fencing, which the resource judges).
fn overlap_marks(results: &Results, row_of: &HashMap<u64, usize>) -> Vec<Mark> {
    let mut marks = Vec::new();
    let overlaps = results.checkers.values().flat_map(|c| {
        let observation = c.valid != Validity::Invalid;
        c.evidence.iter().map(move |e| (e, observation))
    });
    // Two leaders acting at once (split-brain) are drawn like overlapping holds.
    let overlaps = overlaps.filter_map(|(e, observation)| {
        let label = match e.detail.get("kind").and_then(|k| k.as_str()) {
            Some("overlapping-holds") => "overlap",
            Some("two-leaders") => "split brain",
            _ => return None,
        };
        Some((e, observation, label))
    });
    for (n, (e, observation, label)) in overlaps.enumerate() {
        let (Some(start), Some(end)) = (
            e.detail["overlap_start_ns"].as_u64(),
            e.detail["overlap_end_ns"].as_u64(),
        ) else {
            continue;
        };
        let holders = e.detail["holds"].as_array().cloned().unwrap_or_default();
        for h in holders {
            if let Some(&row) = h["process"].as_u64().and_then(|p| row_of.get(&p)) {
                marks.push(Mark {
                    observation,
                    row,
                    start_ns: start,
                    end_ns: end,
                    label: format!("{label} {}", n + 1),
                });
            }
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use splitbrain_history::Op;

    fn nemesis(ops: &mut Vec<Op>, t: u64, kind: OpType, f: &str, v: Value, err: Option<&str>) {
        let mut op = Op::new(ops.len() as u64, t, Process::Nemesis, kind, f, v);
        op.error = err.map(str::to_string);
        ops.push(op);
    }

    #[test]
    fn faults_pair_with_their_healers_and_failed_ones_keep_their_error() {
        let pause = json!({"processes": ["agent-2"], "nodes": ["n3"]});
        let grudge = json!({"grudge": {"n1": ["n4", "n5"]}});
        let mut ops = Vec::new();
        nemesis(&mut ops, 10, OpType::Invoke, "pause", pause.clone(), None);
        nemesis(&mut ops, 11, OpType::Info, "pause", pause.clone(), None);
        nemesis(
            &mut ops,
            20,
            OpType::Invoke,
            "bump-clock",
            json!({"n1": 500}),
            None,
        );
        nemesis(
            &mut ops,
            21,
            OpType::Info,
            "bump-clock",
            json!({"n1": 500}),
            None,
        );
        nemesis(&mut ops, 30, OpType::Invoke, "resume", pause.clone(), None);
        nemesis(&mut ops, 31, OpType::Info, "resume", pause, None);
        nemesis(
            &mut ops,
            40,
            OpType::Invoke,
            "kill",
            json!({"nodes": ["n2"]}),
            None,
        );
        nemesis(
            &mut ops,
            41,
            OpType::Info,
            "kill",
            Value::Null,
            Some("no such pid"),
        );
        nemesis(
            &mut ops,
            50,
            OpType::Invoke,
            "start-partition",
            grudge.clone(),
            None,
        );
        nemesis(&mut ops, 51, OpType::Info, "start-partition", grudge, None);
        nemesis(&mut ops, 60, OpType::Invoke, "reset-clock", json!({}), None);
        nemesis(&mut ops, 61, OpType::Info, "reset-clock", json!({}), None);
        let f = faults(&History::new(ops));
        let got: Vec<(&str, u64, Option<u64>, &str, bool)> = f
            .iter()
            .map(|f| {
                let failed = f.error.is_some();
                (
                    f.f.as_str(),
                    f.start_ns,
                    f.end_ns,
                    f.target.as_str(),
                    failed,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("pause", 10, Some(31), "agent-2 n3", false),
                ("bump-clock", 20, Some(61), "{\"n1\":500}", false),
                ("kill", 40, None, "n2", true),
                ("start-partition", 50, None, "n1|n4,n5", false),
            ]
        );
    }

    #[test]
    fn a_resource_access_maps_to_a_history_op_only_when_exactly_one_fits() {
        let c = Process::Client(3);
        let ops = vec![
            Op::new(0, 1, c, OpType::Invoke, "write", json!(5)),
            Op::new(1, 2, c, OpType::Ok, "write", json!(5)),
            Op::new(2, 3, c, OpType::Invoke, "read", Value::Null),
            Op::new(3, 4, c, OpType::Ok, "read", json!(5)),
            Op::new(4, 5, c, OpType::Invoke, "read", Value::Null),
            Op::new(5, 6, c, OpType::Ok, "read", json!(5)),
        ];
        let h = History::new(ops);
        let entry = |op, value| ResourceEntry {
            seq: 0,
            process: 3,
            token: None,
            op,
            value,
            accepted: None,
            max_token: None,
        };
        assert_eq!(
            op_for_resource_entry(&h, &entry(ResourceAction::Write, json!(5))),
            Some(0)
        );
        // Two reads returned 5: ambiguous, so no claim is made.
        assert_eq!(
            op_for_resource_entry(&h, &entry(ResourceAction::Read, json!(5))),
            None
        );
        assert_eq!(
            op_for_resource_entry(&h, &entry(ResourceAction::Write, json!(6))),
            None
        );
    }

    #[test]
    fn every_client_process_gets_a_row_in_process_order_and_the_nemesis_none() {
        let ops = vec![
            Op::new(
                0,
                1,
                Process::Client(7),
                OpType::Invoke,
                "read",
                Value::Null,
            ),
            Op::new(1, 2, Process::Nemesis, OpType::Invoke, "pause", Value::Null),
            Op::new(
                2,
                3,
                Process::Client(2),
                OpType::Invoke,
                "read",
                Value::Null,
            ),
            Op::new(3, 4, Process::Client(7), OpType::Ok, "read", json!(1)),
        ];
        let t = history_timeline(&History::new(ops), &HashSet::from([3]));
        assert_eq!(t.rows, vec!["process 2", "process 7"]);
        let seven = t.spans.iter().find(|s| s.row == 1).unwrap();
        assert!(seven.highlighted);
        assert_eq!(seven.outcome, Outcome::Ok);
        // Process 2's read never completed: drawn to the end of the history as info.
        let two = t.spans.iter().find(|s| s.row == 0).unwrap();
        assert_eq!((two.end_ns, two.outcome), (4, Outcome::Info));
    }

    #[test]
    fn two_leaders_acting_at_once_are_banded_on_both_leaders_rows() {
        let evidence = Evidence {
            explanation: "two leaders".into(),
            detail: json!({
                "kind": "two-leaders",
                "overlap_start_ns": 10,
                "overlap_end_ns": 20,
                "holds": [{"process": 0}, {"process": 1}],
            }),
            ..Evidence::default()
        };
        let result = splitbrain_checker::CheckerResult {
            valid: Validity::Invalid,
            summary: String::new(),
            evidence: vec![evidence],
            stats: Value::Null,
        };
        let results = Results::compose([("split-brain".to_string(), result)].into());
        let rows = HashMap::from([(0, 0), (1, 1)]);
        let marks = overlap_marks(&results, &rows);
        assert_eq!(marks.len(), 2);
        assert!(
            marks
                .iter()
                .all(|m| m.label == "split brain 1" && !m.observation)
        );
    }
}
