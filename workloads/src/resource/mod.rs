//! The resource: the ground truth for mutual exclusion.
//!
//! A small TCP server (JSON lines) that holders use for their critical section. It
//! serializes every access, one at a time in arrival order, and appends each to
//! `resource.jsonl` in its own order, the moment it happens. In fenced mode it rejects
//! a write whose token is lower than the highest it has accepted (Kleppmann's storage
//! service) and logs the rejection. The high-water mark is raised by every accepted
//! access that carries a token (`enter`, `read`, `write`, `exit`), not only by writes,
//! because the critical section is a read-modify-write: see `server.rs` for the lost
//! update that write-only fencing lets through.
//!
//! The wire format is one JSON object per line each way: a [`ResourceRequest`] such as
//! `{"op":"write","process":3,"token":7,"value":12}` and a [`ResourceReply`] such as
//! `{"ok":true,"value":12}` or
//! `{"ok":false,"error":"stale token rejected: token=5 max=6"}`.

mod client;
mod server;

pub use client::{ResourceClient, ResourceError};
pub use server::{ResourceArgs, ResourceServer, serve};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use splitbrain_history::ResourceAction;

/// A ResourceRequest is one access a holder asks the resource for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRequest {
    /// What to do.
    pub op: ResourceAction,
    /// The client process making the access.
    pub process: u64,
    /// The holder's fencing token, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
    /// For writes: the new counter value.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

/// A ResourceReply is the resource's answer: `ok` with the value read or written, or a
/// refusal with its reason (the access was logged, but did not change the counter).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceReply {
    /// Whether the access was accepted.
    pub ok: bool,
    /// The counter after the access (reads and accepted writes).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
