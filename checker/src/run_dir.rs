//! Checking a stored run: read the run directory, run the checkers, write `results.json`.
//!
//! A run directory holds `run.json` (the configuration), `history.jsonl` (the controller's
//! record) and, for workloads with a resource, `resource.jsonl`. A controller killed
//! mid-write leaves a truncated last line in a JSONL file; that is tolerated and noted in
//! the `well-formed` result, while a bad line anywhere else is an error naming the file
//! and the line.

pub use crate::error::CheckError;

use crate::models::CasRegister;
use crate::{
    CheckerResult, Results, Validity, availability, exclusive, faults, fencing, mutex,
    resource_safety, run_end, split_brain, stats, wellformed,
};
use splitbrain_history::jsonl::{self, Records};
use splitbrain_history::{History, Op, ResourceEntry, RunInfo};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file name of the run's configuration.
pub const RUN_FILE: &str = "run.json";
/// The file name of the controller's history.
pub const HISTORY_FILE: &str = "history.jsonl";
/// The file name of the resource's log.
pub const RESOURCE_FILE: &str = "resource.jsonl";
/// The file name of the checkers' verdicts.
pub const RESULTS_FILE: &str = "results.json";

/// A RunData is a run directory read into memory.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// `run.json`.
    pub info: RunInfo,
    /// `history.jsonl`, without a truncated last line.
    pub history: History,
    /// `resource.jsonl`, or None when the run has none.
    pub resource: Option<Vec<ResourceEntry>>,
    /// Remarks from reading, such as a truncated last line, for the report.
    pub notes: Vec<String>,
}

/// Reads a run directory.
pub fn load_run_dir(dir: &Path) -> Result<RunData, CheckError> {
    let info = read_json::<RunInfo>(&dir.join(RUN_FILE))?;
    let mut notes = Vec::new();
    let history_path = dir.join(HISTORY_FILE);
    let history = read_jsonl::<Op>(&history_path, &mut notes)?
        .map(History::new)
        .ok_or(CheckError::Missing { path: history_path })?;
    let resource = read_jsonl::<ResourceEntry>(&dir.join(RESOURCE_FILE), &mut notes)?;
    Ok(RunData {
        dir: dir.to_path_buf(),
        info,
        history,
        resource,
        notes,
    })
}

/// Reads and parses a JSON file, naming the file in any error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CheckError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => CheckError::Missing {
            path: path.to_path_buf(),
        },
        _ => CheckError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    serde_json::from_slice(&bytes).map_err(|source| CheckError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a JSONL file; None when it does not exist. A truncated last line is dropped and
/// noted.
fn read_jsonl<T: serde::de::DeserializeOwned>(
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<T>>, CheckError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let records: Records<T> =
        jsonl::parse(path, &bytes).map_err(|source| CheckError::Jsonl { source })?;
    if let Some(line) = records.truncated_line {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        notes.push(format!(
            "{name} line {line} was truncated (the writer was killed mid-write) and ignored; \
             the {} records before it were checked",
            records.items.len()
        ));
    }
    Ok(Some(records.items))
}

/// The name of the linearizability result in `results.json`.
pub const LINEARIZABILITY: &str = "linearizability";

/// How long the linearizability search of a run may take before it answers `unknown`.
const LINEAR_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A Workload is what a run's clients did, which decides the checkers it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Acquire, read-modify-write the resource's counter, release.
    Counter,
    /// Candidates elected with the lock, doing work on the resource as leaders.
    Leader,
    /// Compare-and-set on a counter in the lock system's store, without a lock.
    Optimistic,
}

impl Workload {
    /// The workload `run.json` names, or None for a name this version does not know.
    pub fn from_name(name: &str) -> Option<Workload> {
        match name {
            "counter" => Some(Workload::Counter),
            "leader" => Some(Workload::Leader),
            "optimistic" => Some(Workload::Optimistic),
            _ => None,
        }
    }

    /// Whether clients take a lock and work on the resource.
    fn takes_a_lock(self) -> bool {
        matches!(self, Workload::Counter | Workload::Leader)
    }
}

/// A RunChecker is one checker of stored runs: its name in `results.json` and how it
/// judges a run, or None when it does not apply to this run.
struct RunChecker {
    name: &'static str,
    check: fn(&RunData, Workload) -> Option<CheckerResult>,
}

/// Every checker of stored runs, in one place: each decides from the run's workload
/// and configuration whether it applies.
const RUN_CHECKERS: &[RunChecker] = &[
    RunChecker {
        name: wellformed::NAME,
        check: |run, _| Some(wellformed::check(&run.history, &run.notes)),
    },
    RunChecker {
        name: run_end::NAME,
        check: |run, _| Some(run_end::check(run.info.end.as_ref(), run.info.time_limit_s)),
    },
    RunChecker {
        name: faults::NAME,
        check: |run, _| Some(faults::check(&run.info)),
    },
    RunChecker {
        name: stats::NAME,
        check: |run, w| Some(stats::check(w, &run.history, run.resource.as_deref())),
    },
    RunChecker {
        name: exclusive::NAME,
        check: |run, w| {
            w.takes_a_lock()
                .then(|| exclusive::check(&run.history, run.info.fencing))
        },
    },
    RunChecker {
        name: resource_safety::NAME,
        check: |run, w| w.takes_a_lock().then(|| check_resource(run)),
    },
    RunChecker {
        name: mutex::NAME,
        check: |run, w| {
            (w == Workload::Counter)
                .then(|| mutex::check(&run.history, run.info.ttl_ms, run.info.fencing))
        },
    },
    RunChecker {
        name: availability::NAME,
        check: |run, w| {
            w.takes_a_lock()
                .then(|| availability::check(&run.history, run.info.ttl_ms))
        },
    },
    RunChecker {
        name: fencing::NAME,
        check: |run, w| {
            (w.takes_a_lock() && run.info.fencing).then(|| fencing::check(&run.history))
        },
    },
    RunChecker {
        name: split_brain::NAME,
        check: |run, w| {
            (w == Workload::Leader)
                .then(|| split_brain::check(&run.history, run.resource.as_deref()))
        },
    },
    RunChecker {
        name: LINEARIZABILITY,
        check: |run, w| (w == Workload::Optimistic).then(|| check_linearizable(run)),
    },
];

/// Runs the checkers that apply to the run's workload (see `RUN_CHECKERS`). A workload
/// this version does not know gets only a `workload` result saying so, `unknown`.
pub fn check_run(run: &RunData) -> BTreeMap<String, CheckerResult> {
    let mut out = BTreeMap::new();
    let Some(workload) = Workload::from_name(&run.info.workload) else {
        out.insert(
            "workload".to_string(),
            CheckerResult {
                valid: Validity::Unknown,
                summary: format!(
                    "workload={:?} is not one this splitbrain knows (counter, leader, \
                     optimistic): nothing was checked",
                    run.info.workload
                ),
                evidence: Vec::new(),
                stats: serde_json::Value::Null,
            },
        );
        return out;
    };
    for checker in RUN_CHECKERS {
        if let Some(result) = (checker.check)(run, workload) {
            out.insert(checker.name.to_string(), result);
        }
    }
    out
}

/// The optimistic workload's history against a compare-and-set register that starts
/// at 0 (a counter never written reads as 0).
fn check_linearizable(run: &RunData) -> CheckerResult {
    use crate::linear::{CheckOptions, check_history};
    let options = CheckOptions {
        time_limit: Some(LINEAR_TIME_LIMIT),
        ..CheckOptions::default()
    };
    let init = serde_json::json!(0);
    match check_history::<CasRegister>(&run.history, Some(&init), &options) {
        Ok(report) => report.to_checker_result(),
        Err(e) => CheckerResult {
            valid: Validity::Unknown,
            summary: format!("the history could not be checked for linearizability: {e}"),
            evidence: Vec::new(),
            stats: serde_json::Value::Null,
        },
    }
}

/// Safety at the resource, from its own log.
fn check_resource(run: &RunData) -> CheckerResult {
    match &run.resource {
        Some(entries) => resource_safety::check(entries, run.info.fencing),
        None => CheckerResult {
            valid: Validity::Unknown,
            summary: format!(
                "no {RESOURCE_FILE} in the run directory: safety at the resource was not checked"
            ),
            evidence: Vec::new(),
            stats: serde_json::Value::Null,
        },
    }
}

/// Checks a run directory: reads its files, runs the checkers, composes the verdict and
/// writes it to `results.json` (atomically: a reader sees the old file or the new one,
/// never half of one).
pub fn check_run_dir(dir: &Path) -> Result<Results, CheckError> {
    let run = load_run_dir(dir)?;
    let results = Results::compose(check_run(&run));
    write_results(dir, &results)?;
    Ok(results)
}

/// Writes `results.json` in `dir` atomically and returns its path.
pub fn write_results(dir: &Path, results: &Results) -> Result<PathBuf, CheckError> {
    let path = dir.join(RESULTS_FILE);
    let mut bytes = serde_json::to_vec_pretty(results).map_err(|source| CheckError::Json {
        path: path.clone(),
        source,
    })?;
    bytes.push(b'\n');
    write_atomically(&path, &bytes).map_err(|source| CheckError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes `bytes` to `path` by writing a temporary file beside it, syncing it and renaming
/// it over `path`, so that a crash leaves either the old file or the new one. The
/// temporary file is removed if anything fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
