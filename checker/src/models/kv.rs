//! The key-value map with get, put and append (porcupine's kv model).
//!
//! Mapping from a history: the `value` of every operation is `[key, value]` (Jepsen's
//! independent-key tuple). `f: "get"` (or `"read"`) returns the completion's value;
//! `f: "put"` (or `"write"`) sets the key; `f: "append"` appends to the key's string. A
//! key never written reads as the empty string, and `null` reads as the empty string
//! too, as in porcupine. Values that are not strings are compared as their JSON text.
//! Histories are checked per key, or as one map when partitioning is turned off.

use super::{Decoded, HistoryModel, Interner, SequentialSpec, bad_op};
use crate::linear::LinearError;
use serde_json::Value;
use splitbrain_history::Op;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A Kv is a map from interned keys to strings. Keys holding the empty string are not
/// stored, so equal maps have equal representations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    /// (key, value) pairs sorted by key, none with an empty value.
    entries: Vec<(u32, Arc<str>)>,
}

/// A KvOp is an operation on a [`Kv`] map.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Reads a key.
    Get(u32),
    /// Sets a key.
    Put(u32, Arc<str>),
    /// Appends to a key's string.
    Append(u32, Arc<str>),
}

/// A KvRet is what a [`KvOp`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvRet {
    /// The string read.
    GetOk(Arc<str>),
    /// The put or append happened.
    Done,
}

/// Hashes keys and value lengths only: strings grown by appends are long, and equal
/// maps still hash equally. The search compares candidates with `Eq` anyway.
impl Hash for Kv {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for (key, value) in &self.entries {
            state.write_u32(*key);
            state.write_usize(value.len());
        }
    }
}

impl Kv {
    /// The string a key holds (empty when never written).
    pub fn get(&self, key: u32) -> &str {
        match self.entries.binary_search_by_key(&key, |e| e.0) {
            Ok(i) => &self.entries[i].1,
            Err(_) => "",
        }
    }

    fn set(&mut self, key: u32, value: Arc<str>) {
        match self.entries.binary_search_by_key(&key, |e| e.0) {
            Ok(i) if value.is_empty() => {
                self.entries.remove(i);
            }
            Ok(i) => self.entries[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.entries.insert(i, (key, value)),
        }
    }
}

impl SequentialSpec for Kv {
    type Op = KvOp;
    type Ret = KvRet;

    fn invoke(&mut self, op: &KvOp) -> KvRet {
        match op {
            KvOp::Get(key) => KvRet::GetOk(Arc::from(self.get(*key))),
            KvOp::Put(key, value) => {
                self.set(*key, value.clone());
                KvRet::Done
            }
            KvOp::Append(key, suffix) => {
                if !suffix.is_empty() {
                    let joined: Arc<str> = format!("{}{suffix}", self.get(*key)).into();
                    self.set(*key, joined);
                }
                KvRet::Done
            }
        }
    }

    /// Checks a get without allocating its return.
    fn is_valid_step(&mut self, op: &KvOp, ret: &KvRet) -> bool {
        match (op, ret) {
            (KvOp::Get(key), KvRet::GetOk(read)) => self.get(*key) == &**read,
            (KvOp::Get(_), _) => false,
            _ => &self.invoke(op) == ret,
        }
    }
}

fn text_of(value: &Value) -> Arc<str> {
    match value {
        Value::Null => Arc::from(""),
        Value::String(s) => Arc::from(s.as_str()),
        other => Arc::from(other.to_string()),
    }
}

fn key_and_value(op: &Op) -> Option<(&Value, &Value)> {
    match op.value.as_array().map(Vec::as_slice) {
        Some([k, v]) => Some((k, v)),
        _ => None,
    }
}

impl HistoryModel for Kv {
    const NAME: &'static str = "kv";
    const STATE_SPANS_PARTITIONS: bool = true;

    fn initial(init: Option<&Value>, _names: &mut Interner) -> Result<Self, LinearError> {
        match init {
            None | Some(Value::Null) => Ok(Kv::default()),
            Some(v) => Err(LinearError::BadInit {
                model: Self::NAME,
                init: v.to_string(),
                expected: "no --init (every key starts as the empty string)".to_owned(),
            }),
        }
    }

    fn decode(
        invoke: &Op,
        completion: Option<&Op>,
        names: &mut Interner,
    ) -> Result<Decoded<KvOp, KvRet>, LinearError> {
        let (key, value) = key_and_value(invoke)
            .ok_or_else(|| bad_op(Self::NAME, invoke, "a value [key, value]"))?;
        let key = names.intern(key);
        match invoke.f.as_str() {
            "get" | "read" => {
                let ret = match completion {
                    None => None,
                    Some(c) => {
                        let (_, read) = key_and_value(c).ok_or_else(|| {
                            bad_op(Self::NAME, c, "a completion value [key, value]")
                        })?;
                        Some(KvRet::GetOk(text_of(read)))
                    }
                };
                Ok(Decoded::Call {
                    op: KvOp::Get(key),
                    ret,
                })
            }
            "put" | "write" => Ok(Decoded::Call {
                op: KvOp::Put(key, text_of(value)),
                ret: completion.map(|_| KvRet::Done),
            }),
            "append" => Ok(Decoded::Call {
                op: KvOp::Append(key, text_of(value)),
                ret: completion.map(|_| KvRet::Done),
            }),
            _ => Err(bad_op(Self::NAME, invoke, "f=get, f=put or f=append")),
        }
    }

    fn partition(op: &KvOp) -> u32 {
        match op {
            KvOp::Get(k) | KvOp::Put(k, _) | KvOp::Append(k, _) => *k,
        }
    }

    fn describe_state(&self, names: &Interner) -> String {
        let shown: Vec<String> = self
            .entries
            .iter()
            .map(|(k, v)| format!("{}={v:?}", names.text(*k)))
            .collect();
        format!("{{{}}}", shown.join(", "))
    }

    fn describe_op(op: &KvOp, ret: Option<&KvRet>, names: &Interner) -> String {
        match (op, ret) {
            (KvOp::Get(k), Some(KvRet::GetOk(v))) => format!("get {} -> {v:?}", names.text(*k)),
            (KvOp::Get(k), _) => format!("get {} -> ?", names.text(*k)),
            (KvOp::Put(k, v), _) => format!("put {} {v:?}", names.text(*k)),
            (KvOp::Append(k, v), _) => format!("append {} {v:?}", names.text(*k)),
        }
    }
}
