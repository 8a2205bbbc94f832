//! JUnit XML for CI: a `<testsuite>` per run and a `<testcase>` per checker, so a CI
//! system that reads JUnit shows which checker failed on which run without opening the
//! report. `valid: false` is a `<failure>`, `"unknown"` an `<error>` (the run could not be
//! judged), `true` a pass; each failure's message is the checker's summary and its text
//! the evidence. The suite's `<system-out>` holds the command that reruns the run and the
//! report's path.
//!
//! The shape is the one Jenkins, GitLab and GitHub's test reporters read (Ant's JUnit
//! format); `reports/schema/junit.xsd` describes it and the tests validate every kind of
//! run against it with `xmllint`.

use crate::ReportError;
use splitbrain_checker::{Results, RunData, Validity};
use std::fmt::Write;
use std::path::{Path, PathBuf};

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

/// A Suite is one run's `<testsuite>` and its counts, for a document of one or many runs.
#[derive(Clone, Debug)]
pub struct Suite {
    /// The rendered `<testsuite>` element.
    pub xml: String,
    /// Checkers.
    pub tests: usize,
    /// Checkers that found a violation.
    pub failures: usize,
    /// Checkers that could not decide.
    pub errors: usize,
    /// Seconds of workload.
    pub time_s: f64,
}

/// The name a run's suite and cases carry: what was run, with which seed.
fn suite_name(run: &RunData) -> String {
    let i = &run.info;
    let nemesis = if i.nemesis.is_empty() {
        "none".to_owned()
    } else {
        i.nemesis.join(",")
    };
    let fencing = if i.fencing { "on" } else { "off" };
    format!(
        "splitbrain {} {} nemesis={nemesis} fencing={fencing} seed={}",
        i.lock, i.workload, i.seed
    )
}

/// `started_at` as JUnit's timestamp wants it: an ISO 8601 date and time without a zone
/// (UTC); the epoch when `started_at` is not a time.
fn timestamp(started_at: &str) -> String {
    let when = humantime::parse_rfc3339_weak(started_at.trim()).unwrap_or(std::time::UNIX_EPOCH);
    let text = humantime::format_rfc3339_seconds(when).to_string();
    text.trim_end_matches('Z').to_owned()
}

/// A verdict as results.json spells it.
fn verdict_word(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "valid",
        Validity::Invalid => "invalid",
        Validity::Unknown => "unknown",
    }
}

/// A Case is one `<testcase>`: a checker's verdict and what it said.
pub struct Case<'a> {
    /// The checker's name.
    pub name: &'a str,
    /// Its verdict.
    pub valid: Validity,
    /// Its one-line summary: the failure's message.
    pub summary: &'a str,
    /// Its evidence: the failure's text.
    pub details: String,
}

/// What a `<testsuite>` says besides its cases.
pub struct SuiteHead<'a> {
    /// The suite's name (also every case's class name).
    pub name: &'a str,
    /// Name and value pairs for `<properties>`.
    pub properties: &'a [(&'a str, String)],
    /// Seconds the suite took.
    pub time_s: f64,
    /// When it started, RFC 3339 (as run.json has it).
    pub started_at: &'a str,
    /// Text for `<system-out>`.
    pub system_out: &'a str,
}

/// Renders a `<testsuite>` of `cases`.
pub fn render_suite(head: &SuiteHead, cases: &[Case]) -> Suite {
    let name = xml(head.name);
    let count = |v: Validity| cases.iter().filter(|c| c.valid == v).count();
    let (failures, errors) = (count(Validity::Invalid), count(Validity::Unknown));
    let mut x = String::new();
    let _ = writeln!(
        x,
        "<testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"0\" time=\"{:.3}\" timestamp=\"{}\" hostname=\"localhost\">",
        cases.len(),
        head.time_s.max(0.0),
        xml(&timestamp(head.started_at)),
    );
    x.push_str("<properties>");
    for (key, value) in head.properties {
        let _ = write!(
            x,
            "<property name=\"{}\" value=\"{}\"/>",
            xml(key),
            xml(value)
        );
    }
    x.push_str("</properties>\n");
    for case in cases {
        let _ = write!(
            x,
            "<testcase classname=\"{name}\" name=\"{}\" time=\"0\">",
            xml(case.name)
        );
        let tag = match case.valid {
            Validity::Valid => None,
            Validity::Invalid => Some(("failure", "violation")),
            Validity::Unknown => Some(("error", "undecided")),
        };
        if let Some((tag, kind)) = tag {
            let _ = write!(
                x,
                "<{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>",
                xml(case.summary),
                xml(&case.details)
            );
        }
        x.push_str("</testcase>\n");
    }
    let _ = writeln!(
        x,
        "<system-out>{}</system-out>\n</testsuite>",
        xml(head.system_out)
    );
    Suite {
        xml: x,
        tests: cases.len(),
        failures,
        errors,
        time_s: head.time_s.max(0.0),
    }
}

/// Renders one checked run as a `<testsuite>`; `report` is the path of its page.
pub fn testsuite(run: &RunData, results: &Results, report: &Path) -> Suite {
    let i = &run.info;
    let properties = [
        ("lock", i.lock.clone()),
        ("workload", i.workload.clone()),
        ("nemesis", i.nemesis.join(",")),
        ("fencing", i.fencing.to_string()),
        ("seed", i.seed.to_string()),
        ("verdict", verdict_word(results.valid).to_owned()),
    ];
    let system_out = format!(
        "rerun: {}\nreport: {}",
        crate::rerun_command(&i.command, i.seed),
        report.display()
    );
    let name = suite_name(run);
    let head = SuiteHead {
        name: &name,
        properties: &properties,
        time_s: i.end.as_ref().map_or(0.0, |e| e.workload_s),
        started_at: &i.started_at,
        system_out: &system_out,
    };
    let cases: Vec<Case> = results
        .checkers
        .iter()
        .map(|(checker, r)| Case {
            name: checker,
            valid: r.valid,
            summary: &r.summary,
            details: r
                .evidence
                .iter()
                .map(|e| e.explanation.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        })
        .collect();
    render_suite(&head, &cases)
}

/// A JUnit document holding `suites` under one `<testsuites>` named `name`.
pub fn document(name: &str, suites: &[Suite]) -> String {
    let sum = |f: fn(&Suite) -> usize| suites.iter().map(f).sum::<usize>();
    let time: f64 = suites.iter().map(|s| s.time_s).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{time:.3}\">",
        xml(name),
        sum(|s| s.tests),
        sum(|s| s.failures),
        sum(|s| s.errors),
    );
    for s in suites {
        x.push_str(&s.xml);
    }
    x.push_str("</testsuites>\n");
    x
}

/// Renders the JUnit XML of a checked run.
pub fn junit_xml(run: &RunData, results: &Results) -> String {
    let dir = std::fs::canonicalize(&run.dir).unwrap_or_else(|_| run.dir.clone());
    let report = dir.join(crate::REPORT_FILE);
    document("splitbrain", &[testsuite(run, results, &report)])
}

/// Writes `text` to `path` atomically.
pub fn write_document(path: &Path, text: &str) -> Result<(), ReportError> {
    splitbrain_checker::write_atomically(path, text.as_bytes()).map_err(|source| {
        ReportError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Writes `junit.xml` for a checked run directory, atomically, and returns its path.
pub fn write_junit(dir: &Path) -> Result<PathBuf, ReportError> {
    let (run, results) = crate::load_checked(dir)?;
    let path = dir.join(JUNIT_FILE);
    write_document(&path, &junit_xml(&run, &results))?;
    Ok(path)
}
