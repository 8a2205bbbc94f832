//! `run.json`: what a run was asked to do, so that `check`, `report` and a person reading
//! the results later know the configuration and the seed.

use serde::{Deserialize, Serialize};

/// A RunInfo describes one run: its configuration, its seed and its cluster. It is
/// written to `run.json` in the run directory before the workload starts, and written
/// again with its [`RunEnd`] once the cluster is down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The splitbrain version that made the run.
    pub splitbrain_version: String,
    /// The seed of the generator and the nemesis schedule.
    pub seed: u64,
    /// The lock under test (`redis`, ...).
    pub lock: String,
    /// The workload (`counter`, ...).
    pub workload: String,
    /// Fault names in the nemesis mix; empty for no nemesis.
    pub nemesis: Vec<String>,
    /// Number of client processes at the start.
    pub clients: usize,
    /// Number of nodes.
    pub nodes: usize,
    /// Seconds of workload.
    pub time_limit_s: f64,
    /// Lock time-to-live.
    pub ttl_ms: u64,
    /// Whether the resource checks fencing tokens.
    pub fencing: bool,
    /// The command line that started the run, to rerun it.
    pub command: String,
    /// Wall-clock start, RFC 3339, for people (all history times are monotonic).
    pub started_at: String,
    /// Node names and addresses.
    #[serde(default)]
    pub cluster: Vec<NodeInfo>,
    /// The nemesis schedule as planned before the run, for replay and the report.
    #[serde(default)]
    pub schedule: serde_json::Value,
    /// Anything else a lock or workload wants to record.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
    /// How the run ended; None while it runs, and forever when its controller was killed
    /// before the end, so that a history cut short is never mistaken for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<RunEnd>,
}

/// A RunEnd says how a run ended: the workload ran to its time limit, or a signal cut it
/// short.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// True when the workload ran its whole time limit.
    pub completed: bool,
    /// What cut the run short (`SIGINT`, `SIGTERM`), when it did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted_by: Option<String>,
    /// Seconds of workload that ran (0 when the run was stopped before its workload).
    pub workload_s: f64,
    /// What the nemesis did, when it ran to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultTally>,
}

/// A FaultTally counts the faults of a run's schedule: how many were planned, how many
/// struck, and why the others could not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultTally {
    /// Faults in the schedule.
    pub planned: usize,
    /// Faults applied.
    pub applied: usize,
    /// Faults that could not be applied.
    pub refused: usize,
    /// Why, one line per refused fault or failed heal (`partition: too few nodes ...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl RunEnd {
    /// The end of a run whose workload ran its whole time limit.
    pub fn completed(workload_s: f64) -> RunEnd {
        RunEnd {
            completed: true,
            interrupted_by: None,
            workload_s,
            faults: None,
        }
    }
}

/// A NodeInfo is one node of the cluster: its name and its address on the test subnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `n1`, `n2`, ... or `resource`.
    pub name: String,
    /// Its address on the test subnet.
    pub addr: String,
    /// What runs there (`redis`, `agent-0`, `resource`, ...).
    #[serde(default)]
    pub roles: Vec<String>,
}
