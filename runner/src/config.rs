//! What a run is asked to do, validated before anything is created.

use std::path::PathBuf;
use std::time::Duration;

/// A RunConfig is everything `splitbrain run` was asked for, after validation.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The lock under test.
    pub lock: LockName,
    /// The workload.
    pub workload: WorkloadName,
    /// Fault names in the nemesis mix; empty for none.
    pub nemesis: Vec<String>,
    /// Client processes at the start.
    pub clients: usize,
    /// Nodes of the lock system (the resource gets a node of its own).
    pub nodes: usize,
    /// How long the workload runs.
    pub time_limit: Duration,
    /// Lock time-to-live.
    pub ttl: Duration,
    /// Whether the resource enforces fencing tokens.
    pub fencing: bool,
    /// Seed of the generator and the nemesis schedule.
    pub seed: u64,
    /// Directory under which the run directory is created.
    pub results_root: PathBuf,
    /// The private IPv4 subnet the nodes get addresses from.
    pub subnet: String,
    /// Pause inside the critical section, between the read and the write.
    pub cs_wait: Duration,
    /// Lock attempts per second over all clients.
    pub rate: f64,
    /// How long the controller waits for an op before recording it as `info`.
    pub op_timeout: Duration,
    /// Quiet time between faults.
    pub nemesis_interval: Duration,
    /// The command line, recorded so the run can be repeated.
    pub command: String,
}

/// A LockName is a lock this build can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockName {
    /// A single Redis primary: `SET NX PX`, compare-and-delete release, INCR fencing token.
    Redis,
}

impl LockName {
    /// Every lock name, for help and error messages.
    pub const ALL: &'static [&'static str] = &["redis"];

    /// The spelling on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LockName::Redis => "redis",
        }
    }
}

impl std::str::FromStr for LockName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "redis" => Ok(LockName::Redis),
            other => Err(format!(
                "unknown lock {other:?}; choose one of: {}",
                LockName::ALL.join(", ")
            )),
        }
    }
}

/// A WorkloadName is a workload this build can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadName {
    /// Acquire, read the resource's counter, wait, write counter+1 with the token, release.
    Counter,
}

impl WorkloadName {
    /// Every workload name.
    pub const ALL: &'static [&'static str] = &["counter"];

    /// The spelling on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadName::Counter => "counter",
        }
    }
}

impl std::str::FromStr for WorkloadName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "counter" => Ok(WorkloadName::Counter),
            other => Err(format!(
                "unknown workload {other:?}; choose one of: {}",
                WorkloadName::ALL.join(", ")
            )),
        }
    }
}
