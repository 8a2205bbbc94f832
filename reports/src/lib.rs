//! splitbrain-reports renders a run as a self-contained HTML page: the verdict, the
//! configuration and seed, per-process timelines drawn with plotters, nemesis intervals
//! shaded, and each violation explained.
//!
//! The timeline is usable on its own:
//!
//! ```
//! use splitbrain_reports::timeline::{Outcome, Span, Timeline, render_svg};
//!
//! let t = Timeline {
//!     rows: vec!["process 0".into()],
//!     spans: vec![Span {
//!         row: 0,
//!         start_ns: 0,
//!         end_ns: 1_000_000,
//!         outcome: Outcome::Ok,
//!         label: "acquire".into(),
//!         highlighted: false,
//!     }],
//!     ..Timeline::default()
//! };
//! let svg = render_svg(&t)?;
//! assert!(svg.starts_with("<svg"));
//! # Ok::<(), splitbrain_reports::ReportError>(())
//! ```
//!
//! On a run directory that `splitbrain_checker::check_run_dir` has checked,
//! [`write_report`] writes `index.html` and [`write_junit`] writes `junit.xml`.

pub mod availability_plot;
pub mod causes;
pub mod clock_plot;
mod error;
pub mod export;
pub mod junit;
pub mod linear_page;
mod page;
pub mod perf_plot;
pub mod plot;
pub mod run_timeline;
pub mod timeline;

pub use error::ReportError;
pub use junit::{
    Case, JUNIT_FILE, Suite, SuiteHead, document, junit_xml, render_suite, testsuite,
    write_document, write_junit,
};
pub use page::{esc, rerun_command};

use splitbrain_checker::{CheckError, Results, RunData, run_dir};
use std::path::{Path, PathBuf};

/// The file name of the report page.
pub const REPORT_FILE: &str = "index.html";

/// Reads a checked run directory: its files, and the results the checkers wrote.
pub fn load_checked(dir: &Path) -> Result<(RunData, Results), ReportError> {
    let run = run_dir::load_run_dir(dir).map_err(|source| ReportError::Read { source })?;
    let results_path = dir.join(run_dir::RESULTS_FILE);
    let results: Results = run_dir::read_json(&results_path).map_err(|source| match source {
        CheckError::Missing { path } => ReportError::NotChecked {
            path,
            dir: dir.to_path_buf(),
        },
        source => ReportError::Read { source },
    })?;
    Ok((run, results))
}

/// Reads a checked run directory (run.json, history.jsonl, resource.jsonl if present,
/// results.json) and writes its report to `index.html` there, atomically. Returns the
/// page's path.
pub fn write_report(dir: &Path) -> Result<PathBuf, ReportError> {
    let (run, results) = load_checked(dir)?;
    let html = page::render(&run, &results)?;
    let path = dir.join(REPORT_FILE);
    splitbrain_checker::write_atomically(&path, html.as_bytes()).map_err(|source| {
        ReportError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}
