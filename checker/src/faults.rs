//! The faults checker: did the chaos that was asked for happen? A run whose every
//! scheduled fault was refused (too few nodes for a partition, no target) tested the
//! lock without faults, which is not what a chaos run claims; it says so and is
//! `unknown`.

use crate::{CheckerResult, Validity};
use serde_json::json;
use splitbrain_history::RunInfo;

/// The name this checker has in `results.json`.
pub const NAME: &str = "faults";

/// Judges the run's nemesis from `run.json`: the mix asked for and, in its end, what
/// was applied.
pub fn check(info: &RunInfo) -> CheckerResult {
    let result = |valid, summary: String| CheckerResult {
        valid,
        summary,
        evidence: Vec::new(),
        stats: json!({ "faults": info.end.as_ref().and_then(|e| e.faults.as_ref()) }),
    };
    if info.nemesis.is_empty() {
        return result(Validity::Valid, "no faults were asked for".into());
    }
    let mix = info.nemesis.join(",");
    let Some(tally) = info.end.as_ref().and_then(|e| e.faults.as_ref()) else {
        return result(
            Validity::Unknown,
            format!("faults {mix} were asked for, and the run did not record what was applied"),
        );
    };
    let reasons = if tally.reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", tally.reasons.join("; "))
    };
    if tally.planned == 0 {
        return result(
            Validity::Unknown,
            format!(
                "faults {mix} were asked for, but the schedule had room for none (raise \
                 --time-limit or lower --nemesis-interval): no fault was tested"
            ),
        );
    }
    if tally.applied == 0 {
        return result(
            Validity::Unknown,
            format!(
                "none of the {} scheduled faults could be applied{reasons}: the lock was \
                 tested without faults",
                tally.planned
            ),
        );
    }
    result(
        Validity::Valid,
        format!(
            "{} of {} scheduled faults applied{}",
            tally.applied,
            tally.planned,
            if tally.refused > 0 {
                format!(", {} refused{reasons}", tally.refused)
            } else {
                String::new()
            }
        ),
    )
}
