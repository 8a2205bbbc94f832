//! The seeded fault schedule: a pure function of a seed, the fault mix, the nodes and
//! the timing, so a run's nemesis can be replayed exactly from its `run.json`.

use super::FaultKind;
use crate::Grudge;
use crate::rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The quiet time between faults when none is given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(4);

/// A ScheduleConfig is what a fault schedule is planned from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// The seed; the same seed (with the same other fields) gives the same plan.
    pub seed: u64,
    /// The fault mix; each event picks one of them uniformly.
    pub faults: Vec<FaultKind>,
    /// No fault is in force after this time from the start.
    #[serde(rename = "time_limit_ms", with = "millis")]
    pub time_limit: Duration,
    /// Quiet time before the first fault and after each heal.
    #[serde(rename = "interval_ms", with = "millis")]
    pub interval: Duration,
    /// The lock's time-to-live: faults last about one to two TTLs, and `pause-holder`
    /// pauses for 2 x TTL + 500 ms, so that the holder's lock has surely expired.
    #[serde(rename = "ttl_ms", with = "millis")]
    pub ttl: Duration,
}

impl ScheduleConfig {
    /// A configuration with the default interval.
    pub fn new(
        seed: u64,
        faults: Vec<FaultKind>,
        time_limit: Duration,
        ttl: Duration,
    ) -> ScheduleConfig {
        ScheduleConfig {
            seed,
            faults,
            time_limit,
            interval: DEFAULT_INTERVAL,
            ttl,
        }
    }
}

/// A PartitionShape is how a partition cuts the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionShape {
    /// Shuffled nodes cut into two halves.
    Halves,
    /// One node cut off from the rest.
    Isolate,
}

/// A PartitionPlan is a planned partition: its shape and the exact grudge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPlan {
    /// How the nodes are cut.
    pub shape: PartitionShape,
    /// Which node drops which; empty when there are fewer than two nodes to cut.
    pub grudge: Grudge,
}

/// A PlannedFault is one fault of a schedule: when it starts, how long it lasts and the
/// seeded choices that say what it hits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFault {
    /// When the fault starts, from the start of the nemesis.
    #[serde(rename = "at_ms", with = "millis")]
    pub at: Duration,
    /// What fault.
    pub kind: FaultKind,
    /// How long it stays in force before it is healed.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
    /// Picks the target of `pause` and `kill`: the index, modulo their number, into the
    /// name-sorted list of lock servers and agents running when the fault starts (which
    /// processes exist is only known then).
    pub target_index: u64,
    /// For `partition`: the cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionPlan>,
}

/// Plans the faults of a run. Faults never overlap: each one is healed, then the quiet
/// interval passes, then the next starts; the last one is healed before the time limit.
pub fn plan(cfg: &ScheduleConfig, nodes: &[String]) -> Vec<PlannedFault> {
    let mut rng = SeededRng::new(cfg.seed);
    let mut nodes = nodes.to_vec();
    nodes.sort();
    let mut planned = Vec::new();
    if cfg.faults.is_empty() {
        return planned;
    }
    let mut at = cfg.interval;
    loop {
        let kind = cfg.faults[rng.below(cfg.faults.len() as u64) as usize];
        let duration = fault_duration(kind, cfg.ttl, &mut rng);
        let target_index = rng.next_u64();
        let partition = (kind == FaultKind::Partition).then(|| plan_partition(&nodes, &mut rng));
        if at + duration > cfg.time_limit {
            return planned;
        }
        planned.push(PlannedFault {
            at,
            kind,
            duration,
            target_index,
            partition,
        });
        at += duration + cfg.interval;
    }
}

/// One to two TTLs (at least one to two seconds) for most faults, long enough for a
/// lease to expire under the fault; a fixed 2 x TTL + 500 ms for pausing the holder.
fn fault_duration(kind: FaultKind, ttl: Duration, rng: &mut SeededRng) -> Duration {
    if kind == FaultKind::PauseHolder {
        return ttl * 2 + Duration::from_millis(500);
    }
    let base_ms = (ttl.as_millis() as u64).max(1000);
    Duration::from_millis(base_ms + rng.below(base_ms + 1))
}

fn plan_partition(nodes: &[String], rng: &mut SeededRng) -> PartitionPlan {
    if rng.coin() {
        PartitionPlan {
            shape: PartitionShape::Halves,
            grudge: if nodes.len() < 2 {
                Grudge::default()
            } else {
                Grudge::shuffled_halves(nodes, rng)
            },
        }
    } else {
        let grudge = match nodes.len() {
            0 | 1 => Grudge::default(),
            n => Grudge::isolate(&nodes[rng.below(n as u64) as usize], nodes),
        };
        PartitionPlan {
            shape: PartitionShape::Isolate,
            grudge,
        }
    }
}

/// Durations as whole milliseconds in files: `"at_ms": 4000`.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn config(seed: u64) -> ScheduleConfig {
        ScheduleConfig::new(
            seed,
            FaultKind::ALL.to_vec(),
            Duration::from_secs(120),
            Duration::from_secs(2),
        )
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        let a = plan(&config(7), &nodes(5));
        assert_eq!(a, plan(&config(7), &nodes(5)));
        assert_ne!(a, plan(&config(8), &nodes(5)));
        assert!(a.len() >= 5, "only {} faults in 120 s", a.len());
    }

    #[test]
    fn faults_do_not_overlap_and_end_before_the_time_limit() {
        let cfg = config(3);
        let faults = plan(&cfg, &nodes(5));
        for pair in faults.windows(2) {
            assert!(pair[0].at + pair[0].duration + cfg.interval <= pair[1].at);
        }
        let last = faults.last().unwrap();
        assert!(last.at + last.duration <= cfg.time_limit);
        assert_eq!(faults[0].at, cfg.interval);
    }

    #[test]
    fn pause_holder_outlasts_two_ttls_and_partitions_carry_their_grudge() {
        let mut cfg = config(11);
        cfg.faults = vec![FaultKind::PauseHolder, FaultKind::Partition];
        let faults = plan(&cfg, &nodes(5));
        let holder = faults
            .iter()
            .find(|f| f.kind == FaultKind::PauseHolder)
            .unwrap();
        assert_eq!(holder.duration, Duration::from_millis(4500));
        let shapes: Vec<PartitionShape> = faults
            .iter()
            .filter_map(|f| f.partition.as_ref())
            .inspect(|p| assert!(!p.grudge.is_empty()))
            .map(|p| p.shape)
            .collect();
        assert!(shapes.contains(&PartitionShape::Halves));
        assert!(shapes.contains(&PartitionShape::Isolate));
    }

    #[test]
    fn a_plan_serializes_with_units_in_the_field_names_and_reads_back() {
        let faults = plan(&config(1), &nodes(3));
        let json = serde_json::to_value(&faults).unwrap();
        assert!(json[0]["at_ms"].as_u64().is_some(), "{json}");
        let back: Vec<PlannedFault> = serde_json::from_value(json).unwrap();
        assert_eq!(back, faults);
    }

    #[test]
    fn no_faults_or_no_time_gives_an_empty_plan() {
        let mut cfg = config(1);
        cfg.faults.clear();
        assert!(plan(&cfg, &nodes(3)).is_empty());
        let mut cfg = config(1);
        cfg.time_limit = Duration::from_secs(3);
        assert!(plan(&cfg, &nodes(3)).is_empty());
    }
}
