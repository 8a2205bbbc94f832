//! End-to-end chaos runs on the local backend: real namespaces, a real redis-server, real
//! signals. These need root (CI is root) and take seconds each.

mod common;

use common::*;

#[test]
fn pausing_the_holder_past_its_ttl_breaks_unfenced_redis_lock() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&canary_args(out.path().to_str().unwrap(), "off"));
    assert_exit(&result, 1);
    // Not on a terminal: the schedule names whom each fault strikes, and plain progress
    // lines appear every few seconds with the counts and the faults in force.
    let said = String::from_utf8_lossy(&result.stderr);
    assert!(
        said.contains("pause-holder") && said.contains("target: the agent of the lock's holder"),
        "{said}"
    );
    assert!(said.matches("splitbrain: workload ").count() >= 2, "{said}");
    assert!(said.contains("ops invoked="), "{said}");
    let run = latest_run(out.path());
    let r = results(&run);
    assert_eq!(r["valid"], false);
    assert_lost_updates(&r);
    let safety = &r["checkers"]["resource-safety"];
    assert!(
        safety["stats"]["overlapping_sections"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "expected overlapping critical sections: {safety:#}"
    );
    assert!(run.join("index.html").is_file());
    let junit = valid_junit(&run);
    assert!(junit.contains("<failure message=\""), "{junit}");
    assert!(
        junit.contains(&format!("report: {}", run.join("index.html").display())),
        "{junit}"
    );
}

#[test]
fn fencing_rejects_the_paused_holders_stale_write() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&canary_args(out.path().to_str().unwrap(), "on"));
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    let r = results(&run);
    assert_stale_writes_fenced_out(&r);
    let junit = valid_junit(&run);
    assert!(junit.contains("failures=\"0\" errors=\"0\""), "{junit}");
}

#[test]
fn a_run_without_faults_is_valid() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let result = splitbrain(&[
        "run",
        "--nemesis",
        "none",
        "--time-limit",
        "4",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--fencing",
        "off",
        "--out",
        o,
    ]);
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    let r = results(&run);
    assert_eq!(r["valid"], true);
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let oks = history
        .lines()
        .filter(|l| l.contains("\"type\":\"ok\"") && l.contains("\"f\":\"write\""))
        .count();
    assert!(oks >= 5, "expected several successful writes, got {oks}");
}
