//! The reports crate's error type.

use std::path::PathBuf;

/// A ReportError says why a report could not be written, naming the file involved and
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file the report needs could not be read or parsed.
    #[error("cannot read run: {source}")]
    Read {
        /// What went wrong, with the file (and line).
        #[source]
        source: splitbrain_checker::CheckError,
    },
    /// `results.json` is missing: the run was not checked yet.
    #[error(
        "missing file: path={path} (the run has not been checked; run `splitbrain check {dir}` \
         first)"
    )]
    NotChecked {
        /// The results file that was expected.
        path: PathBuf,
        /// The run directory.
        dir: PathBuf,
    },
    /// Drawing a chart failed.
    #[error("cannot draw chart: {message}")]
    Plot {
        /// plotters' description of the failure.
        message: String,
    },
    /// `index.html` could not be written.
    #[error("cannot write file: path={path}: {source} (is the run directory writable?)")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
