//! Our search against stateright's `LinearizabilityTester` on many small seeded random
//! histories of every model: any disagreement is a bug in one of them.
//!
//! Each history comes from a simulated object: operations take effect at a random moment
//! inside their interval (so most histories are linearizable), some never return (they
//! may or may not have taken effect), and a third of the histories get one return
//! replaced by a random one (so many are not).

use splitbrain_checker::Validity;
use splitbrain_checker::linear::{CheckOptions, Operation, check_operations};
use splitbrain_checker::models::*;
use splitbrain_history::Process;
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use std::cell::Cell;
use std::fmt::Debug;

const HISTORIES: usize = 10_000;

/// A one-line adapter: our model as a stateright sequential spec.
#[derive(Clone, Debug, PartialEq)]
struct Spec<M>(M);

impl<M: SequentialSpec> stateright::semantics::SequentialSpec for Spec<M> {
    type Op = M::Op;
    type Ret = M::Ret;
    fn invoke(&mut self, op: &M::Op) -> M::Ret {
        self.0.invoke(op)
    }
    fn is_valid_step(&mut self, op: &M::Op, ret: &M::Ret) -> bool {
        self.0.is_valid_step(op, ret)
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a generator needs from a model: a random operation for a thread, the return of
/// applying it to the simulated object, and a random (possibly wrong) return.
trait Gen: HistoryModel {
    fn op(rng: &mut Rng, thread: u64) -> Self::Op;
    fn effect(&mut self, op: &Self::Op, _rng: &mut Rng) -> Self::Ret {
        self.invoke(op)
    }
    fn wrong(rng: &mut Rng, op: &Self::Op) -> Self::Ret;
}

#[derive(Clone)]
enum Event<O, R> {
    Call(u64, O),
    Return(u64, R),
}

/// A thread's pending op, its return once it took effect, and whether it will never
/// return.
type Pending<M> = (
    <M as SequentialSpec>::Op,
    Option<<M as SequentialSpec>::Ret>,
    bool,
);

/// One random history as events, plus whether it was corrupted.
fn history<M: Gen>(init: &M, rng: &mut Rng) -> Vec<Event<M::Op, M::Ret>> {
    let threads = 2 + rng.below(2);
    let mut left: Vec<u64> = (0..threads).map(|_| 1 + rng.below(3)).collect();
    // Per thread: the pending op and, once it took effect, its return.
    let mut pending: Vec<Option<Pending<M>>> = vec![None; threads as usize];
    let mut object = init.clone();
    let mut events = Vec::new();
    loop {
        let live: Vec<usize> = (0..threads as usize)
            .filter(|&t| left[t] > 0 || pending[t].as_ref().is_some_and(|p| !p.2))
            .collect();
        if live.is_empty() {
            break;
        }
        let t = live[rng.below(live.len() as u64) as usize];
        match pending[t].take() {
            None => {
                let op = M::op(rng, t as u64);
                events.push(Event::Call(t as u64, op.clone()));
                left[t] -= 1;
                pending[t] = Some((op, None, false));
            }
            Some((op, None, lost)) => {
                let ret = object.effect(&op, rng);
                pending[t] = Some((op, Some(ret), lost));
            }
            Some((op, Some(ret), _)) => {
                if rng.below(8) == 0 {
                    // Never returns: the thread is done.
                    left[t] = 0;
                    pending[t] = Some((op, Some(ret), true));
                    continue;
                }
                events.push(Event::Return(t as u64, ret));
            }
        }
    }
    if rng.below(3) == 0 {
        let returns: Vec<usize> = (0..events.len())
            .filter(|&i| matches!(events[i], Event::Return(..)))
            .collect();
        if !returns.is_empty() {
            let i = returns[rng.below(returns.len() as u64) as usize];
            let Event::Return(t, _) = events[i] else {
                unreachable!()
            };
            let call = events[..i]
                .iter()
                .rev()
                .find_map(|e| match e {
                    Event::Call(ct, op) if *ct == t => Some(op.clone()),
                    _ => None,
                })
                .expect("a return follows its call");
            events[i] = Event::Return(t, M::wrong(rng, &call));
        }
    }
    events
}

fn ours<M: Gen>(init: &M, events: &[Event<M::Op, M::Ret>], partition: bool) -> bool {
    let mut ops: Vec<Operation<M::Op, M::Ret>> = Vec::new();
    let mut open: Vec<Option<usize>> = vec![None; 4];
    for (time, e) in events.iter().enumerate() {
        match e {
            Event::Call(t, op) => {
                open[*t as usize] = Some(ops.len());
                ops.push(Operation {
                    op: op.clone(),
                    ret: None,
                    call_ns: time as u64,
                    return_ns: u64::MAX,
                    index: time as u64,
                    process: Process::Client(*t),
                });
            }
            Event::Return(t, ret) => {
                let i = open[*t as usize].take().expect("return after call");
                ops[i].ret = Some(ret.clone());
                ops[i].return_ns = time as u64;
            }
        }
    }
    let options = CheckOptions {
        partition,
        ..CheckOptions::default()
    };
    let report = check_operations(init.clone(), ops, &options);
    if report.stats.partitions_by_reads_from > 0 {
        UNIQUE.with(|u| u.without_search.set(u.without_search.get() + 1));
    }
    match report.valid {
        Validity::Valid => true,
        Validity::Invalid => false,
        // Nothing to search is unknown by design; stateright calls it linearizable.
        Validity::Unknown if report.stats.operations == 0 => true,
        Validity::Unknown => panic!("no time limit was set"),
    }
}

fn theirs<M: Gen>(init: &M, events: &[Event<M::Op, M::Ret>]) -> bool
where
    M::Op: Debug,
    M::Ret: Debug,
{
    let mut tester = LinearizabilityTester::new(Spec(init.clone()));
    for e in events {
        match e {
            Event::Call(t, op) => tester.on_invoke(*t, op.clone()).map(|_| ()),
            Event::Return(t, ret) => tester.on_return(*t, ret.clone()).map(|_| ()),
        }
        .expect("well-formed history");
    }
    tester.is_consistent()
}

/// Runs the comparison and returns (valid, invalid) counts.
fn compare<M: Gen>(init: M, seed: u64, partition: bool) -> (usize, usize) {
    let mut rng = Rng(seed);
    let (mut valid, mut invalid) = (0, 0);
    for n in 0..HISTORIES {
        let events = history(&init, &mut rng);
        let (a, b) = (ours(&init, &events, partition), theirs(&init, &events));
        if a != b {
            let shown: Vec<String> = events
                .iter()
                .map(|e| match e {
                    Event::Call(t, op) => format!("{t} call {op:?}"),
                    Event::Return(t, r) => format!("{t} return {r:?}"),
                })
                .collect();
            panic!(
                "disagreement: model={} history={n} ours={a} stateright={b}\n{}",
                M::NAME,
                shown.join("\n")
            );
        }
        if a { valid += 1 } else { invalid += 1 }
    }
    assert!(
        valid > HISTORIES / 10 && invalid > HISTORIES / 20,
        "too one-sided: valid={valid} invalid={invalid}"
    );
    (valid, invalid)
}

/// Register values for this thread's test: three values over and over, or, for the
/// tests of the search-free path, every write a new value.
struct Values {
    unique: Cell<bool>,
    next: Cell<u32>,
    /// Histories the check decided without search.
    without_search: Cell<usize>,
}

thread_local! {
    static UNIQUE: Values = const {
        Values {
            unique: Cell::new(false),
            next: Cell::new(1),
            without_search: Cell::new(0),
        }
    };
}

/// A value to write: new when writes are unique.
fn written(rng: &mut Rng) -> u32 {
    UNIQUE.with(|u| {
        if u.unique.get() {
            u.next.set(u.next.get() + 1);
            u.next.get() - 1
        } else {
            rng.below(3) as u32
        }
    })
}

/// A value to expect or read: any value written so far.
fn some_value(rng: &mut Rng) -> u32 {
    UNIQUE.with(|u| {
        if u.unique.get() {
            rng.below(u64::from(u.next.get())) as u32
        } else {
            rng.below(3) as u32
        }
    })
}

impl Gen for Register {
    fn op(rng: &mut Rng, _t: u64) -> RegisterOp {
        match rng.below(2) {
            0 => RegisterOp::Read,
            _ => RegisterOp::Write(written(rng)),
        }
    }
    fn wrong(rng: &mut Rng, op: &RegisterOp) -> RegisterRet {
        match op {
            RegisterOp::Read => RegisterRet::ReadOk(some_value(rng)),
            RegisterOp::Write(_) => RegisterRet::WriteOk,
        }
    }
}

impl Gen for CasRegister {
    fn op(rng: &mut Rng, _t: u64) -> CasRegisterOp {
        match rng.below(3) {
            0 => CasRegisterOp::Read,
            1 => CasRegisterOp::Write(written(rng)),
            _ => CasRegisterOp::Cas {
                from: some_value(rng),
                to: written(rng),
            },
        }
    }
    fn wrong(rng: &mut Rng, op: &CasRegisterOp) -> CasRegisterRet {
        match op {
            CasRegisterOp::Read => CasRegisterRet::ReadOk(some_value(rng)),
            CasRegisterOp::Write(_) => CasRegisterRet::WriteOk,
            CasRegisterOp::Cas { .. } => CasRegisterRet::CasOk(rng.below(2) == 0),
        }
    }
}

fn text(rng: &mut Rng) -> Text {
    Text::new(["", "a", "b", "ab", "ba"][rng.below(5) as usize])
}

impl Gen for Kv {
    fn op(rng: &mut Rng, _t: u64) -> KvOp {
        let key = rng.below(2) as u32;
        match rng.below(3) {
            0 => KvOp::Get(key),
            1 => KvOp::Put(key, Text::new(["a", "b"][rng.below(2) as usize])),
            _ => KvOp::Append(key, Text::new(["a", "b"][rng.below(2) as usize])),
        }
    }
    fn wrong(rng: &mut Rng, op: &KvOp) -> KvRet {
        match op {
            KvOp::Get(_) => KvRet::GetOk(text(rng)),
            _ => KvRet::Done,
        }
    }
}

impl Gen for Mutex {
    fn op(rng: &mut Rng, t: u64) -> MutexOp {
        match rng.below(2) {
            0 => MutexOp::Acquire {
                lock: 0,
                process: t,
            },
            _ => MutexOp::Release {
                lock: 0,
                process: t,
            },
        }
    }
    fn wrong(rng: &mut Rng, op: &MutexOp) -> MutexRet {
        match op {
            MutexOp::Acquire { .. } => {
                [MutexRet::Granted, MutexRet::Refused][rng.below(2) as usize]
            }
            MutexOp::Release { .. } => {
                [MutexRet::Released, MutexRet::NotHolder][rng.below(2) as usize]
            }
        }
    }
}

impl Gen for FencedMutex {
    fn op(rng: &mut Rng, t: u64) -> FencedMutexOp {
        match rng.below(2) {
            0 => FencedMutexOp::Acquire {
                lock: 0,
                process: t,
            },
            _ => FencedMutexOp::Release {
                lock: 0,
                process: t,
                token: None,
            },
        }
    }
    /// Grants skip tokens at random: only growth is promised.
    fn effect(&mut self, op: &FencedMutexOp, rng: &mut Rng) -> FencedMutexRet {
        if matches!(op, FencedMutexOp::Acquire { .. }) && self.holder.is_none() {
            let ret = FencedMutexRet::Granted(self.token + 1 + rng.below(2));
            assert!(self.is_valid_step(op, &ret));
            return ret;
        }
        self.invoke(op)
    }
    fn wrong(rng: &mut Rng, op: &FencedMutexOp) -> FencedMutexRet {
        match op {
            FencedMutexOp::Acquire { .. } => match rng.below(3) {
                0 => FencedMutexRet::Refused,
                _ => FencedMutexRet::Granted(rng.below(4)),
            },
            FencedMutexOp::Release { .. } => {
                [FencedMutexRet::Released, FencedMutexRet::NotHolder][rng.below(2) as usize]
            }
        }
    }
}

#[test]
fn register_agrees_with_stateright_on_10000_histories() {
    compare(Register::default(), 1, true);
}

#[test]
fn cas_register_agrees_with_stateright_on_10000_histories() {
    compare(CasRegister::default(), 2, true);
}

#[test]
fn kv_checked_per_key_agrees_with_stateright_on_10000_histories() {
    compare(Kv::default(), 3, true);
}

#[test]
fn kv_checked_as_one_map_agrees_with_stateright_on_10000_histories() {
    compare(Kv::default(), 4, false);
}

#[test]
fn mutex_agrees_with_stateright_on_10000_histories() {
    compare(Mutex::default(), 5, true);
}

#[test]
fn fenced_mutex_agrees_with_stateright_on_10000_histories() {
    compare(FencedMutex::default(), 6, true);
}

/// With every write a new value, the check takes its search-free path (unless a
/// compare-and-set answered that its comparison failed) and must still agree.
fn compare_unique<M: Gen>(init: M, seed: u64) {
    UNIQUE.with(|u| u.unique.set(true));
    compare(init, seed, true);
    let without_search = UNIQUE.with(|u| u.without_search.get());
    assert!(
        without_search > HISTORIES / 4,
        "only {without_search} of {HISTORIES} histories were decided without search"
    );
}

#[test]
fn register_with_unique_writes_agrees_with_stateright_on_10000_histories() {
    compare_unique(Register::default(), 7);
}

#[test]
fn cas_register_with_unique_writes_agrees_with_stateright_on_10000_histories() {
    compare_unique(CasRegister::default(), 8);
}
