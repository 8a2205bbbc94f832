//! The key-value map with get, put and append (porcupine's kv model).
//!
//! Mapping from a history: the `value` of every operation is `[key, value]` (Jepsen's
//! independent-key tuple). `f: "get"` (or `"read"`) returns the completion's value;
//! `f: "put"` (or `"write"`) sets the key; `f: "append"` appends to the key's string. A
//! key never written reads as the empty string, and `null` reads as the empty string
//! too, as in porcupine. Values that are not strings are compared as their JSON text.
//! Histories are checked per key, or as one map when partitioning is turned off.

use super::{Decoded, HistoryModel, Interner, SequentialSpec, bad_op};
use crate::linear::{Access, LinearError, Operation, RegisterView};
use serde_json::Value;
use splitbrain_history::Op;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// A Text is a string with its polynomial hash, kept up to date as it grows, so that
/// states full of long appended strings hash and compare in O(1) unless they are equal.
#[derive(Clone, Debug)]
pub struct Text {
    hash: u64,
    text: Rc<str>,
}

const TEXT_BASE: u64 = 0x100_0000_01B3;

fn extend_hash(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = hash.wrapping_mul(TEXT_BASE).wrapping_add(u64::from(b) + 1);
    }
    hash
}

impl Text {
    /// A text holding `s`.
    pub fn new(s: &str) -> Text {
        Text {
            hash: extend_hash(0, s.as_bytes()),
            text: Rc::from(s),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// This text followed by `suffix`; the hash is extended, not recomputed.
    fn append(&self, suffix: &Text) -> Text {
        let mut joined = String::with_capacity(self.text.len() + suffix.text.len());
        joined.push_str(&self.text);
        joined.push_str(&suffix.text);
        Text {
            hash: extend_hash(self.hash, suffix.text.as_bytes()),
            text: Rc::from(joined),
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.hash == other.hash && (Rc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &*self.text)
    }
}

/// A Kv is a map from interned keys to strings. Keys holding the empty string are not
/// stored, so equal maps have equal representations. The entries are shared between
/// states (cloning a state, which the search does at every step, copies a pointer) and
/// copied on write. `Rc`, not `Arc`: atomic reference counts cost a third of the search
/// time, and a check runs on one thread.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Kv {
    /// (key, value) pairs sorted by key, none with an empty value.
    entries: Rc<[(u32, Text)]>,
}

/// A KvOp is an operation on a [`Kv`] map.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Reads a key.
    Get(u32),
    /// Sets a key.
    Put(u32, Text),
    /// Appends to a key's string.
    Append(u32, Text),
}

/// A KvRet is what a [`KvOp`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvRet {
    /// The string read.
    GetOk(Text),
    /// The put or append happened.
    Done,
}

impl Kv {
    /// The string a key holds (empty when never written).
    pub fn get(&self, key: u32) -> Option<&Text> {
        match self.entries.binary_search_by_key(&key, |e| e.0) {
            Ok(i) => Some(&self.entries[i].1),
            Err(_) => None,
        }
    }

    fn set(&mut self, key: u32, value: Text) {
        let mut entries = self.entries.to_vec();
        match entries.binary_search_by_key(&key, |e| e.0) {
            Ok(i) if value.text.is_empty() => {
                entries.remove(i);
            }
            Ok(i) => entries[i].1 = value,
            Err(_) if value.text.is_empty() => return,
            Err(i) => entries.insert(i, (key, value)),
        }
        self.entries = entries.into();
    }
}

impl SequentialSpec for Kv {
    type Op = KvOp;
    type Ret = KvRet;

    fn invoke(&mut self, op: &KvOp) -> KvRet {
        match op {
            KvOp::Get(key) => {
                KvRet::GetOk(self.get(*key).cloned().unwrap_or_else(|| Text::new("")))
            }
            KvOp::Put(key, value) => {
                self.set(*key, value.clone());
                KvRet::Done
            }
            KvOp::Append(key, suffix) => {
                if !suffix.text.is_empty() {
                    let joined = match self.get(*key) {
                        Some(current) => current.append(suffix),
                        None => suffix.clone(),
                    };
                    self.set(*key, joined);
                }
                KvRet::Done
            }
        }
    }

    /// Checks a get without allocating its return.
    fn is_valid_step(&mut self, op: &KvOp, ret: &KvRet) -> bool {
        match (op, ret) {
            (KvOp::Get(key), KvRet::GetOk(read)) => match self.get(*key) {
                Some(held) => held == read,
                None => read.text.is_empty(),
            },
            (KvOp::Get(_), _) => false,
            _ => &self.invoke(op) == ret,
        }
    }
}

fn text_of(value: &Value) -> Text {
    match value {
        Value::Null => Text::new(""),
        Value::String(s) => Text::new(s),
        other => Text::new(&other.to_string()),
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

    fn partition_value(invoke: &Op) -> Option<&Value> {
        key_and_value(invoke).map(|(key, _)| key)
    }

    fn partition(op: &KvOp) -> u32 {
        match op {
            KvOp::Get(k) | KvOp::Put(k, _) | KvOp::Append(k, _) => *k,
        }
    }

    /// Gets with unknown results change nothing.
    fn unobservable(ops: &[Operation<KvOp, KvRet>]) -> Vec<bool> {
        ops.iter()
            .map(|o| o.ret.is_none() && matches!(o.op, KvOp::Get(_)))
            .collect()
    }

    /// One key's gets and puts (appends are not a register's).
    fn register_view(init: &Self, ops: &[Operation<KvOp, KvRet>]) -> Option<RegisterView> {
        let key = Self::partition(&ops.first()?.op);
        let mut values: rustc_hash::FxHashMap<Text, u32> = Default::default();
        let mut id = |t: &Text| {
            let next = values.len() as u32;
            *values.entry(t.clone()).or_insert(next)
        };
        let init = id(init.get(key).unwrap_or(&Text::new("")));
        let mut accesses = Vec::with_capacity(ops.len());
        for o in ops {
            accesses.push(match (&o.op, &o.ret) {
                (KvOp::Get(k), _) | (KvOp::Put(k, _), _) | (KvOp::Append(k, _), _) if *k != key => {
                    return None;
                }
                (KvOp::Get(_), Some(KvRet::GetOk(v))) => Access::Read(id(v)),
                (KvOp::Get(_), _) => Access::Ignore,
                (KvOp::Put(_, v), _) => Access::Write(id(v)),
                (KvOp::Append(..), _) => return None,
            });
        }
        Some(RegisterView { init, accesses })
    }

    fn describe_state(&self, names: &Interner) -> String {
        let shown: Vec<String> = self
            .entries
            .iter()
            .map(|(k, v)| format!("{}={v}", names.text(*k)))
            .collect();
        format!("{{{}}}", shown.join(", "))
    }

    fn describe_op(op: &KvOp, ret: Option<&KvRet>, names: &Interner) -> String {
        match (op, ret) {
            (KvOp::Get(k), Some(KvRet::GetOk(v))) => format!("get {} -> {v}", names.text(*k)),
            (KvOp::Get(k), _) => format!("get {} -> ?", names.text(*k)),
            (KvOp::Put(k, v), _) => format!("put {} {v}", names.text(*k)),
            (KvOp::Append(k, v), _) => format!("append {} {v}", names.text(*k)),
        }
    }
}
