//! The mutex with an owner.
//!
//! Unlike Knossos's mutex, this one knows who holds it: only the holder may release it,
//! so a client that releases a lock it lost (a paused holder whose lease expired) is a
//! violation. Mapping from a history: `f: "acquire"` / `f: "release"` (also `"lock"` /
//! `"unlock"`) by a client process, which is the owner; the invocation's `value`, when it
//! is not null, names the lock and the history is checked per lock name. An `ok`
//! acquire whose completion `value` is `false` was refused because the lock was held
//! (try-lock); any other `ok` acquire was granted. `fail` operations are left out.

use super::{Decoded, HistoryModel, Interner, SequentialSpec, bad_op, client_of};
use crate::linear::{LinearError, Operation};
use serde_json::Value;
use splitbrain_history::Op;

/// A Mutex is a lock with an owner: the client process holding it, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mutex {
    /// The process holding the lock.
    pub holder: Option<u64>,
}

/// A MutexOp is an operation on a [`Mutex`], by a process, on a named lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MutexOp {
    /// A process asks for the lock.
    Acquire {
        /// The interned lock name (0 when unnamed).
        lock: u32,
        /// The asking process.
        process: u64,
    },
    /// A process gives the lock back.
    Release {
        /// The interned lock name (0 when unnamed).
        lock: u32,
        /// The releasing process.
        process: u64,
    },
}

/// A MutexRet is what a [`MutexOp`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MutexRet {
    /// The lock was granted.
    Granted,
    /// The lock was held by someone (a try-lock that failed).
    Refused,
    /// The release was accepted.
    Released,
    /// The release came from a process that did not hold the lock.
    NotHolder,
}

impl SequentialSpec for Mutex {
    type Op = MutexOp;
    type Ret = MutexRet;

    fn invoke(&mut self, op: &MutexOp) -> MutexRet {
        match *op {
            MutexOp::Acquire { process, .. } => {
                if self.holder.is_some() {
                    return MutexRet::Refused;
                }
                self.holder = Some(process);
                MutexRet::Granted
            }
            MutexOp::Release { process, .. } => {
                if self.holder != Some(process) {
                    return MutexRet::NotHolder;
                }
                self.holder = None;
                MutexRet::Released
            }
        }
    }
}

impl HistoryModel for Mutex {
    const NAME: &'static str = "mutex";

    fn initial(init: Option<&Value>, _names: &mut Interner) -> Result<Self, LinearError> {
        let holder = match init {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| LinearError::BadInit {
                model: Self::NAME,
                init: v.to_string(),
                expected: "null (free) or the number of the holding process".to_owned(),
            })?),
        };
        Ok(Mutex { holder })
    }

    fn decode(
        invoke: &Op,
        completion: Option<&Op>,
        names: &mut Interner,
    ) -> Result<Decoded<MutexOp, MutexRet>, LinearError> {
        let process = client_of(Self::NAME, invoke)?;
        let lock = names.intern(&invoke.value);
        match invoke.f.as_str() {
            "acquire" | "lock" => Ok(Decoded::Call {
                op: MutexOp::Acquire { lock, process },
                ret: completion.map(|c| match c.value {
                    Value::Bool(false) => MutexRet::Refused,
                    _ => MutexRet::Granted,
                }),
            }),
            "release" | "unlock" => Ok(Decoded::Call {
                op: MutexOp::Release { lock, process },
                ret: completion.map(|_| MutexRet::Released),
            }),
            _ => Err(bad_op(Self::NAME, invoke, "f=acquire or f=release")),
        }
    }

    fn partition_value(invoke: &Op) -> Option<&Value> {
        Some(&invoke.value)
    }

    fn partition(op: &MutexOp) -> u32 {
        match *op {
            MutexOp::Acquire { lock, .. } | MutexOp::Release { lock, .. } => lock,
        }
    }

    fn unobservable(ops: &[Operation<MutexOp, MutexRet>]) -> Vec<bool> {
        super::unobserved_acquires(
            ops,
            |op| matches!(op, MutexOp::Acquire { .. }),
            |ret| matches!(ret, MutexRet::Refused | MutexRet::NotHolder),
        )
    }

    fn describe_state(&self, _names: &Interner) -> String {
        match self.holder {
            Some(p) => format!("held by process {p}"),
            None => "free".to_owned(),
        }
    }

    fn describe_op(op: &MutexOp, ret: Option<&MutexRet>, _names: &Interner) -> String {
        let outcome = ret.map_or("?".to_owned(), |r| format!("{r:?}").to_lowercase());
        // The process is shown beside the operation, not in it.
        match op {
            MutexOp::Acquire { .. } => format!("acquire -> {outcome}"),
            MutexOp::Release { .. } => format!("release -> {outcome}"),
        }
    }
}
