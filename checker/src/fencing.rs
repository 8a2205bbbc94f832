//! The fencing-tokens checker: a lock's tokens are only worth something if every grant
//! gets a larger one than every grant before it. Two holders with the same token, or a
//! grant whose token is not above one handed out earlier (a Sentinel failover that lost
//! INCRs on the old primary does this), let the resource take a deposed holder's write
//! for the new holder's.
//!
//! "Before" is real time as the controller saw it: grant B comes after grant A when B's
//! acquire was invoked after A's returned. Grants that overlap in time may come in
//! either order, but never share a token.

use crate::{CheckerResult, Evidence, Validity};
use serde_json::json;
use splitbrain_history::{History, OpType};
use std::collections::{BTreeMap, HashMap};

/// The name this checker has in `results.json`.
pub const NAME: &str = "fencing-tokens";

/// Evidence entries kept at most; the count is always complete.
const MAX_EVIDENCE: usize = 100;

/// A Grant is one `ok` acquire that carried a token.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Grant {
    process: String,
    invoke_ns: u64,
    ok_ns: u64,
    ok_index: u64,
    token: u64,
}

/// Grants with tokens, by lock key; and how many grants had no token.
fn grants(history: &History) -> (BTreeMap<String, Vec<Grant>>, usize) {
    let mut by_key: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
    let mut untokened = 0;
    for pair in history.pairs() {
        let invoke = &history.ops[pair.invoke];
        if !invoke.is_client() || invoke.f != "acquire" {
            continue;
        }
        let Some(done) = pair.completion.map(|c| &history.ops[c]) else {
            continue;
        };
        if done.kind != OpType::Ok {
            continue;
        }
        let Some(token) = done.token.or(invoke.token) else {
            untokened += 1;
            continue;
        };
        by_key
            .entry(crate::exclusive::key_of(&invoke.value))
            .or_default()
            .push(Grant {
                process: invoke.process.to_string(),
                invoke_ns: invoke.time_ns,
                ok_ns: done.time_ns,
                ok_index: done.index,
                token,
            });
    }
    (by_key, untokened)
}

/// Every violation among one key's grants.
fn violations(key: &str, grants: &[Grant]) -> Vec<Evidence> {
    let mut out = Vec::new();
    let mut first_with: HashMap<u64, &Grant> = HashMap::new();
    for g in grants {
        if let Some(earlier) = first_with.get(&g.token) {
            out.push(evidence(
                format!(
                    "lock {key:?}: token {} was granted twice, to process {} (op {}) and to \
                     process {} (op {})",
                    g.token, earlier.process, earlier.ok_index, g.process, g.ok_index
                ),
                earlier,
                g,
            ));
        } else {
            first_with.insert(g.token, g);
        }
    }
    // Sweep grants by invocation; `done` holds, among the grants that returned before
    // the current one was invoked, the one with the largest token.
    let mut by_invoke: Vec<&Grant> = grants.iter().collect();
    by_invoke.sort_by_key(|g| (g.invoke_ns, g.ok_index));
    let mut by_return: Vec<&Grant> = grants.iter().collect();
    by_return.sort_by_key(|g| (g.ok_ns, g.ok_index));
    let mut returned = by_return.iter().peekable();
    let mut largest: Option<&Grant> = None;
    for g in by_invoke {
        while let Some(r) = returned.next_if(|r| r.ok_ns < g.invoke_ns) {
            if largest.is_none_or(|l| r.token > l.token) {
                largest = Some(r);
            }
        }
        if let Some(l) = largest.filter(|l| g.token < l.token) {
            out.push(evidence(
                format!(
                    "lock {key:?}: process {} was granted token {} (op {}) after process {} \
                     had been granted the larger token {} (op {})",
                    g.process, g.token, g.ok_index, l.process, l.token, l.ok_index
                ),
                l,
                g,
            ));
        }
    }
    out
}

fn evidence(explanation: String, a: &Grant, b: &Grant) -> Evidence {
    Evidence {
        explanation,
        op_indexes: vec![a.ok_index, b.ok_index],
        detail: json!({ "tokens": [a.token, b.token] }),
        ..Evidence::default()
    }
}

/// Checks that every lock's tokens increase strictly over the grants of a history.
pub fn check(history: &History) -> CheckerResult {
    let (by_key, untokened) = grants(history);
    let granted: usize = by_key.values().map(Vec::len).sum();
    let mut found: Vec<Evidence> = by_key
        .iter()
        .flat_map(|(key, list)| violations(key, list))
        .collect();
    let count = found.len();
    found.truncate(MAX_EVIDENCE);
    let stats = json!({ "grants_with_token": granted, "grants_without_token": untokened, "violations": count });
    let (valid, summary) = if count > 0 {
        (
            Validity::Invalid,
            format!(
                "{count} fencing-token violation{} in {granted} grants (first: {})",
                if count == 1 { "" } else { "s" },
                found[0].explanation
            ),
        )
    } else if granted == 0 {
        (
            Validity::Unknown,
            format!(
                "no grant carried a fencing token ({untokened} without): the tokens were \
                 not tested"
            ),
        )
    } else {
        (
            Validity::Valid,
            format!("{granted} grants, tokens strictly increasing"),
        )
    };
    CheckerResult {
        valid,
        summary,
        evidence: found,
        stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitbrain_history::{Op, Process};

    /// An acquire by `p` from `t0` to `t1` granting `token`.
    fn grant(ops: &mut Vec<Op>, p: u64, t0: u64, t1: u64, token: Option<u64>) {
        let i = ops.len() as u64;
        ops.push(Op::new(
            i,
            t0,
            Process::Client(p),
            OpType::Invoke,
            "acquire",
            json!("k"),
        ));
        let mut ok = Op::new(
            i + 1,
            t1,
            Process::Client(p),
            OpType::Ok,
            "acquire",
            json!("k"),
        );
        ok.token = token;
        ops.push(ok);
    }

    fn history(grants: &[(u64, u64, u64, Option<u64>)]) -> History {
        let mut ops = Vec::new();
        for &(p, t0, t1, token) in grants {
            grant(&mut ops, p, t0, t1, token);
        }
        ops.sort_by_key(|o| o.time_ns);
        for (i, o) in ops.iter_mut().enumerate() {
            o.index = i as u64;
        }
        History::new(ops)
    }

    #[test]
    fn increasing_tokens_are_valid() {
        let h = history(&[
            (0, 0, 10, Some(1)),
            (1, 20, 30, Some(2)),
            (2, 40, 50, Some(5)),
        ]);
        assert_eq!(check(&h).valid, Validity::Valid);
    }

    #[test]
    fn one_token_for_two_holders_is_a_violation() {
        let h = history(&[(0, 0, 10, Some(7)), (1, 20, 30, Some(7))]);
        let r = check(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert!(
            r.summary.contains("token 7 was granted twice"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn a_smaller_token_after_a_larger_one_is_a_violation_but_concurrent_grants_may_swap() {
        let later_smaller = history(&[(0, 0, 10, Some(9)), (1, 20, 30, Some(3))]);
        let r = check(&later_smaller);
        assert_eq!(r.valid, Validity::Invalid);
        assert!(r.summary.contains("after process"), "{}", r.summary);
        let concurrent = history(&[(0, 0, 30, Some(9)), (1, 5, 20, Some(3))]);
        assert_eq!(check(&concurrent).valid, Validity::Valid);
    }

    #[test]
    fn no_tokens_at_all_is_unknown() {
        let h = history(&[(0, 0, 10, None)]);
        assert_eq!(check(&h).valid, Validity::Unknown);
    }
}
