//! The stats checker, after Jepsen's: how many operations of each kind succeeded, failed
//! or ended unknown, and whether the run tested anything at all. A lock that never
//! grants, or a fenced resource that refused every write, leaves the safety checkers
//! nothing to find: their silence is not a pass, so such a run is `unknown`.

use crate::run_dir::Workload;
use crate::{CheckerResult, Validity};
use serde_json::json;
use splitbrain_history::{History, OpType, ResourceAction, ResourceEntry};
use std::collections::BTreeMap;

/// The name this checker has in `results.json`.
pub const NAME: &str = "stats";

/// Outcome counts of one `f`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Completed `ok`.
    pub ok: usize,
    /// Completed `fail`.
    pub fail: usize,
    /// Completed `info`, or never completed.
    pub info: usize,
}

/// Counts the outcomes of client operations by `f`.
pub fn counts(history: &History) -> BTreeMap<String, Counts> {
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for pair in history.pairs() {
        let invoke = &history.ops[pair.invoke];
        if !invoke.is_client() {
            continue;
        }
        let c = out.entry(invoke.f.clone()).or_default();
        match history.outcome(pair) {
            OpType::Ok => c.ok += 1,
            OpType::Fail => c.fail += 1,
            _ => c.info += 1,
        }
    }
    out
}

/// Judges whether the run did the work its workload is for.
pub fn check(
    workload: Workload,
    history: &History,
    resource: Option<&[ResourceEntry]>,
) -> CheckerResult {
    let by_f = counts(history);
    let ok = |f: &str| by_f.get(f).map_or(0, |c| c.ok);
    let nothing = match workload {
        Workload::Optimistic if ok("cas") == 0 => Some(format!(
            "no compare-and-set succeeded ({} reads ok): nothing was tested",
            ok("read")
        )),
        Workload::Optimistic => None,
        Workload::Counter | Workload::Leader if ok("acquire") == 0 => {
            Some("no client ever acquired the lock: nothing was tested".to_string())
        }
        Workload::Counter | Workload::Leader => resource.and_then(no_accepted_write),
    };
    let described: Vec<String> = by_f
        .iter()
        .map(|(f, c)| format!("{f} {}/{}/{}", c.ok, c.fail, c.info))
        .collect();
    let figures = format!("ok/fail/info: {}", described.join(", "));
    let (valid, summary) = match nothing {
        Some(why) => (Validity::Unknown, format!("{why}; {figures}")),
        None => (Validity::Valid, figures),
    };
    CheckerResult {
        valid,
        summary,
        evidence: Vec::new(),
        stats: json!({ "by_f": by_f }),
    }
}

/// Why nothing reached the resource, when no write was accepted.
fn no_accepted_write(entries: &[ResourceEntry]) -> Option<String> {
    let writes: Vec<&ResourceEntry> = entries
        .iter()
        .filter(|e| e.op == ResourceAction::Write)
        .collect();
    if writes.iter().any(|w| w.accepted != Some(false)) {
        return None;
    }
    if writes.is_empty() {
        return Some("no holder wrote to the resource: nothing was tested".to_string());
    }
    let untokened = writes.iter().filter(|w| w.token.is_none()).count();
    Some(if untokened == writes.len() {
        format!(
            "the resource refused all {} writes for want of a fencing token: the lock \
             hands out none, so with --fencing on nothing was tested (give its grants a \
             token, or run with --fencing off)",
            writes.len()
        )
    } else {
        format!(
            "the resource refused all {} writes: nothing was tested",
            writes.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use splitbrain_history::{Op, Process};

    fn op(i: u64, p: u64, kind: OpType, f: &str) -> Op {
        Op::new(i, i, Process::Client(p), kind, f, Value::Null)
    }

    fn write(seq: u64, token: Option<u64>, accepted: bool) -> ResourceEntry {
        ResourceEntry {
            seq,
            process: 0,
            token,
            op: ResourceAction::Write,
            value: json!(1),
            accepted: Some(accepted),
            max_token: None,
        }
    }

    #[test]
    fn a_lock_that_never_granted_tested_nothing() {
        let h = History::new(vec![
            op(0, 0, OpType::Invoke, "acquire"),
            op(1, 0, OpType::Fail, "acquire"),
        ]);
        let r = check(Workload::Counter, &h, Some(&[]));
        assert_eq!(r.valid, Validity::Unknown);
        assert!(
            r.summary.contains("no client ever acquired the lock"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn writes_all_refused_for_want_of_a_token_tested_nothing() {
        let h = History::new(vec![
            op(0, 0, OpType::Invoke, "acquire"),
            op(1, 0, OpType::Ok, "acquire"),
        ]);
        let refused = [write(0, None, false), write(1, None, false)];
        let r = check(Workload::Counter, &h, Some(&refused));
        assert_eq!(r.valid, Validity::Unknown);
        assert!(
            r.summary.contains("for want of a fencing token"),
            "{}",
            r.summary
        );
        let one_accepted = [write(0, Some(1), true), write(1, None, false)];
        assert_eq!(
            check(Workload::Counter, &h, Some(&one_accepted)).valid,
            Validity::Valid
        );
    }

    #[test]
    fn an_optimistic_run_needs_one_successful_cas() {
        let h = History::new(vec![
            op(0, 0, OpType::Invoke, "cas"),
            op(1, 0, OpType::Fail, "cas"),
        ]);
        assert_eq!(
            check(Workload::Optimistic, &h, None).valid,
            Validity::Unknown
        );
        let mut ok = h.clone();
        ok.ops[1].kind = OpType::Ok;
        assert_eq!(
            check(Workload::Optimistic, &ok, None).valid,
            Validity::Valid
        );
    }
}
