//! The checker crate's error type.

use splitbrain_history::ReadError;
use std::path::PathBuf;

/// A CheckError says why a run directory could not be checked, naming the file (and the
/// line, for JSONL files) and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A file every run directory has is missing.
    #[error(
        "missing file: path={path} (a run directory holds run.json and history.jsonl; \
         pass the directory a run wrote)"
    )]
    Missing {
        /// The file that was expected.
        path: PathBuf,
    },
    /// A file exists but could not be read.
    #[error("cannot read file: path={path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (run.json, results.json) does not hold what it should.
    #[error(
        "malformed file: path={path}: {source} (was it written by another splitbrain \
         version or edited by hand? rerun the run or fix the file)"
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
    /// A JSONL file (history.jsonl, resource.jsonl) has a bad line.
    #[error("malformed file: {source}")]
    Jsonl {
        /// The file, line and what was wrong.
        #[source]
        source: ReadError,
    },
    /// results.json could not be written.
    #[error("cannot write file: path={path}: {source} (is the run directory writable?)")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
