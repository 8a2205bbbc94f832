//! The lock clients under test, one module per lock system, and the CLI's name for each.

pub mod external;
pub mod redis;

pub use self::external::{ExternalLock, ExternalLockConfig};
pub use self::redis::{RedisLock, RedisLockConfig};

/// A LockKind is a lock system the agent can drive, as the CLI spells it (`--lock redis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum LockKind {
    /// A single Redis: `SET NX PX`, compare-and-delete release, INCR fencing token.
    Redis,
    /// A plug-in: any program speaking the JSON-lines protocol of [`external`] on its
    /// stdin and stdout (`--plugin-command`).
    External,
}
