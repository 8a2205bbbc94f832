//! The run-end checker: did the run reach its end? A history cut short by Ctrl-C, by a
//! CI runner's SIGTERM or by a killed controller may look clean only because the part
//! that would have failed never ran, so such a run is `unknown`, whatever its ops say.

use crate::{CheckerResult, Validity};
use serde_json::json;
use splitbrain_history::RunEnd;

/// The name this checker has in `results.json`.
pub const NAME: &str = "run-end";

/// Judges how the run ended, from `run.json`'s `end` (None: never written).
pub fn check(end: Option<&RunEnd>, time_limit_s: f64) -> CheckerResult {
    let (valid, summary) = match end {
        None => (
            Validity::Unknown,
            "the run never reached its end (its controller was killed, or is still \
             running): the history covers an unknown part of it"
                .to_string(),
        ),
        Some(e) if e.completed => (
            Validity::Valid,
            format!("the workload ran its {time_limit_s:.0} s"),
        ),
        Some(e) => {
            let by = e.interrupted_by.as_deref().unwrap_or("a signal");
            let summary = if e.workload_s <= 0.0 {
                format!("interrupted by {by} before the workload started: nothing was tested")
            } else {
                format!(
                    "interrupted by {by} after {:.1} s of {time_limit_s:.0} s of workload: \
                     the verdict would cover only part of a run",
                    e.workload_s
                )
            };
            (Validity::Unknown, summary)
        }
    };
    CheckerResult {
        valid,
        summary,
        evidence: Vec::new(),
        stats: json!({ "end": end }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_run_that_completed_is_valid() {
        assert_eq!(
            check(Some(&RunEnd::completed(30.0)), 30.0).valid,
            Validity::Valid
        );
        let killed = check(None, 30.0);
        assert_eq!(killed.valid, Validity::Unknown);
        assert!(killed.summary.contains("never reached its end"));
        let interrupted = RunEnd {
            completed: false,
            interrupted_by: Some("SIGINT".into()),
            workload_s: 3.2,
            faults: None,
        };
        let r = check(Some(&interrupted), 30.0);
        assert_eq!(r.valid, Validity::Unknown);
        assert!(
            r.summary.contains("interrupted by SIGINT after 3.2 s"),
            "{}",
            r.summary
        );
    }
}
