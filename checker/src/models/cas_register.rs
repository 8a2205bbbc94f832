//! The compare-and-set register (porcupine's etcd model, Knossos's `cas-register`).
//!
//! Mapping from a history: `read` and `write` as in [`super::Register`]; `f: "cas"` with
//! the invocation's `value` `[from, to]`. An `ok` completion whose `value` is `false`
//! says the comparison failed (the register did not hold `from`); any other `ok` value
//! (`[from, to]`, `true`) says the swap happened. A `fail` completion means the operation
//! did not take effect and is left out, as in Jepsen.

use super::{Decoded, HistoryModel, Interner, SequentialSpec, bad_op};
use crate::linear::{Access, LinearError, Operation, RegisterView};
use rustc_hash::FxHashSet;
use serde_json::Value;
use splitbrain_history::Op;

/// A CasRegister is a register with compare-and-set, holding an interned value (0 is
/// `null`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CasRegister {
    /// The interned value held.
    pub value: u32,
}

/// A CasRegisterOp is an operation on a [`CasRegister`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CasRegisterOp {
    /// Reads the value.
    Read,
    /// Writes an interned value.
    Write(u32),
    /// Sets the value to `to` if it is `from`.
    Cas {
        /// The expected value.
        from: u32,
        /// The new value.
        to: u32,
    },
}

/// A CasRegisterRet is what a [`CasRegisterOp`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CasRegisterRet {
    /// The value read.
    ReadOk(u32),
    /// The write happened.
    WriteOk,
    /// Whether the compare-and-set swapped.
    CasOk(bool),
}

impl SequentialSpec for CasRegister {
    type Op = CasRegisterOp;
    type Ret = CasRegisterRet;

    fn invoke(&mut self, op: &CasRegisterOp) -> CasRegisterRet {
        match *op {
            CasRegisterOp::Read => CasRegisterRet::ReadOk(self.value),
            CasRegisterOp::Write(v) => {
                self.value = v;
                CasRegisterRet::WriteOk
            }
            CasRegisterOp::Cas { from, to } => {
                let swapped = self.value == from;
                if swapped {
                    self.value = to;
                }
                CasRegisterRet::CasOk(swapped)
            }
        }
    }
}

impl HistoryModel for CasRegister {
    const NAME: &'static str = "cas-register";

    fn initial(init: Option<&Value>, names: &mut Interner) -> Result<Self, LinearError> {
        Ok(CasRegister {
            value: init.map_or(0, |v| names.intern(v)),
        })
    }

    fn decode(
        invoke: &Op,
        completion: Option<&Op>,
        names: &mut Interner,
    ) -> Result<Decoded<CasRegisterOp, CasRegisterRet>, LinearError> {
        match invoke.f.as_str() {
            "read" => Ok(Decoded::Call {
                op: CasRegisterOp::Read,
                ret: completion.map(|c| CasRegisterRet::ReadOk(names.intern(&c.value))),
            }),
            "write" => Ok(Decoded::Call {
                op: CasRegisterOp::Write(names.intern(&invoke.value)),
                ret: completion.map(|_| CasRegisterRet::WriteOk),
            }),
            "cas" => {
                let Some([from, to]) = invoke
                    .value
                    .as_array()
                    .map(Vec::as_slice)
                    .and_then(|a| <&[Value; 2]>::try_from(a).ok())
                else {
                    return Err(bad_op(Self::NAME, invoke, "a cas value [from, to]"));
                };
                let op = CasRegisterOp::Cas {
                    from: names.intern(from),
                    to: names.intern(to),
                };
                let ret = completion.map(|c| CasRegisterRet::CasOk(c.value != Value::Bool(false)));
                Ok(Decoded::Call { op, ret })
            }
            _ => Err(bad_op(Self::NAME, invoke, "f=read, f=write or f=cas")),
        }
    }

    /// Reads with unknown results; and writes or compare-and-sets with unknown
    /// outcomes whose new value no read returned and no compare-and-set (other than a
    /// failed one) expected, when no compare-and-set failed at all (a failed one
    /// observes that the register did *not* hold a value, which a left-out write
    /// could change).
    fn unobservable(ops: &[Operation<CasRegisterOp, CasRegisterRet>]) -> Vec<bool> {
        let mut seen: FxHashSet<u32> = FxHashSet::default();
        let mut failed_cas = false;
        for o in ops {
            match (o.op, o.ret) {
                (_, Some(CasRegisterRet::ReadOk(v))) => {
                    seen.insert(v);
                }
                (CasRegisterOp::Cas { .. }, Some(CasRegisterRet::CasOk(false))) => {
                    failed_cas = true
                }
                (CasRegisterOp::Cas { from, .. }, _) => {
                    seen.insert(from);
                }
                _ => {}
            }
        }
        ops.iter()
            .map(|o| {
                o.ret.is_none()
                    && match o.op {
                        CasRegisterOp::Read => true,
                        CasRegisterOp::Write(v) | CasRegisterOp::Cas { to: v, .. } => {
                            !failed_cas && !seen.contains(&v)
                        }
                    }
            })
            .collect()
    }

    fn register_view(
        init: &Self,
        ops: &[Operation<CasRegisterOp, CasRegisterRet>],
    ) -> Option<RegisterView> {
        let access = |o: &Operation<CasRegisterOp, CasRegisterRet>| match (o.op, o.ret) {
            (CasRegisterOp::Read, Some(CasRegisterRet::ReadOk(v))) => Some(Access::Read(v)),
            (CasRegisterOp::Read, _) => Some(Access::Ignore),
            (CasRegisterOp::Write(v), _) => Some(Access::Write(v)),
            (CasRegisterOp::Cas { .. }, Some(CasRegisterRet::CasOk(false))) => None,
            (CasRegisterOp::Cas { from, to }, _) => Some(Access::Swap { from, to }),
        };
        Some(RegisterView {
            init: init.value,
            accesses: ops.iter().map(access).collect::<Option<_>>()?,
        })
    }

    fn describe_state(&self, names: &Interner) -> String {
        names.text(self.value).to_owned()
    }

    fn describe_op(op: &CasRegisterOp, ret: Option<&CasRegisterRet>, names: &Interner) -> String {
        let shown = |v: &u32| names.text(*v).to_owned();
        match (op, ret) {
            (CasRegisterOp::Read, Some(CasRegisterRet::ReadOk(v))) => {
                format!("read -> {}", shown(v))
            }
            (CasRegisterOp::Read, _) => "read -> ?".to_owned(),
            (CasRegisterOp::Write(v), _) => format!("write {}", shown(v)),
            (CasRegisterOp::Cas { from, to }, r) => {
                let outcome = match r {
                    Some(CasRegisterRet::CasOk(true)) => "ok",
                    Some(_) => "compare failed",
                    None => "?",
                };
                format!("cas {} -> {}: {outcome}", shown(from), shown(to))
            }
        }
    }
}
