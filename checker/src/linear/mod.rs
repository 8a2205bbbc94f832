//! The linearizability checker: a porcupine-class search (Wing & Gong's backtracking
//! with Lowe's cache of (linearized set, state)), P-compositional partitioning, a time
//! budget that answers `unknown` instead of hanging, and counterexamples a report can
//! draw.
//!
//! Operations whose outcome is unknown (`info`, or never completed) may or may not have
//! taken effect: their return is placed after every other event, so the search may
//! linearize them anywhere after their call, including at the very end (which is the
//! same as never). Operations that ended `fail` did not take effect and are left out.
//!
//! ```
//! use splitbrain_checker::linear::{CheckOptions, check_history};
//! use splitbrain_checker::models::CasRegister;
//! use splitbrain_history::{History, Op, OpType, Process};
//! use serde_json::json;
//! let op = |i, p, kind, f: &str, v| Op::new(i, i, Process::Client(p), kind, f, v);
//! let history = History::new(vec![
//!     op(0, 0, OpType::Invoke, "write", json!(1)),
//!     op(1, 0, OpType::Ok, "write", json!(1)),
//!     op(2, 1, OpType::Invoke, "read", json!(null)),
//!     op(3, 1, OpType::Ok, "read", json!(2)),
//! ]);
//! let report = check_history::<CasRegister>(&history, None, &CheckOptions::default()).unwrap();
//! assert_eq!(report.valid, splitbrain_checker::Validity::Invalid);
//! ```

mod cache;
mod error;
mod outcome;
mod parallel;
mod prepare;
mod reads_from;
mod search;

pub use error::LinearError;
pub use outcome::{Counterexample, LinearReport, PartitionReport, SearchStats, StepView};
pub use prepare::{Partition, Prepared, SearchOp, WHOLE, prepare};
pub use reads_from::{Access, RegisterView};

use crate::Validity;
use crate::models::{
    CasRegister, FencedMutex, HistoryModel, Kv, ModelKind, MultiRegister, Mutex, Register,
};
use search::{Found, SearchFigures};
use serde_json::Value;
use splitbrain_history::History;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An Operation is one operation as the search sees it: the model's operation, its
/// observed return (None when unknown), and its interval on the history's clock.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation<O, R> {
    /// The model's operation.
    pub op: O,
    /// The observed return, or None when any return is allowed.
    pub ret: Option<R>,
    /// When it was invoked.
    pub call_ns: u64,
    /// When it returned; `u64::MAX` when it may never have returned.
    pub return_ns: u64,
    /// The history index of its invocation, for reports.
    pub index: u64,
    /// Its process, for reports.
    pub process: splitbrain_history::Process,
}

/// CheckOptions tune a check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Give up and answer `unknown` after this long; None searches until done.
    pub time_limit: Option<Duration>,
    /// Check each partition (key, lock) on its own. Turning it off only matters for models
    /// whose state spans partitions (kv); it is much slower and exists for comparison.
    pub partition: bool,
    /// The most memory the cache of one partition may take; past it the search goes on
    /// without remembering more (slower, still correct).
    pub max_cache_bytes: usize,
    /// The most heap the whole process may have in use (when it counts its allocations,
    /// see [`crate::memory`]); past it the search drops its caches and goes on without
    /// them (slower, still correct), and the report says so.
    pub memory_limit: Option<usize>,
    /// Set to true from elsewhere to stop the check early (answer `unknown`).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Check a register partition whose writes are all unique without search (see
    /// [`RegisterView`]); off, the general search checks everything (for comparison).
    pub reads_from: bool,
    /// Threads checking partitions at once (of models whose partitions can be told
    /// apart in the history, such as kv's keys).
    pub threads: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            time_limit: None,
            partition: true,
            max_cache_bytes: 1 << 30,
            memory_limit: Some(1 << 30),
            cancel: None,
            reads_from: true,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// A Budget is the time and memory one check may use; the threads checking parts of one
/// history share it.
pub(crate) struct Budget {
    deadline: Option<Instant>,
    cancel: Option<Arc<AtomicBool>>,
    /// Set when another part of the history was found not linearizable: the rest need
    /// not finish.
    settled: AtomicBool,
    pub(crate) max_cache_bytes: usize,
    memory_limit: Option<usize>,
}

impl Budget {
    /// The budget of a check on `threads` threads. Under a memory limit each thread's
    /// cache may take a share of half of it, which leaves room for the rest of the
    /// process and for a cache's table to double.
    fn new(options: &CheckOptions, threads: usize) -> Budget {
        Budget {
            deadline: options.time_limit.map(|d| Instant::now() + d),
            cancel: options.cancel.clone(),
            settled: AtomicBool::new(false),
            max_cache_bytes: match options.memory_limit {
                Some(limit) => options.max_cache_bytes.min(limit / 2 / threads.max(1)),
                None => options.max_cache_bytes,
            },
            memory_limit: options.memory_limit,
        }
    }

    /// Whether the process has more heap in use than its limit.
    pub(crate) fn over_memory(&self) -> bool {
        self.memory_limit
            .is_some_and(|limit| crate::memory::in_use().is_some_and(|used| used > limit))
    }

    /// Whether the search must stop now.
    pub(crate) fn exhausted(&self) -> bool {
        self.out_of_time()
            || self.settled.load(Ordering::Relaxed)
            || self
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Whether the time limit has passed.
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Tells the other threads that the verdict is known.
    fn settle(&self) {
        self.settled.store(true, Ordering::Relaxed);
    }
}

/// Checks a history against model `M` with initial value `init` (`--init`).
pub fn check_history<M: HistoryModel>(
    history: &History,
    init: Option<&Value>,
    options: &CheckOptions,
) -> Result<LinearReport, LinearError> {
    if options.partition && options.threads > 1 {
        prepare::well_paired(history)?;
        let pieces = parallel::split::<M>(history);
        if pieces.len() > 1 {
            return parallel::check_pieces::<M>(history, &pieces, init, options);
        }
    }
    let prepared = prepare::<M>(history, init, options.partition)?;
    Ok(check_prepared(&prepared, options))
}

/// Knossos's reading of a register history: a read that returned `null` (nil) is
/// consistent with any state. Returns the history with every such `ok` read made an
/// `info` (a read whose result is unknown, which is the same thing: a read changes
/// nothing), and how many there were. Porcupine, and splitbrain by default, count
/// `null` as a value the register holds; the command line chooses with `--nil-reads`.
pub fn nil_reads_match_any(history: &History) -> (History, usize) {
    use splitbrain_history::OpType;
    let mut ops = history.ops.clone();
    let mut changed = 0;
    for pair in history.pairs() {
        let Some(c) = pair.completion else { continue };
        let op = &mut ops[c];
        if op.is_client() && op.kind == OpType::Ok && op.f == "read" && op.value.is_null() {
            op.kind = OpType::Info;
            changed += 1;
        }
    }
    (History::new(ops), changed)
}

/// Checks a history against the model `kind` names.
pub fn check_with_model(
    kind: ModelKind,
    history: &History,
    init: Option<&Value>,
    options: &CheckOptions,
) -> Result<LinearReport, LinearError> {
    match kind {
        ModelKind::Register => check_history::<Register>(history, init, options),
        ModelKind::CasRegister => check_history::<CasRegister>(history, init, options),
        ModelKind::Kv => check_history::<Kv>(history, init, options),
        ModelKind::Mutex => check_history::<Mutex>(history, init, options),
        ModelKind::FencedMutex => check_history::<FencedMutex>(history, init, options),
        ModelKind::MultiRegister => check_history::<MultiRegister>(history, init, options),
    }
}

/// Checks operations already in the model's terms (no history to decode), partitioned as
/// [`prepare`] would. Operation `index` fields are what reports show.
pub fn check_operations<M: HistoryModel>(
    init: M,
    ops: Vec<SearchOp<M>>,
    options: &CheckOptions,
) -> LinearReport {
    let mut parts: std::collections::BTreeMap<u32, Vec<SearchOp<M>>> = Default::default();
    for op in ops {
        let key = if options.partition || !M::STATE_SPANS_PARTITIONS {
            M::partition(&op.op)
        } else {
            WHOLE
        };
        parts.entry(key).or_default().push(op);
    }
    let prepared = Prepared {
        init,
        names: crate::models::Interner::default(),
        named_partitions: false,
        partitions: parts
            .into_iter()
            .map(|(key, ops)| Partition::new(key, ops))
            .collect(),
    };
    check_prepared(&prepared, options)
}

/// Checks operations already decoded and partitioned. Smaller partitions go first, so an
/// illegal one is usually found early; the first illegal partition ends the check.
pub fn check_prepared<M: HistoryModel>(
    prepared: &Prepared<M>,
    options: &CheckOptions,
) -> LinearReport {
    let mut report = check_prepared_within(prepared, options, &Budget::new(options, 1));
    report.valid = nothing_tested_is_unknown(report.valid, &report.stats);
    report
}

/// An empty history fits every model, and saying so as `valid` would pass a run that
/// tested nothing: with no operation searched, the verdict is `unknown`.
fn nothing_tested_is_unknown(valid: Validity, stats: &SearchStats) -> Validity {
    if stats.operations == 0 {
        Validity::Unknown
    } else {
        valid
    }
}

/// [`check_prepared`] within a budget it may share with other threads, without the
/// rule for nothing tested (the caller applies it to the whole history).
fn check_prepared_within<M: HistoryModel>(
    prepared: &Prepared<M>,
    options: &CheckOptions,
    budget: &Budget,
) -> LinearReport {
    let started = Instant::now();
    let mut figures = SearchFigures::default();
    let mut order: Vec<usize> = (0..prepared.partitions.len()).collect();
    order.sort_by_key(|&p| prepared.partitions[p].ops.len());
    let mut reports = Vec::with_capacity(order.len());
    let mut counterexample = None;
    let mut valid = Validity::Valid;
    for p in order {
        let found = check_partition(prepared, p, options, budget, &mut figures);
        let (verdict, linearization) = match found {
            Found::Linearizable(order) => (Validity::Valid, order),
            Found::Timeout => (Validity::Unknown, Vec::new()),
            Found::Illegal(deepest) => {
                counterexample = Some(outcome::counterexample(prepared, p, &deepest));
                (Validity::Invalid, deepest.prefix)
            }
        };
        valid = valid.and(verdict);
        reports.push(outcome::partition_report(
            prepared,
            p,
            verdict,
            &linearization,
        ));
        if verdict == Validity::Invalid {
            budget.settle();
            break;
        }
        if verdict == Validity::Unknown && budget.exhausted() {
            break;
        }
    }
    let stats = SearchStats {
        operations: prepared.operations(),
        unobserved: prepared.partitions.iter().map(|p| p.unobserved).sum(),
        partitions: prepared.partitions.len(),
        partitions_checked: reports.len(),
        steps: figures.steps,
        cache_entries_peak: figures.cache_entries,
        cache_bytes_peak: figures.cache_bytes,
        cache_full: figures.cache_full,
        partitions_by_reads_from: figures.by_reads_from,
        memory_limited: figures.memory_limited,
        memory_peak_bytes: crate::memory::peak(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    LinearReport {
        valid,
        model: M::NAME.to_owned(),
        stats,
        partitions: reports,
        counterexample,
    }
}

/// Checks one partition: without search when it is a register whose writes are unique,
/// with the general search otherwise.
fn check_partition<M: HistoryModel>(
    prepared: &Prepared<M>,
    p: usize,
    options: &CheckOptions,
    budget: &Budget,
    figures: &mut SearchFigures,
) -> Found {
    let ops = &prepared.partitions[p].ops;
    let view = options
        .reads_from
        .then(|| M::register_view(&prepared.init, ops))
        .flatten();
    let verdict = view.map(|view| reads_from::check(&view, ops));
    match verdict {
        Some(reads_from::Verdict::Linearizable(order)) => {
            figures.by_reads_from += 1;
            Found::Linearizable(order)
        }
        Some(reads_from::Verdict::Illegal { blocked, prefix }) => {
            figures.by_reads_from += 1;
            let at = ops[blocked as usize].return_ns;
            let in_prefix: rustc_hash::FxHashSet<u32> = prefix.iter().copied().collect();
            let candidates = (0..ops.len() as u32)
                .filter(|&i| i != blocked && !in_prefix.contains(&i))
                .filter(|&i| ops[i as usize].call_ns <= at && ops[i as usize].return_ns >= at)
                .collect();
            Found::Illegal(search::Deepest {
                prefix,
                blocked: Some(blocked),
                candidates,
            })
        }
        Some(reads_from::Verdict::NotUnique) | None => {
            search::search(&prepared.init, ops, budget, figures)
        }
    }
}
