//! The executor: applies a planned schedule to a cluster, records every fault in the
//! history, and heals whatever is in force when the plan ends or the run stops.

use super::{PlannedFault, apply};
use crate::clock::ClockSetting;
use crate::{Cluster, ClusterError, Grudge};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use splitbrain_history::{OpDraft, OpType, Process, Recorder};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// Targets tells the nemesis about the workload's state when it needs it. While a
/// targeted fault waits for its target it asks every few milliseconds, so answers should
/// be quick (a bounded query at most).
pub trait Targets: Send + Sync {
    /// The process name of the agent whose client holds the lock now, if any, for
    /// `pause-holder`.
    fn holder_agent(&self) -> Option<String>;

    /// The node of the lock service's leader, for `isolate-leader` and the `leader`
    /// targets; None for locks without a leader (a single Redis) or when it is unknown.
    fn leader_node(&self) -> Option<String> {
        None
    }
}

/// A NemesisSummary counts what the nemesis did during a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisSummary {
    /// Faults in the plan.
    pub planned: usize,
    /// Faults that were applied.
    pub applied: usize,
    /// Faults that could not be applied (recorded as `info` with an error).
    pub refused: usize,
    /// Faults healed (resumed, restarted, partition removed).
    pub healed: usize,
    /// Heals that failed; each is in `errors` too.
    pub heal_failures: usize,
    /// True when the stop signal ended the nemesis before the plan did.
    pub stopped_early: bool,
    /// Why faults or heals failed, one line each.
    pub errors: Vec<String>,
}

/// One process a fault hit, and its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Hit {
    pub(super) process: String,
    pub(super) node: String,
}

/// The `processes` and `nodes` of a fault on processes, as its ops record them.
pub(super) fn hits_value(hits: &[Hit]) -> Value {
    let mut nodes: Vec<&str> = hits.iter().map(|h| h.node.as_str()).collect();
    nodes.sort();
    nodes.dedup();
    let processes: Vec<&str> = hits.iter().map(|h| h.process.as_str()).collect();
    json!({ "processes": processes, "nodes": nodes })
}

/// The node of a fault that hit exactly one node, for the op's `node` field.
pub(super) fn single_node(hits: &[Hit]) -> Option<String> {
    let first = &hits.first()?.node;
    hits.iter().all(|h| &h.node == first).then(|| first.clone())
}

/// A fault in force, and what it takes to heal it.
#[derive(Clone, Debug)]
pub(super) enum InForce {
    Paused(Vec<Hit>),
    Killed(Vec<Hit>),
    /// Whole pods killed, and the processes that were alive on them.
    PodsKilled {
        pods: Vec<String>,
        hits: Vec<Hit>,
    },
    Partitioned {
        grudge: Grudge,
    },
    Clocked(Vec<Hit>),
    Lossy,
    Delayed,
}

impl InForce {
    /// The healing op's `f`, its value and its node.
    fn heal_op(&self) -> (&'static str, Value, Option<String>) {
        match self {
            InForce::Paused(hits) => ("resume", hits_value(hits), single_node(hits)),
            InForce::Killed(hits) => ("start", hits_value(hits), single_node(hits)),
            InForce::PodsKilled { pods, hits } => {
                let mut value = hits_value(hits);
                value["pods"] = json!(pods);
                value["nodes"] = json!(pods);
                let node = (pods.len() == 1).then(|| pods[0].clone());
                ("start", value, node)
            }
            InForce::Partitioned { grudge } => {
                ("stop-partition", json!({ "grudge": grudge }), None)
            }
            InForce::Clocked(hits) => {
                let mut value = hits_value(hits);
                value["offset_ms"] = json!(0);
                value["rate"] = json!(1.0);
                ("reset-clock", value, single_node(hits))
            }
            InForce::Lossy => ("stop-loss", json!({ "loss_percent": 0 }), None),
            InForce::Delayed => ("stop-latency", json!({ "latency_ms": 0 }), None),
        }
    }

    /// Heals every part it can, and reports the first failure.
    fn heal(&self, cluster: &dyn Cluster) -> Result<(), ClusterError> {
        // Every part is healed even when an earlier one fails.
        let each = |hits: &[Hit], f: &dyn Fn(&str) -> Result<(), ClusterError>| {
            let mut first = Ok(());
            for h in hits {
                let r = f(&h.process);
                if first.is_ok() {
                    first = r;
                }
            }
            first
        };
        match self {
            InForce::Paused(hits) => each(hits, &|p| cluster.resume(p)),
            InForce::Killed(hits) => each(hits, &|p| cluster.restart(p)),
            InForce::PodsKilled { pods, hits } => {
                let restored = cluster.require_node_kill()?.restore_nodes(pods);
                let started = each(hits, &|p| cluster.restart(p));
                restored.and(started)
            }
            InForce::Partitioned { .. } => cluster.heal(),
            InForce::Clocked(hits) => {
                let clocks = cluster.require_clocks()?;
                each(hits, &|p| {
                    clocks.set_clock(p, &ClockSetting::true_time()).map(|_| ())
                })
            }
            InForce::Lossy => cluster.require_packet_loss()?.set_loss(0),
            InForce::Delayed => cluster
                .require_latency()?
                .set_latency(std::time::Duration::ZERO),
        }
    }
}

/// Shared handles of one nemesis run.
#[derive(Clone)]
pub(super) struct Ctx {
    pub(super) cluster: Arc<dyn Cluster>,
    pub(super) targets: Arc<dyn Targets>,
    pub(super) recorder: Arc<Recorder>,
    /// Also read while a fault waits for its target, so a stop ends the wait.
    pub(super) stops: Stops,
}

impl Ctx {
    pub(super) fn record(
        &self,
        kind: OpType,
        f: &str,
        value: Value,
        node: Option<&str>,
        error: Option<&str>,
    ) {
        let mut draft = OpDraft::new(Process::Nemesis, kind, f, value);
        draft.node = node.map(str::to_string);
        draft.error = error.map(str::to_string);
        if let Err(e) = self.recorder.record(draft) {
            tracing::error!(error = %e, f, "cannot record a nemesis op in the history");
        }
    }

    /// Runs a cluster call on the blocking pool; the calls spawn `nft` or wait for a
    /// process to stop, which must not stall the async workers.
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Cluster) -> Result<T, ClusterError> + Send + 'static,
    ) -> Result<T, String> {
        let cluster = self.cluster.clone();
        match tokio::task::spawn_blocking(move || f(cluster.as_ref())).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(format!("cluster call panicked: {e}")),
        }
    }
}

/// Runs a planned schedule against a cluster. Each fault is recorded as an `invoke` and
/// an `info` completion by `Process::Nemesis` (`pause`/`resume`, `kill`/`start`,
/// `start-partition`/`stop-partition`); a fault that cannot be applied gets an `info`
/// completion with the reason in `error`, and the run goes on.
///
/// A fault's `at` counts from the call, so call it when the workload starts. Faults run
/// one after another; one that falls behind (a slow heal) starts as soon as it can. A
/// targeted fault whose target is missing at its `at` asks the Targets again every few
/// milliseconds for up to its `target_wait`, then strikes (its ops carry `waited_ms`) and
/// lasts its `duration` from then; it is refused only when the wait runs out (or the
/// nemesis is stopped while it waits).
///
/// Returns when the plan is done or `stop` becomes true (a dropped sender counts as a
/// stop); either way every fault in force is healed first. The faults run in a task of
/// their own, so dropping the returned future (a timeout, an aborted task) also stops
/// the nemesis, which still heals and records the fault in force, just after the drop.
/// If the runtime itself shuts down mid-fault, the fault is healed synchronously.
pub async fn run_nemesis(
    plan: Vec<PlannedFault>,
    cluster: Arc<dyn Cluster>,
    targets: Arc<dyn Targets>,
    recorder: Arc<Recorder>,
    stop: watch::Receiver<bool>,
) -> NemesisSummary {
    // Dropping this future drops `_cancel`, which the task sees as a stop.
    let (_cancel, cancelled) = watch::channel(false);
    let planned = plan.len();
    let ctx = Ctx {
        cluster,
        targets,
        recorder,
        stops: Stops {
            stop,
            cancel: cancelled,
        },
    };
    match tokio::spawn(run_plan(plan, ctx)).await {
        Ok(summary) => summary,
        Err(e) => NemesisSummary {
            planned,
            errors: vec![format!("the nemesis task failed: {e}")],
            ..NemesisSummary::default()
        },
    }
}

async fn run_plan(plan: Vec<PlannedFault>, ctx: Ctx) -> NemesisSummary {
    let start = Instant::now();
    let mut stops = ctx.stops.clone();
    let mut summary = NemesisSummary {
        planned: plan.len(),
        ..NemesisSummary::default()
    };
    // Usually done by the caller before the workload started; idempotent.
    let needs = plan.clone();
    if let Err(e) = ctx.blocking(move |c| apply::prepare(&needs, c)).await {
        summary.errors.push(format!("prepare: {e}"));
    }
    for fault in plan {
        if stops.wait_until(start + fault.at).await {
            summary.stopped_early = true;
            break;
        }
        let mut guard = HealGuard {
            ctx: ctx.clone(),
            in_force: None,
        };
        let (in_force, result) = apply::apply(&ctx, &fault).await;
        guard.in_force = in_force;
        match result {
            Ok(()) => summary.applied += 1,
            Err(reason) => {
                summary.refused += 1;
                summary.errors.push(format!("{}: {reason}", fault.kind));
            }
        }
        let stopped =
            guard.in_force.is_some() && stops.wait_until(Instant::now() + fault.duration).await;
        guard.heal(&mut summary).await;
        if stopped || stops.fired() {
            summary.stopped_early = true;
            break;
        }
    }
    summary
}

/// The two ways a nemesis is told to stop: the caller's signal, and the caller's future
/// being dropped.
#[derive(Clone)]
pub(super) struct Stops {
    stop: watch::Receiver<bool>,
    cancel: watch::Receiver<bool>,
}

impl Stops {
    /// True once either has fired (a value of true, or a dropped sender).
    fn fired(&self) -> bool {
        let gone = |rx: &watch::Receiver<bool>| *rx.borrow() || rx.has_changed().is_err();
        gone(&self.stop) || gone(&self.cancel)
    }

    /// Sleeps until `deadline`; returns true (at once) if a stop fires first.
    pub(super) async fn wait_until(&mut self, deadline: Instant) -> bool {
        loop {
            if self.fired() {
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return false,
                changed = self.stop.changed() => {
                    if changed.is_err() {
                        return true;
                    }
                }
                changed = self.cancel.changed() => {
                    if changed.is_err() {
                        return true;
                    }
                }
            }
        }
    }
}

/// A HealGuard owns the fault in force; healing it is explicit, and its Drop is the
/// backstop when the nemesis future is dropped mid-fault.
struct HealGuard {
    ctx: Ctx,
    in_force: Option<InForce>,
}

impl HealGuard {
    async fn heal(&mut self, summary: &mut NemesisSummary) {
        let Some(in_force) = self.in_force.take() else {
            return;
        };
        let (f, value, node) = in_force.heal_op();
        self.ctx
            .record(OpType::Invoke, f, value.clone(), node.as_deref(), None);
        let fault = in_force.clone();
        let result = self.ctx.blocking(move |c| fault.heal(c)).await;
        self.ctx.record(
            OpType::Info,
            f,
            value,
            node.as_deref(),
            result.as_ref().err().map(String::as_str),
        );
        match result {
            Ok(()) => summary.healed += 1,
            Err(e) => {
                summary.heal_failures += 1;
                summary.errors.push(format!("{f}: {e}"));
            }
        }
    }
}

impl Drop for HealGuard {
    fn drop(&mut self) {
        let Some(in_force) = self.in_force.take() else {
            return;
        };
        let (f, value, node) = in_force.heal_op();
        self.ctx
            .record(OpType::Invoke, f, value.clone(), node.as_deref(), None);
        let result = in_force
            .heal(self.ctx.cluster.as_ref())
            .map_err(|e| e.to_string());
        self.ctx.record(
            OpType::Info,
            f,
            value,
            node.as_deref(),
            result.as_ref().err().map(String::as_str),
        );
    }
}
