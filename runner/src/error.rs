//! Why a run could not be carried out.

use std::path::PathBuf;

/// A RunError says why a run stopped before producing a verdict. Whatever the error,
/// everything the run created on the machine has been removed by the time it is returned.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is not usable.
    #[error("bad configuration: {0}")]
    Config(String),
    /// The results directory (`--out`) cannot hold a new run directory.
    #[error(
        "cannot create a run directory under out={path}: {source} (give --out a directory \
         you can write to)"
    )]
    ResultsDir {
        /// The directory that could not be created or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A program splitbrain builds at install time (kube-apiserver, kubectl, the Go
    /// plug-ins) is not where the build puts it.
    #[error(
        "program={program} not found at {path}; build it with scripts/install-deps \
         (it runs {script})"
    )]
    MissingBuild {
        /// The program.
        program: String,
        /// Where it was looked for.
        path: PathBuf,
        /// The script that builds it.
        script: &'static str,
    },
    /// The Ctrl-C and SIGTERM handlers could not be installed.
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// A file in the run directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The cluster could not be brought up, or a process could not be started.
    #[error("cluster: {0}")]
    Cluster(#[from] splitbrain_nemesis::ClusterError),
    /// A service did not become ready in time.
    #[error(
        "{service} did not become ready within {waited_ms} ms: {detail}; see its log under logs/ in the run directory"
    )]
    NotReady {
        /// Which service.
        service: String,
        /// How long the controller waited.
        waited_ms: u128,
        /// The last error seen.
        detail: String,
    },
    /// The history could not be checked.
    #[error("check: {0}")]
    Check(#[from] splitbrain_checker::run_dir::CheckError),
    /// The report could not be written.
    #[error("report: {0}")]
    Report(#[from] splitbrain_reports::ReportError),
}

impl RunError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RunError {
        let path = path.into();
        move |source| RunError::Io { path, source }
    }
}
