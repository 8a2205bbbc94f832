//! What a check reports: the verdict, figures, each partition's linearization and, for a
//! history that is not linearizable, a counterexample a person (or a report) can follow.

use super::Prepared;
use super::prepare::WHOLE;
use super::search::Deepest;
use crate::models::HistoryModel;
use crate::{CheckerResult, Evidence, Validity};
use serde::{Deserialize, Serialize};
use splitbrain_history::Process;

/// A StepView is one operation as a report shows it, with the model state next to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    /// The history index of the operation's invocation.
    pub index: u64,
    /// Its process.
    pub process: Process,
    /// The operation and its return, rendered by the model (`read -> 3`).
    pub op: String,
    /// In a linearization, the state after the operation; for the operation that cannot
    /// be linearized, the state before it; empty for candidates.
    pub state: String,
}

/// A Counterexample shows why a history is not linearizable: the longest linearizable
/// prefix the search found, the operation that could not come after it, and the
/// operations that were tried in its place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The partition (key or lock) in which linearization failed.
    pub partition: String,
    /// The longest linearizable prefix, with the state after each operation.
    pub prefix: Vec<StepView>,
    /// The first operation that cannot be linearized, with the state before it.
    pub failed: Option<StepView>,
    /// The operations pending at that point (each was tried next and none worked).
    pub candidates: Vec<StepView>,
    /// One paragraph for a person.
    pub explanation: String,
}

/// A PartitionReport is the outcome of one partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionReport {
    /// The partition key (`all` when checked as one object).
    pub key: String,
    /// Operations in it.
    pub operations: usize,
    /// Its verdict.
    pub valid: Validity,
    /// History indexes of its operations in linearization order: the whole order when
    /// valid, the longest linearizable prefix when not, empty when unknown.
    pub linearization: Vec<u64>,
}

/// SearchStats are the figures of one check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchStats {
    /// Operations searched (after leaving out `fail`, nemesis and unobservable ops).
    pub operations: usize,
    /// Operations with unknown outcomes left out because nothing could observe them.
    pub unobserved: usize,
    /// Partitions in the history.
    pub partitions: usize,
    /// Partitions searched before the verdict was known.
    pub partitions_checked: usize,
    /// Search steps over all partitions.
    pub steps: u64,
    /// The most configurations one partition's cache held.
    pub cache_entries_peak: usize,
    /// The most bytes one partition's cache held (states' own heap data not counted).
    pub cache_bytes_peak: usize,
    /// Whether a cache reached its memory limit.
    pub cache_full: bool,
    /// Partitions decided without search because every write in them was unique.
    #[serde(default)]
    pub partitions_by_reads_from: usize,
    /// Whether the process reached its memory limit, so caches were dropped and the
    /// search went on without them.
    #[serde(default)]
    pub memory_limited: bool,
    /// The most heap the process had in use, when it counts its allocations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_peak_bytes: Option<usize>,
    /// Wall time of the search.
    pub elapsed_ms: f64,
}

/// A LinearReport is the result of a linearizability check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearReport {
    /// The verdict: false beats unknown beats true across partitions.
    pub valid: Validity,
    /// The model checked against.
    pub model: String,
    /// Figures.
    pub stats: SearchStats,
    /// Each partition searched, in search order.
    pub partitions: Vec<PartitionReport>,
    /// Why the history is not linearizable, when it is not.
    pub counterexample: Option<Counterexample>,
}

impl LinearReport {
    /// One line for a person.
    pub fn summary(&self) -> String {
        let mut line = self.verdict_line();
        if self.stats.memory_limited {
            line.push_str(
                "; the memory limit was reached, so the search dropped its cache and went \
                 on without it (raise --memory-limit for a faster check)",
            );
        }
        line
    }

    fn verdict_line(&self) -> String {
        let s = &self.stats;
        match self.valid {
            Validity::Valid => format!(
                "linearizable: {} operations in {} partition{} fit the {} model",
                s.operations,
                s.partitions,
                if s.partitions == 1 { "" } else { "s" },
                self.model
            ),
            Validity::Invalid => {
                let at = self.counterexample.as_ref().and_then(|c| c.failed.as_ref());
                let at = at.map_or(String::new(), |f| format!(" (operation index={})", f.index));
                format!("not linearizable against the {} model{at}", self.model)
            }
            Validity::Unknown if s.operations == 0 => format!(
                "unknown: the history has no client operation to check ({} left out as \
                 unobservable; failed and nemesis operations are never checked): nothing \
                 was tested",
                s.unobserved
            ),
            Validity::Unknown => format!(
                "unknown: the search ran out of time after {} of {} partitions \
                 (raise --time-limit)",
                s.partitions_checked.saturating_sub(1),
                s.partitions
            ),
        }
    }

    /// The report as a checker result for `results.json`.
    pub fn to_checker_result(&self) -> CheckerResult {
        let evidence = self
            .counterexample
            .iter()
            .map(|c| {
                let mut op_indexes: Vec<u64> = c.failed.iter().map(|f| f.index).collect();
                op_indexes.extend(c.candidates.iter().map(|s| s.index));
                op_indexes.sort_unstable();
                op_indexes.dedup();
                Evidence {
                    explanation: c.explanation.clone(),
                    op_indexes,
                    resource_seqs: Vec::new(),
                    detail: serde_json::to_value(c).unwrap_or_default(),
                }
            })
            .collect();
        CheckerResult {
            valid: self.valid,
            summary: self.summary(),
            evidence,
            stats: serde_json::to_value(&self.stats).unwrap_or_default(),
        }
    }
}

fn key_text<M: HistoryModel>(prepared: &Prepared<M>, p: usize) -> String {
    match prepared.partitions[p].key {
        // One object (a register, one unnamed lock) or a map checked whole.
        WHOLE | 0 if prepared.partitions.len() == 1 && !prepared.named_partitions => {
            "all".to_owned()
        }
        key => prepared.names.name(key),
    }
}

pub(crate) fn partition_report<M: HistoryModel>(
    prepared: &Prepared<M>,
    p: usize,
    valid: Validity,
    order: &[u32],
) -> PartitionReport {
    let ops = &prepared.partitions[p].ops;
    PartitionReport {
        key: key_text(prepared, p),
        operations: ops.len(),
        valid,
        linearization: order.iter().map(|&i| ops[i as usize].index).collect(),
    }
}

/// Replays the deepest prefix to show the state after each operation.
pub(crate) fn counterexample<M: HistoryModel>(
    prepared: &Prepared<M>,
    p: usize,
    deepest: &Deepest,
) -> Counterexample {
    let ops = &prepared.partitions[p].ops;
    let names = &prepared.names;
    let view = |i: u32, state: String| {
        let op = &ops[i as usize];
        StepView {
            index: op.index,
            process: op.process,
            op: M::describe_op(&op.op, op.ret.as_ref(), names),
            state,
        }
    };
    let mut state = prepared.init.clone();
    let mut prefix = Vec::with_capacity(deepest.prefix.len());
    for &i in &deepest.prefix {
        let op = &ops[i as usize];
        match &op.ret {
            Some(ret) => {
                state.is_valid_step(&op.op, ret);
            }
            None => {
                state.invoke(&op.op);
            }
        }
        prefix.push(view(i, state.describe_state(names)));
    }
    let before = state.describe_state(names);
    let failed = deepest.blocked.map(|i| view(i, before.clone()));
    let candidates: Vec<StepView> = deepest
        .candidates
        .iter()
        .map(|&i| view(i, String::new()))
        .collect();
    let partition = key_text(prepared, p);
    let place = if partition == "all" {
        String::new()
    } else {
        format!("partition {partition}: ")
    };
    let explanation = match &failed {
        Some(f) => format!(
            "{place}after the longest linearizable prefix of {} operations the state is \
             {before}; operation index={} (process {}: {}) had returned by then, but no \
             order of the {} operations pending there lets it take effect",
            prefix.len(),
            f.index,
            f.process,
            f.op,
            candidates.len()
        ),
        None => format!("{place}no linearization exists"),
    };
    Counterexample {
        partition,
        prefix,
        failed,
        candidates,
        explanation,
    }
}
