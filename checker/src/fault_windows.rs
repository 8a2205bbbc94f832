//! Faults as intervals of controller time: the nemesis's ops paired into each fault's
//! start and its healing (a pause with its resume, a partition with its heal, a clock
//! fault with `reset-clock`). The availability checker asks which moments were free of
//! faults; the report shades each fault on its timeline.

use splitbrain_history::{History, Op, OpType, Process};
use std::collections::HashMap;

/// A Fault is one nemesis fault as the history recorded it: when it began, when it was
/// healed (None if the history ended first), and whether applying it failed.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// The fault's `f` (`pause`, `kill`, `start-partition`, ...).
    pub f: String,
    /// Index of the op that began it.
    pub start_index: u64,
    /// Time of the op that began it.
    pub start_ns: u64,
    /// Time the healing op completed, if it did.
    pub end_ns: Option<u64>,
    /// The fault's target, compact (`agent-2 n3`, `n1|n4,n5`).
    pub target: String,
    /// The error if the fault could not be applied.
    pub error: Option<String>,
}

/// The `f` that heals a fault begun by `f`, for faults that last.
fn healer(f: &str) -> Option<&'static str> {
    match f {
        "pause" => Some("resume"),
        "kill" => Some("start"),
        "start-partition" => Some("stop-partition"),
        "bump-clock" | "strobe-clock" | "drift-clock" => Some("reset-clock"),
        "start-loss" => Some("stop-loss"),
        "start-latency" => Some("stop-latency"),
        _ => None,
    }
}

/// A compact text for a nemesis value: the processes and nodes it names, or its grudge.
pub fn describe_target(value: &serde_json::Value) -> String {
    let list = |key: &str| -> Vec<String> {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(json_text).collect())
            .unwrap_or_default()
    };
    if let Some(grudge) = value.get("grudge").and_then(|g| g.as_object()) {
        let parts: Vec<String> = grudge
            .iter()
            .map(|(node, cut)| {
                let cut: Vec<String> = cut
                    .as_array()
                    .map(|a| a.iter().map(json_text).collect())
                    .unwrap_or_default();
                format!("{node}|{}", cut.join(","))
            })
            .collect();
        return parts.join(" ");
    }
    let mut names = list("processes");
    names.extend(list("nodes"));
    if names.is_empty() && !value.is_null() {
        return json_text(value);
    }
    names.join(" ")
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Pairs nemesis ops into faults: each lasting fault from its start's invocation to its
/// healer's completion (a clock fault lasts until `reset-clock`); a fault with no
/// healer is an instant.
pub fn faults(history: &History) -> Vec<Fault> {
    let nemesis: Vec<&Op> = history
        .ops
        .iter()
        .filter(|o| o.process == Process::Nemesis)
        .collect();
    let mut out: Vec<Fault> = Vec::new();
    // Per healer f, the faults still waiting for it, oldest first.
    let mut waiting: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut pending: Option<usize> = None;
    for op in nemesis {
        if op.kind == OpType::Invoke {
            if let Some(list) = waiting.get_mut(op.f.as_str())
                && !list.is_empty()
            {
                pending = Some(list.remove(0));
                continue;
            }
            out.push(Fault {
                f: op.f.clone(),
                start_index: op.index,
                start_ns: op.time_ns,
                end_ns: healer(&op.f).is_none().then_some(op.time_ns),
                target: describe_target(&op.value),
                error: None,
            });
            pending = None;
            continue;
        }
        // A completion: of a healer when `pending` is set, else of the latest fault.
        match pending.take() {
            Some(i) => out[i].end_ns = Some(op.time_ns),
            None => {
                let Some(i) = out.len().checked_sub(1) else {
                    continue;
                };
                if let Some(e) = &op.error {
                    out[i].error = Some(e.clone());
                } else if let Some(h) = healer(&out[i].f) {
                    waiting.entry(h).or_default().push(i);
                }
            }
        }
    }
    out
}
