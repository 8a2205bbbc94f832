//! The operation: one line of a history.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// An OpType is what an operation record says about the operation's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The operation was started.
    Invoke,
    /// The operation completed and took effect.
    Ok,
    /// The operation definitely did not take effect.
    Fail,
    /// The outcome is unknown (a timeout, a crash): it may or may not have taken effect.
    Info,
}

impl OpType {
    /// Returns true for the three completion types (`ok`, `fail`, `info`).
    pub fn is_completion(self) -> bool {
        self != OpType::Invoke
    }

    /// The spelling used in files: `invoke`, `ok`, `fail` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Process is the logical actor an operation belongs to: a numbered client process,
/// the nemesis, or a lock client's unprompted notice. Files spell a client as its
/// number, the nemesis as `"nemesis"` and a notice as `"notice"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A client process. A process whose operation ended `info` is never reused.
    Client(u64),
    /// The fault injector.
    Nemesis,
    /// What a lock client learned on its own and said unprompted, such as a lost lock
    /// (f `lost`); one `info` record, no invocation. The client process it concerns,
    /// when known, is the value's `process`.
    Notice,
}

impl Process {
    /// The client number, or None for the nemesis.
    pub fn client(self) -> Option<u64> {
        match self {
            Process::Client(n) => Some(n),
            Process::Nemesis | Process::Notice => None,
        }
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(n) => write!(f, "{n}"),
            Process::Nemesis => f.write_str("nemesis"),
            Process::Notice => f.write_str("notice"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(n) => s.serialize_u64(*n),
            Process::Nemesis => s.serialize_str("nemesis"),
            Process::Notice => s.serialize_str("notice"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ProcessVisitor;
        impl serde::de::Visitor<'_> for ProcessVisitor {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative process number, \"nemesis\" or \"notice\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process={v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Process, E> {
                match v {
                    "nemesis" => Ok(Process::Nemesis),
                    "notice" => Ok(Process::Notice),
                    other => Err(E::custom(format!(
                        "process={other:?} is neither a number, \"nemesis\" nor \"notice\""
                    ))),
                }
            }
        }
        d.deserialize_any(ProcessVisitor)
    }
}

/// An Op is one record of a history: the invocation or the completion of an operation
/// by one process, timestamped on the controller's monotonic clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, starting at 0 and increasing by one per record.
    pub index: u64,
    /// Nanoseconds since the start of the run, on the controller's monotonic clock.
    pub time_ns: u64,
    /// Who performed the operation.
    pub process: Process,
    /// Invocation or completion, and which kind of completion.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The function: `acquire`, `read`, `write`, `release`, `start-partition`, ...
    pub f: String,
    /// The argument (on invoke) or the result (on completion).
    #[serde(default)]
    pub value: Value,
    /// The node the operation ran on, when it ran on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The fencing token the operation carried or received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
    /// Why a `fail` or `info` completion ended as it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    /// Builds an op with no node, token or error.
    pub fn new(
        index: u64,
        time_ns: u64,
        process: Process,
        kind: OpType,
        f: impl Into<String>,
        value: Value,
    ) -> Op {
        Op {
            index,
            time_ns,
            process,
            kind,
            f: f.into(),
            value,
            node: None,
            token: None,
            error: None,
        }
    }

    /// Returns true when the op belongs to a client process.
    pub fn is_client(&self) -> bool {
        matches!(self.process, Process::Client(_))
    }
}
