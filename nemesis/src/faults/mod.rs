//! The faults the nemesis injects, their seeded schedule and the executor that applies
//! them to a cluster and records them in the history.

mod executor;
mod schedule;

pub use executor::{NemesisSummary, Targets, run_nemesis};
pub use schedule::{PartitionPlan, PartitionShape, PlannedFault, ScheduleConfig, plan};

use crate::ClusterError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A FaultKind is one kind of fault the nemesis can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGSTOP a lock server or agent, SIGCONT it later.
    Pause,
    /// SIGSTOP the agent of the current lock holder for longer than the lock's TTL: the
    /// garbage-collection pause that breaks unfenced locks.
    PauseHolder,
    /// SIGKILL a lock server or agent, start it again later with the same command line.
    Kill,
    /// Cut the nodes into random halves, or isolate one node; heal later.
    Partition,
}

impl FaultKind {
    /// Every fault kind, in the order they are documented.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Pause,
        FaultKind::PauseHolder,
        FaultKind::Kill,
        FaultKind::Partition,
    ];

    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Pause => "pause",
            FaultKind::PauseHolder => "pause-holder",
            FaultKind::Kill => "kill",
            FaultKind::Partition => "partition",
        }
    }

    /// Parses a comma-separated list such as `pause,partition`; empty items are ignored
    /// and duplicates kept once.
    pub fn parse_list(text: &str) -> Result<Vec<FaultKind>, ClusterError> {
        let mut kinds = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let kind: FaultKind = item.parse()?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<FaultKind, ClusterError> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ClusterError::UnknownFault {
                name: s.to_string(),
                valid: FaultKind::ALL.map(FaultKind::as_str).join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_name_round_trips_through_display_and_from_str() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.to_string().parse::<FaultKind>().unwrap(), kind);
        }
        assert_eq!(
            serde_json::to_value(FaultKind::PauseHolder).unwrap(),
            "pause-holder"
        );
    }

    #[test]
    fn an_unknown_fault_name_lists_the_valid_ones() {
        let err = "clock".parse::<FaultKind>().unwrap_err().to_string();
        assert!(err.contains("fault=clock"), "{err}");
        assert!(
            err.contains("pause, pause-holder, kill, partition"),
            "{err}"
        );
        assert_eq!(
            FaultKind::parse_list("kill, pause,kill").unwrap(),
            vec![FaultKind::Kill, FaultKind::Pause]
        );
        assert!(FaultKind::parse_list("kill,bogus").is_err());
    }
}
