//! The controller-agent protocol: one JSON request per line, one JSON reply per line,
//! matched by `id`.
//!
//! ```text
//! -> {"id":1,"process":0,"op":"acquire","key":"lock","ttl_ms":2000}
//! <- {"id":1,"type":"ok","value":"lock","token":17}
//! -> {"id":2,"process":0,"op":"read"}
//! <- {"id":2,"type":"ok","value":41}
//! -> {"id":3,"process":0,"op":"write","value":42}
//! <- {"id":3,"type":"fail","error":"stale token rejected: token=17 max=18"}
//! -> {"id":4,"process":0,"op":"release"}
//! <- {"id":4,"type":"info","error":"timeout: op=release after_ms=1000"}
//! -> {"id":5,"process":3,"op":"cas-read","key":"splitbrain-counter"}
//! <- {"id":5,"type":"ok","value":7}
//! -> {"id":6,"process":3,"op":"cas","key":"splitbrain-counter","from":7,"to":8}
//! <- {"id":6,"type":"ok","value":false}
//! -> {"id":7,"process":0,"op":"ready","within_ms":20000}
//! <- {"id":7,"type":"ok"}
//! -> {"id":8,"process":3,"op":"notices"}
//! <- {"id":8,"type":"ok","notices":[{"process":0,"holder":"n1-4711-1","detail":"connection LOST","age_ms":812}]}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use splitbrain_history::OpType;

/// A Command is what the controller asks an agent to do for one process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Command {
    /// Take the lock on `key` for `ttl_ms`; on success the agent also enters the
    /// resource.
    Acquire {
        /// The lock key.
        key: String,
        /// The lock's time-to-live in milliseconds.
        ttl_ms: u64,
    },
    /// Read the resource's counter.
    Read,
    /// Write the resource's counter, with the guard's token when fencing is on.
    Write {
        /// The new value.
        value: i64,
    },
    /// Exit the resource, then release the lock.
    Release,
    /// Extend the held lock by `ttl_ms`, where the lock supports it (leader workload).
    Renew {
        /// The new time-to-live in milliseconds.
        ttl_ms: u64,
    },
    /// Read a counter in the lock system's versioned store (optimistic workload).
    #[serde(rename = "cas-read")]
    CasRead {
        /// The counter's key.
        key: String,
    },
    /// Set a counter in the versioned store to `to` if it holds `from`; the reply's
    /// value says whether it swapped (optimistic workload).
    Cas {
        /// The counter's key.
        key: String,
        /// The value it must hold.
        from: i64,
        /// The value to set.
        to: i64,
    },
    /// Wait up to `within_ms` for the lock client to say it can take requests (see
    /// [`crate::lock::Lock::ready`]); the runner asks before the workload starts.
    Ready {
        /// The bound on the wait, in milliseconds.
        within_ms: u64,
    },
    /// Touch nothing; the reply carries the lock client's notices since the previous
    /// reply. The controller sends it once the nemesis has healed, so what a client
    /// learned after the last op of the run is not lost.
    Notices,
}

impl Command {
    /// False for the runner's questions about the agent itself (`ready`, `notices`),
    /// which leave alone the process the agent serves and its guard.
    pub fn acts_for_a_process(&self) -> bool {
        !matches!(self, Command::Ready { .. } | Command::Notices)
    }

    /// The history's `f` for this command: `acquire`, `read`, `write`, `release`,
    /// `renew`, `cas`, `ready` or `notices`.
    pub fn f(&self) -> &'static str {
        match self {
            Command::Acquire { .. } => "acquire",
            Command::Read => "read",
            Command::Write { .. } => "write",
            Command::Release => "release",
            Command::Renew { .. } => "renew",
            Command::CasRead { .. } => "read",
            Command::Cas { .. } => "cas",
            Command::Ready { .. } => "ready",
            Command::Notices => "notices",
        }
    }
}

/// An AgentRequest is one command for one client process, with the id its reply will
/// carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRequest {
    /// Matches the reply to the request; [`crate::agent::AgentClient`] assigns it.
    pub id: u64,
    /// The client process. A new process id tells the agent that the previous process
    /// was retired: its guard is forgotten, not released.
    pub process: u64,
    /// What to do.
    #[serde(flatten)]
    pub command: Command,
}

impl AgentRequest {
    /// A request with id 0, for a client to number.
    pub fn new(process: u64, command: Command) -> AgentRequest {
        AgentRequest {
            id: 0,
            process,
            command,
        }
    }
}

/// An Outcome is how an agent classifies a finished request, in history terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It took effect.
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// Unknown: it may or may not have taken effect.
    Info,
}

impl Outcome {
    /// The history op type of this outcome.
    pub fn op_type(self) -> OpType {
        match self {
            Outcome::Ok => OpType::Ok,
            Outcome::Fail => OpType::Fail,
            Outcome::Info => OpType::Info,
        }
    }
}

/// An AgentReply is the agent's answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentReply {
    /// The request's id (0 if the request could not be parsed).
    pub id: u64,
    /// The classified outcome.
    #[serde(rename = "type")]
    pub outcome: Outcome,
    /// The result: the key on acquire, the counter on read, the value on write.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
    /// The guard's fencing token, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
    /// Why a `fail` or `info` ended as it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the lock client said unprompted since the agent's previous reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<AgentNotice>,
}

/// An AgentNotice is a lock client's unprompted notice, as the agent passes it on: a
/// grant it learned on its own that it lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentNotice {
    /// The client process the grant was made to, when the agent still knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<u64>,
    /// The grant's holder id.
    pub holder: String,
    /// The grant's fencing token, if the client said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
    /// What the client said happened.
    pub detail: String,
    /// How long before the reply the agent learned it, in milliseconds.
    pub age_ms: u64,
}

impl AgentReply {
    /// A successful reply.
    pub fn ok(id: u64, value: Value, token: Option<u64>) -> AgentReply {
        AgentReply {
            id,
            outcome: Outcome::Ok,
            value,
            token,
            error: None,
            notices: Vec::new(),
        }
    }

    /// A definite failure.
    pub fn fail(id: u64, error: impl Into<String>) -> AgentReply {
        Self::failed(id, Outcome::Fail, error.into())
    }

    /// An indeterminate outcome.
    pub fn info(id: u64, error: impl Into<String>) -> AgentReply {
        Self::failed(id, Outcome::Info, error.into())
    }

    fn failed(id: u64, outcome: Outcome, error: String) -> AgentReply {
        AgentReply {
            id,
            outcome,
            value: Value::Null,
            token: None,
            error: Some(error),
            notices: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_spell_the_op_beside_id_and_process() {
        let req = AgentRequest {
            id: 7,
            process: 3,
            command: Command::Acquire {
                key: "k".into(),
                ttl_ms: 2000,
            },
        };
        let text = serde_json::to_value(&req).unwrap();
        assert_eq!(
            text,
            json!({"id":7,"process":3,"op":"acquire","key":"k","ttl_ms":2000})
        );
        let back: AgentRequest =
            serde_json::from_str(r#"{"id":8,"process":1,"op":"read"}"#).unwrap();
        assert_eq!(back.command, Command::Read);
    }

    #[test]
    fn replies_spell_their_outcome_as_history_types() {
        let reply = AgentReply::fail(2, "lock held: key=k");
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            json!({"id":2,"type":"fail","error":"lock held: key=k"})
        );
        assert_eq!(reply.outcome.op_type(), OpType::Fail);
    }

    #[test]
    fn optimistic_and_leader_commands_spell_their_ops_and_record_their_history_names() {
        let cas: AgentRequest = serde_json::from_value(
            json!({"id":1,"process":0,"op":"cas","key":"c","from":3,"to":4}),
        )
        .unwrap();
        assert_eq!(cas.command.f(), "cas");
        let read = AgentRequest::new(0, Command::CasRead { key: "c".into() });
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            json!({"id":0,"process":0,"op":"cas-read","key":"c"})
        );
        assert_eq!(read.command.f(), "read");
        assert_eq!(Command::Renew { ttl_ms: 5 }.f(), "renew");
    }

    #[test]
    fn the_runners_questions_to_the_agent_act_for_no_process() {
        let req = AgentRequest::new(4, Command::Notices);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"id":0,"process":4,"op":"notices"})
        );
        let back: AgentRequest =
            serde_json::from_str(r#"{"id":9,"process":4,"op":"notices"}"#).unwrap();
        assert_eq!(back.command, Command::Notices);
        assert!(!back.command.acts_for_a_process());
        let ready: AgentRequest =
            serde_json::from_str(r#"{"id":1,"process":0,"op":"ready","within_ms":50}"#).unwrap();
        assert_eq!(ready.command, Command::Ready { within_ms: 50 });
        assert!(!ready.command.acts_for_a_process());
        assert!(Command::Read.acts_for_a_process());
    }
}
