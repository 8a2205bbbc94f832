//! The resource log: what the protected resource saw, in its own order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A ResourceAction is one kind of access to the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceAction {
    /// A holder announces the start of its critical section.
    Enter,
    /// A holder reads the counter.
    Read,
    /// A holder writes the counter (with its fencing token when it has one).
    Write,
    /// A holder announces the end of its critical section.
    Exit,
}

/// A ResourceEntry is one line of `resource.jsonl`: an access as the resource serialized
/// it. `seq` is the resource's own order, which is the ground truth for overlap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceEntry {
    /// The resource's sequence number, from 0, one per access.
    pub seq: u64,
    /// The client process that made the access.
    pub process: u64,
    /// The fencing token presented, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
    /// What the access was.
    pub op: ResourceAction,
    /// The value read, or the value written.
    #[serde(default)]
    pub value: Value,
    /// For writes: whether the resource accepted it. A fenced resource rejects a write whose
    /// token is lower than the highest it has accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
    /// The highest token accepted before this access, when the resource is fenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token: Option<u64>,
}
