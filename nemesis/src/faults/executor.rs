//! The executor: applies a planned schedule to a cluster, records every fault in the
//! history, and heals whatever is in force when the plan ends or the run stops.

use super::{FaultKind, PlannedFault};
use crate::{Cluster, ClusterError, Grudge, ProcessKind};
use serde::Serialize;
use serde_json::{Value, json};
use splitbrain_history::{OpDraft, OpType, Process, Recorder};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// Targets tells the nemesis about the workload's state when it needs it.
pub trait Targets: Send + Sync {
    /// The process name of the agent whose client holds the lock now, if any, for
    /// `pause-holder`.
    fn holder_agent(&self) -> Option<String>;
}

/// A NemesisSummary counts what the nemesis did during a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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

/// A fault in force, and what it takes to heal it.
#[derive(Clone, Debug)]
enum InForce {
    Paused { process: String, node: String },
    Killed { process: String, node: String },
    Partitioned { grudge: Grudge },
}

impl InForce {
    /// The healing op's `f`, its value and its node.
    fn heal_op(&self) -> (&'static str, Value, Option<String>) {
        match self {
            InForce::Paused { process, node } => {
                ("resume", targets_value(process, node), Some(node.clone()))
            }
            InForce::Killed { process, node } => {
                ("start", targets_value(process, node), Some(node.clone()))
            }
            InForce::Partitioned { grudge } => {
                ("stop-partition", json!({ "grudge": grudge }), None)
            }
        }
    }

    fn heal(&self, cluster: &dyn Cluster) -> Result<(), ClusterError> {
        match self {
            InForce::Paused { process, .. } => cluster.resume(process),
            InForce::Killed { process, .. } => cluster.restart(process),
            InForce::Partitioned { .. } => cluster.heal(),
        }
    }
}

fn targets_value(process: &str, node: &str) -> Value {
    json!({ "processes": [process], "nodes": [node] })
}

/// Shared handles of one nemesis run.
#[derive(Clone)]
struct Ctx {
    cluster: Arc<dyn Cluster>,
    targets: Arc<dyn Targets>,
    recorder: Arc<Recorder>,
}

impl Ctx {
    fn record(&self, kind: OpType, f: &str, value: Value, node: Option<&str>, error: Option<&str>) {
        let mut draft = OpDraft::new(Process::Nemesis, kind, f, value);
        draft.node = node.map(str::to_string);
        draft.error = error.map(str::to_string);
        if let Err(e) = self.recorder.record(draft) {
            tracing::error!(error = %e, f, "cannot record a nemesis op in the history");
        }
    }

    /// Runs a cluster call on the blocking pool; the calls spawn `nft` or wait for a
    /// process to stop, which must not stall the async workers.
    async fn blocking<T: Send + 'static>(
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
/// Returns when the plan is done or `stop` becomes true (a dropped sender counts as a
/// stop); either way every fault in force is healed first. If the returned future is
/// dropped mid-fault, the fault is still healed, synchronously, and recorded.
pub async fn run_nemesis(
    plan: Vec<PlannedFault>,
    cluster: Arc<dyn Cluster>,
    targets: Arc<dyn Targets>,
    recorder: Arc<Recorder>,
    mut stop: watch::Receiver<bool>,
) -> NemesisSummary {
    let ctx = Ctx {
        cluster,
        targets,
        recorder,
    };
    let start = Instant::now();
    let mut summary = NemesisSummary {
        planned: plan.len(),
        ..NemesisSummary::default()
    };
    for fault in plan {
        if wait_until(&mut stop, start + fault.at).await {
            summary.stopped_early = true;
            break;
        }
        let mut guard = HealGuard {
            ctx: ctx.clone(),
            in_force: None,
        };
        match apply(&ctx, &fault).await {
            (in_force, Ok(())) => {
                summary.applied += 1;
                guard.in_force = in_force;
            }
            (in_force, Err(reason)) => {
                summary.refused += 1;
                summary.errors.push(format!("{}: {reason}", fault.kind));
                guard.in_force = in_force;
            }
        }
        let stopped = guard.in_force.is_some()
            && wait_until(&mut stop, Instant::now() + fault.duration).await;
        guard.heal(&mut summary).await;
        if stopped || *stop.borrow() {
            summary.stopped_early = true;
            break;
        }
    }
    summary
}

/// Sleeps until `deadline`; returns true (at once) if the stop signal fires first.
async fn wait_until(stop: &mut watch::Receiver<bool>, deadline: Instant) -> bool {
    loop {
        if *stop.borrow_and_update() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return false,
            changed = stop.changed() => {
                if changed.is_err() {
                    return true;
                }
            }
        }
    }
}

/// Applies one fault, recording its invoke and completion. Returns what is in force
/// (possibly something even when applying failed half-way, as a partition can) and
/// whether it worked.
async fn apply(ctx: &Ctx, fault: &PlannedFault) -> (Option<InForce>, Result<(), String>) {
    match fault.kind {
        FaultKind::Partition => apply_partition(ctx, fault).await,
        FaultKind::Pause | FaultKind::PauseHolder | FaultKind::Kill => {
            apply_to_process(ctx, fault).await
        }
    }
}

async fn apply_partition(ctx: &Ctx, fault: &PlannedFault) -> (Option<InForce>, Result<(), String>) {
    let (shape, grudge) = match &fault.partition {
        Some(p) => (json!(p.shape), p.grudge.clone()),
        None => (Value::Null, Grudge::default()),
    };
    let value = json!({ "shape": shape, "grudge": grudge });
    ctx.record(OpType::Invoke, "start-partition", value.clone(), None, None);
    if grudge.is_empty() {
        let reason = "fewer than two nodes to partition".to_string();
        ctx.record(OpType::Info, "start-partition", value, None, Some(&reason));
        return (None, Err(reason));
    }
    let g = grudge.clone();
    let result = ctx.blocking(move |c| c.partition(&g)).await;
    ctx.record(
        OpType::Info,
        "start-partition",
        value,
        None,
        result.as_ref().err().map(String::as_str),
    );
    // Even a failed partition may have installed rules on some nodes: heal regardless.
    (Some(InForce::Partitioned { grudge }), result)
}

async fn apply_to_process(
    ctx: &Ctx,
    fault: &PlannedFault,
) -> (Option<InForce>, Result<(), String>) {
    let f = if fault.kind == FaultKind::Kill {
        "kill"
    } else {
        "pause"
    };
    let target = pick_target(ctx, fault).await;
    let (process, node) = match target {
        Ok(t) => t,
        Err(reason) => {
            let value = json!({ "fault": fault.kind, "processes": [], "nodes": [] });
            ctx.record(OpType::Invoke, f, value.clone(), None, None);
            ctx.record(OpType::Info, f, value, None, Some(&reason));
            return (None, Err(reason));
        }
    };
    let mut value = targets_value(&process, &node);
    value["fault"] = json!(fault.kind);
    ctx.record(OpType::Invoke, f, value.clone(), Some(&node), None);
    let name = process.clone();
    let result = if fault.kind == FaultKind::Kill {
        ctx.blocking(move |c| c.kill(&name)).await
    } else {
        ctx.blocking(move |c| c.pause(&name)).await
    };
    ctx.record(
        OpType::Info,
        f,
        value,
        Some(&node),
        result.as_ref().err().map(String::as_str),
    );
    match result {
        Ok(()) if fault.kind == FaultKind::Kill => {
            (Some(InForce::Killed { process, node }), Ok(()))
        }
        Ok(()) => (Some(InForce::Paused { process, node }), Ok(())),
        Err(e) => (None, Err(e)),
    }
}

/// The process a pause or kill hits, and its node.
async fn pick_target(ctx: &Ctx, fault: &PlannedFault) -> Result<(String, String), String> {
    let processes = ctx.blocking(|c| Ok(c.processes())).await?;
    if fault.kind == FaultKind::PauseHolder {
        let holder = ctx
            .targets
            .holder_agent()
            .ok_or_else(|| "no lock holder at this moment".to_string())?;
        let info = processes
            .iter()
            .find(|p| p.name == holder)
            .ok_or_else(|| format!("holder process={holder} is not a process of this cluster"))?;
        return Ok((info.name.clone(), info.node.clone()));
    }
    let mut candidates: Vec<_> = processes
        .into_iter()
        .filter(|p| matches!(p.kind, ProcessKind::LockServer | ProcessKind::Agent))
        .filter(|p| p.state == crate::ProcessState::Running)
        .collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));
    if candidates.is_empty() {
        return Err("no running lock server or agent".to_string());
    }
    let chosen = &candidates[(fault.target_index % candidates.len() as u64) as usize];
    Ok((chosen.name.clone(), chosen.node.clone()))
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
