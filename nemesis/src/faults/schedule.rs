//! The seeded fault schedule: a pure function of a seed, the fault mix, the nodes and
//! the timing, so a run's nemesis can be replayed exactly from its `run.json`.

use super::{ClockFault, FaultKind, FaultMix, Target};
use crate::Grudge;
use crate::rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The mean quiet time before each fault when none is given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(4);
/// The longest a targeted fault (`pause-holder`, `isolate-leader`, ...) waits for its
/// target: longer than the gap between one holder's release and the next acquire, and
/// than an election of a new leader (about a second for etcd, a few for ZooKeeper);
/// short enough that a target that is not coming (a lock service without a leader, a
/// workload that no longer gets the lock) costs the run little.
pub const TARGET_WAIT_MAX: Duration = Duration::from_secs(3);
/// The shortest wait of a targeted fault, even with no quiet interval: a lock is free
/// for a moment between a release and the next acquire, and a fault planned at that
/// moment must not be dropped for it.
pub const TARGET_WAIT_MIN: Duration = Duration::from_millis(500);
/// The largest clock jump when none is given.
pub const DEFAULT_CLOCK_BUMP_MAX: Duration = Duration::from_secs(5);
/// The largest clock rate factor when none is given: clocks run between half and twice
/// the true speed.
pub const DEFAULT_CLOCK_DRIFT_MAX: f64 = 2.0;
/// The share of packets `loss` drops when none is given.
pub const DEFAULT_LOSS_PERCENT: u8 = 20;
/// The delay `latency` adds when none is given.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(100);

/// A ScheduleConfig is what a fault schedule is planned from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// The seed; the same seed (with the same other fields) gives the same plan.
    pub seed: u64,
    /// The fault mix; each event draws one of them by weight.
    pub faults: FaultMix,
    /// No fault is in force after this time from the start.
    #[serde(rename = "time_limit_ms", with = "millis")]
    pub time_limit: Duration,
    /// The mean quiet time before each fault (the first one, and after each heal): each
    /// gap is drawn from the seed between half and one and a half of it.
    #[serde(rename = "interval_ms", with = "millis")]
    pub interval: Duration,
    /// The lock's time-to-live: faults last about one to two TTLs, and `pause-holder`
    /// pauses for 2 x TTL + 500 ms to 3 x TTL + 500 ms, so that the holder's lock has
    /// surely expired.
    #[serde(rename = "ttl_ms", with = "millis")]
    pub ttl: Duration,
    /// `clock-bump` jumps by a seeded amount up to this, forward or back; `clock-strobe`
    /// flips by up to this.
    #[serde(rename = "clock_bump_max_ms", with = "millis")]
    pub clock_bump_max: Duration,
    /// `clock-drift` makes a clock run at a seeded rate between `1/max` and `max`.
    pub clock_drift_max: f64,
    /// The share of packets `loss` drops, in percent.
    pub loss_percent: u8,
    /// The delay `latency` adds to each direction of traffic between lock nodes.
    #[serde(rename = "latency_ms", with = "millis")]
    pub latency: Duration,
}

impl ScheduleConfig {
    /// A configuration with the default interval and fault parameters.
    pub fn new(
        seed: u64,
        faults: Vec<FaultKind>,
        time_limit: Duration,
        ttl: Duration,
    ) -> ScheduleConfig {
        ScheduleConfig {
            seed,
            faults: FaultMix::uniform(&faults),
            time_limit,
            interval: DEFAULT_INTERVAL,
            ttl,
            clock_bump_max: DEFAULT_CLOCK_BUMP_MAX,
            clock_drift_max: DEFAULT_CLOCK_DRIFT_MAX,
            loss_percent: DEFAULT_LOSS_PERCENT,
            latency: DEFAULT_LATENCY,
        }
    }
}

/// A PartitionShape is how a partition cuts the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionShape {
    /// `partition`: random halves or one node, by a seeded coin. A plan never holds
    /// it: the coin is tossed when planning.
    Mix,
    /// The name-sorted nodes cut into a first and a second half.
    Halves,
    /// Shuffled nodes cut into two halves; which side keeps the majority is seeded too.
    RandomHalves,
    /// One node cut off from the rest.
    #[serde(alias = "isolate")]
    One,
    /// Each node sees only its ring neighbours, a majority each, no two the same one.
    MajoritiesRing,
    /// Two halves that cannot talk, and one node between them that talks to both.
    Bridge,
    /// Shuffled halves where the first drops the second's packets, not the other way.
    Oneway,
    /// The node of the current lock holder's agent cut off, chosen when it starts.
    Holder,
    /// The lock service's leader's node cut off, chosen when it starts.
    Leader,
}

impl PartitionShape {
    /// Every shape, in the order they are documented.
    pub const ALL: [PartitionShape; 9] = [
        PartitionShape::Mix,
        PartitionShape::Halves,
        PartitionShape::RandomHalves,
        PartitionShape::One,
        PartitionShape::MajoritiesRing,
        PartitionShape::Bridge,
        PartitionShape::Oneway,
        PartitionShape::Holder,
        PartitionShape::Leader,
    ];

    /// The fault name of a partition of this shape.
    pub fn fault_name(self) -> &'static str {
        match self {
            PartitionShape::Mix => "partition",
            PartitionShape::Halves => "partition-halves",
            PartitionShape::RandomHalves => "partition-random-halves",
            PartitionShape::One => "partition-one",
            PartitionShape::MajoritiesRing => "partition-majorities-ring",
            PartitionShape::Bridge => "partition-bridge",
            PartitionShape::Oneway => "partition-oneway",
            PartitionShape::Holder => "isolate-holder",
            PartitionShape::Leader => "isolate-leader",
        }
    }
}

/// A PartitionPlan is a planned partition: its shape and the exact grudge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPlan {
    /// How the nodes are cut.
    pub shape: PartitionShape,
    /// Which node drops which; empty when there are too few nodes for the shape, and
    /// for `isolate-holder` and `isolate-leader`, whose node is only known when they
    /// start.
    pub grudge: Grudge,
}

/// A StrobePlan is how a strobing clock flips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrobePlan {
    /// The offset the clock flips to and back from, in milliseconds.
    pub delta_ms: i64,
    /// How long each position lasts, in milliseconds.
    pub period_ms: u64,
}

/// A ClockPlan is the seeded size of a clock fault.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockPlan {
    /// The jump of `clock-bump`, in milliseconds (negative: back in time).
    pub offset_ms: i64,
    /// The rate of `clock-drift`: local seconds per true second (1 for the others).
    pub rate: f64,
    /// The flipping of `clock-strobe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strobe: Option<StrobePlan>,
}

/// A PlannedFault is one fault of a schedule: when it starts, how long it lasts and the
/// seeded choices that say what it hits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedFault {
    /// When the fault starts, from the start of the nemesis; a targeted fault starts
    /// looking for its target then.
    #[serde(rename = "at_ms", with = "millis")]
    pub at: Duration,
    /// What fault.
    pub kind: FaultKind,
    /// How long it stays in force before it is healed, from the moment it strikes.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
    /// For targeted faults (holder and leader targets): how long the fault may wait for
    /// its target to exist before it is refused. Zero (and absent from files) for the
    /// others, and in plans written before faults waited, which replay as they ran.
    #[serde(
        rename = "target_wait_ms",
        with = "millis",
        default,
        skip_serializing_if = "Duration::is_zero"
    )]
    pub target_wait: Duration,
    /// Picks the target of a fault on one process: the index, modulo their number,
    /// into the name-sorted list of lock servers and agents running when the fault
    /// starts (which processes exist is only known then).
    pub target_index: u32,
    /// For targets `one`, `minority`, `majority`, `all`: the nodes hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// For partitions: the cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionPlan>,
    /// For clock faults: how far, how fast, how often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockPlan>,
    /// For `loss`: the share of packets dropped, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<u8>,
    /// For `latency`: the delay added to each direction, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

impl PlannedFault {
    /// A fault at `at` with no seeded choices yet: what the planner and tests start from.
    /// A targeted fault waits for its target as long as under the default interval.
    pub fn new(at: Duration, kind: FaultKind, duration: Duration) -> PlannedFault {
        PlannedFault {
            at,
            kind,
            duration,
            target_wait: target_wait(kind, DEFAULT_INTERVAL),
            target_index: 0,
            nodes: Vec::new(),
            partition: None,
            clock: None,
            loss_percent: None,
            latency_ms: None,
        }
    }
}

/// Plans the faults of a run. Faults never overlap: each one is healed, then a seeded
/// quiet gap passes, then the next starts; the last one is healed before the time limit,
/// even if every targeted fault waits its whole `target_wait`. Every choice comes from
/// the seed, in a fixed order, so a plan replays exactly.
pub fn plan(cfg: &ScheduleConfig, nodes: &[String]) -> Vec<PlannedFault> {
    let mut rng = SeededRng::new(cfg.seed);
    let mut nodes = nodes.to_vec();
    nodes.sort();
    let mut planned = Vec::new();
    if cfg.faults.is_empty() {
        return planned;
    }
    let mut healed = Duration::ZERO;
    loop {
        let at = healed + quiet_gap(cfg.interval, &mut rng);
        let kind = cfg.faults.pick(&mut rng);
        let duration = fault_duration(kind, cfg.ttl, &mut rng);
        let mut fault = PlannedFault::new(at, kind, duration);
        fault.target_wait = target_wait(kind, cfg.interval);
        // 32 bits: plenty to pick among processes, and exact in any JSON reader
        // (JavaScript numbers hold 53 bits).
        fault.target_index = (rng.next_u64() >> 32) as u32;
        plan_details(&mut fault, cfg, &nodes, &mut rng);
        // The wait is kept free in the plan: a fault that waits for its target then
        // lasts its full duration without pushing the next one or the time limit.
        let latest_heal = at + fault.target_wait + duration;
        if latest_heal > cfg.time_limit {
            return planned;
        }
        planned.push(fault);
        healed = latest_heal;
    }
}

/// The quiet time before a fault: between half and one and a half `interval`, drawn
/// from the seed, so that faults fall at other moments for other seeds (a fixed gap put
/// every seed's faults at the same times) while the mean stays the configured interval.
fn quiet_gap(interval: Duration, rng: &mut SeededRng) -> Duration {
    let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX / 2);
    Duration::from_millis(ms / 2 + rng.below(ms + 1))
}

/// How long a fault may wait for its target: none for faults without a holder or leader
/// target; otherwise the quiet interval, within [`TARGET_WAIT_MIN`] and
/// [`TARGET_WAIT_MAX`]. The plan keeps this time free after the fault, so it is bounded
/// by the interval: a user who asked for faults close together gets them close together.
fn target_wait(kind: FaultKind, interval: Duration) -> Duration {
    if kind.waits_for_target() {
        interval.clamp(TARGET_WAIT_MIN, TARGET_WAIT_MAX)
    } else {
        Duration::ZERO
    }
}

/// The seeded choices of each kind of fault.
fn plan_details(
    fault: &mut PlannedFault,
    cfg: &ScheduleConfig,
    nodes: &[String],
    rng: &mut SeededRng,
) {
    match fault.kind {
        FaultKind::Pause(t) | FaultKind::Kill(t) | FaultKind::PodKill(t) => {
            fault.nodes = pick_nodes(t, nodes, rng)
        }
        FaultKind::Partition(shape) => fault.partition = Some(plan_partition(shape, nodes, rng)),
        FaultKind::Clock(c, t) => {
            fault.nodes = pick_nodes(t, nodes, rng);
            fault.clock = Some(plan_clock(c, cfg, rng));
        }
        FaultKind::Loss => fault.loss_percent = Some(cfg.loss_percent.min(100)),
        FaultKind::Latency => {
            fault.latency_ms = Some(u64::try_from(cfg.latency.as_millis()).unwrap_or(u64::MAX));
        }
    }
}

/// The nodes of a node-set target, a seeded sample in name order.
fn pick_nodes(target: Target, nodes: &[String], rng: &mut SeededRng) -> Vec<String> {
    let Some(count) = target.node_count(nodes.len()) else {
        return Vec::new();
    };
    let mut shuffled = nodes.to_vec();
    rng.shuffle(&mut shuffled);
    shuffled.truncate(count);
    shuffled.sort();
    shuffled
}

fn plan_clock(c: ClockFault, cfg: &ScheduleConfig, rng: &mut SeededRng) -> ClockPlan {
    let max_ms = i64::try_from(cfg.clock_bump_max.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    // At least a tenth of the maximum, so that a bump is never lost in the noise.
    let magnitude = max_ms / 10 + rng.below((max_ms - max_ms / 10) as u64 + 1) as i64;
    let signed = if rng.coin() { magnitude } else { -magnitude };
    let mut plan = ClockPlan {
        offset_ms: 0,
        rate: 1.0,
        strobe: None,
    };
    match c {
        ClockFault::Bump => plan.offset_ms = signed,
        ClockFault::Strobe => {
            plan.strobe = Some(StrobePlan {
                delta_ms: signed,
                period_ms: 10 + rng.below(91),
            });
        }
        ClockFault::Drift => {
            let max = if cfg.clock_drift_max.is_finite() && cfg.clock_drift_max > 1.0 {
                cfg.clock_drift_max
            } else {
                DEFAULT_CLOCK_DRIFT_MAX
            };
            // A factor above 1 up to max, in hundredths so plans print and compare
            // exactly (never 1.00: a drift that does nothing); slow clocks run at its
            // inverse.
            let hundredths = 101 + rng.below(((max - 1.0) * 100.0) as u64);
            let factor = hundredths as f64 / 100.0;
            plan.rate = if rng.coin() { factor } else { 1.0 / factor };
        }
        ClockFault::Reset => {}
    }
    plan
}

/// One to two TTLs (at least one to two seconds) for most faults, long enough for a
/// lease to expire under the fault; 2 x TTL + 500 ms to 3 x TTL + 500 ms for pausing the
/// holder, so that its lock has surely expired however the seed draws; none for a clock
/// reset, which is over once done.
fn fault_duration(kind: FaultKind, ttl: Duration, rng: &mut SeededRng) -> Duration {
    match kind {
        FaultKind::PAUSE_HOLDER => {
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX / 4);
            Duration::from_millis(2 * ttl_ms + 500 + rng.below(ttl_ms + 1))
        }
        FaultKind::Clock(ClockFault::Reset, _) => Duration::ZERO,
        _ => {
            let base_ms = (ttl.as_millis() as u64).max(1000);
            Duration::from_millis(base_ms + rng.below(base_ms + 1))
        }
    }
}

fn plan_partition(shape: PartitionShape, nodes: &[String], rng: &mut SeededRng) -> PartitionPlan {
    let mut shuffled = nodes.to_vec();
    rng.shuffle(&mut shuffled);
    let shape = match shape {
        PartitionShape::Mix if rng.coin() => PartitionShape::RandomHalves,
        PartitionShape::Mix => PartitionShape::One,
        other => other,
    };
    let grudge = match shape {
        _ if nodes.len() < 2 => Grudge::default(),
        PartitionShape::Halves => Grudge::halves(nodes, false),
        PartitionShape::RandomHalves => Grudge::halves(&shuffled, rng.coin()),
        PartitionShape::One => Grudge::isolate(&shuffled[0], nodes),
        PartitionShape::MajoritiesRing => Grudge::majorities_ring(&shuffled),
        PartitionShape::Bridge => Grudge::bridge(&shuffled),
        PartitionShape::Oneway => Grudge::oneway_halves(&shuffled),
        PartitionShape::Mix | PartitionShape::Holder | PartitionShape::Leader => Grudge::default(),
    };
    PartitionPlan { shape, grudge }
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
    use crate::faults::{ClockFault, Target};

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn config(seed: u64) -> ScheduleConfig {
        ScheduleConfig::new(
            seed,
            FaultKind::all(),
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
    fn faults_do_not_overlap_even_when_they_wait_their_whole_bound_and_end_before_the_time_limit() {
        for seed in 0..20 {
            let cfg = config(seed);
            let faults = plan(&cfg, &nodes(5));
            for pair in faults.windows(2) {
                let latest_heal = pair[0].at + pair[0].target_wait + pair[0].duration;
                assert!(latest_heal + cfg.interval / 2 <= pair[1].at, "{pair:?}");
                assert!(latest_heal + cfg.interval * 3 / 2 >= pair[1].at, "{pair:?}");
            }
            let last = faults.last().unwrap();
            assert!(last.at + last.target_wait + last.duration <= cfg.time_limit);
            let first = faults[0].at;
            assert!(cfg.interval / 2 <= first && first <= cfg.interval * 3 / 2);
        }
    }

    #[test]
    fn quiet_gaps_vary_with_the_seed_and_average_the_configured_interval() {
        let mut rng = SeededRng::new(5);
        let interval = Duration::from_millis(1000);
        let gaps: Vec<u64> = (0..2000)
            .map(|_| quiet_gap(interval, &mut rng).as_millis() as u64)
            .collect();
        assert!(gaps.iter().all(|g| (500..=1500).contains(g)), "{gaps:?}");
        let mean = gaps.iter().sum::<u64>() / gaps.len() as u64;
        assert!((950..=1050).contains(&mean), "mean gap {mean} ms");
        assert!(gaps.iter().min() < Some(&600) && gaps.iter().max() > Some(&1400));
        assert_eq!(quiet_gap(Duration::ZERO, &mut rng), Duration::ZERO);
    }

    /// Only `pause-holder`, as the runs that all paused at 3.0, 8.5 and 14.0 s had.
    fn pause_holder_config(seed: u64) -> ScheduleConfig {
        let mut cfg = config(seed);
        cfg.faults = FaultMix::uniform(&[FaultKind::PAUSE_HOLDER]);
        cfg.time_limit = Duration::from_secs(30);
        cfg.ttl = Duration::from_millis(1000);
        cfg.interval = Duration::from_secs(3);
        cfg
    }

    #[test]
    fn pause_holder_times_and_durations_differ_between_seeds_and_stay_within_their_bounds() {
        let plans: Vec<Vec<PlannedFault>> = (0..10)
            .map(|seed| plan(&pause_holder_config(seed), &nodes(3)))
            .collect();
        let (ttl, interval) = (Duration::from_millis(1000), Duration::from_secs(3));
        for faults in &plans {
            assert!(faults.len() >= 2, "{faults:?}");
            for f in faults {
                assert_eq!(f.kind, FaultKind::PAUSE_HOLDER);
                let shortest = ttl * 2 + Duration::from_millis(500);
                assert!(
                    shortest <= f.duration && f.duration <= shortest + ttl,
                    "{f:?}"
                );
                assert_eq!(f.target_wait, interval.min(TARGET_WAIT_MAX));
            }
        }
        let times = |p: &Vec<PlannedFault>| p.iter().map(|f| f.at).collect::<Vec<_>>();
        let durations = |p: &Vec<PlannedFault>| p.iter().map(|f| f.duration).collect::<Vec<_>>();
        let distinct =
            |v: Vec<Vec<Duration>>| v.iter().collect::<std::collections::BTreeSet<_>>().len();
        assert_eq!(distinct(plans.iter().map(times).collect()), plans.len());
        assert_eq!(distinct(plans.iter().map(durations).collect()), plans.len());
        assert_eq!(plans[3], plan(&pause_holder_config(3), &nodes(3)));
    }

    #[test]
    fn pause_holder_outlasts_two_ttls_and_partitions_carry_their_grudge() {
        let mut cfg = config(11);
        cfg.faults = FaultMix::uniform(&[FaultKind::PAUSE_HOLDER, FaultKind::PARTITION]);
        let faults = plan(&cfg, &nodes(5));
        let holder = faults
            .iter()
            .find(|f| f.kind == FaultKind::PAUSE_HOLDER)
            .unwrap();
        assert!(holder.duration >= Duration::from_millis(4500), "{holder:?}");
        let shapes: Vec<PartitionShape> = faults
            .iter()
            .filter_map(|f| f.partition.as_ref())
            .inspect(|p| assert!(!p.grudge.is_empty()))
            .map(|p| p.shape)
            .collect();
        assert!(shapes.contains(&PartitionShape::RandomHalves));
        assert!(shapes.contains(&PartitionShape::One));
    }

    #[test]
    fn only_targeted_faults_wait_and_their_bound_follows_the_interval_within_limits() {
        let wait = |kind: FaultKind, interval_ms: u64| {
            target_wait(kind, Duration::from_millis(interval_ms)).as_millis()
        };
        let targeted = [
            FaultKind::PAUSE_HOLDER,
            FaultKind::Kill(Target::Leader),
            FaultKind::Clock(ClockFault::Drift, Target::Holder),
            FaultKind::Partition(PartitionShape::Leader),
            FaultKind::Partition(PartitionShape::Holder),
        ];
        for kind in targeted {
            assert_eq!(
                [wait(kind, 0), wait(kind, 1000), wait(kind, 60_000)],
                [500, 1000, 3000]
            );
        }
        for kind in FaultKind::all()
            .into_iter()
            .filter(|k| !targeted.contains(k))
        {
            let by_name = kind.name().ends_with("-holder") || kind.name().ends_with("-leader");
            assert_eq!(wait(kind, 1000) > 0, by_name, "{kind}");
        }
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
    fn clock_sizes_stay_within_their_configured_bounds_and_targets_name_their_nodes() {
        let mut cfg = config(4);
        cfg.faults = "clock-bump-majority,clock-drift,clock-strobe-one,loss,latency"
            .parse()
            .unwrap();
        cfg.time_limit = Duration::from_secs(600);
        cfg.clock_bump_max = Duration::from_millis(2000);
        cfg.clock_drift_max = 3.0;
        let faults = plan(&cfg, &nodes(5));
        let mut rates = Vec::new();
        for f in &faults {
            match f.kind {
                FaultKind::Clock(ClockFault::Bump, Target::Majority) => {
                    let jump = f.clock.unwrap().offset_ms.abs();
                    assert!((200..=2000).contains(&jump), "{f:?}");
                    assert_eq!(f.nodes.len(), 3);
                }
                FaultKind::Clock(ClockFault::Drift, Target::Process) => {
                    let rate = f.clock.unwrap().rate;
                    assert!(
                        (1.0 / 3.0 - 1e-9..=3.0).contains(&rate) && rate != 1.0,
                        "{f:?}"
                    );
                    assert!(f.nodes.is_empty());
                    rates.push(rate);
                }
                FaultKind::Clock(ClockFault::Strobe, Target::One) => {
                    let s = f.clock.unwrap().strobe.unwrap();
                    assert!((10..=100).contains(&s.period_ms), "{f:?}");
                    assert_eq!(f.nodes.len(), 1);
                }
                FaultKind::Loss => assert_eq!(f.loss_percent, Some(DEFAULT_LOSS_PERCENT)),
                FaultKind::Latency => assert_eq!(f.latency_ms, Some(100)),
                other => panic!("unplanned kind {other}"),
            }
        }
        assert!(
            rates.iter().any(|r| *r < 1.0) && rates.iter().any(|r| *r > 1.0),
            "{rates:?}"
        );
    }

    #[test]
    fn no_faults_or_no_time_gives_an_empty_plan() {
        let mut cfg = config(1);
        cfg.faults = FaultMix::default();
        assert!(plan(&cfg, &nodes(3)).is_empty());
        let mut cfg = config(1);
        cfg.time_limit = Duration::from_secs(3);
        assert!(plan(&cfg, &nodes(3)).is_empty());
    }
}
