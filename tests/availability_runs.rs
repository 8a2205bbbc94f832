//! A lock that stops granting is reported: the availability checker flags a plug-in
//! whose lock grants normally for a few seconds and then refuses every acquire, with no
//! fault in force, and leaves a lock that keeps granting alone. One client on one node
//! (the plug-in keeps its lock in memory); needs root.

mod common;

use common::*;
use std::path::Path;

fn run_single_client_lock(out: &Path, plugin_args: &str) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/single_client_lock.py");
    let command = format!("python3 {} {plugin_args}", script.display());
    splitbrain(&[
        "run",
        "--lock",
        "external",
        "--plugin-command",
        &command,
        "--nemesis",
        "none",
        "--time-limit",
        "14",
        "--clients",
        "1",
        "--nodes",
        "1",
        "--ttl-ms",
        "300",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn a_lock_that_stops_granting_with_no_fault_in_force_is_stuck() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = run_single_client_lock(out.path(), "--stuck-after-s 4");
    assert_exit(&r, 1);
    let run = latest_run(out.path());
    let results = results(&run);
    let availability = &results["checkers"]["availability"];
    assert_eq!(availability["valid"], false, "{results:#}");
    let page = std::fs::read_to_string(run.join("index.html")).unwrap();
    assert!(
        page.contains("<h2 id=\"availability\">"),
        "the report plots availability"
    );
    assert!(page.contains("acquires per second"));
    assert!(
        availability["summary"]
            .as_str()
            .unwrap()
            .starts_with("stuck:"),
        "{availability:#}"
    );
    assert_eq!(availability["evidence"][0]["detail"]["kind"], "stuck");
    // Every safety checker is content: only availability says what is wrong.
    assert_eq!(results["checkers"]["exclusive-holding"]["valid"], true);
    assert_eq!(results["checkers"]["resource-safety"]["valid"], true);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("availability"), "{stdout}");
}

#[test]
fn a_lock_that_keeps_granting_is_available() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = run_single_client_lock(out.path(), "");
    assert_exit(&r, 0);
    let results = results(&latest_run(out.path()));
    let availability = &results["checkers"]["availability"];
    assert_eq!(availability["valid"], true, "{availability:#}");
    let per_second = availability["stats"]["per_second"]["granted"]
        .as_array()
        .unwrap();
    assert!(per_second.len() >= 14, "{per_second:?}");
}
