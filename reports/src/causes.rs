//! The report's first section: what went wrong, told as cause and effect.
//!
//! The damage (lost updates and stale writes the resource accepted) comes first, one
//! sentence per cause: which process wrote, on which node, when it took the lock and
//! when its TTL ran out, the fault that was in force between its read and its write,
//! who took the lock meanwhile, what the write overwrote, and when the writer's lock
//! client said on its own that it had lost the lock. Lost updates with the same
//! writer and the same fault are one cause, counted, with the first and the last.
//! Everything else a checker flagged follows, a line per checker.

use crate::run_timeline::{Fault, faults, op_for_resource_entry};
use splitbrain_checker::{Evidence, Results, RunData, Validity};
use splitbrain_history::{History, Op, OpType, Process, ResourceEntry};
use std::collections::{BTreeMap, HashMap};

/// A Cause is one sentence of the report's opening.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// Cause and effect, for a person.
    pub sentence: String,
    /// How many violations it stands for.
    pub count: usize,
    /// The history ops it points at (the timeline marks them).
    pub op_indexes: Vec<u64>,
    /// Whether it is damage the resource took (rather than an observation).
    pub damage: bool,
}

fn secs(ns: u64) -> String {
    format!("{:.2} s", ns as f64 / 1e9)
}

/// What the history says about one process's write: when it read and wrote, where it
/// ran, when it last took the lock.
struct WriteStory {
    read_ns: u64,
    write_ns: u64,
    write_index: u64,
    node: Option<String>,
    granted_ns: Option<u64>,
}

fn story(
    history: &History,
    by_seq: &HashMap<u64, &ResourceEntry>,
    read: u64,
    write: u64,
) -> Option<WriteStory> {
    let op_at = |seq: u64| -> Option<&Op> {
        let index = op_for_resource_entry(history, by_seq.get(&seq)?)?;
        history.ops.iter().find(|o| o.index == index)
    };
    let (read_op, write_op) = (op_at(read)?, op_at(write)?);
    // The write took effect when it completed: a paused agent sends it only on resuming.
    let written_ns = history
        .ops
        .iter()
        .find(|o| {
            o.process == write_op.process
                && o.index > write_op.index
                && o.kind.is_completion()
                && o.f == write_op.f
        })
        .map_or(write_op.time_ns, |c| c.time_ns);
    let granted_ns = history
        .ops
        .iter()
        .filter(|o| o.process == write_op.process && o.f == "acquire" && o.kind == OpType::Ok)
        .filter(|o| o.time_ns <= read_op.time_ns)
        .map(|o| o.time_ns)
        .next_back();
    Some(WriteStory {
        read_ns: read_op.time_ns,
        write_ns: written_ns,
        write_index: write_op.index,
        node: write_op.node.clone(),
        granted_ns,
    })
}

/// The applied fault in force between `from` and `to` that most likely explains a
/// write: one that names the writer's node, else any.
fn fault_between<'a>(
    faults: &'a [Fault],
    from: u64,
    to: u64,
    node: Option<&str>,
) -> Option<&'a Fault> {
    let overlapping: Vec<&Fault> = faults
        .iter()
        .filter(|f| f.error.is_none() && f.start_ns <= to && f.end_ns.is_none_or(|e| e >= from))
        .collect();
    let names_node =
        |f: &&&Fault| node.is_some_and(|n| f.target.split([' ', ',', '|']).any(|t| t == n));
    overlapping
        .iter()
        .find(names_node)
        .or(overlapping.first())
        .copied()
}

/// The first other process granted the lock between `from` and `to`.
fn taken_meanwhile(history: &History, writer: Process, from: u64, to: u64) -> Option<&Op> {
    history.ops.iter().find(|o| {
        o.process != writer
            && o.is_client()
            && o.f == "acquire"
            && o.kind == OpType::Ok
            && o.time_ns > from
            && o.time_ns < to
    })
}

/// When the lock client of `process` said on its own that it had lost a grant made at
/// or after `granted_ns`: the first such lost notice, timed when its agent learned it.
fn told_lost(history: &History, process: u64, granted_ns: u64) -> Option<u64> {
    history
        .ops
        .iter()
        .filter(|o| o.process == Process::Notice && o.f == "lost")
        .filter(|o| o.value.get("process").and_then(|p| p.as_u64()) == Some(process))
        .map(|o| {
            let age_ms = o.value.get("age_ms").and_then(|a| a.as_u64()).unwrap_or(0);
            o.time_ns.saturating_sub(age_ms.saturating_mul(1_000_000))
        })
        .find(|&t| t >= granted_ns)
}

/// "1.20 s before" or "0.31 s after": where `t` stands against `reference`.
fn before_or_after(t: u64, reference: u64) -> String {
    if t <= reference {
        format!("{} before", secs(reference - t))
    } else {
        format!("{} after", secs(t - reference))
    }
}

/// A lost update as the checker reports it.
struct Lost {
    process: u64,
    read_seq: u64,
    write_seq: u64,
    overwritten: Vec<u64>,
}

fn lost_updates(results: &Results) -> Vec<Lost> {
    let Some(r) = results.checkers.get("resource-safety") else {
        return Vec::new();
    };
    r.evidence
        .iter()
        .filter(|e| e.detail.get("kind").and_then(|k| k.as_str()) == Some("lost-update"))
        .filter_map(|e| {
            let d = &e.detail;
            Some(Lost {
                process: d.get("process")?.as_u64()?,
                read_seq: d.get("read_seq")?.as_u64()?,
                write_seq: d.get("write_seq")?.as_u64()?,
                overwritten: d
                    .get("overwritten")?
                    .as_array()?
                    .iter()
                    .filter_map(|v| v.as_u64())
                    .collect(),
            })
        })
        .collect()
}

/// Lost updates with their stories, grouped by (writer, index of the fault's op).
type Group = Vec<(Lost, Option<WriteStory>)>;

/// The lost updates, one cause per writer and fault.
fn lost_update_causes(run: &RunData, results: &Results) -> Vec<Cause> {
    let lost = lost_updates(results);
    if lost.is_empty() {
        return Vec::new();
    }
    let Some(entries) = run.resource.as_deref() else {
        return Vec::new();
    };
    let by_seq: HashMap<u64, &ResourceEntry> = entries.iter().map(|e| (e.seq, e)).collect();
    let all_faults = faults(&run.history);
    let ttl_ns = run.info.ttl_ms * 1_000_000;
    let mut groups: BTreeMap<(u64, Option<u64>), Group> = BTreeMap::new();
    for l in lost {
        let story = story(&run.history, &by_seq, l.read_seq, l.write_seq);
        let fault = story
            .as_ref()
            .and_then(|s| fault_between(&all_faults, s.read_ns, s.write_ns, s.node.as_deref()));
        groups
            .entry((l.process, fault.map(|f| f.start_index)))
            .or_default()
            .push((l, story));
    }
    groups
        .into_iter()
        .map(|((process, fault_index), group)| {
            let fault = fault_index.and_then(|i| all_faults.iter().find(|f| f.start_index == i));
            lost_update_sentence(run, process, fault, &group, ttl_ns)
        })
        .collect()
}

fn lost_update_sentence(
    run: &RunData,
    process: u64,
    fault: Option<&Fault>,
    group: &[(Lost, Option<WriteStory>)],
    ttl_ns: u64,
) -> Cause {
    let (first, first_story) = &group[0];
    let on = first_story
        .as_ref()
        .and_then(|s| s.node.as_deref())
        .map_or(String::new(), |n| format!(" on {n}"));
    let mut s = format!("process {process}{on}");
    if let Some(story) = first_story {
        if let Some(g) = story.granted_ns {
            s.push_str(&format!(" held the lock from {}", secs(g)));
        }
        s.push_str(&format!(" and read the counter at {}", secs(story.read_ns)));
    }
    match fault {
        Some(f) => s.push_str(&format!(
            "; {} {} struck from {} to {}",
            f.f,
            f.target,
            secs(f.start_ns),
            f.end_ns.map_or("the end of the run".to_owned(), secs)
        )),
        None => s.push_str("; no fault was in force between its read and its write"),
    }
    if let Some(story) = first_story {
        if let Some(g) = story.granted_ns {
            s.push_str(&format!(
                "; its TTL of {} ran out at {}",
                secs(ttl_ns),
                secs(g + ttl_ns)
            ));
        }
        if let Some(q) = taken_meanwhile(
            &run.history,
            Process::Client(process),
            story.read_ns,
            story.write_ns,
        ) {
            s.push_str(&format!(
                " and process {} took the lock at {}",
                q.process,
                secs(q.time_ns)
            ));
        }
        s.push_str(&format!(
            "; when process {process}'s write was accepted at {} (seq {}), it overwrote seq {}",
            secs(story.write_ns),
            first.write_seq,
            join(&first.overwritten)
        ));
        if let Some(told) = story
            .granted_ns
            .and_then(|g| told_lost(&run.history, process, g))
        {
            s.push_str(&format!(
                "; its lock client said it had lost the lock at {}, {} that write",
                secs(told),
                before_or_after(told, story.write_ns)
            ));
        }
    } else {
        s.push_str(&format!(
            "; its write at seq {} overwrote seq {}",
            first.write_seq,
            join(&first.overwritten)
        ));
    }
    let lost: usize = group.iter().map(|(l, _)| l.overwritten.len()).sum();
    s.push_str(&format!(": {}", plural(lost, "lost update")));
    if group.len() > 1 {
        let last = group
            .iter()
            .filter_map(|(_, st)| st.as_ref())
            .map(|st| st.write_ns)
            .max();
        s.push_str(&format!(
            " over {} writes{}",
            group.len(),
            last.map_or(String::new(), |t| format!(", the last at {}", secs(t)))
        ));
    }
    s.push('.');
    Cause {
        sentence: capitalise(&s),
        count: group.len(),
        op_indexes: group
            .iter()
            .filter_map(|(_, st)| st.as_ref().map(|st| st.write_index))
            .collect(),
        damage: true,
    }
}

/// Stale writes the resource accepted (fencing on, and still damaged).
fn stale_write_causes(results: &Results) -> Vec<Cause> {
    let Some(r) = results.checkers.get("resource-safety") else {
        return Vec::new();
    };
    let stale: Vec<&Evidence> = r
        .evidence
        .iter()
        .filter(|e| e.explanation.starts_with("stale write accepted"))
        .collect();
    if stale.is_empty() {
        return Vec::new();
    }
    vec![Cause {
        sentence: format!(
            "The resource accepted {}: {}{}.",
            plural(stale.len(), "stale write"),
            stale[0].explanation,
            if stale.len() > 1 {
                ", and more below"
            } else {
                ""
            }
        ),
        count: stale.len(),
        op_indexes: stale.iter().flat_map(|e| e.op_indexes.clone()).collect(),
        damage: true,
    }]
}

/// Every other checker that found something: its summary, one line each.
fn other_causes(results: &Results, told: bool) -> Vec<Cause> {
    results
        .checkers
        .iter()
        .filter(|(name, r)| {
            r.valid == Validity::Invalid && !(told && name.as_str() == "resource-safety")
        })
        .map(|(name, r)| Cause {
            sentence: format!("{name}: {}.", r.summary.trim_end_matches('.')),
            count: r.evidence.len(),
            op_indexes: r
                .evidence
                .iter()
                .flat_map(|e| e.op_indexes.clone())
                .collect(),
            damage: false,
        })
        .collect()
}

/// The report's opening: damage first, each cause once.
pub fn causes(run: &RunData, results: &Results) -> Vec<Cause> {
    let mut out = lost_update_causes(run, results);
    out.extend(stale_write_causes(results));
    let told = !out.is_empty();
    out.extend(other_causes(results, told));
    out
}

/// Seqs as a list, the middle of a long one left out.
fn join(v: &[u64]) -> String {
    let text = |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    if v.len() <= 8 {
        text(v)
    } else {
        format!("{}, ... {}", text(&v[..4]), text(&v[v.len() - 2..]))
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
