//! The one error type of this crate.

use std::path::PathBuf;

/// A ClusterError says why a cluster or nemesis operation could not be done, with the
/// values that matter in key=value form and, where there is one, what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A system program the local backend needs is not installed.
    #[error("program={program} not found in PATH; install it with `apt-get install {package}`")]
    MissingProgram {
        /// The program that was looked for (`ip`, `nft`, ...).
        program: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// A configuration value is out of range or malformed.
    #[error("invalid {field}={value}: {reason}")]
    InvalidConfig {
        /// The field (`subnet`, `run_id`, `nodes`, ...).
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// A system command ran and failed.
    #[error("command failed: `{command}` status={status}: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A file or system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path or name involved.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The named node is not part of this cluster.
    #[error("unknown node={node}; the cluster has: {known}")]
    UnknownNode {
        /// The name given.
        node: String,
        /// The nodes that exist, comma-separated.
        known: String,
    },
    /// No process of that name was spawned in this cluster.
    #[error("unknown process={name}; the cluster runs: {known}")]
    UnknownProcess {
        /// The name given.
        name: String,
        /// The processes that exist, comma-separated.
        known: String,
    },
    /// A process of that name was already spawned.
    #[error("process={name} already exists; process names must be unique within a run")]
    DuplicateProcess {
        /// The name given.
        name: String,
    },
    /// The process is not in the state the operation needs.
    #[error("process={name} is {state}; {operation} needs it {needed}")]
    WrongState {
        /// The process.
        name: String,
        /// Its current state.
        state: String,
        /// The operation refused (`pause`, `kill`, ...).
        operation: &'static str,
        /// The state it needs.
        needed: &'static str,
    },
    /// The program could not be started.
    #[error("cannot start process={name} program={program}: {source}")]
    Spawn {
        /// The process name.
        name: String,
        /// The program.
        program: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A state or registry file could not be parsed.
    #[error("corrupt state file path={path}: {reason}; remove it by hand if no run is using it")]
    State {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The cluster was already torn down.
    #[error("cluster run_id={run_id} is torn down; bring up a new one")]
    TornDown {
        /// The run.
        run_id: String,
    },
    /// A grudge names nodes it may not, or is otherwise malformed.
    #[error("invalid grudge: {reason}")]
    InvalidGrudge {
        /// What is wrong.
        reason: String,
    },
    /// A fault name is not one this nemesis knows.
    #[error("unknown fault={name}; valid faults are: {valid}")]
    UnknownFault {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// The backend cannot do this operation.
    #[error(
        "operation={operation} is not supported by the backend of run_id={run_id}; leave that fault out of --nemesis"
    )]
    Unsupported {
        /// The operation (`set_clock`, `set_loss`, ...).
        operation: &'static str,
        /// The run.
        run_id: String,
    },
    /// A request to the Kubernetes API failed, or the cluster did not do what was asked.
    #[error("kubernetes: {operation}: {reason}")]
    Kube {
        /// What was being done (`create namespace splitbrain-...`, `exec in n1: ...`).
        operation: String,
        /// What the API or the cluster said, and what to do where that is known.
        reason: String,
    },
    /// Entering a user namespace for a rootless run failed.
    #[error(
        "cannot run rootless: {reason}; run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
    )]
    UserNamespace {
        /// What failed.
        reason: String,
    },
}

impl ClusterError {
    /// An Io error with its context.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> ClusterError {
        ClusterError::Io {
            context: context.into(),
            source,
        }
    }
}
