//! splitbrain-workloads holds what runs against a lock: seeded generators, the [`Lock`]
//! trait and the lock clients under test, the agent that executes ops on a node, and the
//! resource whose log is the ground truth for mutual exclusion.
//!
//! The pieces, from the controller outwards:
//! - [`counter::run_client`] drives one client slot of the counter workload, recording
//!   every step through a [`splitbrain_history::Recorder`];
//! - it talks to an [`agent`] over a Unix socket ([`agent::AgentClient`]);
//! - the agent holds a [`Lock`] (for example [`locks::RedisLock`]) and does its
//!   critical section on the [`resource`], which logs every access in its own order.
//! - every lease decision and request timeout of the agent reads its injectable
//!   [`clock`], which the nemesis skews per process without touching the host's clock.
//!
//! ```
//! use splitbrain_workloads::generator::{Generator, GeneratorConfig};
//! use std::time::Duration;
//! let cfg = GeneratorConfig { clients: 3, rate: 30.0, time_limit: Duration::from_secs(2), seed: 7 };
//! let a: Vec<Duration> = Generator::new(cfg.clone()).unwrap().slot(1).collect();
//! let b: Vec<Duration> = Generator::new(cfg).unwrap().slot(1).collect();
//! assert_eq!(a, b); // the same seed gives the same schedule
//! ```

pub mod agent;
pub mod clock;
pub mod counter;
mod driver;
mod error;
pub mod generator;
pub mod leader;
pub mod lock;
pub mod locks;
pub mod optimistic;
pub mod resource;

pub use driver::SlotConfig;
pub use error::Error;
pub use lock::{Certainty, Guard, Lock, LockError, LockFuture, LockNotice};

/// A Fencing is whether fencing tokens are used: by the resource (reject stale writes)
/// and by the agent (send the guard's token with every write). The CLI spells it
/// `on` or `off`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Fencing {
    /// Tokens are handed out, sent and checked.
    On,
    /// No tokens: the canary configuration that a paused holder can break.
    #[default]
    Off,
}

impl Fencing {
    /// True for [`Fencing::On`].
    pub fn is_on(self) -> bool {
        self == Fencing::On
    }
}
