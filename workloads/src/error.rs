//! Errors of the workloads crate outside the lock contract: serving, files, arguments.
//!
//! Lock outcomes have their own type, [`crate::LockError`], because they are not faults
//! of this crate but results that must be classified and recorded.

use std::path::PathBuf;

/// An Error is why a workload server or client could not start or carry on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listening socket could not be bound.
    #[error("cannot listen: addr={addr}: {source} (hint: is another process using it?)")]
    Bind {
        /// The address or socket path.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be created or written.
    #[error("cannot write: path={path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A connection to a server could not be made.
    #[error("cannot connect: addr={addr}: {source}")]
    Connect {
        /// The address or socket path.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is out of range.
    #[error("bad config: {name}={value}: {hint}")]
    Config {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        hint: String,
    },
    /// A lock client could not be built.
    #[error("cannot set up the lock: {source}")]
    Lock {
        /// The lock's error.
        #[source]
        source: crate::LockError,
    },
}
