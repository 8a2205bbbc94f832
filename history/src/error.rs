//! Errors from reading history files.

use std::path::PathBuf;

/// A ReadError says why a history or resource file could not be read, with the file and
/// line so the user can look.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a valid record.
    #[error("{path}:{line}: {message}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// The last line was cut off, as when the writer was killed mid-write.
    #[error(
        "{path}:{line}: truncated last line (the writer was probably killed mid-write); \
         the {line_count} lines before it are intact"
    )]
    TruncatedLastLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the truncated line.
        line: usize,
        /// Number of complete lines before it.
        line_count: usize,
    },
}
