//! Exit codes, and which errors are whose fault.
//!
//! Jepsen's codes for verdicts (0 valid, 1 invalid, 2 unknown), then three codes for a
//! command that produced no verdict, so that a CI job can tell "fix your command" from
//! "fix this machine" from "report a bug":
//!
//! | code | meaning |
//! |---|---|
//! | 253 | the machine is not set up: a program is missing, or namespaces cannot be made |
//! | 254 | bad input: an argument, a path or a file that cannot be used |
//! | 255 | an internal error of splitbrain: a bug to report |

use splitbrain_checker::CheckError;
use splitbrain_checker::linear::LinearError;
use splitbrain_history::ReadError;
use splitbrain_nemesis::ClusterError;
use splitbrain_reports::ReportError;
use splitbrain_runner::RunError;
use std::error::Error;

/// Exit code when the machine lacks what a run needs (a program, the right to make
/// namespaces); the message says what to install or allow.
pub const EXIT_SETUP: u8 = 253;
/// Exit code for arguments, paths or files that cannot be used.
pub const EXIT_BAD_INPUT: u8 = 254;
/// Exit code for an internal error: a bug in splitbrain.
pub const EXIT_INTERNAL: u8 = 255;

/// A BadInput is an error caused by what the user gave, with what to do instead.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for BadInput {}

/// A `bail!` for bad input: returns early with a [`BadInput`] error.
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::exit::BadInput(format!($($arg)*))))
    };
}
pub(crate) use bad_input;

/// The exit code for an error: the first error in its chain that says whose fault it
/// is decides; an error nobody claims is internal.
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    e.chain().find_map(classify).unwrap_or(EXIT_INTERNAL)
}

fn classify(cause: &(dyn Error + 'static)) -> Option<u8> {
    if cause.is::<BadInput>()
        || cause.is::<ReadError>()
        || cause.is::<LinearError>()
        || cause.is::<CheckError>()
    {
        return Some(EXIT_BAD_INPUT);
    }
    if let Some(e) = cause.downcast_ref::<RunError>() {
        return Some(run_error_code(e));
    }
    if let Some(e) = cause.downcast_ref::<ClusterError>() {
        return cluster_error_code(e);
    }
    if let Some(e) = cause.downcast_ref::<ReportError>() {
        return Some(match e {
            ReportError::Plot { .. } => EXIT_INTERNAL,
            _ => EXIT_BAD_INPUT,
        });
    }
    None
}

/// A run's own files failing to check or report is a bug, not the user's input.
fn run_error_code(e: &RunError) -> u8 {
    match e {
        RunError::Config(_) | RunError::ResultsDir { .. } => EXIT_BAD_INPUT,
        RunError::MissingBuild { .. } => EXIT_SETUP,
        RunError::Cluster(c) => cluster_error_code(c).unwrap_or(EXIT_INTERNAL),
        _ => EXIT_INTERNAL,
    }
}

fn cluster_error_code(e: &ClusterError) -> Option<u8> {
    match e {
        ClusterError::MissingProgram { .. }
        | ClusterError::UserNamespace { .. }
        | ClusterError::Kube { .. } => Some(EXIT_SETUP),
        ClusterError::InvalidConfig { .. }
        | ClusterError::UnknownFault { .. }
        | ClusterError::InvalidGrudge { .. } => Some(EXIT_BAD_INPUT),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_first_error_that_claims_a_fault_decides() {
        let bad: anyhow::Error = BadInput("no".into()).into();
        assert_eq!(exit_code_for(&bad), EXIT_BAD_INPUT);
        let wrapped = Err::<(), _>(bad).context("checking h.jsonl").unwrap_err();
        assert_eq!(exit_code_for(&wrapped), EXIT_BAD_INPUT);
        let missing = RunError::Cluster(ClusterError::MissingProgram {
            program: "redis-server".into(),
            package: "redis-server".into(),
        });
        assert_eq!(exit_code_for(&missing.into()), EXIT_SETUP);
        let unbuilt = RunError::MissingBuild {
            program: "kube-apiserver".into(),
            path: "/nonexistent/kube-apiserver".into(),
            script: "scripts/build-kubernetes",
        };
        assert_eq!(exit_code_for(&unbuilt.into()), EXIT_SETUP);
        let report = RunError::Report(ReportError::Plot {
            message: "x".into(),
        });
        assert_eq!(exit_code_for(&report.into()), EXIT_INTERNAL);
        assert_eq!(exit_code_for(&anyhow::anyhow!("odd")), EXIT_INTERNAL);
    }
}
