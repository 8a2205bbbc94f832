//! The faults the nemesis injects, their seeded schedule and the executor that applies
//! them to a cluster and records them in the history.
//!
//! Fault names follow one grammar, `<action>[-<target>]`:
//!
//! | action | targets | what it does |
//! |---|---|---|
//! | `pause` | (none), `one`, `minority`, `majority`, `all`, `holder`, `leader` | SIGSTOP, later SIGCONT |
//! | `kill` | the same | SIGKILL, later the same command line again |
//! | `kill-pod` | the same | the node's pod deleted with no grace period, later made again and its processes started (Kubernetes backend) |
//! | `clock-bump`, `clock-strobe`, `clock-drift` | the same | a jump, a flip back and forth, a rate; later a reset |
//! | `clock-reset` | all | every clock back to the true time |
//! | `partition-<shape>` | `halves`, `random-halves`, `one`, `majorities-ring`, `bridge`, `oneway` | a grudge, later healed |
//! | `isolate-holder`, `isolate-leader` | | cut the node of the lock holder's agent, or of the lock service's leader |
//! | `partition` | | random halves or one node, by a seeded coin |
//! | `loss`, `latency` | | random packet loss, added latency between the lock nodes |
//!
//! Without a target, `pause`, `kill` and the clock faults hit one process (a lock server
//! or an agent); `one`, `minority`, `majority` and `all` hit every lock server and agent
//! on that many nodes (the whole machine freezes, dies or skews); `holder` hits the agent
//! of the current lock holder; `leader` hits the lock servers on the leader's node.
//! `clock` stands for `clock-bump,clock-strobe,clock-drift`. `kill-pod` hits the nodes of
//! the processes its target picks: everything on such a node dies, the node's volumes go
//! with it, and the node comes back empty under its name and address.
//!
//! A fault with a `holder` or `leader` target (and `isolate-holder`, `isolate-leader`)
//! waits for its target when there is none at its planned moment (between one holder's
//! release and the next acquire, during an election), within a bound its plan keeps free;
//! its duration counts from when it strikes, and its ops record the wait as `waited_ms`.

mod apply;
mod executor;
#[cfg(test)]
mod fake;
mod mix;
mod schedule;
mod target;

pub use apply::{missing_abilities, prepare};

/// The defaults of a [`ScheduleConfig`]'s fields.
pub mod schedule_defaults {
    pub use super::schedule::{
        DEFAULT_CLOCK_BUMP_MAX, DEFAULT_CLOCK_DRIFT_MAX, DEFAULT_INTERVAL, DEFAULT_LATENCY,
        DEFAULT_LOSS_PERCENT,
    };
}
pub use executor::{NemesisSummary, Targets, run_nemesis};
pub use mix::{FaultMix, WeightedFault};
pub use schedule::{
    ClockPlan, PartitionPlan, PartitionShape, PlannedFault, ScheduleConfig, StrobePlan,
    TARGET_WAIT_MAX, TARGET_WAIT_MIN, plan,
};

use crate::ClusterError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A Target is which processes a pause, kill or clock fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// One lock server or agent, picked by the seed among those running (no suffix).
    Process,
    /// Every lock server and agent on one node.
    One,
    /// ... on a minority of the nodes (at least one).
    Minority,
    /// ... on a majority of the nodes.
    Majority,
    /// ... on every node.
    All,
    /// The agent of the client that holds the lock now.
    Holder,
    /// The lock servers on the lock service's leader node, where it has a leader.
    Leader,
}

impl Target {
    /// Every target, in the order they are documented.
    pub const ALL: [Target; 7] = [
        Target::Process,
        Target::One,
        Target::Minority,
        Target::Majority,
        Target::All,
        Target::Holder,
        Target::Leader,
    ];

    /// The name suffix (`""` for [`Target::Process`]).
    pub fn suffix(self) -> &'static str {
        match self {
            Target::Process => "",
            Target::One => "-one",
            Target::Minority => "-minority",
            Target::Majority => "-majority",
            Target::All => "-all",
            Target::Holder => "-holder",
            Target::Leader => "-leader",
        }
    }

    /// How many of `n` nodes a node-set target hits; None for the other targets.
    pub fn node_count(self, n: usize) -> Option<usize> {
        match self {
            Target::One => Some(n.min(1)),
            Target::Minority => Some(((n.saturating_sub(1)) / 2).max(n.min(1))),
            Target::Majority => Some((n / 2 + 1).min(n)),
            Target::All => Some(n),
            Target::Process | Target::Holder | Target::Leader => None,
        }
    }
}

/// A ClockFault is what a clock fault does to the clocks it reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClockFault {
    /// Jump forward or back by up to the configured amount; reset at the heal.
    Bump,
    /// Flip between the true time and an offset every few milliseconds for the fault's
    /// duration; reset at the end.
    Strobe,
    /// Run fast or slow by a factor; reset at the heal.
    Drift,
    /// Put every clock back to the true time (it heals nothing: there is nothing left).
    Reset,
}

impl ClockFault {
    fn name(self) -> &'static str {
        match self {
            ClockFault::Bump => "clock-bump",
            ClockFault::Strobe => "clock-strobe",
            ClockFault::Drift => "clock-drift",
            ClockFault::Reset => "clock-reset",
        }
    }
}

/// A FaultKind is one kind of fault the nemesis can inject; see the module docs for the
/// names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum FaultKind {
    /// SIGSTOP, SIGCONT later. `pause-holder` lasts 2 x TTL + 500 ms to 3 x TTL + 500 ms
    /// (seeded) so the holder's lock surely expires: the garbage-collection pause that
    /// breaks unfenced locks.
    Pause(Target),
    /// SIGKILL, then start again later with the same command line.
    Kill(Target),
    /// Delete the pods of the target's nodes through the API (no grace period), later
    /// make them again and start their processes: a node lost with its volumes.
    PodKill(Target),
    /// Cut the network as the shape says; heal later.
    Partition(PartitionShape),
    /// Skew the clocks of the targets: our agents through their injectable clock,
    /// servers through libfaketime where they run under it.
    Clock(ClockFault, Target),
    /// Every lock node drops a share of the packets from the other lock nodes.
    Loss,
    /// Traffic between lock nodes is delayed by a userspace proxy.
    Latency,
}

impl FaultKind {
    /// The optional part of a backend this fault needs, if any.
    pub fn needs(self) -> Option<crate::Ability> {
        match self {
            FaultKind::Clock(..) => Some(crate::Ability::Clocks),
            FaultKind::Loss => Some(crate::Ability::PacketLoss),
            FaultKind::Latency => Some(crate::Ability::Latency),
            FaultKind::PodKill(_) => Some(crate::Ability::NodeKill),
            FaultKind::Pause(_) | FaultKind::Kill(_) | FaultKind::Partition(_) => None,
        }
    }

    /// The existing four of the first schedules, kept under their names.
    pub const PAUSE: FaultKind = FaultKind::Pause(Target::Process);
    /// `pause-holder`.
    pub const PAUSE_HOLDER: FaultKind = FaultKind::Pause(Target::Holder);
    /// `kill`.
    pub const KILL: FaultKind = FaultKind::Kill(Target::Process);
    /// `partition`: random halves or one node.
    pub const PARTITION: FaultKind = FaultKind::Partition(PartitionShape::Mix);

    /// Every fault kind, in the order they are documented.
    pub fn all() -> Vec<FaultKind> {
        let mut all = Vec::new();
        for t in Target::ALL {
            all.push(FaultKind::Pause(t));
        }
        for t in Target::ALL {
            all.push(FaultKind::Kill(t));
        }
        for t in Target::ALL {
            all.push(FaultKind::PodKill(t));
        }
        for s in PartitionShape::ALL {
            all.push(FaultKind::Partition(s));
        }
        for c in [ClockFault::Bump, ClockFault::Strobe, ClockFault::Drift] {
            for t in Target::ALL {
                all.push(FaultKind::Clock(c, t));
            }
        }
        all.push(FaultKind::Clock(ClockFault::Reset, Target::All));
        all.push(FaultKind::Loss);
        all.push(FaultKind::Latency);
        all
    }

    /// True for the faults whose target is a role found when they start (the lock
    /// holder's agent, the lock service's leader): they wait for it, within their
    /// planned `target_wait`, rather than miss it by a moment.
    pub fn waits_for_target(self) -> bool {
        match self {
            FaultKind::Pause(t) | FaultKind::Kill(t) | FaultKind::PodKill(t) => {
                matches!(t, Target::Holder | Target::Leader)
            }
            FaultKind::Clock(ClockFault::Reset, _) => false,
            FaultKind::Clock(_, t) => matches!(t, Target::Holder | Target::Leader),
            FaultKind::Partition(s) => matches!(s, PartitionShape::Holder | PartitionShape::Leader),
            FaultKind::Loss | FaultKind::Latency => false,
        }
    }

    /// The name used on the command line and in files.
    pub fn name(self) -> String {
        match self {
            FaultKind::Pause(t) => format!("pause{}", t.suffix()),
            FaultKind::Kill(t) => format!("kill{}", t.suffix()),
            FaultKind::PodKill(t) => format!("kill-pod{}", t.suffix()),
            FaultKind::Partition(s) => s.fault_name().to_string(),
            FaultKind::Clock(ClockFault::Reset, _) => "clock-reset".to_string(),
            FaultKind::Clock(c, t) => format!("{}{}", c.name(), t.suffix()),
            FaultKind::Loss => "loss".to_string(),
            FaultKind::Latency => "latency".to_string(),
        }
    }

    /// Parses a comma-separated list such as `pause,partition`; empty items are ignored
    /// and duplicates kept once; `clock` stands for the three clock faults.
    pub fn parse_list(text: &str) -> Result<Vec<FaultKind>, ClusterError> {
        let mix: FaultMix = text.parse()?;
        Ok(mix.faults.into_iter().map(|w| w.kind).collect())
    }

    /// The names of every fault kind, comma-separated, for error messages and help.
    pub fn valid_names() -> String {
        let mut names: Vec<String> = FaultKind::all().into_iter().map(FaultKind::name).collect();
        names.push("clock".to_string());
        names.join(", ")
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for FaultKind {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<FaultKind, ClusterError> {
        FaultKind::all()
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| ClusterError::UnknownFault {
                name: s.to_string(),
                valid: FaultKind::valid_names(),
            })
    }
}

impl From<FaultKind> for String {
    fn from(kind: FaultKind) -> String {
        kind.name()
    }
}

impl TryFrom<String> for FaultKind {
    type Error = ClusterError;

    fn try_from(s: String) -> Result<FaultKind, ClusterError> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_name_round_trips_through_display_and_from_str() {
        let all = FaultKind::all();
        for kind in &all {
            assert_eq!(kind.to_string().parse::<FaultKind>().unwrap(), *kind);
        }
        let names: std::collections::BTreeSet<String> = all.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), all.len(), "two faults share a name");
        assert_eq!(
            serde_json::to_value(FaultKind::PAUSE_HOLDER).unwrap(),
            "pause-holder"
        );
        for name in [
            "pause",
            "kill-majority",
            "kill-pod",
            "kill-pod-leader",
            "partition-oneway",
            "isolate-leader",
            "clock-drift-holder",
            "clock-reset",
            "latency",
        ] {
            assert_eq!(name.parse::<FaultKind>().unwrap().name(), name);
        }
    }

    #[test]
    fn an_unknown_fault_name_lists_the_valid_ones() {
        let err = "clocks".parse::<FaultKind>().unwrap_err().to_string();
        assert!(err.contains("fault=clocks"), "{err}");
        assert!(err.contains("pause, pause-one"), "{err}");
        assert_eq!(
            FaultKind::parse_list("kill, pause,kill").unwrap(),
            vec![FaultKind::KILL, FaultKind::PAUSE]
        );
        assert!(FaultKind::parse_list("kill,bogus").is_err());
    }

    #[test]
    fn node_set_targets_take_a_minority_a_majority_or_all_of_the_nodes() {
        let counts = |t: Target| [1, 3, 5].map(|n| t.node_count(n).unwrap());
        assert_eq!(counts(Target::One), [1, 1, 1]);
        assert_eq!(counts(Target::Minority), [1, 1, 2]);
        assert_eq!(counts(Target::Majority), [1, 2, 3]);
        assert_eq!(counts(Target::All), [1, 3, 5]);
        assert_eq!(Target::Holder.node_count(5), None);
    }
}
