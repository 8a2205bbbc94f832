//! pottery's `Redlock` (Python, pottery 3.0.1 on redis-py 5.2.1) as a plug-in
//! (`plugins/pottery`) on the run's independent Redis primaries: exclusive with no
//! faults, broken by a paused holder (its keys expire while it is stopped, and a
//! majority grants the lock again). Redlock hands out no fencing token, so there is no
//! run that fencing could save.

mod common;

use common::*;

fn run(out: &std::path::Path, nemesis: &str) -> std::process::Output {
    let plugin = splitbrain_runner::build_cache::plugins_bin_dir().join("pottery");
    assert!(
        plugin.is_file(),
        "{} is missing: run scripts/install-deps",
        plugin.display()
    );
    splitbrain(&[
        "run",
        "--lock",
        "pottery",
        "--nemesis",
        nemesis,
        "--fencing",
        "off",
        "--seed",
        "4242",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--time-limit",
        "15",
        "--ttl-ms",
        "2000",
        "--cs-wait-ms",
        "100",
        "--nemesis-interval",
        "0.5",
        "--out",
        out.to_str().unwrap(),
    ])
}

fn grants(run: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .expect("history.jsonl exists")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("each line is JSON"))
        .filter(|op| op["f"] == "acquire" && op["type"] == "ok")
        .collect()
}

#[test]
fn potterys_redlock_without_faults_is_valid_and_its_grants_carry_no_token() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "none"), 0);
    let run = latest_run(out.path());
    assert_eq!(results(&run)["valid"], true, "{:#}", results(&run));
    let grants = grants(&run);
    assert!(grants.len() >= 10, "only {} grants", grants.len());
    assert!(
        grants.iter().all(|g| g["token"].is_null()),
        "Redlock has no token"
    );
}

#[test]
fn a_paused_holder_of_potterys_redlock_loses_updates() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder"), 1);
    assert_lost_updates(&results(&latest_run(out.path())));
}
