//! A run as a trace, for the tools people already use to look at long runs and at
//! consensus traffic: Chrome's trace event JSON (Perfetto and chrome://tracing open it)
//! and OpenTelemetry's OTLP JSON (a collector's file receiver, or Jaeger, loads it).
//!
//! One track per client process, grouped under the node it ran on; one slice per
//! completed operation (its outcome, value, token and error as arguments); the nemesis's
//! faults on a track of their own, from the op that began each to the op that healed it;
//! every violation a checker found as an instant event on the op it points at. A trace
//! viewer stays responsive on runs far longer than any HTML page could hold.

use crate::run_timeline::{faults, violation_ops};
use serde_json::{Value, json};
use splitbrain_checker::{Results, RunData};
use splitbrain_history::{Op, OpType, Process};
use std::collections::HashMap;

/// A completed operation: its invocation and completion.
struct Slice<'a> {
    invoke: &'a Op,
    completion: &'a Op,
}

fn slices(run: &RunData) -> Vec<Slice<'_>> {
    let h = &run.history;
    h.pairs()
        .into_iter()
        .filter_map(|p| {
            let invoke = &h.ops[p.invoke];
            let completion = &h.ops[p.completion?];
            invoke.is_client().then_some(Slice { invoke, completion })
        })
        .collect()
}

fn outcome(kind: OpType) -> &'static str {
    match kind {
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        OpType::Info => "info",
        OpType::Invoke => "invoke",
    }
}

/// The node an op ran on, for grouping tracks (`controller` when the op names none).
fn node_of(op: &Op) -> String {
    op.node.clone().unwrap_or_else(|| "controller".to_owned())
}

/// Each violation's op, with the checker and its sentence.
fn violations(run: &RunData, results: &Results) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    for (checker, r) in &results.checkers {
        if r.valid != splitbrain_checker::Validity::Invalid {
            continue;
        }
        for e in &r.evidence {
            let ops = violation_ops(&run.history, run.resource.as_deref(), e);
            if let Some(&first) = ops.first() {
                out.push((first, checker.clone(), e.explanation.clone()));
            }
        }
    }
    out
}

const NEMESIS_PID: u64 = 0;

/// The run in Chrome's trace event format (times in microseconds from the run's start).
pub fn chrome_trace(run: &RunData, results: &Results) -> Value {
    let us = |ns: u64| ns as f64 / 1e3;
    let mut events = Vec::new();
    let mut node_pid: HashMap<String, u64> = HashMap::new();
    events.push(
        json!({"ph": "M", "name": "process_name", "pid": NEMESIS_PID,
        "args": {"name": "nemesis"}}),
    );
    let mut pid_of = |node: &str, events: &mut Vec<Value>| -> u64 {
        let next = node_pid.len() as u64 + 1;
        *node_pid.entry(node.to_owned()).or_insert_with(|| {
            events.push(json!({"ph": "M", "name": "process_name", "pid": next,
                "args": {"name": format!("node {node}")}}));
            next
        })
    };
    let mut named_threads = std::collections::HashSet::new();
    for s in slices(run) {
        let Process::Client(p) = s.invoke.process else {
            continue;
        };
        let pid = pid_of(&node_of(s.invoke), &mut events);
        if named_threads.insert((pid, p)) {
            events.push(
                json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": p,
                "args": {"name": format!("process {p}")}}),
            );
        }
        events.push(json!({
            "ph": "X", "cat": "op", "name": s.invoke.f,
            "ts": us(s.invoke.time_ns), "dur": us(s.completion.time_ns - s.invoke.time_ns),
            "pid": pid, "tid": p,
            "args": {
                "index": s.invoke.index, "outcome": outcome(s.completion.kind),
                "value": s.completion.value, "token": s.completion.token.or(s.invoke.token),
                "error": s.completion.error,
            },
        }));
    }
    let end_ns = run.history.ops.last().map_or(0, |o| o.time_ns);
    for (tid, f) in faults(&run.history).iter().enumerate() {
        let until = f.end_ns.unwrap_or(end_ns).max(f.start_ns);
        events.push(json!({
            "ph": "X", "cat": "fault", "name": format!("{} {}", f.f, f.target),
            "ts": us(f.start_ns), "dur": us(until - f.start_ns),
            "pid": NEMESIS_PID, "tid": tid,
            "args": {"index": f.start_index, "refused": f.error},
        }));
    }
    let time_of: HashMap<u64, &Op> = run.history.ops.iter().map(|o| (o.index, o)).collect();
    for (index, checker, why) in violations(run, results) {
        let Some(op) = time_of.get(&index) else {
            continue;
        };
        let Process::Client(p) = op.process else {
            continue;
        };
        let pid = pid_of(&node_of(op), &mut events);
        events.push(json!({
            "ph": "i", "s": "g", "cat": "violation", "name": format!("violation: {checker}"),
            "ts": us(op.time_ns), "pid": pid, "tid": p,
            "args": {"index": index, "explanation": why},
        }));
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms",
        "otherData": {"lock": run.info.lock, "seed": run.info.seed, "command": run.info.command}})
}

/// The run's start as Unix nanoseconds (0 when `started_at` cannot be read).
fn start_unix_ns(run: &RunData) -> u128 {
    humantime::parse_rfc3339_weak(&run.info.started_at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// A stable 64-bit hash, for trace and span ids that are the same on every export.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn attr(key: &str, value: Value) -> Value {
    let v = match value {
        Value::String(s) => json!({"stringValue": s}),
        Value::Number(n) if n.is_u64() || n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Bool(b) => json!({"boolValue": b}),
        other => json!({"stringValue": other.to_string()}),
    };
    json!({"key": key, "value": v})
}

/// The run as OTLP JSON (`ExportTraceServiceRequest`): a resource per node, a span per
/// completed op (status error for `fail` and `info`), a span per fault under
/// `nemesis`, and each violation as an event of the span of the op it points at.
pub fn otlp(run: &RunData, results: &Results) -> Value {
    let start = start_unix_ns(run);
    let at = |ns: u64| (start + u128::from(ns)).to_string();
    let run_key = format!("{}-{}", run.info.started_at, run.info.seed);
    let trace_id = format!(
        "{:016x}{:016x}",
        fnv(&[run_key.as_bytes(), b"trace"]),
        fnv(&[run_key.as_bytes()])
    );
    let span_id = |kind: &str, index: u64| {
        format!(
            "{:016x}",
            fnv(&[run_key.as_bytes(), kind.as_bytes(), &index.to_le_bytes()])
        )
    };
    let mut flagged: HashMap<u64, Vec<Value>> = HashMap::new();
    let time_of: HashMap<u64, u64> = run
        .history
        .ops
        .iter()
        .map(|o| (o.index, o.time_ns))
        .collect();
    for (index, checker, why) in violations(run, results) {
        flagged.entry(index).or_default().push(json!({
            "name": format!("violation: {checker}"),
            "timeUnixNano": at(time_of.get(&index).copied().unwrap_or(0)),
            "attributes": [attr("explanation", Value::String(why))],
        }));
    }
    let mut by_node: HashMap<String, Vec<Value>> = HashMap::new();
    for s in slices(run) {
        let Process::Client(p) = s.invoke.process else {
            continue;
        };
        let failed = s.completion.kind != OpType::Ok;
        let mut attributes = vec![
            attr("splitbrain.process", json!(p)),
            attr("splitbrain.index", json!(s.invoke.index)),
            attr("splitbrain.outcome", json!(outcome(s.completion.kind))),
            attr("splitbrain.value", s.completion.value.clone()),
        ];
        if let Some(t) = s.completion.token.or(s.invoke.token) {
            attributes.push(attr("splitbrain.token", json!(t)));
        }
        if let Some(e) = &s.completion.error {
            attributes.push(attr("splitbrain.error", json!(e)));
        }
        by_node.entry(node_of(s.invoke)).or_default().push(json!({
            "traceId": trace_id, "spanId": span_id("op", s.invoke.index),
            "name": s.invoke.f, "kind": 3,
            "startTimeUnixNano": at(s.invoke.time_ns), "endTimeUnixNano": at(s.completion.time_ns),
            "attributes": attributes,
            "events": flagged.remove(&s.invoke.index).unwrap_or_default(),
            "status": {"code": if failed { 2 } else { 1 }},
        }));
    }
    let end_ns = run.history.ops.last().map_or(0, |o| o.time_ns);
    for f in faults(&run.history) {
        by_node.entry("nemesis".to_owned()).or_default().push(json!({
            "traceId": trace_id, "spanId": span_id("fault", f.start_index),
            "name": format!("{} {}", f.f, f.target), "kind": 1,
            "startTimeUnixNano": at(f.start_ns),
            "endTimeUnixNano": at(f.end_ns.unwrap_or(end_ns).max(f.start_ns)),
            "attributes": [attr("splitbrain.refused", json!(f.error.clone().unwrap_or_default()))],
            "status": {"code": if f.error.is_some() { 2 } else { 1 }},
        }));
    }
    let mut nodes: Vec<(String, Vec<Value>)> = by_node.into_iter().collect();
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    let resource_spans: Vec<Value> = nodes
        .into_iter()
        .map(|(node, spans)| {
            json!({
                "resource": {"attributes": [
                    attr("service.name", json!(format!("splitbrain {}", run.info.lock))),
                    attr("host.name", json!(node)),
                ]},
                "scopeSpans": [{"scope": {"name": "splitbrain"}, "spans": spans}],
            })
        })
        .collect();
    json!({"resourceSpans": resource_spans})
}
