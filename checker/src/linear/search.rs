//! The backtracking search of one partition (Wing & Gong's algorithm with Lowe's cache,
//! as porcupine runs it), over a doubly linked list of call and return events.
//!
//! Events are kept in a list in time order. The search walks it from the head: at a
//! call it tries to linearize that operation now (the model accepts the step and the
//! resulting configuration is new), and if so removes the operation's call and return
//! from the list and starts again at the head; at a return it has met an operation that
//! returned before it was linearized, so it undoes the latest choice and resumes after
//! it. Removal and reinsertion are O(1) (dancing links), and undoing restores the saved
//! state, so no step copies the list.

use super::cache::{Bitset, Cache};
use super::{Budget, Operation};
use crate::models::HistoryModel;

/// No node.
const NIL: u32 = u32::MAX;

/// A Found is how the search of one partition ended.
pub(crate) enum Found {
    /// Linearizable: the operations (positions in the partition) in linearization order.
    Linearizable(Vec<u32>),
    /// Not linearizable.
    Illegal(Deepest),
    /// The time budget ran out or the check was cancelled.
    Timeout,
}

/// A Deepest is the furthest the search got in a history that is not linearizable: the
/// longest linearizable prefix it found, and the operation that could not come next.
pub(crate) struct Deepest {
    /// Operations (positions in the partition) of the longest linearization found.
    pub(crate) prefix: Vec<u32>,
    /// The operation whose return was reached before it could be linearized after
    /// `prefix`, if the search got that far (it always does for a non-empty history).
    pub(crate) blocked: Option<u32>,
    /// Operations that were pending (invoked, not yet linearized) at that point and
    /// were tried next.
    pub(crate) candidates: Vec<u32>,
}

/// SearchFigures are the counts a search leaves behind.
#[derive(Default)]
pub(crate) struct SearchFigures {
    pub(crate) steps: u64,
    pub(crate) cache_entries: usize,
    pub(crate) cache_bytes: usize,
    pub(crate) cache_full: bool,
    /// Partitions decided without search (unique writes).
    pub(crate) by_reads_from: usize,
    /// Whether the process reached its memory limit and a cache was dropped.
    pub(crate) memory_limited: bool,
}

/// The event list: node 2i is operation i's call, 2i+1 its return; the last two nodes are
/// the head and tail sentinels.
struct Events {
    next: Vec<u32>,
    prev: Vec<u32>,
    head: u32,
    tail: u32,
}

impl Events {
    /// Links every call and return in time order. Closed intervals: at equal times calls
    /// come before returns, so operations that touch at an instant are concurrent. A
    /// return time of `u64::MAX` (unknown outcome) sorts after every other event.
    fn new<O, R>(ops: &[Operation<O, R>]) -> Events {
        let n = ops.len() as u32;
        let mut order: Vec<(u64, u32)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            let i = i as u32;
            order.push((op.call_ns, 2 * i));
            order.push((op.return_ns, 2 * i + 1));
        }
        // Node numbers break ties: calls (even) before returns (odd) is not enough across
        // operations, so sort by (time, is_return, node).
        order.sort_unstable_by_key(|&(t, node)| (t, node & 1, node));
        // Within a run of calls between two returns, the search may linearize any of
        // them first, so their order only decides what it tries first: operations with
        // known returns before unknown ones, which constrain nothing and are best left
        // for when they are needed.
        for run in order.chunk_by_mut(|a, b| a.1 & 1 == 0 && b.1 & 1 == 0) {
            run.sort_by_key(|&(t, node)| (ops[node as usize / 2].ret.is_none(), t, node));
        }
        let (head, tail) = (2 * n, 2 * n + 1);
        let mut next = vec![NIL; 2 * n as usize + 2];
        let mut prev = vec![NIL; 2 * n as usize + 2];
        let mut last = head;
        for &(_, node) in &order {
            next[last as usize] = node;
            prev[node as usize] = last;
            last = node;
        }
        next[last as usize] = tail;
        prev[tail as usize] = last;
        Events {
            next,
            prev,
            head,
            tail,
        }
    }

    #[inline]
    fn unlink(&mut self, node: u32) {
        let (p, n) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    #[inline]
    fn relink(&mut self, node: u32) {
        let (p, n) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = node;
        self.prev[n as usize] = node;
    }

    /// Removes operation i's call and return.
    #[inline]
    fn lift(&mut self, i: u32) {
        self.unlink(2 * i);
        self.unlink(2 * i + 1);
    }

    /// Puts operation i back, in the reverse order of [`Events::lift`].
    #[inline]
    fn unlift(&mut self, i: u32) {
        self.relink(2 * i + 1);
        self.relink(2 * i);
    }

    /// The calls from the head up to `stop`: the operations pending there.
    fn pending_calls(&self, stop: u32) -> Vec<u32> {
        let mut calls = Vec::new();
        let mut node = self.next[self.head as usize];
        while node != stop && node != self.tail {
            if node & 1 == 0 {
                calls.push(node / 2);
            }
            node = self.next[node as usize];
        }
        calls
    }
}

/// Tracks the deepest linearization seen without copying the stack at every step:
/// `best` shares its first `common` entries with the current stack.
struct DeepestTracker {
    best: Vec<u32>,
    common: usize,
    blocked: Option<u32>,
    candidates: Vec<u32>,
}

impl DeepestTracker {
    fn pushed<S>(&mut self, stack: &[(u32, S)]) {
        if stack.len() > self.best.len() {
            self.best.truncate(self.common);
            self.best
                .extend(stack[self.common..].iter().map(|&(op, _)| op));
            self.common = stack.len();
            self.blocked = None;
        }
    }

    fn popped(&mut self, depth: usize) {
        self.common = self.common.min(depth);
    }

    fn finish(&mut self) -> Deepest {
        Deepest {
            prefix: std::mem::take(&mut self.best),
            blocked: self.blocked,
            candidates: std::mem::take(&mut self.candidates),
        }
    }

    fn at_best(&self, depth: usize) -> bool {
        depth == self.best.len() && self.common == depth && self.blocked.is_none()
    }
}

/// Searches one partition for a linearization.
pub(crate) fn search<M: HistoryModel>(
    init: &M,
    ops: &[Operation<M::Op, M::Ret>],
    budget: &Budget,
    figures: &mut SearchFigures,
) -> Found {
    let mut events = Events::new(ops);
    let mut set = Bitset::new(ops.len());
    let mut cache: Cache<M> = Cache::new(budget.max_cache_bytes);
    let mut stack: Vec<(u32, M)> = Vec::with_capacity(ops.len());
    let mut deepest = DeepestTracker {
        best: Vec::new(),
        common: 0,
        blocked: None,
        candidates: Vec::new(),
    };
    let mut state = init.clone();
    let mut node = events.next[events.head as usize];
    let mut steps: u64 = 0;
    let found = loop {
        steps += 1;
        if steps.is_multiple_of(4096) && budget.exhausted() {
            break Found::Timeout;
        }
        // Two relaxed loads: cheap enough to look often, as one step can allocate a
        // large state.
        if steps.is_multiple_of(64) && cache.len() > 0 && budget.over_memory() {
            note_cache(figures, &cache);
            cache.drop_entries();
            figures.memory_limited = true;
        }
        if node == events.tail {
            break Found::Linearizable(stack.iter().map(|&(op, _)| op).collect());
        }
        let i = node / 2;
        let op = &ops[i as usize];
        if node & 1 == 0 {
            if let Some(next) = take(&state, op, i, &mut set, &mut cache) {
                stack.push((i, std::mem::replace(&mut state, next)));
                deepest.pushed(&stack);
                events.lift(i);
                node = events.next[events.head as usize];
                continue;
            }
            node = events.next[node as usize];
        } else {
            if op.return_ns == u64::MAX {
                // Only operations with unknown outcomes remain, and each of them can
                // take effect last (or never): the rest is linearizable.
                let mut order: Vec<u32> = stack.iter().map(|&(op, _)| op).collect();
                order.extend(events.pending_calls(events.tail));
                break Found::Linearizable(order);
            }
            if deepest.at_best(stack.len()) {
                deepest.blocked = Some(i);
                deepest.candidates = events.pending_calls(node);
            }
            let Some((undo, previous)) = stack.pop() else {
                break Found::Illegal(deepest.finish());
            };
            deepest.popped(stack.len());
            state = previous;
            set.flip(undo as usize);
            events.unlift(undo);
            node = events.next[2 * undo as usize];
        }
    };
    figures.steps += steps;
    note_cache(figures, &cache);
    found
}

/// Keeps the cache's peak figures.
fn note_cache<M: HistoryModel>(figures: &mut SearchFigures, cache: &Cache<M>) {
    figures.cache_entries = figures.cache_entries.max(cache.len());
    figures.cache_bytes = figures.cache_bytes.max(cache.bytes());
    figures.cache_full |= cache.full;
}

/// Tries to linearize operation `i` now: returns the state after it when the model
/// accepts its return and the resulting configuration was not explored before (it is
/// then in `set` and the cache). An unknown return accepts whatever the model returns.
#[inline]
fn take<M: HistoryModel>(
    state: &M,
    op: &Operation<M::Op, M::Ret>,
    i: u32,
    set: &mut Bitset,
    cache: &mut Cache<M>,
) -> Option<M> {
    let mut next = state.clone();
    let accepted = match &op.ret {
        Some(ret) => next.is_valid_step(&op.op, ret),
        None => {
            next.invoke(&op.op);
            true
        }
    };
    if !accepted {
        return None;
    }
    set.flip(i as usize);
    if cache.insert(set, &next) {
        return Some(next);
    }
    set.flip(i as usize);
    None
}
