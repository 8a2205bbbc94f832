//! The resource-safety checker: what the resource itself saw, from `resource.jsonl` alone.
//!
//! The resource serializes every access and numbers it (`seq`), so its log is the ground
//! truth that lock clients cannot give: a paused holder does not know it lost the lock,
//! but the resource sees it write. This checker finds
//! - critical sections that overlap in the resource's order (an `enter` of one process
//!   between the `enter` and the end of another's section);
//! - lost updates: an accepted write of `read + 1` by a process when another process's
//!   write was accepted between that read and that write;
//! - writes with a stale fencing token: accepted ones (fencing failed) and rejected ones
//!   (fencing worked);
//! - whether the final counter adds up to the number of accepted increments.
//!
//! Verdict: invalid on any lost update or, with fencing on, any accepted stale write.
//! Overlapping sections alone are invalid only with fencing off: with fencing, an overlap
//! that fencing neutralised is the expected, safe outcome.

use crate::{CheckerResult, Evidence, Validity};
use serde_json::json;
use splitbrain_history::{ResourceAction, ResourceEntry};
use std::collections::HashMap;

/// The name this checker has in `results.json`.
pub const NAME: &str = "resource-safety";

/// Evidence entries kept at most; counts in the summary and stats are always complete.
const MAX_EVIDENCE: usize = 200;

/// A Section is one critical section as the resource saw it: from a process's `enter` to
/// its `exit`, or, when it never exited (killed, or the log ended), to its last access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The process inside.
    pub process: u64,
    /// Seq of its `enter`.
    pub enter_seq: u64,
    /// Seq of its `exit`, or of its last access when it never exited.
    pub end_seq: u64,
    /// Whether the section ended with an `exit`.
    pub exited: bool,
}

/// A LostUpdate is an accepted `read + 1` write that overwrote other accepted writes made
/// after the read it was computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostUpdate {
    /// The writing process.
    pub process: u64,
    /// Seq of the read the write was computed from.
    pub read_seq: u64,
    /// Seq of the write.
    pub write_seq: u64,
    /// Seqs of the accepted writes by other processes between the read and the write.
    pub overwritten: Vec<u64>,
}

/// A StaleWrite is a write whose token was below the highest token already accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleWrite {
    /// The writing process.
    pub process: u64,
    /// Seq of the write.
    pub seq: u64,
    /// The token it carried.
    pub token: u64,
    /// The highest token accepted before it.
    pub max_token: u64,
    /// Whether the resource accepted it anyway.
    pub accepted: bool,
}

/// Findings is everything the checker derived from a resource log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Every critical section, in order of entry.
    pub sections: Vec<Section>,
    /// Pairs of overlapping sections: (the one already inside, the one that entered).
    pub overlaps: Vec<(Section, Section)>,
    /// Lost updates, in write order.
    pub lost_updates: Vec<LostUpdate>,
    /// Writes with a stale token, accepted or not, in seq order.
    pub stale_writes: Vec<StaleWrite>,
    /// Writes the resource rejected, whatever the reason.
    pub rejected_writes: u64,
    /// Writes the resource accepted.
    pub accepted_writes: u64,
    /// The counter before the first accepted write (the first read before it, else 0).
    pub initial_counter: i64,
    /// The value of the last accepted write, or the initial counter when none was.
    pub final_counter: i64,
    /// Entries whose seq repeats an earlier one: the log is not a single order.
    pub duplicate_seqs: u64,
}

impl Findings {
    /// Stale writes the resource accepted.
    pub fn stale_accepted(&self) -> usize {
        self.stale_writes.iter().filter(|s| s.accepted).count()
    }

    /// Stale writes the resource rejected.
    pub fn stale_rejected(&self) -> usize {
        self.stale_writes.iter().filter(|s| !s.accepted).count()
    }

    /// Accepted increments whose effect is missing from the final counter.
    pub fn counter_deficit(&self) -> i64 {
        self.initial_counter + self.accepted_writes as i64 - self.final_counter
    }
}

fn int_of(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Splits the log into critical sections. Entries must be in seq order.
pub fn sections(entries: &[ResourceEntry]) -> Vec<Section> {
    let mut open: HashMap<u64, Section> = HashMap::new();
    let mut out = Vec::new();
    for e in entries {
        match e.op {
            ResourceAction::Enter => {
                // Entering again without an exit: the earlier section ended at its last
                // access (its `end_seq` so far).
                let fresh = Section {
                    process: e.process,
                    enter_seq: e.seq,
                    end_seq: e.seq,
                    exited: false,
                };
                if let Some(prev) = open.insert(e.process, fresh) {
                    out.push(prev);
                }
            }
            ResourceAction::Exit => {
                if let Some(mut s) = open.remove(&e.process) {
                    s.end_seq = e.seq;
                    s.exited = true;
                    out.push(s);
                }
            }
            ResourceAction::Read | ResourceAction::Write => {
                if let Some(s) = open.get_mut(&e.process) {
                    s.end_seq = e.seq;
                }
            }
        }
    }
    out.extend(open.into_values());
    out.sort_by_key(|s| s.enter_seq);
    out
}

/// Pairs of sections where one process entered while another was inside.
pub fn overlapping_sections(sections: &[Section]) -> Vec<(Section, Section)> {
    let mut active: Vec<&Section> = Vec::new();
    let mut out = Vec::new();
    for s in sections {
        active.retain(|a| a.end_seq > s.enter_seq);
        for a in &active {
            if a.process != s.process {
                out.push(((*a).clone(), s.clone()));
            }
        }
        active.push(s);
    }
    out
}

/// Derives every finding from a resource log. Entries are put in seq order first.
pub fn analyse(entries: &[ResourceEntry]) -> Findings {
    let mut entries: Vec<&ResourceEntry> = entries.iter().collect();
    entries.sort_by_key(|e| e.seq);
    let owned: Vec<ResourceEntry> = entries.iter().map(|e| (*e).clone()).collect();
    let sections = sections(&owned);
    let overlaps = overlapping_sections(&sections);
    let duplicate_seqs = owned.windows(2).filter(|w| w[0].seq == w[1].seq).count() as u64;
    let mut f = Findings {
        sections,
        overlaps,
        duplicate_seqs,
        ..Findings::default()
    };
    walk_writes(&owned, &mut f);
    f
}

/// The write-by-write part of the analysis: lost updates, stale tokens, the counter.
fn walk_writes(entries: &[ResourceEntry], f: &mut Findings) {
    let mut last_read: HashMap<u64, (u64, i64)> = HashMap::new();
    // (seq, process) of every accepted write, in seq order, to find what a write overwrote.
    let mut accepted: Vec<(u64, u64)> = Vec::new();
    let mut max_token: Option<u64> = None;
    let mut initial: Option<i64> = None;
    for e in entries {
        match e.op {
            ResourceAction::Enter => {
                last_read.remove(&e.process);
            }
            ResourceAction::Read => {
                if let Some(v) = int_of(&e.value) {
                    last_read.insert(e.process, (e.seq, v));
                    if accepted.is_empty() && initial.is_none() {
                        initial = Some(v);
                    }
                }
            }
            ResourceAction::Write => {
                // A resource that does not judge writes records no `accepted`: it took them.
                let ok = e.accepted.unwrap_or(true);
                let known_max = max_token.max(e.max_token);
                if let (Some(token), Some(max)) = (e.token, known_max)
                    && token < max
                {
                    f.stale_writes.push(StaleWrite {
                        process: e.process,
                        seq: e.seq,
                        token,
                        max_token: max,
                        accepted: ok,
                    });
                }
                if !ok {
                    f.rejected_writes += 1;
                    continue;
                }
                f.accepted_writes += 1;
                max_token = max_token.max(e.token);
                let value = int_of(&e.value);
                if let (Some((read_seq, read)), Some(v)) = (last_read.remove(&e.process), value)
                    && v == read + 1
                {
                    let overwritten = writes_between(&accepted, read_seq, e.seq, e.process);
                    if !overwritten.is_empty() {
                        f.lost_updates.push(LostUpdate {
                            process: e.process,
                            read_seq,
                            write_seq: e.seq,
                            overwritten,
                        });
                    }
                }
                accepted.push((e.seq, e.process));
                if let Some(v) = value {
                    f.final_counter = v;
                }
            }
            ResourceAction::Exit => {}
        }
    }
    f.initial_counter = initial.unwrap_or(0);
    if f.accepted_writes == 0 {
        f.final_counter = f.initial_counter;
    }
}

/// Seqs of accepted writes by processes other than `process` strictly between two seqs.
fn writes_between(accepted: &[(u64, u64)], after: u64, before: u64, process: u64) -> Vec<u64> {
    let from = accepted.partition_point(|&(seq, _)| seq <= after);
    accepted[from..]
        .iter()
        .take_while(|&&(seq, _)| seq < before)
        .filter(|&&(_, p)| p != process)
        .map(|&(seq, _)| seq)
        .collect()
}

/// Checks a resource log. `fencing` says whether the resource was judging tokens.
pub fn check(entries: &[ResourceEntry], fencing: bool) -> CheckerResult {
    let f = analyse(entries);
    let deficit = f.counter_deficit();
    let broken = !f.lost_updates.is_empty()
        || (fencing && f.stale_accepted() > 0)
        || (!fencing && !f.overlaps.is_empty());
    let valid = if broken {
        Validity::Invalid
    } else if deficit != 0 || f.duplicate_seqs > 0 {
        // The counter does not add up, yet no lost update explains it, or the log is not
        // one order: something this checker does not model happened, so it cannot vouch
        // for the run.
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let mut evidence = Vec::new();
    evidence.extend(f.lost_updates.iter().map(lost_update_evidence));
    if fencing {
        let accepted = f.stale_writes.iter().filter(|s| s.accepted);
        evidence.extend(accepted.map(stale_evidence));
    }
    evidence.extend(
        f.overlaps
            .iter()
            .map(|(a, b)| overlap_evidence(a, b, fencing)),
    );
    evidence.truncate(MAX_EVIDENCE);
    CheckerResult {
        valid,
        summary: summary(&f, fencing),
        evidence,
        stats: json!({
            "sections": f.sections.len(),
            "overlapping_sections": f.overlaps.len(),
            "lost_updates": f.lost_updates.len(),
            "stale_writes_accepted": f.stale_accepted(),
            "stale_writes_rejected": f.stale_rejected(),
            "writes_rejected": f.rejected_writes,
            "writes_accepted": f.accepted_writes,
            "counter_initial": f.initial_counter,
            "counter_final": f.final_counter,
            "counter_deficit": deficit,
            "duplicate_seqs": f.duplicate_seqs,
            "fencing": fencing,
        }),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn summary(f: &Findings, fencing: bool) -> String {
    let mut parts = vec![plural(
        f.overlaps.len(),
        "overlapping critical section",
        "overlapping critical sections",
    )];
    let mut lost = plural(f.lost_updates.len(), "lost update", "lost updates");
    if let Some(first) = f.lost_updates.first() {
        let seqs: Vec<String> = first.overwritten.iter().map(u64::to_string).collect();
        let more = if f.lost_updates.len() > 1 {
            ", ..."
        } else {
            ""
        };
        lost.push_str(&format!(
            " (seq {} overwrote seq {}{more})",
            first.write_seq,
            seqs.join(", ")
        ));
    }
    parts.push(lost);
    if fencing {
        parts.push(format!(
            "{} accepted",
            plural(f.stale_accepted(), "stale write", "stale writes")
        ));
        parts.push(format!(
            "{} rejected",
            plural(f.stale_rejected(), "stale write", "stale writes")
        ));
    } else if f.stale_accepted() > 0 {
        parts.push(format!(
            "{} accepted (fencing off)",
            plural(
                f.stale_accepted(),
                "stale-token write",
                "stale-token writes"
            )
        ));
    }
    if f.duplicate_seqs > 0 {
        parts.push(format!(
            "{} (the log is not one order)",
            plural(f.duplicate_seqs as usize, "duplicate seq", "duplicate seqs")
        ));
    }
    let mut line = parts.join(", ");
    line.push_str(&format!(
        "; final counter {} after {} from {}",
        f.final_counter,
        plural(
            f.accepted_writes as usize,
            "accepted increment",
            "accepted increments"
        ),
        f.initial_counter
    ));
    line
}

fn lost_update_evidence(l: &LostUpdate) -> Evidence {
    let seqs: Vec<String> = l.overwritten.iter().map(u64::to_string).collect();
    let mut resource_seqs = vec![l.read_seq];
    resource_seqs.extend(&l.overwritten);
    resource_seqs.push(l.write_seq);
    Evidence {
        explanation: format!(
            "lost update: process {} read the counter at seq {} and wrote it plus one at seq \
             {}, overwriting the accepted write at seq {} made in between by another process",
            l.process,
            l.read_seq,
            l.write_seq,
            seqs.join(", ")
        ),
        op_indexes: Vec::new(),
        resource_seqs,
        detail: json!({
            "kind": "lost-update",
            "process": l.process,
            "read_seq": l.read_seq,
            "write_seq": l.write_seq,
            "overwritten": l.overwritten,
        }),
    }
}

fn stale_evidence(s: &StaleWrite) -> Evidence {
    Evidence {
        explanation: format!(
            "stale write accepted: the resource accepted process {}'s write at seq {} with \
             token {} although it had already accepted token {}",
            s.process, s.seq, s.token, s.max_token
        ),
        op_indexes: Vec::new(),
        resource_seqs: vec![s.seq],
        detail: json!({
            "kind": "stale-write-accepted",
            "process": s.process,
            "seq": s.seq,
            "token": s.token,
            "max_token": s.max_token,
        }),
    }
}

fn overlap_evidence(a: &Section, b: &Section, fencing: bool) -> Evidence {
    let until = if a.exited {
        format!("exited at seq {}", a.end_seq)
    } else {
        format!("never exited; last access at seq {}", a.end_seq)
    };
    Evidence {
        explanation: format!(
            "overlapping critical sections{}: process {} entered at seq {} while process {} \
             was inside (entered at seq {}, {until})",
            if fencing {
                " (fencing on: not a violation by itself)"
            } else {
                ""
            },
            b.process,
            b.enter_seq,
            a.process,
            a.enter_seq
        ),
        op_indexes: Vec::new(),
        resource_seqs: vec![a.enter_seq, b.enter_seq, a.end_seq, b.end_seq],
        detail: json!({
            "kind": "overlapping-sections",
            "first": {"process": a.process, "enter_seq": a.enter_seq, "end_seq": a.end_seq},
            "second": {"process": b.process, "enter_seq": b.enter_seq, "end_seq": b.end_seq},
        }),
    }
}

#[cfg(test)]
mod tests;
