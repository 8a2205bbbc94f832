//! The read/write register.
//!
//! Mapping from a history: `f: "read"` reads, the completion's `value` is what was read
//! (`null` for a register never written); `f: "write"` writes the invocation's `value`.
//! Values may be any JSON; equal JSON values are equal register values.

use super::{Decoded, HistoryModel, Interner, SequentialSpec, bad_op};
use crate::linear::{Access, LinearError, Operation, RegisterView};
use rustc_hash::FxHashSet;
use serde_json::Value;
use splitbrain_history::Op;

/// A Register is a read/write register holding an interned value (0 is `null`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Register {
    /// The interned value held.
    pub value: u32,
}

/// A RegisterOp is an operation on a [`Register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// Reads the value.
    Read,
    /// Writes an interned value.
    Write(u32),
}

/// A RegisterRet is what a [`RegisterOp`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterRet {
    /// The value read.
    ReadOk(u32),
    /// The write happened.
    WriteOk,
}

impl SequentialSpec for Register {
    type Op = RegisterOp;
    type Ret = RegisterRet;

    fn invoke(&mut self, op: &RegisterOp) -> RegisterRet {
        match *op {
            RegisterOp::Read => RegisterRet::ReadOk(self.value),
            RegisterOp::Write(v) => {
                self.value = v;
                RegisterRet::WriteOk
            }
        }
    }
}

impl HistoryModel for Register {
    const NAME: &'static str = "register";

    fn initial(init: Option<&Value>, names: &mut Interner) -> Result<Self, LinearError> {
        Ok(Register {
            value: init.map_or(0, |v| names.intern(v)),
        })
    }

    fn decode(
        invoke: &Op,
        completion: Option<&Op>,
        names: &mut Interner,
    ) -> Result<Decoded<RegisterOp, RegisterRet>, LinearError> {
        match invoke.f.as_str() {
            "read" => Ok(Decoded::Call {
                op: RegisterOp::Read,
                ret: completion.map(|c| RegisterRet::ReadOk(names.intern(&c.value))),
            }),
            "write" => Ok(Decoded::Call {
                op: RegisterOp::Write(names.intern(&invoke.value)),
                ret: completion.map(|_| RegisterRet::WriteOk),
            }),
            _ => Err(bad_op(Self::NAME, invoke, "f=read or f=write")),
        }
    }

    /// Reads with unknown results, and writes with unknown outcomes of values no read
    /// returned: between such a write and the next one no read could have happened.
    fn unobservable(ops: &[Operation<RegisterOp, RegisterRet>]) -> Vec<bool> {
        let read: FxHashSet<u32> = ops
            .iter()
            .filter_map(|o| match o.ret {
                Some(RegisterRet::ReadOk(v)) => Some(v),
                _ => None,
            })
            .collect();
        ops.iter()
            .map(|o| {
                o.ret.is_none()
                    && match o.op {
                        RegisterOp::Read => true,
                        RegisterOp::Write(v) => !read.contains(&v),
                    }
            })
            .collect()
    }

    fn register_view(
        init: &Self,
        ops: &[Operation<RegisterOp, RegisterRet>],
    ) -> Option<RegisterView> {
        let access = |o: &Operation<RegisterOp, RegisterRet>| match (o.op, o.ret) {
            (RegisterOp::Read, Some(RegisterRet::ReadOk(v))) => Access::Read(v),
            (RegisterOp::Read, _) => Access::Ignore,
            (RegisterOp::Write(v), _) => Access::Write(v),
        };
        Some(RegisterView {
            init: init.value,
            accesses: ops.iter().map(access).collect(),
        })
    }

    fn describe_state(&self, names: &Interner) -> String {
        names.text(self.value).to_owned()
    }

    fn describe_op(op: &RegisterOp, ret: Option<&RegisterRet>, names: &Interner) -> String {
        match (op, ret) {
            (RegisterOp::Read, Some(RegisterRet::ReadOk(v))) => {
                format!("read -> {}", names.text(*v))
            }
            (RegisterOp::Read, _) => "read -> ?".to_owned(),
            (RegisterOp::Write(v), _) => format!("write {}", names.text(*v)),
        }
    }
}
