//! JUnit XML for CI: one test case per checker, so a CI system that reads JUnit shows
//! which checker failed on which run without opening the report. `valid: false` is a
//! `<failure>`, `"unknown"` an `<error>` (the run could not be judged), `true` a pass.

use crate::ReportError;
use splitbrain_checker::{Results, RunData, Validity};
use std::fmt::Write;

/// The file name of the JUnit report.
pub const JUNIT_FILE: &str = "junit.xml";

/// Escapes text for XML attributes and content, dropping the control characters XML 1.0
/// cannot carry at all.
fn xml(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    html_escape::encode_double_quoted_attribute(&kept).into_owned()
}

/// Renders the JUnit XML of a checked run.
pub fn junit_xml(run: &RunData, results: &Results) -> String {
    let i = &run.info;
    let suite = format!("splitbrain {} {} seed {}", i.lock, i.workload, i.seed);
    let count = |v: Validity| results.checkers.values().filter(|r| r.valid == v).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites><testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        xml(&suite),
        results.checkers.len(),
        count(Validity::Invalid),
        count(Validity::Unknown)
    );
    for (name, r) in &results.checkers {
        let _ = write!(
            x,
            "<testcase classname=\"{}\" name=\"{}\">",
            xml(&suite),
            xml(name)
        );
        let details: Vec<&str> = r.evidence.iter().map(|e| e.explanation.as_str()).collect();
        let tag = match r.valid {
            Validity::Valid => None,
            Validity::Invalid => Some("failure"),
            Validity::Unknown => Some("error"),
        };
        if let Some(tag) = tag {
            let _ = write!(
                x,
                "<{tag} message=\"{}\">{}</{tag}>",
                xml(&r.summary),
                xml(&details.join("\n"))
            );
        }
        x.push_str("</testcase>\n");
    }
    let _ = writeln!(
        x,
        "<system-out>{}</system-out></testsuite></testsuites>",
        xml(&format!(
            "rerun: {}",
            crate::rerun_command(&i.command, i.seed)
        ))
    );
    x
}

/// Writes `junit.xml` for a checked run directory, atomically, and returns its path.
pub fn write_junit(dir: &std::path::Path) -> Result<std::path::PathBuf, ReportError> {
    let (run, results) = crate::load_checked(dir)?;
    let path = dir.join(JUNIT_FILE);
    splitbrain_checker::write_atomically(&path, junit_xml(&run, &results).as_bytes()).map_err(
        |source| ReportError::Write {
            path: path.clone(),
            source,
        },
    )?;
    Ok(path)
}
