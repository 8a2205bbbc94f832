//! Turning a history into the search's input: pairing invocations with completions,
//! decoding them with the model, and splitting them into partitions.

use super::{LinearError, Operation};
use crate::models::{Decoded, HistoryModel, Interner};
use serde_json::Value;
use splitbrain_history::{History, OpPair, OpType};
use std::collections::BTreeMap;

/// The most operations one partition may hold: events are numbered with `u32`.
const MAX_OPERATIONS: usize = (u32::MAX as usize - 4) / 2;

/// A SearchOp is an [`Operation`] of model `M`.
pub type SearchOp<M> =
    Operation<<M as crate::models::SequentialSpec>::Op, <M as crate::models::SequentialSpec>::Ret>;

/// The partition key of a history checked as one object.
pub const WHOLE: u32 = u32::MAX;

/// A Partition is the operations on one key (or lock), which can be checked alone.
#[derive(Clone, Debug)]
pub struct Partition<M: HistoryModel> {
    /// The interned partition key (see [`HistoryModel::partition`]).
    pub key: u32,
    /// Its operations, in invocation order (a stable sort by call time).
    pub ops: Vec<SearchOp<M>>,
    /// Operations with unknown outcomes left out because nothing could observe them
    /// (see [`HistoryModel::unobservable`]).
    pub unobserved: usize,
}

impl<M: HistoryModel> Partition<M> {
    /// A partition of `ops`, leaving out the operations the model says nothing could
    /// observe.
    pub fn new(key: u32, mut ops: Vec<SearchOp<M>>) -> Partition<M> {
        // Invocation order keeps the linearized sets the cache stores compact.
        ops.sort_by_key(|o| o.call_ns);
        let drop = M::unobservable(&ops);
        let before = ops.len();
        let mut flags = drop.into_iter();
        ops.retain(|_| !flags.next().unwrap_or(false));
        Partition {
            key,
            unobserved: before - ops.len(),
            ops,
        }
    }
}

/// Prepared is a history ready to search: the initial state, the interned names and the
/// partitions.
#[derive(Clone, Debug)]
pub struct Prepared<M: HistoryModel> {
    /// The initial state.
    pub init: M,
    /// The values and keys the operations refer to.
    pub names: Interner,
    /// Whether reports name the partition even when there is only one (the history is
    /// one piece of a larger one split by key), instead of calling it `all`.
    pub named_partitions: bool,
    /// The partitions, by key.
    pub partitions: Vec<Partition<M>>,
}

impl<M: HistoryModel> Prepared<M> {
    /// Operations across all partitions.
    pub fn operations(&self) -> usize {
        self.partitions.iter().map(|p| p.ops.len()).sum()
    }
}

/// Refuses a history with a client completion that completes nothing.
pub(crate) fn well_paired(history: &History) -> Result<(), LinearError> {
    match history.first_unmatched_completion() {
        Some(op) => Err(LinearError::CompletionWithoutInvocation {
            index: op.index,
            process: op.process.to_string(),
            kind: op.kind.to_string(),
            f: op.f.clone(),
        }),
        None => Ok(()),
    }
}

/// Decodes a history for model `M`. Nemesis operations and operations that ended `fail`
/// are left out; operations that ended `info` or never completed keep an unknown return
/// placed after every other event. With `partition` false, a model whose state spans
/// partitions (kv) is checked as one object.
pub fn prepare<M: HistoryModel>(
    history: &History,
    init: Option<&Value>,
    partition: bool,
) -> Result<Prepared<M>, LinearError> {
    well_paired(history)?;
    prepare_pairs(history, &history.pairs(), init, partition)
}

/// [`prepare`] for some of a history's pairs (one piece of a history split by
/// partition), which must be well paired.
pub(crate) fn prepare_pairs<M: HistoryModel>(
    history: &History,
    pairs: &[OpPair],
    init: Option<&Value>,
    partition: bool,
) -> Result<Prepared<M>, LinearError> {
    let mut names = Interner::default();
    let init = M::initial(init, &mut names)?;
    let mut parts: BTreeMap<u32, Vec<SearchOp<M>>> = BTreeMap::new();
    for &pair in pairs {
        let invoke = &history.ops[pair.invoke];
        if !invoke.is_client() {
            continue;
        }
        let completion = pair.completion.map(|c| &history.ops[c]);
        let (known, return_ns) = match completion {
            Some(c) if c.kind == OpType::Fail => continue,
            Some(c) if c.kind == OpType::Ok => (Some(c), c.time_ns),
            _ => (None, u64::MAX),
        };
        if return_ns < invoke.time_ns {
            return Err(LinearError::ReturnBeforeCall {
                index: invoke.index,
                call_ns: invoke.time_ns,
                return_ns,
            });
        }
        let Decoded::Call { op, ret } = M::decode(invoke, known, &mut names)? else {
            continue;
        };
        let key = if partition || !M::STATE_SPANS_PARTITIONS {
            M::partition(&op)
        } else {
            WHOLE
        };
        parts.entry(key).or_default().push(Operation {
            op,
            ret,
            call_ns: invoke.time_ns,
            return_ns,
            index: invoke.index,
            process: invoke.process,
        });
    }
    let mut partitions = Vec::with_capacity(parts.len());
    for (key, ops) in parts {
        if ops.len() > MAX_OPERATIONS {
            return Err(LinearError::TooLarge {
                operations: ops.len(),
                max: MAX_OPERATIONS,
            });
        }
        partitions.push(Partition::new(key, ops));
    }
    Ok(Prepared {
        init,
        names,
        named_partitions: false,
        partitions,
    })
}
