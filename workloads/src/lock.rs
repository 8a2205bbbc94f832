//! The lock contract: what every lock client under test implements, and how its errors
//! are classified.
//!
//! A lock client's answer is only useful to a checker if it says whether a failed
//! operation might still have taken effect. So every [`LockError`] is either
//! **definite** (the operation certainly did not take effect: recorded as `fail`) or
//! **indeterminate** (it may or may not have: recorded as `info`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A LockFuture is the boxed future a [`Lock`] method returns; boxing keeps the trait
/// object-safe so the agent can hold any lock as `Box<dyn Lock>`.
pub type LockFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LockError>> + Send + 'a>>;

/// A Guard is the proof of one successful acquire: which key, which holder, and the
/// fencing token the lock system handed out with the grant, if it hands one out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guard {
    /// The lock key.
    pub key: String,
    /// The value that identifies this holder to the lock system. It is unique per grant
    /// (and therefore per process), so a release can never free someone else's lock.
    pub holder_id: String,
    /// The fencing token handed out with this grant, if the lock has fencing.
    pub token: Option<u64>,
}

/// A Certainty says whether a failed lock operation might have taken effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Certainty {
    /// The operation certainly did not take effect (history `fail`).
    Definite,
    /// The operation may or may not have taken effect (history `info`).
    Indeterminate,
}

/// A LockError is why a lock operation did not succeed, classified as definite or
/// indeterminate. Its `Display` is the short error the history records.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds the lock (definite: the acquire was refused).
    #[error("lock held: key={key}")]
    Held {
        /// The lock key.
        key: String,
    },
    /// The compare-and-delete (or equivalent) found another holder or none: the lock had
    /// expired or passed to someone else (definite: nothing was released).
    #[error("not the holder: key={key} holder_id={holder_id}")]
    NotHolder {
        /// The lock key.
        key: String,
        /// Who tried to release.
        holder_id: String,
    },
    /// The client could not connect, so no request was sent (definite).
    #[error("cannot connect: addr={addr}: {message}")]
    Connect {
        /// The server address.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The server refused the command before running it, such as a read-only replica
    /// or a server still loading its data (definite).
    #[error("rejected by server: {message}")]
    Rejected {
        /// The server's error.
        message: String,
    },
    /// The lock does not support this operation (definite: nothing was sent).
    #[error("unsupported: lock={lock} op={op}")]
    Unsupported {
        /// The lock name.
        lock: String,
        /// The operation.
        op: String,
    },
    /// No reply within the timeout (indeterminate: the request may have been applied).
    #[error("timeout: op={op} after_ms={after_ms}")]
    Timeout {
        /// The operation.
        op: String,
        /// How long the client waited.
        after_ms: u64,
    },
    /// Anything else once a request may have been sent: a reset connection, an
    /// unparseable reply, an unknown server error (indeterminate).
    #[error("indeterminate: op={op}: {message}")]
    Unknown {
        /// The operation.
        op: String,
        /// What went wrong.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl LockError {
    /// Whether the failed operation might have taken effect.
    pub fn certainty(&self) -> Certainty {
        match self {
            LockError::Held { .. }
            | LockError::NotHolder { .. }
            | LockError::Connect { .. }
            | LockError::Rejected { .. }
            | LockError::Unsupported { .. } => Certainty::Definite,
            LockError::Timeout { .. } | LockError::Unknown { .. } => Certainty::Indeterminate,
        }
    }

    /// True when the operation certainly did not take effect.
    pub fn is_definite(&self) -> bool {
        self.certainty() == Certainty::Definite
    }
}

/// A LockNotice is what a lock client learned on its own, unprompted, about one of its
/// grants: that it lost it (Curator's connection LOST, a Hazelcast CP session closed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockNotice {
    /// The grant's holder id, as the client's guard has it.
    pub holder: String,
    /// The grant's fencing token, if the client said it.
    pub token: Option<u64>,
    /// What the client said happened.
    pub detail: String,
    /// When the agent learned it.
    pub received: std::time::Instant,
}

/// A Lock is a client of one lock system under test. Implementations classify every
/// error (see [`LockError`]) and bound every call by their own operation timeout, so a
/// stopped server yields [`LockError::Timeout`] rather than a hang.
pub trait Lock: Send + Sync {
    /// The lock's name as the CLI spells it (`redis`, `etcd`, ...).
    fn name(&self) -> &str;

    /// Tries once to take the lock on `key` for `ttl`; does not wait for a holder to
    /// leave. Refusal because someone else holds it is [`LockError::Held`].
    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard>;

    /// Releases the lock if `guard` still holds it; [`LockError::NotHolder`] if it
    /// does not (it expired, or passed to someone else).
    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()>;

    /// Extends the hold by `ttl`, where the system supports it. The default says the
    /// lock does not.
    fn renew<'a>(&'a self, guard: &'a Guard, ttl: Duration) -> LockFuture<'a, ()> {
        let _ = (guard, ttl);
        let err = LockError::Unsupported {
            lock: self.name().to_string(),
            op: "renew".into(),
        };
        Box::pin(async move { Err(err) })
    }

    /// Gets the client ready before its first operation (a plug-in's process started,
    /// so a JVM's start-up is not charged to the first request's time). The default
    /// has nothing to prepare; a failure here is left for the first operation to meet.
    fn prepare(&self) -> LockFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Waits up to `within` for the client to say it can take requests: a plug-in whose
    /// library connects in the background (a Hazelcast client) answers `ready` once it
    /// has. The runner asks before the workload starts, so the first ops measure the
    /// lock and not a client still starting. The default is a client that is ready once
    /// prepared.
    fn ready(&self, within: Duration) -> LockFuture<'_, ()> {
        let _ = within;
        Box::pin(async { Ok(()) })
    }

    /// The notices the client gave since the last call, oldest first. The default is a
    /// client that gives none.
    fn take_notices(&self) -> Vec<LockNotice> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_definite_and_timeouts_are_not() {
        let held = LockError::Held { key: "k".into() };
        assert!(held.is_definite());
        assert_eq!(held.to_string(), "lock held: key=k");
        let timeout = LockError::Timeout {
            op: "acquire".into(),
            after_ms: 500,
        };
        assert_eq!(timeout.certainty(), Certainty::Indeterminate);
        let reset = LockError::Unknown {
            op: "release".into(),
            message: "connection reset".into(),
            source: None,
        };
        assert!(!reset.is_definite());
    }
}
