//! Applying one planned fault: resolving its targets at the moment it starts, doing it,
//! and recording its invoke and completion.

use super::executor::{Ctx, Hit, InForce, hits_value, single_node};
use super::target::{Role, wait_for};
use super::{ClockFault, ClockPlan, FaultKind, PartitionShape, PlannedFault, Target};
use crate::clock::{ClockSetting, StrobeSetting, unix_ms_now};
use crate::{ClockReach, Cluster, ClusterError, Grudge, ProcessInfo, ProcessKind, ProcessState};
use serde_json::{Value, json};
use splitbrain_history::OpType;
use std::time::Duration;

/// What applying a fault leaves: what is in force (possibly something even when
/// applying failed half-way, as a partition can) and whether it worked.
pub(super) type Applied = (Option<InForce>, Result<(), String>);

/// Puts in place what some faults need before the workload starts: the latency proxies,
/// which only see connections opened after them.
pub fn prepare(plan: &[PlannedFault], cluster: &dyn Cluster) -> Result<(), ClusterError> {
    if plan.iter().any(|f| f.kind == FaultKind::Latency) {
        cluster.require_latency()?.prepare_latency()?;
    }
    Ok(())
}

/// The optional parts of a backend that a plan needs and the cluster lacks, each once:
/// a run checks this before its workload starts rather than failing fault by fault.
pub fn missing_abilities(plan: &[PlannedFault], cluster: &dyn Cluster) -> Vec<crate::Ability> {
    let mut missing: Vec<crate::Ability> = plan
        .iter()
        .filter_map(|f| f.kind.needs())
        .filter(|a| !a.of(cluster))
        .collect();
    missing.sort_by_key(|a| *a as u8);
    missing.dedup();
    missing
}

/// Applies one fault, recording its invoke and completion.
pub(super) async fn apply(ctx: &Ctx, fault: &PlannedFault) -> Applied {
    match fault.kind {
        FaultKind::Partition(_) => apply_partition(ctx, fault).await,
        FaultKind::Pause(_) | FaultKind::Kill(_) => apply_to_processes(ctx, fault).await,
        FaultKind::PodKill(_) => apply_pod_kill(ctx, fault).await,
        FaultKind::Clock(ClockFault::Reset, _) => apply_clock_reset(ctx).await,
        FaultKind::Clock(..) => apply_clock(ctx, fault).await,
        FaultKind::Loss => {
            let percent = fault
                .loss_percent
                .unwrap_or(super::schedule::DEFAULT_LOSS_PERCENT);
            let value = json!({ "loss_percent": percent });
            let result = record_call(ctx, "start-loss", value, move |c| {
                c.require_packet_loss()?.set_loss(percent)
            })
            .await;
            (Some(InForce::Lossy), result)
        }
        FaultKind::Latency => {
            let ms = fault.latency_ms.unwrap_or(100);
            let value = json!({ "latency_ms": ms });
            let delay = Duration::from_millis(ms);
            let result = record_call(ctx, "start-latency", value, move |c| {
                c.require_latency()?.set_latency(delay)
            })
            .await;
            (Some(InForce::Delayed), result)
        }
    }
}

/// Records an invoke, makes one cluster call, records its completion.
async fn record_call(
    ctx: &Ctx,
    f: &str,
    value: Value,
    call: impl FnOnce(&dyn Cluster) -> Result<(), ClusterError> + Send + 'static,
) -> Result<(), String> {
    ctx.record(OpType::Invoke, f, value.clone(), None, None);
    let result = ctx.blocking(call).await;
    ctx.record(
        OpType::Info,
        f,
        value,
        None,
        result.as_ref().err().map(String::as_str),
    );
    result
}

/// Records a fault that could not even start, and why.
fn refuse(ctx: &Ctx, f: &str, value: Value, reason: String) -> Applied {
    ctx.record(OpType::Invoke, f, value.clone(), None, None);
    ctx.record(OpType::Info, f, value, None, Some(&reason));
    (None, Err(reason))
}

async fn apply_partition(ctx: &Ctx, fault: &PlannedFault) -> Applied {
    let (shape, mut grudge) = match &fault.partition {
        Some(p) => (p.shape, p.grudge.clone()),
        None => (PartitionShape::Mix, Grudge::default()),
    };
    let mut value = json!({ "shape": shape, "grudge": grudge });
    if let Some(role) = isolated_role(shape) {
        let sought = wait_for(ctx, role, fault.target_wait).await;
        value["waited_ms"] = json!(sought.waited_ms());
        match targeted_node(ctx, role, sought.found).await {
            Ok(node) => {
                let names: Vec<String> =
                    ctx.cluster.nodes().iter().map(|n| n.name.clone()).collect();
                grudge = Grudge::isolate(&node, &names);
                value["grudge"] = json!(grudge);
                value["node"] = json!(node);
            }
            Err(reason) => return refuse(ctx, "start-partition", value, reason),
        }
    }
    if grudge.is_empty() {
        let reason = "too few nodes for this partition shape".to_string();
        return refuse(ctx, "start-partition", value, reason);
    }
    let g = grudge.clone();
    let result = record_call(ctx, "start-partition", value, move |c| c.partition(&g)).await;
    // Even a failed partition may have installed rules on some nodes: heal regardless.
    (Some(InForce::Partitioned { grudge }), result)
}

/// The role whose node `isolate-holder` or `isolate-leader` cuts off.
fn isolated_role(shape: PartitionShape) -> Option<Role> {
    match shape {
        PartitionShape::Holder => Some(Role::Holder),
        PartitionShape::Leader => Some(Role::Leader),
        _ => None,
    }
}

/// The node of a found holder (its agent's node) or leader (already a node).
async fn targeted_node(
    ctx: &Ctx,
    role: Role,
    found: Result<String, String>,
) -> Result<String, String> {
    let found = found?;
    if role == Role::Leader {
        return Ok(found);
    }
    let processes = ctx.blocking(|c| Ok(c.processes())).await?;
    processes
        .into_iter()
        .find(|p| p.name == found)
        .map(|p| p.node)
        .ok_or_else(|| format!("holder process={found} is not a process of this cluster"))
}

async fn apply_to_processes(ctx: &Ctx, fault: &PlannedFault) -> Applied {
    let (f, kill) = match fault.kind {
        FaultKind::Kill(_) => ("kill", true),
        _ => ("pause", false),
    };
    let (hits, waited) = pick_targets(ctx, fault).await;
    let hits = match hits {
        Ok(hits) => hits,
        Err(reason) => {
            let mut value = json!({ "fault": fault.kind, "processes": [], "nodes": [] });
            record_wait(&mut value, waited);
            return refuse(ctx, f, value, reason);
        }
    };
    let mut value = hits_value(&hits);
    value["fault"] = json!(fault.kind);
    record_wait(&mut value, waited);
    let node = single_node(&hits);
    ctx.record(OpType::Invoke, f, value.clone(), node.as_deref(), None);
    let names: Vec<String> = hits.iter().map(|h| h.process.clone()).collect();
    let outcomes = ctx
        .blocking(move |c| {
            Ok(names
                .iter()
                .map(|n| if kill { c.kill(n) } else { c.pause(n) })
                .map(|r| r.map_err(|e| e.to_string()))
                .collect::<Vec<_>>())
        })
        .await
        .unwrap_or_else(|e| vec![Err(e)]);
    let errors: Vec<String> = outcomes.iter().filter_map(|r| r.clone().err()).collect();
    let done: Vec<Hit> = hits
        .into_iter()
        .zip(outcomes.iter())
        .filter(|(_, r)| r.is_ok())
        .map(|(h, _)| h)
        .collect();
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    ctx.record(OpType::Info, f, value, node.as_deref(), error.as_deref());
    let in_force = match (done.is_empty(), kill) {
        (true, _) => None,
        (false, true) => Some(InForce::Killed(done)),
        (false, false) => Some(InForce::Paused(done)),
    };
    (in_force, error.map_or(Ok(()), Err))
}

/// Kills the nodes (pods) of the processes the fault's target picks: everything alive on
/// them dies. Recorded as `kill` with the `pods`, their `nodes`, the machines they ran on
/// (`hosts`, the Kubernetes node of each pod) and the `processes` that were alive there;
/// the heal (`start`) makes the pods again and starts those processes.
async fn apply_pod_kill(ctx: &Ctx, fault: &PlannedFault) -> Applied {
    let (hits, waited) = pick_targets(ctx, fault).await;
    let mut value = json!({ "fault": fault.kind, "pods": [], "processes": [], "nodes": [] });
    record_wait(&mut value, waited);
    let hits = match hits {
        Ok(hits) => hits,
        Err(reason) => return refuse(ctx, "kill", value, reason),
    };
    let mut pods: Vec<String> = hits.into_iter().map(|h| h.node).collect();
    pods.sort();
    pods.dedup();
    let on_pods = |p: &ProcessInfo| pods.contains(&p.node) && p.state.is_alive();
    let victims: Vec<Hit> = match ctx.blocking(|c| Ok(c.processes())).await {
        Ok(processes) => processes.iter().filter(|p| on_pods(p)).map(hit).collect(),
        Err(reason) => return refuse(ctx, "kill", value, reason),
    };
    // Where the pods ran, when the backend says (the Kubernetes node of each pod).
    let placement = ctx
        .blocking(|c| Ok(c.describe()["pods_on"].clone()))
        .await
        .unwrap_or(Value::Null);
    let mut recorded = hits_value(&victims);
    recorded["nodes"] = json!(pods);
    recorded["pods"] = json!(pods);
    if let Some(on) = placement.as_object() {
        let hosts: serde_json::Map<String, Value> = pods
            .iter()
            .filter_map(|p| Some((p.clone(), on.get(p)?.clone())))
            .collect();
        recorded["hosts"] = Value::Object(hosts);
    }
    recorded["fault"] = json!(fault.kind);
    record_wait(&mut recorded, waited);
    let node = (pods.len() == 1).then(|| pods[0].clone());
    ctx.record(
        OpType::Invoke,
        "kill",
        recorded.clone(),
        node.as_deref(),
        None,
    );
    let targets = pods.clone();
    let outcome = ctx
        .blocking(move |c| Ok(c.require_node_kill()?.kill_nodes(&targets)))
        .await;
    let outcomes = match outcome {
        Ok(outcomes) => outcomes,
        Err(reason) => {
            ctx.record(
                OpType::Info,
                "kill",
                recorded,
                node.as_deref(),
                Some(&reason),
            );
            return (None, Err(reason));
        }
    };
    let mut killed_pods = Vec::new();
    let mut killed = Vec::new();
    let mut errors = Vec::new();
    for (pod, result) in outcomes {
        match result {
            Ok(names) => {
                killed.extend(names.into_iter().map(|process| Hit {
                    process,
                    node: pod.clone(),
                }));
                killed_pods.push(pod);
            }
            Err(e) => errors.push(format!("pod {pod}: {e}")),
        }
    }
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    ctx.record(
        OpType::Info,
        "kill",
        recorded,
        node.as_deref(),
        error.as_deref(),
    );
    let in_force = (!killed_pods.is_empty()).then_some(InForce::PodsKilled {
        pods: killed_pods,
        hits: killed,
    });
    (in_force, error.map_or(Ok(()), Err))
}

/// Adds how long a targeted fault waited for its target to its op's value.
fn record_wait(value: &mut Value, waited: Option<u64>) {
    if let Some(ms) = waited {
        value["waited_ms"] = json!(ms);
    }
}

/// The processes a pause, kill or clock fault hits, chosen when it strikes, and for a
/// holder or leader target how long it waited for that target, in milliseconds.
async fn pick_targets(ctx: &Ctx, fault: &PlannedFault) -> (Result<Vec<Hit>, String>, Option<u64>) {
    let target = match fault.kind {
        FaultKind::Pause(t)
        | FaultKind::Kill(t)
        | FaultKind::PodKill(t)
        | FaultKind::Clock(_, t) => t,
        _ => Target::Process,
    };
    let Some(role) = Role::of(target) else {
        return (planned_hits(ctx, fault, target).await, None);
    };
    let sought = wait_for(ctx, role, fault.target_wait).await;
    let waited = sought.waited_ms();
    let hits = match sought.found {
        Ok(found) => role_hits(ctx, role, &found).await,
        Err(reason) => Err(reason),
    };
    (hits, Some(waited))
}

/// A process's name and node, as a fault records what it hit.
fn hit(p: &ProcessInfo) -> Hit {
    Hit {
        process: p.name.clone(),
        node: p.node.clone(),
    }
}

/// True for the processes faults may hit: running lock servers and agents.
fn hittable(p: &&ProcessInfo) -> bool {
    matches!(p.kind, ProcessKind::LockServer | ProcessKind::Agent)
        && p.state == ProcessState::Running
}

/// The holder's agent, or the running lock servers on the leader's node.
async fn role_hits(ctx: &Ctx, role: Role, found: &str) -> Result<Vec<Hit>, String> {
    let processes = ctx.blocking(|c| Ok(c.processes())).await?;
    if role == Role::Holder {
        let p = processes
            .iter()
            .find(|p| p.name == found)
            .ok_or_else(|| format!("holder process={found} is not a process of this cluster"))?;
        return Ok(vec![hit(p)]);
    }
    let on_leader = |p: &&ProcessInfo| p.node == found && p.kind == ProcessKind::LockServer;
    let hits: Vec<Hit> = processes
        .iter()
        .filter(hittable)
        .filter(on_leader)
        .map(hit)
        .collect();
    if hits.is_empty() {
        return Err(format!(
            "no running lock server on the leader's node={found}"
        ));
    }
    Ok(hits)
}

/// The targets the plan names: one process by the seeded index, or every lock server and
/// agent on the planned nodes.
async fn planned_hits(ctx: &Ctx, fault: &PlannedFault, target: Target) -> Result<Vec<Hit>, String> {
    let processes = ctx.blocking(|c| Ok(c.processes())).await?;
    let candidates: Vec<&ProcessInfo> = processes.iter().filter(hittable).collect();
    if target == Target::Process {
        if candidates.is_empty() {
            return Err("no running lock server or agent".to_string());
        }
        let chosen = candidates[fault.target_index as usize % candidates.len()];
        return Ok(vec![hit(chosen)]);
    }
    let hits: Vec<Hit> = candidates
        .into_iter()
        .filter(|p| fault.nodes.contains(&p.node))
        .map(hit)
        .collect();
    if hits.is_empty() {
        return Err(format!(
            "no running lock server or agent on nodes={}",
            fault.nodes.join(",")
        ));
    }
    Ok(hits)
}

/// The clock a fault gives its targets, anchored now.
fn clock_setting(kind: FaultKind, plan: ClockPlan, duration: Duration) -> ClockSetting {
    let now = unix_ms_now();
    let mut setting = ClockSetting {
        anchor_unix_ms: now,
        ..ClockSetting::true_time()
    };
    match kind {
        FaultKind::Clock(ClockFault::Bump, _) => setting.offset_ms = plan.offset_ms,
        FaultKind::Clock(ClockFault::Drift, _) => setting.rate = plan.rate,
        FaultKind::Clock(ClockFault::Strobe, _) => {
            setting.strobe = plan.strobe.map(|s| StrobeSetting {
                delta_ms: s.delta_ms,
                period_ms: s.period_ms.max(1),
                start_unix_ms: now,
                end_unix_ms: now + duration.as_millis() as u64,
            });
        }
        _ => {}
    }
    setting
}

fn clock_f(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Clock(ClockFault::Strobe, _) => "strobe-clock",
        FaultKind::Clock(ClockFault::Drift, _) => "drift-clock",
        _ => "bump-clock",
    }
}

async fn apply_clock(ctx: &Ctx, fault: &PlannedFault) -> Applied {
    let f = clock_f(fault.kind);
    let plan = fault.clock.unwrap_or(ClockPlan {
        offset_ms: 0,
        rate: 1.0,
        strobe: None,
    });
    let mut value = json!({
        "fault": fault.kind,
        "offset_ms": if matches!(fault.kind, FaultKind::Clock(ClockFault::Bump, _)) {
            plan.offset_ms
        } else {
            0
        },
        "rate": plan.rate,
    });
    if let Some(s) = plan.strobe {
        value["strobe"] = json!({ "delta_ms": s.delta_ms, "period_ms": s.period_ms });
    }
    let (hits, waited) = pick_targets(ctx, fault).await;
    record_wait(&mut value, waited);
    let hits = match hits {
        Ok(hits) => hits,
        Err(reason) => return refuse(ctx, f, value, reason),
    };
    let targets = hits_value(&hits);
    value["processes"] = targets["processes"].clone();
    value["nodes"] = targets["nodes"].clone();
    let node = single_node(&hits);
    ctx.record(OpType::Invoke, f, value.clone(), node.as_deref(), None);
    let setting = clock_setting(fault.kind, plan, fault.duration);
    let (reached, error) = set_clocks(ctx, &hits, setting).await;
    value["reached"] = json!(reached);
    ctx.record(OpType::Info, f, value, node.as_deref(), error.as_deref());
    (Some(InForce::Clocked(hits)), error.map_or(Ok(()), Err))
}

/// Sets the clock of every hit process; returns how each was reached, and an error when
/// none was or a call failed.
async fn set_clocks(
    ctx: &Ctx,
    hits: &[Hit],
    setting: ClockSetting,
) -> (serde_json::Map<String, Value>, Option<String>) {
    let names: Vec<String> = hits.iter().map(|h| h.process.clone()).collect();
    let outcomes = ctx
        .blocking(move |c| {
            let clocks = c.require_clocks()?;
            Ok(names
                .iter()
                .map(|n| (n.clone(), clocks.set_clock(n, &setting)))
                .collect::<Vec<_>>())
        })
        .await;
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(e) => return (serde_json::Map::new(), Some(e)),
    };
    let mut reached = serde_json::Map::new();
    let mut errors = Vec::new();
    for (name, outcome) in outcomes {
        let entry = match outcome {
            Ok(ClockReach::ClockFile) => json!("clock-file"),
            Ok(ClockReach::Faketime) => json!("faketime"),
            Ok(ClockReach::Vdso) => json!("vdso"),
            Ok(ClockReach::Unreached(reason)) => json!(format!("unreached: {reason}")),
            Err(e) => {
                errors.push(format!("process={name}: {e}"));
                json!(format!("failed: {e}"))
            }
        };
        reached.insert(name, entry);
    }
    let any = reached
        .values()
        .any(|v| v == "clock-file" || v == "faketime" || v == "vdso");
    if !any && errors.is_empty() {
        errors.push(
            "no target process has a clock this backend can set (our agents read a clock file; \
             servers need libfaketime or a writable vDSO)"
                .to_string(),
        );
    }
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    (reached, error)
}

async fn apply_clock_reset(ctx: &Ctx) -> Applied {
    let processes = match ctx.blocking(|c| Ok(c.processes())).await {
        Ok(p) => p,
        Err(e) => return refuse(ctx, "reset-clock", json!({}), e),
    };
    let hits: Vec<Hit> = processes
        .iter()
        .filter(|p| matches!(p.kind, ProcessKind::LockServer | ProcessKind::Agent))
        .filter(|p| p.state.is_alive())
        .map(|p| Hit {
            process: p.name.clone(),
            node: p.node.clone(),
        })
        .collect();
    let mut value = hits_value(&hits);
    value["fault"] = json!(FaultKind::Clock(ClockFault::Reset, Target::All));
    value["offset_ms"] = json!(0);
    value["rate"] = json!(1.0);
    ctx.record(OpType::Invoke, "reset-clock", value.clone(), None, None);
    let (reached, error) = set_clocks(ctx, &hits, ClockSetting::true_time()).await;
    value["reached"] = json!(reached);
    ctx.record(OpType::Info, "reset-clock", value, None, error.as_deref());
    (None, error.map_or(Ok(()), Err))
}
