//! The polynomial path: registers whose every write is of a value no other write wrote.
//!
//! Then a read names the write it saw, and linearizability needs no search (Gibbons &
//! Korach, "Testing shared memories", 1997, for read/write registers with a known
//! read-mapping). Grouping the operations by value: a value's *cluster* is its write
//! and the reads that returned it. Values are never written twice, so each cluster must
//! be contiguous in any linearization, its write first. A compare-and-set that swapped
//! `a` for `b` ends `a`'s cluster and starts `b`'s, so such clusters join into a *chain*
//! that must be contiguous too, in its fixed order; the initial value heads a chain
//! that must come first.
//!
//! Each chain has a *zone*: `F`, the earliest return among its operations (it must have
//! begun by then), and `S`, the latest invocation (it cannot have ended before). Two
//! chains A and B cannot be ordered when `F_B < S_A` and `F_A < S_B`: whichever comes
//! first holds an operation invoked after an operation of the other returned. When no
//! pair conflicts and each chain fits its operations' intervals in its own order, every
//! chain can be squeezed into its zone (clamping each operation's point into `[F, S]`
//! keeps it inside its interval and keeps the order), zones that conflict with nothing
//! can be laid out in time order, and that is a linearization. Intervals are closed, as
//! in the general search: operations that touch at an instant are concurrent.
//!
//! Operations with unknown outcomes: a read constrains nothing and is left out; a write
//! or compare-and-set whose value nothing observed is left out (never taking effect is
//! always allowed, and taking effect could only end a cluster sooner); one whose value
//! was observed took effect (the value has no other writer) and keeps an interval
//! without end.
//!
//! Everything is O(n log n). When the history is not linearizable, the operation that
//! cannot be linearized is found by bisecting on time: the prefix of the history up to
//! an instant (operations still running then count as unknown) is linearizable for
//! every instant before the first operation that cannot be placed returns, and for none
//! after, so O(log n) checks name it.

use super::Operation;
use rustc_hash::{FxHashMap, FxHashSet};

/// An Access is what one operation did to the register, in the terms this path needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read that returned the value.
    Read(u32),
    /// A write of the value (its outcome may be unknown).
    Write(u32),
    /// A compare-and-set that swapped `from` for `to` (or whose outcome is unknown).
    Swap {
        /// The value it expected.
        from: u32,
        /// The value it wrote.
        to: u32,
    },
    /// An operation that constrains nothing (a read whose result is unknown).
    Ignore,
}

/// A RegisterView is a partition seen as one register: its initial value and one access
/// per operation, in the partition's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterView {
    /// The value before any operation.
    pub init: u32,
    /// What each operation did.
    pub accesses: Vec<Access>,
}

/// A Verdict of this path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Linearizable: the operations (positions) in a linearization order.
    Linearizable(Vec<u32>),
    /// Not linearizable: the operation that cannot be linearized, and a linearization
    /// of the history up to just before it returned.
    Illegal { blocked: u32, prefix: Vec<u32> },
    /// Some value is written more than once (or the initial value is written): the
    /// general search has to decide.
    NotUnique,
}

/// The times of one operation, with an unknown return as `i128::MAX`.
#[derive(Clone, Copy, Debug)]
struct Span {
    call: i128,
    ret: i128,
}

/// Checks a partition whose accesses `view` gives.
pub(crate) fn check<O, R>(view: &RegisterView, ops: &[Operation<O, R>]) -> Verdict {
    let spans: Vec<Span> = ops
        .iter()
        .map(|o| Span {
            call: i128::from(o.call_ns),
            ret: if o.return_ns == u64::MAX {
                i128::MAX
            } else {
                i128::from(o.return_ns)
            },
        })
        .collect();
    if !unique_writes(view) {
        return Verdict::NotUnique;
    }
    match check_spans(view, &spans) {
        Ok(order) => Verdict::Linearizable(order),
        Err(()) => bisect(view, &spans),
    }
}

/// Whether no value is written twice and the initial value is never written.
fn unique_writes(view: &RegisterView) -> bool {
    let mut written = FxHashSet::default();
    written.insert(view.init);
    view.accesses.iter().all(|a| match *a {
        Access::Write(v) | Access::Swap { to: v, .. } => written.insert(v),
        _ => true,
    })
}

/// Finds the first operation that cannot be linearized: the earliest return time at
/// which the history's prefix stops being linearizable.
fn bisect(view: &RegisterView, spans: &[Span]) -> Verdict {
    let mut returns: Vec<(i128, u32)> = spans
        .iter()
        .enumerate()
        .filter(|(i, s)| s.ret != i128::MAX && view.accesses[*i] != Access::Ignore)
        .map(|(i, s)| (s.ret, i as u32))
        .collect();
    returns.sort_unstable();
    // Invariant: the prefix up to returns[lo - 1] is linearizable (vacuously for lo = 0),
    // the prefix up to returns[hi] is not (the whole history is not).
    let (mut lo, mut hi) = (0usize, returns.len().saturating_sub(1));
    let mut last_good: Vec<u32> = Vec::new();
    while lo < hi {
        let mid = (lo + hi) / 2;
        match check_prefix(view, spans, returns[mid].0) {
            Ok(order) => {
                last_good = order;
                lo = mid + 1;
            }
            Err(()) => hi = mid,
        }
    }
    if lo > 0 && last_good.is_empty() {
        last_good = check_prefix(view, spans, returns[lo - 1].0).unwrap_or_default();
    }
    let blocked = returns.get(lo).map_or(0, |r| r.1);
    // A linearization of the history just before the blocked operation returned (writes
    // still running then placed where they fit).
    let prefix = last_good.into_iter().filter(|&i| i != blocked).collect();
    Verdict::Illegal { blocked, prefix }
}

/// Checks the history as it stood at instant `t`: later invocations left out, operations
/// still running then counted as unknown.
fn check_prefix(view: &RegisterView, spans: &[Span], t: i128) -> Result<Vec<u32>, ()> {
    let mut accesses = Vec::with_capacity(view.accesses.len());
    let mut cut = Vec::with_capacity(spans.len());
    for (a, s) in view.accesses.iter().zip(spans) {
        let (access, span) = if s.call > t {
            (Access::Ignore, *s)
        } else if s.ret > t {
            let unknown = Span {
                call: s.call,
                ret: i128::MAX,
            };
            match a {
                Access::Read(_) => (Access::Ignore, unknown),
                other => (*other, unknown),
            }
        } else {
            (*a, *s)
        };
        accesses.push(access);
        cut.push(span);
    }
    let prefix = RegisterView {
        init: view.init,
        accesses,
    };
    check_spans(&prefix, &cut)
}

/// A Cluster is a value's operations: who wrote it, who read it, who swapped it out.
#[derive(Default, Clone)]
struct Cluster {
    writer: Option<u32>,
    readers: Vec<u32>,
    swapped_out: Option<u32>,
}

/// A Chain's operations in their required order, and its zone.
struct Chain {
    ops: Vec<u32>,
    first_return: i128,
    last_call: i128,
}

/// The time of the initial value's virtual write: before every operation.
const BEFORE_ALL: i128 = -1;

/// The check proper, for a view whose writes are unique. `Ok` holds a linearization.
fn check_spans(view: &RegisterView, spans: &[Span]) -> Result<Vec<u32>, ()> {
    let kept = kept_operations(view, spans);
    let clusters = clusters(view, spans, &kept)?;
    let chains = chains(view, spans, &clusters)?;
    order_chains(&chains)
}

/// Which operations take part: those with known outcomes, and those with unknown
/// outcomes whose value some kept operation observed (found transitively: a kept
/// compare-and-set observes the value it swapped out).
fn kept_operations(view: &RegisterView, spans: &[Span]) -> Vec<bool> {
    let known = |i: usize| spans[i].ret != i128::MAX;
    let mut kept = vec![false; view.accesses.len()];
    let mut unknown_writer: FxHashMap<u32, usize> = FxHashMap::default();
    let mut observed: Vec<u32> = Vec::new();
    for (i, a) in view.accesses.iter().enumerate() {
        match *a {
            Access::Ignore => {}
            Access::Read(v) => {
                kept[i] = true;
                observed.push(v);
            }
            Access::Write(v) | Access::Swap { to: v, .. } if !known(i) => {
                unknown_writer.insert(v, i);
            }
            Access::Write(_) => kept[i] = true,
            Access::Swap { from, .. } => {
                kept[i] = true;
                observed.push(from);
            }
        }
    }
    while let Some(v) = observed.pop() {
        if let Some(i) = unknown_writer.remove(&v) {
            kept[i] = true;
            if let Access::Swap { from, .. } = view.accesses[i] {
                observed.push(from);
            }
        }
    }
    kept
}

/// Groups the kept operations by value. A read or swap of a value nobody wrote, or a
/// second swap of one value, cannot be linearized.
fn clusters(
    view: &RegisterView,
    spans: &[Span],
    kept: &[bool],
) -> Result<FxHashMap<u32, Cluster>, ()> {
    let mut clusters: FxHashMap<u32, Cluster> = FxHashMap::default();
    clusters.entry(view.init).or_default();
    for (i, a) in view.accesses.iter().enumerate() {
        if !kept[i] {
            continue;
        }
        match *a {
            Access::Write(v) => clusters.entry(v).or_default().writer = Some(i as u32),
            Access::Swap { to, .. } => clusters.entry(to).or_default().writer = Some(i as u32),
            _ => {}
        }
    }
    for (i, a) in view.accesses.iter().enumerate() {
        if !kept[i] {
            continue;
        }
        let (value, swap) = match *a {
            Access::Read(v) => (v, false),
            Access::Swap { from, .. } => (from, true),
            _ => continue,
        };
        let cluster = clusters.get_mut(&value).ok_or(())?;
        if cluster.writer.is_none() && value != view.init {
            return Err(());
        }
        if !swap {
            cluster.readers.push(i as u32);
        } else if cluster.swapped_out.replace(i as u32).is_some() {
            return Err(());
        }
    }
    // Reads in invocation order: the order the earliest placement walks them.
    for c in clusters.values_mut() {
        c.readers.sort_unstable_by_key(|&r| spans[r as usize].call);
    }
    Ok(clusters)
}

/// Follows each chain from its head (the initial value, or a plain write), placing every
/// operation at the earliest instant its interval and its predecessors allow. A chain
/// that cannot be placed, or a value no chain reaches (swaps in a cycle), cannot be
/// linearized.
fn chains(
    view: &RegisterView,
    spans: &[Span],
    clusters: &FxHashMap<u32, Cluster>,
) -> Result<Vec<Chain>, ()> {
    let mut heads: Vec<u32> = vec![view.init];
    heads.extend(clusters.iter().filter_map(|(&v, c)| {
        let w = c.writer?;
        matches!(view.accesses[w as usize], Access::Write(_)).then_some(v)
    }));
    // A deterministic order, so the linearization reported is the same on every run.
    heads[1..].sort_unstable_by_key(|v| clusters[v].writer);
    let mut visited = 0usize;
    let mut chains = Vec::with_capacity(heads.len());
    for head in heads {
        let (chain, values) = place_chain(view, spans, clusters, head)?;
        visited += values;
        chains.push(chain);
    }
    if visited != clusters.len() {
        return Err(());
    }
    Ok(chains)
}

/// Places one chain; returns it and how many values it covers.
fn place_chain(
    view: &RegisterView,
    spans: &[Span],
    clusters: &FxHashMap<u32, Cluster>,
    head: u32,
) -> Result<(Chain, usize), ()> {
    let mut chain = Chain {
        ops: Vec::new(),
        first_return: i128::MAX,
        last_call: BEFORE_ALL,
    };
    let mut at = BEFORE_ALL;
    let place = |chain: &mut Chain, i: u32, after: i128| -> Result<i128, ()> {
        let s = spans[i as usize];
        let point = s.call.max(after);
        if point > s.ret {
            return Err(());
        }
        chain.ops.push(i);
        chain.first_return = chain.first_return.min(s.ret);
        chain.last_call = chain.last_call.max(s.call);
        Ok(point)
    };
    let mut value = head;
    let mut values = 0usize;
    if head == view.init {
        chain.first_return = BEFORE_ALL;
    }
    loop {
        values += 1;
        let cluster = &clusters[&value];
        if let (Some(w), true) = (cluster.writer, value == head) {
            at = place(&mut chain, w, at)?;
        }
        let written_at = at;
        for &r in &cluster.readers {
            at = at.max(place(&mut chain, r, written_at)?);
        }
        let Some(s) = cluster.swapped_out else { break };
        at = place(&mut chain, s, at)?;
        let Access::Swap { to, .. } = view.accesses[s as usize] else {
            unreachable!("swapped_out holds swaps only")
        };
        value = to;
    }
    Ok((chain, values))
}

/// Checks that no two chains' zones conflict, and lays the chains out in time order.
fn order_chains(chains: &[Chain]) -> Result<Vec<u32>, ()> {
    let mut forward: Vec<usize> = (0..chains.len())
        .filter(|&c| chains[c].first_return < chains[c].last_call)
        .collect();
    forward.sort_unstable_by_key(|&c| (chains[c].first_return, chains[c].last_call));
    for pair in forward.windows(2) {
        if chains[pair[1]].first_return < chains[pair[0]].last_call {
            return Err(());
        }
    }
    // Each chain's place in time: a forward chain spans its zone; a backward one (every
    // operation's interval holds [S, F]) goes at an instant of [S, F] that no forward
    // zone holds strictly inside.
    let mut placed: Vec<(i128, i128, usize)> = Vec::with_capacity(chains.len());
    for (c, chain) in chains.iter().enumerate() {
        let (f, s) = (chain.first_return, chain.last_call);
        if f < s {
            placed.push((f, s, c));
            continue;
        }
        // The forward zone with the latest start strictly before S, if any.
        let k = forward.partition_point(|&x| chains[x].first_return < s);
        let mut at = s;
        if k > 0 {
            let around = &chains[forward[k - 1]];
            if around.last_call > s {
                if around.last_call > f {
                    return Err(());
                }
                at = around.last_call;
            }
        }
        placed.push((at, at, c));
    }
    placed.sort_unstable();
    Ok(placed
        .into_iter()
        .flat_map(|(_, _, c)| chains[c].ops.iter().copied())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitbrain_history::Process;

    fn op(call: u64, ret: Option<u64>) -> Operation<(), ()> {
        Operation {
            op: (),
            ret: None,
            call_ns: call,
            return_ns: ret.unwrap_or(u64::MAX),
            index: call,
            process: Process::Client(0),
        }
    }

    fn verdict(accesses: Vec<Access>, times: &[(u64, Option<u64>)]) -> Verdict {
        let ops: Vec<_> = times.iter().map(|&(c, r)| op(c, r)).collect();
        check(&RegisterView { init: 0, accesses }, &ops)
    }

    #[test]
    fn a_read_after_its_write_is_linearizable_and_a_read_of_the_overwritten_value_is_not() {
        use Access::*;
        let ok = verdict(
            vec![Write(1), Write(2), Read(2)],
            &[(0, Some(10)), (20, Some(30)), (40, Some(50))],
        );
        assert_eq!(ok, Verdict::Linearizable(vec![0, 1, 2]));
        let stale = verdict(
            vec![Write(1), Write(2), Read(1)],
            &[(0, Some(10)), (20, Some(30)), (40, Some(50))],
        );
        assert!(
            matches!(stale, Verdict::Illegal { blocked: 2, .. }),
            "{stale:?}"
        );
    }

    #[test]
    fn concurrent_writes_may_be_read_in_either_order() {
        use Access::*;
        let v = verdict(
            vec![Write(1), Write(2), Read(2), Read(1)],
            &[
                (0, Some(100)),
                (0, Some(100)),
                (10, Some(20)),
                (30, Some(40)),
            ],
        );
        assert_eq!(v, Verdict::Linearizable(vec![1, 2, 0, 3]));
    }

    #[test]
    fn an_unknown_write_counts_only_when_its_value_was_read() {
        use Access::*;
        // The unknown write of 2 was read after the write of 3 completed: 2 came after 3.
        let v = verdict(
            vec![Write(2), Write(3), Read(2)],
            &[(0, None), (10, Some(20)), (30, Some(40))],
        );
        assert!(matches!(v, Verdict::Linearizable(_)), "{v:?}");
        // Never read, it is left out and the read of the initial value is fine.
        let v = verdict(vec![Write(2), Read(0)], &[(0, None), (30, Some(40))]);
        assert_eq!(v, Verdict::Linearizable(vec![1]));
    }

    #[test]
    fn swaps_chain_values_and_two_swaps_of_one_value_are_illegal() {
        use Access::*;
        let v = verdict(
            vec![Swap { from: 0, to: 1 }, Swap { from: 1, to: 2 }, Read(2)],
            &[(0, Some(10)), (5, Some(15)), (20, Some(30))],
        );
        assert_eq!(v, Verdict::Linearizable(vec![0, 1, 2]));
        let v = verdict(
            vec![Swap { from: 0, to: 1 }, Swap { from: 0, to: 2 }],
            &[(0, Some(10)), (20, Some(30))],
        );
        assert!(matches!(v, Verdict::Illegal { blocked: 1, .. }), "{v:?}");
    }

    #[test]
    fn a_read_of_a_value_never_written_is_illegal_and_a_rewritten_value_is_not_unique() {
        use Access::*;
        let v = verdict(vec![Read(7)], &[(0, Some(10))]);
        assert!(matches!(v, Verdict::Illegal { blocked: 0, .. }), "{v:?}");
        let v = verdict(vec![Write(1), Write(1)], &[(0, Some(10)), (20, Some(30))]);
        assert_eq!(v, Verdict::NotUnique);
        let v = verdict(vec![Write(0)], &[(0, Some(10))]);
        assert_eq!(v, Verdict::NotUnique);
    }

    #[test]
    fn the_initial_value_comes_first() {
        use Access::*;
        // The read of the initial value began after the write of 1 completed.
        let v = verdict(vec![Write(1), Read(0)], &[(0, Some(10)), (20, Some(30))]);
        assert!(matches!(v, Verdict::Illegal { blocked: 1, .. }), "{v:?}");
    }
}
