//! The fenced mutex: a mutex with an owner whose every grant carries a fencing token
//! greater than every earlier grant's (Jepsen's Hazelcast `FencedMutex` test checks the
//! same property).
//!
//! Mapping from a history: as [`super::Mutex`], plus the token of a granted `acquire`,
//! read from the completion's `token` field or, failing that, from its `value` when it
//! is a non-negative integer. A `release` whose invocation carries a `token` must
//! present the token of the current grant.

use super::{Decoded, HistoryModel, Interner, SequentialSpec, bad_op, client_of};
use crate::linear::{LinearError, Operation};
use serde_json::Value;
use splitbrain_history::Op;

/// A FencedMutex is a lock with an owner and the token of the latest grant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FencedMutex {
    /// The process holding the lock.
    pub holder: Option<u64>,
    /// The token of the latest grant (0 before any grant): every later grant must carry
    /// a greater one.
    pub token: u64,
}

/// A FencedMutexOp is an operation on a [`FencedMutex`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FencedMutexOp {
    /// A process asks for the lock.
    Acquire {
        /// The interned lock name (0 when unnamed).
        lock: u32,
        /// The asking process.
        process: u64,
    },
    /// A process gives the lock back, presenting its token when it has one.
    Release {
        /// The interned lock name (0 when unnamed).
        lock: u32,
        /// The releasing process.
        process: u64,
        /// The token presented.
        token: Option<u64>,
    },
}

/// A FencedMutexRet is what a [`FencedMutexOp`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FencedMutexRet {
    /// The lock was granted with this token.
    Granted(u64),
    /// The lock was held by someone (a try-lock that failed).
    Refused,
    /// The release was accepted.
    Released,
    /// The release came from a process that did not hold the lock, or with a stale token.
    NotHolder,
}

impl SequentialSpec for FencedMutex {
    type Op = FencedMutexOp;
    type Ret = FencedMutexRet;

    fn invoke(&mut self, op: &FencedMutexOp) -> FencedMutexRet {
        match *op {
            FencedMutexOp::Acquire { process, .. } => {
                if self.holder.is_some() {
                    return FencedMutexRet::Refused;
                }
                self.holder = Some(process);
                self.token += 1;
                FencedMutexRet::Granted(self.token)
            }
            FencedMutexOp::Release { process, token, .. } => {
                if self.holder != Some(process) || token.is_some_and(|t| t != self.token) {
                    return FencedMutexRet::NotHolder;
                }
                self.holder = None;
                FencedMutexRet::Released
            }
        }
    }

    /// A grant may carry any token greater than the last one, not only the next integer.
    fn is_valid_step(&mut self, op: &FencedMutexOp, ret: &FencedMutexRet) -> bool {
        match (op, ret) {
            (FencedMutexOp::Acquire { process, .. }, FencedMutexRet::Granted(t)) => {
                if self.holder.is_some() || *t <= self.token {
                    return false;
                }
                self.holder = Some(*process);
                self.token = *t;
                true
            }
            _ => &self.invoke(op) == ret,
        }
    }
}

impl HistoryModel for FencedMutex {
    const NAME: &'static str = "fenced-mutex";

    fn initial(init: Option<&Value>, _names: &mut Interner) -> Result<Self, LinearError> {
        let token = match init {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_u64().ok_or_else(|| LinearError::BadInit {
                model: Self::NAME,
                init: v.to_string(),
                expected: "the last token granted before the history (a non-negative integer)"
                    .to_owned(),
            })?,
        };
        Ok(FencedMutex {
            holder: None,
            token,
        })
    }

    fn decode(
        invoke: &Op,
        completion: Option<&Op>,
        names: &mut Interner,
    ) -> Result<Decoded<FencedMutexOp, FencedMutexRet>, LinearError> {
        let process = client_of(Self::NAME, invoke)?;
        let lock = names.intern(&invoke.value);
        match invoke.f.as_str() {
            "acquire" | "lock" => {
                let ret = match completion {
                    None => None,
                    Some(c) if c.value == Value::Bool(false) => Some(FencedMutexRet::Refused),
                    Some(c) => {
                        let token = c.token.or_else(|| c.value.as_u64()).ok_or_else(|| {
                            bad_op(
                                Self::NAME,
                                c,
                                "a granted acquire with a token (field token)",
                            )
                        })?;
                        Some(FencedMutexRet::Granted(token))
                    }
                };
                Ok(Decoded::Call {
                    op: FencedMutexOp::Acquire { lock, process },
                    ret,
                })
            }
            "release" | "unlock" => Ok(Decoded::Call {
                op: FencedMutexOp::Release {
                    lock,
                    process,
                    token: invoke.token,
                },
                ret: completion.map(|_| FencedMutexRet::Released),
            }),
            _ => Err(bad_op(Self::NAME, invoke, "f=acquire or f=release")),
        }
    }

    fn partition_value(invoke: &Op) -> Option<&Value> {
        Some(&invoke.value)
    }

    fn partition(op: &FencedMutexOp) -> u32 {
        match *op {
            FencedMutexOp::Acquire { lock, .. } | FencedMutexOp::Release { lock, .. } => lock,
        }
    }

    fn unobservable(ops: &[Operation<FencedMutexOp, FencedMutexRet>]) -> Vec<bool> {
        super::unobserved_acquires(
            ops,
            |op| matches!(op, FencedMutexOp::Acquire { .. }),
            |ret| matches!(ret, FencedMutexRet::Refused | FencedMutexRet::NotHolder),
        )
    }

    fn describe_state(&self, _names: &Interner) -> String {
        match self.holder {
            Some(p) => format!("held by process {p} with token {}", self.token),
            None => format!("free, last token {}", self.token),
        }
    }

    fn describe_op(op: &FencedMutexOp, ret: Option<&FencedMutexRet>, _names: &Interner) -> String {
        let outcome = match ret {
            None => "?".to_owned(),
            Some(FencedMutexRet::Granted(t)) => format!("granted token {t}"),
            Some(r) => format!("{r:?}").to_lowercase(),
        };
        // The process is shown beside the operation, not in it.
        match op {
            FencedMutexOp::Acquire { .. } => format!("acquire -> {outcome}"),
            FencedMutexOp::Release { token, .. } => match token {
                Some(t) => format!("release token {t} -> {outcome}"),
                None => format!("release -> {outcome}"),
            },
        }
    }
}
