//! `check_run_dir` on real files in a scratch directory: the verdict it writes, what it
//! tolerates (a truncated last line) and what it refuses (a malformed line, a missing
//! file), and that `results.json` is written whole.

// The paths the CLI and the runner use.
use splitbrain_checker::run_dir::{CheckError, check_run_dir};
use splitbrain_checker::{Results, Validity};
use splitbrain_history::RunInfo;
use std::path::{Path, PathBuf};

/// A scratch directory removed when dropped, even when the test fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "splitbrain-run-check-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_info(fencing: bool) -> RunInfo {
    RunInfo {
        splitbrain_version: "0.1.0".into(),
        seed: 42,
        lock: "redis".into(),
        workload: "counter".into(),
        nemesis: vec!["pause".into()],
        clients: 2,
        nodes: 3,
        time_limit_s: 1.0,
        ttl_ms: 2000,
        fencing,
        command: "splitbrain run --seed 42".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        cluster: Vec::new(),
        schedule: serde_json::Value::Null,
        extra: serde_json::Value::Null,
        end: Some(splitbrain_history::RunEnd {
            faults: Some(splitbrain_history::FaultTally {
                planned: 1,
                applied: 1,
                ..Default::default()
            }),
            ..splitbrain_history::RunEnd::completed(1.0)
        }),
    }
}

fn golden(folder: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(folder)
        .join(name);
    std::fs::read(path).unwrap()
}

/// A run directory from a golden history and (optionally) a golden resource log.
fn run_dir(name: &str, history: &[u8], resource: Option<&[u8]>, fencing: bool) -> Scratch {
    let s = Scratch::new(name);
    let info = serde_json::to_vec(&run_info(fencing)).unwrap();
    std::fs::write(s.0.join("run.json"), info).unwrap();
    std::fs::write(s.0.join("history.jsonl"), history).unwrap();
    if let Some(r) = resource {
        std::fs::write(s.0.join("resource.jsonl"), r).unwrap();
    }
    s
}

#[test]
fn a_safe_run_is_valid_and_its_results_file_says_the_same() {
    let dir = run_dir(
        "safe",
        &golden("exclusive", "sequential-holds-ok.jsonl"),
        Some(&golden("resource", "unfenced-sequential-ok.jsonl")),
        false,
    );
    let results = check_run_dir(&dir.0).unwrap();
    assert_eq!(results.valid, Validity::Valid, "{results:#?}");
    let names: Vec<&str> = results.checkers.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "availability",
            "exclusive-holding",
            "faults",
            "mutex",
            "resource-safety",
            "run-end",
            "stats",
            "well-formed"
        ]
    );
    let written: Results =
        serde_json::from_slice(&std::fs::read(dir.0.join("results.json")).unwrap()).unwrap();
    assert_eq!(written, results);
    // Only the files we wrote and results.json: no temporary file left behind.
    let mut files: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "history.jsonl",
            "resource.jsonl",
            "results.json",
            "run.json"
        ]
    );
}

#[test]
fn a_lost_update_makes_the_whole_run_invalid() {
    let dir = run_dir(
        "lost",
        &golden("exclusive", "sequential-holds-ok.jsonl"),
        Some(&golden("resource", "unfenced-lost-update-bad.jsonl")),
        false,
    );
    let results = check_run_dir(&dir.0).unwrap();
    assert_eq!(results.valid, Validity::Invalid);
    assert_eq!(results.checkers["resource-safety"].valid, Validity::Invalid);
}

#[test]
fn a_truncated_last_history_line_is_tolerated_and_noted() {
    let mut history = golden("exclusive", "sequential-holds-ok.jsonl");
    history.extend_from_slice(b"{\"index\":14,\"time_ns\":12000,\"proc");
    let dir = run_dir("truncated", &history, None, false);
    let results = check_run_dir(&dir.0).unwrap();
    let wf = &results.checkers["well-formed"];
    assert_eq!(wf.valid, Validity::Valid);
    assert!(
        wf.summary.contains("history.jsonl line 15 was truncated"),
        "{}",
        wf.summary
    );
    // Without resource.jsonl, safety at the resource is not vouched for.
    assert_eq!(results.checkers["resource-safety"].valid, Validity::Unknown);
    assert_eq!(results.valid, Validity::Unknown);
}

#[test]
fn a_malformed_history_line_is_an_error_naming_file_and_line() {
    let mut history = golden("exclusive", "sequential-holds-ok.jsonl");
    history.extend_from_slice(b"not json\n{\"index\":15}\n");
    let dir = run_dir("malformed", &history, None, false);
    let err = check_run_dir(&dir.0).unwrap_err();
    assert!(matches!(err, CheckError::Jsonl { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("history.jsonl:15:"), "{msg}");
    assert!(!dir.0.join("results.json").exists());
}

#[test]
fn a_directory_without_run_json_is_refused_with_a_hint() {
    let dir = Scratch::new("empty");
    let err = check_run_dir(&dir.0).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CheckError::Missing { .. }), "{err:?}");
    assert!(msg.contains("path=") && msg.contains("run.json"), "{msg}");
    assert!(msg.contains("run directory"), "{msg}");
}

#[test]
fn a_malformed_run_json_names_the_file() {
    let dir = Scratch::new("badrun");
    std::fs::write(dir.0.join("run.json"), b"{\"seed\": \"forty-two\"}").unwrap();
    let msg = check_run_dir(&dir.0).unwrap_err().to_string();
    assert!(msg.contains("run.json"), "{msg}");
    assert!(msg.starts_with("malformed file"), "{msg}");
}
