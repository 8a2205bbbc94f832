//! Waiting for a targeted fault's target. The lock holder's agent and the lock service's
//! leader are only known when a fault starts, and there may be none at that moment (a
//! lock is free between a release and the next acquire; a service has no leader during
//! an election). A fault that gave up at once would be dropped from the run, and a run
//! whose faults were all dropped would pass for the wrong reason; so the fault asks
//! again until its target appears or its planned bound passes.

use super::executor::Ctx;
use super::{Target, Targets};
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiting fault asks again: often enough to catch a holder whose critical
/// section lasts tens of milliseconds, seldom enough that asking a lock service for its
/// leader adds no load worth the name.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A Role is what a targeted fault looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// The agent of the client that holds the lock.
    Holder,
    /// The node of the lock service's leader.
    Leader,
}

impl Role {
    /// The role a process target looks for; None for targets known from the plan.
    pub(super) fn of(target: Target) -> Option<Role> {
        match target {
            Target::Holder => Some(Role::Holder),
            Target::Leader => Some(Role::Leader),
            _ => None,
        }
    }

    fn look(self, targets: &dyn Targets) -> Option<String> {
        match self {
            Role::Holder => targets.holder_agent(),
            Role::Leader => targets.leader_node(),
        }
    }

    fn missing(self) -> &'static str {
        match self {
            Role::Holder => "no lock holder",
            Role::Leader => "no leader of the lock service",
        }
    }
}

/// A Sought is the outcome of waiting for a target: the holder's agent or the leader's
/// node, or why there is none, and how long the wait took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Sought {
    /// The target found, or the reason the fault is refused.
    pub(super) found: Result<String, String>,
    /// From the fault's start until the target was found or the wait ended.
    pub(super) waited: Duration,
}

impl Sought {
    /// The wait in whole milliseconds, as the fault's ops record it in `waited_ms`.
    pub(super) fn waited_ms(&self) -> u64 {
        u64::try_from(self.waited.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Asks the run's Targets for `role` every few milliseconds until it answers, `bound`
/// passes, or the nemesis is told to stop (a stop must not wait out the bound).
pub(super) async fn wait_for(ctx: &Ctx, role: Role, bound: Duration) -> Sought {
    let started = Instant::now();
    let deadline = started + bound;
    let mut stops = ctx.stops.clone();
    loop {
        if let Some(found) = role.look(ctx.targets.as_ref()) {
            return Sought {
                found: Ok(found),
                waited: started.elapsed(),
            };
        }
        let now = Instant::now();
        let ms = |d: Duration| d.as_millis();
        if now >= deadline {
            let waited = now - started;
            let reason = format!("{} appeared within {} ms", role.missing(), ms(waited));
            return Sought {
                found: Err(reason),
                waited,
            };
        }
        if stops.wait_until((now + POLL_INTERVAL).min(deadline)).await {
            let waited = started.elapsed();
            let reason = format!(
                "the nemesis was stopped after waiting {} ms, with {} yet",
                ms(waited),
                role.missing()
            );
            return Sought {
                found: Err(reason),
                waited,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{FakeCluster, FakeTargets};
    use super::super::{
        ClockFault, FaultKind, NemesisSummary, PartitionPlan, PartitionShape, PlannedFault, Target,
        run_nemesis,
    };
    use crate::{Cluster, Grudge, ProcessState};
    use splitbrain_history::{Op, OpType, Recorder};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::sync::watch;

    /// An Outcome is one nemesis run on a fake cluster: its summary, the recorded ops and
    /// how long the run took.
    struct Outcome {
        summary: NemesisSummary,
        ops: Vec<Op>,
        took: Duration,
    }

    /// Runs `faults`, sending a stop after `stop_after` if given.
    async fn run(
        cluster: Arc<FakeCluster>,
        targets: Arc<FakeTargets>,
        faults: Vec<PlannedFault>,
        stop_after: Option<Duration>,
    ) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let recorder = Arc::new(Recorder::create(&path).unwrap());
        let (stop_tx, stop) = watch::channel(false);
        let started = Instant::now();
        let nemesis = tokio::spawn(run_nemesis(faults, cluster, targets, recorder, stop));
        if let Some(after) = stop_after {
            tokio::time::sleep(after).await;
            stop_tx.send(true).unwrap();
        }
        let summary = tokio::time::timeout(Duration::from_secs(10), nemesis)
            .await
            .expect("the nemesis ends")
            .unwrap();
        let took = started.elapsed();
        drop(stop_tx);
        let ops = splitbrain_history::jsonl::read(&path)
            .unwrap()
            .strict()
            .unwrap();
        Outcome { summary, ops, took }
    }

    /// Sets the holder and the leader after `delay`, from another task.
    fn appear_after(targets: &Arc<FakeTargets>, delay: Duration) {
        let targets = targets.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            targets.set_holder(Some("agent-2"));
            targets.set_leader(Some("n3"));
        });
    }

    fn fault(kind: FaultKind, wait: Duration, duration: Duration) -> PlannedFault {
        let mut fault = PlannedFault::new(Duration::ZERO, kind, duration);
        fault.target_wait = wait;
        if let FaultKind::Partition(shape) = kind {
            fault.partition = Some(PartitionPlan {
                shape,
                grudge: Grudge::default(),
            });
        }
        fault
    }

    fn ms(ns: u64) -> u64 {
        ns / 1_000_000
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pause_holder_whose_holder_appears_late_waits_for_it_and_pauses_it_for_its_whole_duration()
     {
        let cluster = Arc::new(FakeCluster::new());
        let targets = Arc::new(FakeTargets::default());
        appear_after(&targets, Duration::from_millis(150));
        let pause = fault(
            FaultKind::PAUSE_HOLDER,
            Duration::from_secs(2),
            Duration::from_millis(300),
        );
        let out = run(cluster.clone(), targets, vec![pause], None).await;
        assert_eq!(
            (out.summary.applied, out.summary.refused, out.summary.healed),
            (1, 0, 1),
            "{:?}",
            out.summary
        );
        let fs: Vec<&str> = out.ops.iter().map(|o| o.f.as_str()).collect();
        assert_eq!(fs, ["pause", "pause", "resume", "resume"]);
        let struck = &out.ops[1];
        assert!(struck.error.is_none(), "{struck:?}");
        assert_eq!(struck.value["processes"], serde_json::json!(["agent-2"]));
        let waited = struck.value["waited_ms"].as_u64().unwrap();
        assert!((140..1000).contains(&waited), "waited_ms={waited}");
        assert_eq!(out.ops[0].value["waited_ms"], struck.value["waited_ms"]);
        // The duration counts from the strike, not from the planned start.
        let paused_for = ms(out.ops[2].time_ns - struck.time_ns);
        assert!(paused_for >= 290, "paused for {paused_for} ms");
        assert_eq!(cluster.state("agent-2"), Some(ProcessState::Running));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_targeted_fault_waits_for_its_target_and_then_hits_exactly_it() {
        let wait = Duration::from_secs(2);
        let long = Duration::from_secs(60);
        let cases = [
            (FaultKind::Kill(Target::Leader), "kill"),
            (
                FaultKind::Partition(PartitionShape::Holder),
                "start-partition",
            ),
            (
                FaultKind::Partition(PartitionShape::Leader),
                "start-partition",
            ),
            (
                FaultKind::Clock(ClockFault::Bump, Target::Holder),
                "bump-clock",
            ),
        ];
        for (kind, f) in cases {
            let cluster = Arc::new(FakeCluster::new());
            let targets = Arc::new(FakeTargets::default());
            appear_after(&targets, Duration::from_millis(100));
            // Stopped once struck, so the long duration does not hold the test up.
            let out = run(
                cluster.clone(),
                targets,
                vec![fault(kind, wait, long)],
                Some(Duration::from_millis(600)),
            )
            .await;
            let struck = out
                .ops
                .iter()
                .find(|o| o.f == f && o.kind == OpType::Info)
                .unwrap_or_else(|| panic!("{kind}: no {f} in {:#?}", out.ops));
            assert!(struck.error.is_none(), "{kind}: {struck:?}");
            assert!(struck.value["waited_ms"].as_u64().unwrap() >= 90, "{kind}");
            let (hit, expected) = match kind {
                FaultKind::Partition(PartitionShape::Holder) => (&struck.value["node"], "n2"),
                FaultKind::Partition(_) => (&struck.value["node"], "n3"),
                FaultKind::Kill(_) => (&struck.value["processes"][0], "server-n3"),
                _ => (&struck.value["processes"][0], "agent-2"),
            };
            assert_eq!(hit, expected, "{kind}: {struck:?}");
            assert_eq!(out.summary.applied, 1, "{kind}: {:?}", out.summary);
            assert!(cluster.grudge().is_empty(), "{kind}: healed");
            assert!(
                cluster
                    .processes()
                    .iter()
                    .all(|p| p.state == ProcessState::Running),
                "{kind}: healed"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_targeted_fault_whose_target_never_appears_is_refused_after_its_bound_saying_how_long_it_waited()
     {
        let bound = Duration::from_millis(300);
        let cases = [
            (
                FaultKind::PAUSE_HOLDER,
                "pause",
                "no lock holder appeared within",
            ),
            (
                FaultKind::Partition(PartitionShape::Leader),
                "start-partition",
                "no leader of the lock service appeared within",
            ),
        ];
        for (kind, f, reason) in cases {
            let cluster = Arc::new(FakeCluster::new());
            let targets = Arc::new(FakeTargets::default());
            let planned = fault(kind, bound, Duration::from_millis(100));
            let out = run(cluster.clone(), targets, vec![planned], None).await;
            assert_eq!(
                (out.summary.applied, out.summary.refused, out.summary.healed),
                (0, 1, 0),
                "{kind}: {:?}",
                out.summary
            );
            assert!(!out.summary.stopped_early);
            assert!(out.took >= bound, "{kind}: refused after {:?}", out.took);
            assert_eq!(out.ops.len(), 2, "{kind}: {:#?}", out.ops);
            assert!(out.ops.iter().all(|o| o.f == f));
            let error = out.ops[1].error.as_deref().unwrap();
            assert!(error.starts_with(reason), "{kind}: {error}");
            let waited = out.ops[1].value["waited_ms"].as_u64().unwrap();
            assert!((300..2000).contains(&waited), "{kind}: waited_ms={waited}");
            assert!(error.ends_with(&format!("{waited} ms")), "{kind}: {error}");
            assert!(out.summary.errors[0].contains(reason), "{:?}", out.summary);
            assert!(cluster.grudge().is_empty());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pod_kill_of_the_leader_kills_everything_on_its_node_and_the_heal_brings_the_node_back_first()
     {
        let cluster = Arc::new(FakeCluster::new());
        let targets = Arc::new(FakeTargets::default());
        targets.set_leader(Some("n3"));
        let kill = fault(
            FaultKind::PodKill(Target::Leader),
            Duration::from_secs(1),
            Duration::from_millis(100),
        );
        let out = run(cluster.clone(), targets, vec![kill], None).await;
        assert_eq!(
            (
                out.summary.applied,
                out.summary.healed,
                out.summary.heal_failures
            ),
            (1, 1, 0),
            "{:?}",
            out.summary
        );
        let fs: Vec<&str> = out.ops.iter().map(|o| o.f.as_str()).collect();
        assert_eq!(fs, ["kill", "kill", "start", "start"]);
        let struck = &out.ops[1];
        assert!(struck.error.is_none(), "{struck:?}");
        assert_eq!(struck.value["fault"], "kill-pod-leader");
        assert_eq!(struck.value["pods"], serde_json::json!(["n3"]));
        // The leader's lock server picked the pod; the agent on it died with it.
        assert_eq!(
            struck.value["processes"],
            serde_json::json!(["agent-3", "server-n3"])
        );
        assert_eq!(struck.node.as_deref(), Some("n3"));
        assert_eq!(out.ops[3].value["pods"], serde_json::json!(["n3"]));
        assert!(out.ops[3].error.is_none(), "{:?}", out.ops[3]);
        assert!(
            cluster
                .processes()
                .iter()
                .all(|p| p.state == ProcessState::Running),
            "healed: {:?}",
            cluster.processes()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_ends_the_wait_for_a_target_at_once_instead_of_after_the_bound() {
        let cluster = Arc::new(FakeCluster::new());
        let targets = Arc::new(FakeTargets::default());
        let planned = fault(
            FaultKind::PAUSE_HOLDER,
            Duration::from_secs(30),
            Duration::from_secs(1),
        );
        let stop_after = Duration::from_millis(100);
        let out = run(cluster, targets, vec![planned], Some(stop_after)).await;
        assert!(out.took < Duration::from_secs(2), "took {:?}", out.took);
        assert!(out.summary.stopped_early, "{:?}", out.summary);
        assert_eq!(out.summary.applied, 0);
        let error = out.ops[1].error.as_deref().unwrap();
        assert!(
            error.starts_with("the nemesis was stopped after waiting"),
            "{error}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backend_without_clocks_is_found_before_the_run_and_refuses_a_clock_fault() {
        let plan = vec![
            fault(
                FaultKind::Latency,
                Duration::ZERO,
                Duration::from_millis(50),
            ),
            fault(
                FaultKind::Clock(ClockFault::Bump, Target::Process),
                Duration::ZERO,
                Duration::from_millis(50),
            ),
            fault(FaultKind::Loss, Duration::ZERO, Duration::from_millis(50)),
            fault(FaultKind::PAUSE, Duration::ZERO, Duration::from_millis(50)),
        ];
        let with = FakeCluster::new();
        let without = FakeCluster::without_clocks();
        use crate::Ability;
        assert_eq!(
            super::super::apply::missing_abilities(&plan, &with),
            [Ability::PacketLoss, Ability::Latency]
        );
        assert_eq!(
            super::super::apply::missing_abilities(&plan, &without),
            [Ability::Clocks, Ability::PacketLoss, Ability::Latency]
        );
        let bump = plan[1].clone();
        let out = run(
            Arc::new(without),
            Arc::new(FakeTargets::default()),
            vec![bump],
            None,
        )
        .await;
        assert_eq!(out.summary.applied, 0, "{:?}", out.summary);
        let error = out.ops.last().unwrap().error.as_deref().unwrap();
        assert!(error.contains("set_clock"), "{error}");
    }
}
