//! What a run is asked to do, validated before anything is created.

use splitbrain_workloads::locks::{LockKind, ServerSet};
use std::path::PathBuf;
use std::time::Duration;

/// A RunConfig is everything `splitbrain run` was asked for, after validation.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The lock under test.
    pub lock: LockKind,
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
    /// The sizes of clock, loss and latency faults.
    pub nemesis_options: NemesisOptions,
    /// Whether agents refuse to touch the resource once their lease has run out by
    /// their own (injectable, skewable) clock, as a careful lease-based client does.
    pub lease_check: bool,
    /// The command line, recorded so the run can be repeated.
    pub command: String,
    /// The plug-in, for `--lock external`.
    pub plugin: Option<PluginSpec>,
    /// Test-only: the optimistic workload's compare-and-set skips its version check, so
    /// the linearizability checker has something to find.
    pub optimistic_unsafe: bool,
    /// Where the nodes are: network namespaces here, or pods on a Kubernetes cluster.
    pub backend: Backend,
}

/// A Backend is what provides a run's nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Network namespaces on this machine (`--backend local`, the default).
    #[default]
    Local,
    /// Pods on a Kubernetes cluster (`--backend kubernetes`).
    Kubernetes(KubeBackend),
}

impl Backend {
    /// The spelling on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Kubernetes(_) => "kubernetes",
        }
    }
}

/// KubeBackend is where and how a run's pods are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeBackend {
    /// The kubeconfig file; None reads `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The run's namespace; None names it `splitbrain-<run id>`.
    pub namespace: Option<String>,
    /// The image of the node pods (scripts/build-image, image/Dockerfile).
    pub image: String,
}

/// A PluginSpec is the plug-in of `--lock external` and the lock servers it wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginSpec {
    /// The command, run by each agent with `sh -c "exec COMMAND"`.
    pub command: String,
    /// The working directory the command's relative paths resolve against (where
    /// `splitbrain run` was started).
    pub dir: PathBuf,
    /// The servers the run starts for the plug-in; each one's addresses reach the
    /// plug-in as `SPLITBRAIN_<NAME>` (`SPLITBRAIN_REDIS=10.77.0.1:6379`).
    pub servers: Vec<ServerSet>,
}

/// NemesisOptions are the sizes of the faults that have one.
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisOptions {
    /// The largest clock jump of `clock-bump` (and flip of `clock-strobe`).
    pub clock_bump_max: Duration,
    /// `clock-drift` runs clocks between `1/max` and `max` times the true speed.
    pub clock_drift_max: f64,
    /// The share of packets `loss` drops, in percent.
    pub loss_percent: u8,
    /// The delay `latency` adds each way between lock nodes.
    pub latency: Duration,
}

impl Default for NemesisOptions {
    fn default() -> NemesisOptions {
        use splitbrain_nemesis::faults::schedule_defaults as d;
        NemesisOptions {
            clock_bump_max: d::DEFAULT_CLOCK_BUMP_MAX,
            clock_drift_max: d::DEFAULT_CLOCK_DRIFT_MAX,
            loss_percent: d::DEFAULT_LOSS_PERCENT,
            latency: d::DEFAULT_LATENCY,
        }
    }
}

/// A WorkloadName is a workload this build can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadName {
    /// Acquire, read the resource's counter, wait, write counter+1 with the token, release.
    Counter,
    /// Leader election: candidates take the lock for a term and act as leader on the
    /// resource; the split-brain checker looks for two leaders at once.
    Leader,
    /// Read-modify-write with a version precondition (compare-and-set) on a counter in
    /// the lock system's store, checked for linearizability.
    Optimistic,
}

impl WorkloadName {
    /// Every workload name.
    pub const ALL: &'static [&'static str] = &["counter", "leader", "optimistic"];

    /// The spelling on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadName::Counter => "counter",
            WorkloadName::Leader => "leader",
            WorkloadName::Optimistic => "optimistic",
        }
    }
}

impl std::str::FromStr for WorkloadName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "counter" => Ok(WorkloadName::Counter),
            "leader" => Ok(WorkloadName::Leader),
            "optimistic" => Ok(WorkloadName::Optimistic),
            other => Err(format!(
                "unknown workload {other:?}; choose one of: {}",
                WorkloadName::ALL.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_name_parses_back_to_itself() {
        for name in WorkloadName::ALL {
            let w: WorkloadName = name.parse().unwrap();
            assert_eq!(w.as_str(), *name);
        }
        let err = "leadr".parse::<WorkloadName>().unwrap_err();
        assert!(err.contains("counter, leader, optimistic"), "{err}");
    }
}
