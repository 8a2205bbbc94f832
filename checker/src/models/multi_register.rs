//! Knossos's multi-register: several registers, named by key, read and written together
//! by transactions.
//!
//! Mapping from a history (Jepsen's): `f: "txn"` whose `value` is a list of micro-ops
//! `[f, key, value]`, `f` being `read` (or `r`) or `write` (or `w`). An `ok` completion
//! carries the values read; the invocation's reads carry `null`. A read of `null` is
//! legal in any state, as in Knossos ("nil reads are always legal"), which is also what
//! an invocation's read means when the outcome is unknown. The initial state is
//! `--init` as a JSON object from keys to values (`{"x": 0, "y": 0}`); a key it does not
//! name starts as `null`. The state spans every key, so the history is one partition.

use super::{Decoded, HistoryModel, Interner, SequentialSpec, bad_op};
use crate::linear::LinearError;
use serde_json::Value;
use splitbrain_history::Op;
use std::rc::Rc;

/// A MultiRegister holds one interned value per key; keys holding `null` are not
/// stored, so equal states have equal representations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiRegister {
    /// (key, value) pairs sorted by key, none holding `null` (0).
    values: Rc<[(u32, u32)]>,
}

/// A MicroOp is one step of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MicroOp {
    /// Reads a key; `None` accepts any value.
    Read {
        /// The key.
        key: u32,
        /// The value the transaction saw, if it says.
        value: Option<u32>,
    },
    /// Writes an interned value to a key.
    Write {
        /// The key.
        key: u32,
        /// The value.
        value: u32,
    },
}

/// A Txn is a transaction: micro-ops applied in order, atomically.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Txn(pub Rc<[MicroOp]>);

/// A TxnRet is what a transaction returns: whether its reads matched (as a step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnRet {
    /// The transaction committed with the values its reads name.
    Committed,
    /// A read saw something else (only the model returns this).
    Mismatch,
}

impl MultiRegister {
    /// The value a key holds (`null`, 0, when unwritten).
    pub fn get(&self, key: u32) -> u32 {
        match self.values.binary_search_by_key(&key, |e| e.0) {
            Ok(i) => self.values[i].1,
            Err(_) => 0,
        }
    }

    fn set(values: &mut Vec<(u32, u32)>, key: u32, value: u32) {
        match values.binary_search_by_key(&key, |e| e.0) {
            Ok(i) if value == 0 => {
                values.remove(i);
            }
            Ok(i) => values[i].1 = value,
            Err(_) if value == 0 => {}
            Err(i) => values.insert(i, (key, value)),
        }
    }
}

impl SequentialSpec for MultiRegister {
    type Op = Txn;
    type Ret = TxnRet;

    fn invoke(&mut self, op: &Txn) -> TxnRet {
        let mut values = self.values.to_vec();
        let mut matched = true;
        for micro in op.0.iter() {
            match *micro {
                MicroOp::Read { key, value } => {
                    let held = match values.binary_search_by_key(&key, |e| e.0) {
                        Ok(i) => values[i].1,
                        Err(_) => 0,
                    };
                    matched &= value.is_none_or(|v| v == held);
                }
                MicroOp::Write { key, value } => Self::set(&mut values, key, value),
            }
        }
        self.values = values.into();
        if matched {
            TxnRet::Committed
        } else {
            TxnRet::Mismatch
        }
    }
}

fn micro_ops(op: &Op, names: &mut Interner) -> Option<Vec<MicroOp>> {
    op.value
        .as_array()?
        .iter()
        .map(|m| {
            let [f, key, value] = m.as_array()?.as_slice() else {
                return None;
            };
            let key = names.intern(key);
            match f.as_str()? {
                "read" | "r" => Some(MicroOp::Read {
                    key,
                    value: (!value.is_null()).then(|| names.intern(value)),
                }),
                "write" | "w" => Some(MicroOp::Write {
                    key,
                    value: names.intern(value),
                }),
                _ => None,
            }
        })
        .collect()
}

impl HistoryModel for MultiRegister {
    const NAME: &'static str = "multi-register";

    fn initial(init: Option<&Value>, names: &mut Interner) -> Result<Self, LinearError> {
        let mut values = Vec::new();
        match init {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let key = names.intern(&Value::String(key.clone()));
                    Self::set(&mut values, key, names.intern(value));
                }
            }
            Some(other) => {
                return Err(LinearError::BadInit {
                    model: Self::NAME,
                    init: other.to_string(),
                    expected: "a JSON object from keys to values, such as {\"x\": 0, \"y\": 0}"
                        .to_owned(),
                });
            }
        }
        Ok(MultiRegister {
            values: values.into(),
        })
    }

    fn decode(
        invoke: &Op,
        completion: Option<&Op>,
        names: &mut Interner,
    ) -> Result<Decoded<Txn, TxnRet>, LinearError> {
        const EXPECTED: &str = "f=txn with a value [[read|write, key, value], ...]";
        if invoke.f != "txn" {
            return Err(bad_op(Self::NAME, invoke, EXPECTED));
        }
        // The completion names what the reads saw; without one, the invocation's reads
        // (of null) accept anything and its writes may have happened.
        let source = completion.unwrap_or(invoke);
        let ops = micro_ops(source, names).ok_or_else(|| bad_op(Self::NAME, source, EXPECTED))?;
        Ok(Decoded::Call {
            op: Txn(ops.into()),
            ret: completion.map(|_| TxnRet::Committed),
        })
    }

    fn describe_state(&self, names: &Interner) -> String {
        let shown: Vec<String> = self
            .values
            .iter()
            .map(|&(k, v)| format!("{}={}", names.name(k), names.text(v)))
            .collect();
        format!("{{{}}}", shown.join(", "))
    }

    fn describe_op(op: &Txn, ret: Option<&TxnRet>, names: &Interner) -> String {
        let steps: Vec<String> = op
            .0
            .iter()
            .map(|m| match *m {
                MicroOp::Read {
                    key,
                    value: Some(v),
                } => {
                    format!("read {} -> {}", names.name(key), names.text(v))
                }
                MicroOp::Read { key, value: None } => format!("read {} -> any", names.name(key)),
                MicroOp::Write { key, value } => {
                    format!("write {} {}", names.name(key), names.text(value))
                }
            })
            .collect();
        let outcome = if ret.is_some() {
            ""
        } else {
            " (outcome unknown)"
        };
        format!("txn [{}]{outcome}", steps.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use splitbrain_history::{OpType, Process};

    fn txn(kind: OpType, value: Value) -> Op {
        Op::new(0, 0, Process::Client(0), kind, "txn", value)
    }

    #[test]
    fn reads_check_the_values_written_before_them_and_nil_reads_accept_any() {
        let mut names = Interner::default();
        let mut state = MultiRegister::initial(Some(&json!({"x": 0})), &mut names).unwrap();
        let decode = |v: Value, names: &mut Interner| match MultiRegister::decode(
            &txn(OpType::Invoke, v.clone()),
            Some(&txn(OpType::Ok, v)),
            names,
        )
        .unwrap()
        {
            Decoded::Call { op, .. } => op,
            Decoded::Skip => unreachable!(),
        };
        let write = decode(json!([["write", "x", 1], ["read", "x", 1]]), &mut names);
        assert!(state.is_valid_step(&write, &TxnRet::Committed));
        let stale = decode(json!([["r", "x", 0]]), &mut names);
        assert!(!state.clone().is_valid_step(&stale, &TxnRet::Committed));
        let nil = decode(json!([["r", "x", null], ["r", "y", null]]), &mut names);
        assert!(state.is_valid_step(&nil, &TxnRet::Committed));
    }

    #[test]
    fn a_bad_init_or_micro_op_is_refused_saying_what_was_expected() {
        let mut names = Interner::default();
        let err = MultiRegister::initial(Some(&json!(3)), &mut names).unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
        let err = MultiRegister::decode(
            &txn(OpType::Invoke, json!([["cas", "x", 1]])),
            None,
            &mut names,
        )
        .unwrap_err();
        assert!(err.to_string().contains("f=txn with a value"), "{err}");
    }
}
