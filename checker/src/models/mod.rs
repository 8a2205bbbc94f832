//! Sequential specifications of the objects a history can be checked against.
//!
//! A model is a pure sequential specification in the shape of stateright's
//! `SequentialSpec`: the value of the model *is* its state, `invoke` applies one operation
//! and returns what a correct object would return, and `is_valid_step` says whether an
//! observed return is allowed (models with nondeterministic returns, such as fencing
//! tokens, override it). Because the shape is the same, tests wrap a model in a one-line
//! adapter and check the same histories with stateright's `LinearizabilityTester`.
//!
//! A [`HistoryModel`] adds what checking a recorded history needs: how an [`Op`] pair
//! (invocation and completion) maps to the model's operation and return, the initial
//! state (`--init`), and an optional partition key for P-compositional checking.
//!
//! Values of registers are interned ([`Interner`]) so that register states are small
//! `Copy` values whatever JSON the history carried.

mod cas_register;
mod fenced_mutex;
mod kv;
mod multi_register;
mod mutex;
mod register;

pub use cas_register::{CasRegister, CasRegisterOp, CasRegisterRet};
pub use fenced_mutex::{FencedMutex, FencedMutexOp, FencedMutexRet};
pub use kv::{Kv, KvOp, KvRet, Text};
pub use multi_register::{MicroOp, MultiRegister, Txn, TxnRet};
pub use mutex::{Mutex, MutexOp, MutexRet};
pub use register::{Register, RegisterOp, RegisterRet};

use crate::linear::{LinearError, Operation};
use rustc_hash::FxHashMap;
use serde_json::Value;
use splitbrain_history::Op;
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

/// A SequentialSpec is a sequential object: its value is its state. The trait has the
/// same shape as stateright's `semantics::SequentialSpec`, so a model can be checked by
/// both our search and stateright's testers.
pub trait SequentialSpec: Sized {
    /// An operation the object accepts.
    type Op;
    /// What an operation returns.
    type Ret: PartialEq;

    /// Applies `op` to the state and returns what a correct object returns.
    fn invoke(&mut self, op: &Self::Op) -> Self::Ret;

    /// Applies `op` and says whether `ret` is a return the object may give. Models whose
    /// returns are not a function of the state (a fencing token only has to grow)
    /// override this; the state is meaningless after `false`.
    fn is_valid_step(&mut self, op: &Self::Op, ret: &Self::Ret) -> bool {
        &self.invoke(op) == ret
    }
}

/// A Decoded is what a model makes of one operation of a history.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded<O, R> {
    /// The operation is not one the model checks (it is left out).
    Skip,
    /// The operation, and its return when the history knows it (`None`: the outcome is
    /// unknown, so any return is allowed).
    Call {
        /// The model's operation.
        op: O,
        /// The observed return, if known.
        ret: Option<R>,
    },
}

/// A HistoryModel is a [`SequentialSpec`] that knows how to read its operations from a
/// history, so the linearizability search can check recorded or imported histories.
pub trait HistoryModel:
    SequentialSpec<Op: Clone + fmt::Debug, Ret: Clone + fmt::Debug> + Clone + Eq + Hash + fmt::Debug
{
    /// The model's name as the command line spells it.
    const NAME: &'static str;

    /// The initial state; `init` is the `--init` value when one was given.
    fn initial(init: Option<&Value>, names: &mut Interner) -> Result<Self, LinearError>;

    /// Decodes an operation from its invocation and, when it completed with `ok`, its
    /// completion. `completion` is None for an operation whose outcome is unknown
    /// (`info`, or never completed): the decoded return must then be None too.
    /// Operations that ended `fail` never reach the model: they did not take effect.
    fn decode(
        invoke: &Op,
        completion: Option<&Op>,
        names: &mut Interner,
    ) -> Result<Decoded<Self::Op, Self::Ret>, LinearError>;

    /// The partition an operation belongs to, for P-compositional checking: operations
    /// in different partitions never constrain each other. Everything is one partition
    /// unless a model says otherwise.
    fn partition(_op: &Self::Op) -> u32 {
        0
    }

    /// The partition an invocation belongs to, read from the history before decoding,
    /// so that a history can be split and its pieces checked on several threads. It
    /// must agree with [`HistoryModel::partition`]. None (the default) keeps the history
    /// in one piece.
    fn partition_value(_invoke: &Op) -> Option<&Value> {
        None
    }

    /// Whether one state describes every partition at once (a whole key-value map), so
    /// the history may also be checked without partitioning. Models whose state is one
    /// object (a lock) are always checked per partition.
    const STATE_SPANS_PARTITIONS: bool = false;

    /// Marks operations with an unknown outcome that nothing in the partition could
    /// observe, so leaving them out (choosing "it never took effect", which is always
    /// allowed) cannot change the verdict. Each one left out halves the space the
    /// search may have to explore. The default leaves everything in.
    fn unobservable(ops: &[Operation<Self::Op, Self::Ret>]) -> Vec<bool> {
        vec![false; ops.len()]
    }

    /// The partition as accesses of one register, for the polynomial path of registers
    /// whose writes are unique ([`crate::linear::RegisterView`]). None when the model is
    /// not a register or an operation is not one such a register has (an append, a
    /// compare-and-set that answered that the comparison failed): then the general
    /// search decides.
    fn register_view(
        _init: &Self,
        _ops: &[Operation<Self::Op, Self::Ret>],
    ) -> Option<crate::linear::RegisterView> {
        None
    }

    /// A short, readable rendering of the state, for counterexamples.
    fn describe_state(&self, names: &Interner) -> String;

    /// A short, readable rendering of an operation and its return.
    fn describe_op(op: &Self::Op, ret: Option<&Self::Ret>, names: &Interner) -> String;
}

/// An Interner gives every distinct JSON value (or key) of a history a small number, so
/// model states are small `Copy` values that hash and compare in one instruction.
/// Number 0 is always JSON `null` (a register that was never written).
#[derive(Clone, Debug)]
pub struct Interner {
    ids: FxHashMap<String, u32>,
    texts: Vec<String>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut names = Interner {
            ids: FxHashMap::default(),
            texts: Vec::new(),
        };
        names.intern_text("null");
        names
    }
}

impl Interner {
    /// The id of `value`; equal JSON values get equal ids.
    pub fn intern(&mut self, value: &Value) -> u32 {
        match value {
            Value::Null => 0,
            other => self.intern_text(&other.to_string()),
        }
    }

    /// The id of an already rendered text.
    pub fn intern_text(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = u32::try_from(self.texts.len()).unwrap_or(u32::MAX);
        self.ids.insert(text.to_owned(), id);
        self.texts.push(text.to_owned());
        id
    }

    /// The text an id stands for, with a JSON string shown without its quotes (for
    /// keys and lock names).
    pub fn name(&self, id: u32) -> String {
        let text = self.text(id);
        match serde_json::from_str::<Value>(text) {
            Ok(Value::String(s)) => s,
            _ => text.to_owned(),
        }
    }

    /// The text an id stands for (`?` for an id this interner never gave).
    pub fn text(&self, id: u32) -> &str {
        self.texts.get(id as usize).map_or("?", String::as_str)
    }
}

/// A ModelKind names one of the built-in models, as `--model` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// A read/write register.
    Register,
    /// A read/write/compare-and-set register.
    CasRegister,
    /// A key-value map with get/put/append, checked per key.
    Kv,
    /// A mutex whose release must come from its holder.
    Mutex,
    /// A mutex whose every grant carries a token greater than all earlier grants'.
    FencedMutex,
    /// Knossos's registers by key, read and written by transactions.
    MultiRegister,
}

impl ModelKind {
    /// Every model, in the order the command line lists them.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::Mutex,
        ModelKind::FencedMutex,
        ModelKind::MultiRegister,
    ];

    /// The name `--model` uses.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => Register::NAME,
            ModelKind::CasRegister => CasRegister::NAME,
            ModelKind::Kv => Kv::NAME,
            ModelKind::Mutex => Mutex::NAME,
            ModelKind::FencedMutex => FencedMutex::NAME,
            ModelKind::MultiRegister => MultiRegister::NAME,
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = LinearError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| LinearError::UnknownModel { name: s.to_owned() })
    }
}

/// Builds the error for an operation a model cannot read.
pub(crate) fn bad_op(model: &'static str, op: &Op, expected: &str) -> LinearError {
    LinearError::BadOperation {
        model,
        index: op.index,
        f: op.f.clone(),
        value: op.value.to_string(),
        expected: expected.to_owned(),
    }
}

/// Unknown-outcome lock operations that can be left out: an acquire by a process
/// that does nothing afterwards, in a partition where no return says the lock was
/// held. Had it taken effect, its process would hold the lock forever (a process
/// whose op ended `info` is never reused), which only forbids later grants.
pub(crate) fn unobserved_acquires<O, R>(
    ops: &[Operation<O, R>],
    is_acquire: impl Fn(&O) -> bool,
    says_held: impl Fn(&R) -> bool,
) -> Vec<bool> {
    if ops.iter().any(|o| o.ret.as_ref().is_some_and(&says_held)) {
        return vec![false; ops.len()];
    }
    let mut last_call: FxHashMap<splitbrain_history::Process, u64> = FxHashMap::default();
    for o in ops {
        let t = last_call.entry(o.process).or_insert(o.call_ns);
        *t = (*t).max(o.call_ns);
    }
    ops.iter()
        .map(|o| o.ret.is_none() && is_acquire(&o.op) && last_call[&o.process] == o.call_ns)
        .collect()
}

/// The client number of an op's process; the nemesis never reaches a model.
pub(crate) fn client_of(model: &'static str, op: &Op) -> Result<u64, LinearError> {
    op.process
        .client()
        .ok_or_else(|| bad_op(model, op, "an operation of a client process"))
}
