//! `run.json`: what a run was asked to do, so that `check`, `report` and a person reading
//! the results later know the configuration and the seed.

use serde::{Deserialize, Serialize};

/// A RunInfo describes one run: its configuration, its seed and its cluster. It is
/// written to `run.json` in the run directory before the workload starts.
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
