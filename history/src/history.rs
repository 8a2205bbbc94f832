//! A history in memory, with invocations paired to their completions.

use crate::{Op, OpType, Process};
use std::collections::HashMap;

/// A History is an ordered list of ops, as recorded or imported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The ops, in history order.
    pub ops: Vec<Op>,
}

/// An OpPair is one operation: the position of its invocation in the history and, if
/// it completed, of its completion. A missing completion means the operation was still
/// open when the history ended, which checkers treat like `info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpPair {
    /// Position of the invoke op in [`History::ops`].
    pub invoke: usize,
    /// Position of the completion op, if any.
    pub completion: Option<usize>,
}

impl History {
    /// Wraps ops that are already in history order.
    pub fn new(ops: Vec<Op>) -> History {
        History { ops }
    }

    /// Pairs every invocation with the next completion of the same process, in
    /// invocation order. A completion with no open invocation is ignored; nemesis ops
    /// are paired like any other process.
    pub fn pairs(&self) -> Vec<OpPair> {
        let mut open: HashMap<Process, usize> = HashMap::new();
        let mut pairs = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            if op.kind == OpType::Invoke {
                if let Some(prev) = open.insert(op.process, pairs.len()) {
                    // A process invoked again without completing: the earlier op stays open.
                    let _ = prev;
                }
                pairs.push(OpPair {
                    invoke: i,
                    completion: None,
                });
            } else if let Some(p) = open.remove(&op.process) {
                pairs[p].completion = Some(i);
            }
        }
        pairs
    }

    /// The first client completion that completes nothing: its process had no open
    /// invocation. A history with one is ill-formed (an importer lost a line, or two
    /// histories were joined), and no checker can say what that completion belongs to.
    /// Nemesis ops are left alone: Jepsen records many of them as a lone `info`.
    pub fn first_unmatched_completion(&self) -> Option<&Op> {
        let mut open: HashMap<Process, ()> = HashMap::new();
        for op in self.ops.iter().filter(|op| op.is_client()) {
            if op.kind == OpType::Invoke {
                open.insert(op.process, ());
            } else if open.remove(&op.process).is_none() {
                return Some(op);
            }
        }
        None
    }

    /// The completion type of a pair: the completion's type, or `info` if it never
    /// completed.
    pub fn outcome(&self, pair: OpPair) -> OpType {
        pair.completion
            .map(|c| self.ops[c].kind)
            .unwrap_or(OpType::Info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn op(index: u64, process: Process, kind: OpType) -> Op {
        Op::new(index, index, process, kind, "x", Value::Null)
    }

    #[test]
    fn a_completion_without_an_invocation_is_found() {
        let h = History::new(vec![
            op(0, Process::Client(0), OpType::Invoke),
            op(1, Process::Client(0), OpType::Ok),
            op(2, Process::Client(0), OpType::Ok),
        ]);
        assert_eq!(h.first_unmatched_completion().map(|o| o.index), Some(2));
        let well_formed = History::new(h.ops[..2].to_vec());
        assert_eq!(well_formed.first_unmatched_completion(), None);
    }

    #[test]
    fn interleaved_processes_pair_by_process() {
        let h = History::new(vec![
            op(0, Process::Client(0), OpType::Invoke),
            op(1, Process::Client(1), OpType::Invoke),
            op(2, Process::Client(1), OpType::Ok),
            op(3, Process::Nemesis, OpType::Invoke),
            op(4, Process::Client(0), OpType::Fail),
        ]);
        let pairs = h.pairs();
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[0].completion, Some(4));
        assert_eq!(pairs[1].completion, Some(2));
        assert_eq!(pairs[2].completion, None);
        assert_eq!(h.outcome(pairs[2]), OpType::Info);
        assert_eq!(h.outcome(pairs[0]), OpType::Fail);
    }
}
