//! Checking a history's partitions on several threads.
//!
//! Models keep their states single-threaded (kv strings are shared with `Rc`, which is
//! what makes the search fast), so the history is split *before* decoding: each
//! invocation and its completion go to the piece of their partition (the model reads it
//! from the raw record, [`HistoryModel::partition_value`]; a piece holds positions, so
//! nothing is copied), and every thread decodes and checks whole pieces with its own
//! model values. The threads share one budget: one time
//! limit for the whole history, and the first piece found not linearizable stops the
//! others. Pieces are handed out smallest first, as the single-threaded check orders its
//! partitions, and the report lists them in that order up to the first that failed.

use super::prepare::prepare_pairs;
use super::{
    Budget, CheckOptions, LinearError, LinearReport, SearchStats, check_prepared_within,
    nothing_tested_is_unknown,
};
use crate::Validity;
use crate::models::HistoryModel;
use serde_json::Value;
use splitbrain_history::{History, OpPair};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A Piece is the pairs of one partition, as positions in the history (nothing copied).
pub(crate) type Piece = Vec<OpPair>;

/// Splits a history's pairs into one piece per partition, in order of size (smallest
/// first); one piece when the model does not say how.
pub(crate) fn split<M: HistoryModel>(history: &History) -> Vec<Piece> {
    let pairs = history.pairs();
    let mut piece_of: HashMap<String, usize> = HashMap::new();
    let mut pieces: Vec<Piece> = Vec::new();
    for &pair in &pairs {
        let invoke = &history.ops[pair.invoke];
        if !invoke.is_client() {
            continue;
        }
        let Some(value) = M::partition_value(invoke) else {
            return vec![pairs];
        };
        let next = pieces.len();
        let piece = *piece_of.entry(key_text(value)).or_insert(next);
        if piece == pieces.len() {
            pieces.push(Vec::new());
        }
        pieces[piece].push(pair);
    }
    if pieces.len() <= 1 {
        return vec![pairs];
    }
    pieces.sort_by_key(Vec::len);
    pieces
}

/// The text that tells partitions apart: equal JSON values, equal texts.
fn key_text(value: &Value) -> String {
    value.to_string()
}

/// Checks the pieces on `options.threads` threads and joins their reports.
pub(crate) fn check_pieces<M: HistoryModel>(
    history: &History,
    pieces: &[Piece],
    init: Option<&Value>,
    options: &CheckOptions,
) -> Result<LinearReport, LinearError> {
    let started = Instant::now();
    let threads = options.threads.min(pieces.len());
    let budget = Budget::new(options, threads);
    let next = AtomicUsize::new(0);
    let done: Vec<Mutex<Option<Result<LinearReport, LinearError>>>> =
        pieces.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= pieces.len() || budget.exhausted() {
                        break;
                    }
                    let piece = prepare_pairs::<M>(history, &pieces[i], init, true);
                    let report = piece.map(|mut prepared| {
                        prepared.named_partitions = true;
                        check_prepared_within(&prepared, options, &budget)
                    });
                    *done[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
                }
            });
        }
    });
    let reports = done
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()));
    join::<M>(reports, started)
}

/// Joins the pieces' reports in order, up to the first not linearizable; a piece never
/// started (the verdict was known, or time ran out) is left out of the figures.
fn join<M: HistoryModel>(
    reports: impl Iterator<Item = Option<Result<LinearReport, LinearError>>>,
    started: Instant,
) -> Result<LinearReport, LinearError> {
    let mut joined = LinearReport {
        valid: Validity::Valid,
        model: M::NAME.to_owned(),
        stats: SearchStats::default(),
        partitions: Vec::new(),
        counterexample: None,
    };
    let mut unchecked = 0usize;
    for report in reports {
        let Some(report) = report.transpose()? else {
            unchecked += 1;
            continue;
        };
        if joined.valid == Validity::Invalid {
            continue;
        }
        joined.valid = joined.valid.and(report.valid);
        add_stats(&mut joined.stats, &report.stats);
        joined.partitions.extend(report.partitions);
        if report.counterexample.is_some() {
            joined.counterexample = report.counterexample;
        }
    }
    if unchecked > 0 && joined.valid != Validity::Invalid {
        // Pieces never started: time ran out (or the check was cancelled) first.
        joined.valid = Validity::Unknown;
    }
    joined.stats.partitions += unchecked;
    joined.stats.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    joined.valid = nothing_tested_is_unknown(joined.valid, &joined.stats);
    Ok(joined)
}

fn add_stats(total: &mut SearchStats, part: &SearchStats) {
    total.operations += part.operations;
    total.unobserved += part.unobserved;
    total.partitions += part.partitions;
    total.partitions_checked += part.partitions_checked;
    total.steps += part.steps;
    total.cache_entries_peak = total.cache_entries_peak.max(part.cache_entries_peak);
    total.cache_bytes_peak = total.cache_bytes_peak.max(part.cache_bytes_peak);
    total.cache_full |= part.cache_full;
    total.partitions_by_reads_from += part.partitions_by_reads_from;
    total.memory_limited |= part.memory_limited;
    total.memory_peak_bytes = total.memory_peak_bytes.max(part.memory_peak_bytes);
}
