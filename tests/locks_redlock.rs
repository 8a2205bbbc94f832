//! End-to-end runs of the `redlock` lock on the local backend: one real, independent
//! redis-server per node. These need root (CI is root).

mod common;

use common::*;

#[test]
fn redlock_without_faults_is_valid_and_its_grants_carry_no_token() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "redlock",
        "--fencing",
        "off",
        "--nemesis",
        "none",
        "--nodes",
        "3",
        "--time-limit",
        "5",
        "--out",
        dir,
    ]);
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    assert_eq!(results(&run)["valid"], true);
    let grants: Vec<serde_json::Value> = history(&run)
        .into_iter()
        .filter(|op| op["f"] == "acquire" && op["type"] == "ok")
        .collect();
    assert!(grants.len() >= 10, "only {} grants", grants.len());
    assert!(
        grants.iter().all(|g| g["token"].is_null()),
        "Redlock has no token"
    );
    for n in 1..=3 {
        assert!(run.join(format!("logs/redis-n{n}.log")).is_file());
    }
}

#[test]
fn redlock_with_fencing_on_is_refused_before_anything_starts() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "redlock",
        "--fencing",
        "on",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_exit(&result, 254);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("no fencing token"), "{stderr}");
    assert!(stderr.contains("--fencing off"), "{stderr}");
    assert!(
        !out.path().join("latest").exists(),
        "no run directory for a refused run"
    );
}

/// Three pauses of the holder's agent (2.6 to 3.3 s) outlive its 1 s keys: the next client
/// gets a majority while the paused one still acts as holder, and without a token the
/// resource cannot tell them apart.
#[test]
fn pausing_the_redlock_holder_past_its_validity_breaks_the_counter() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "redlock",
        "--fencing",
        "off",
        "--nemesis",
        "pause-holder",
        "--seed",
        "4242",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--time-limit",
        "12",
        "--ttl-ms",
        "1000",
        "--cs-wait-ms",
        "100",
        "--nemesis-interval",
        "0.5",
        "--out",
        dir,
    ]);
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    assert_lost_updates(&r);
}

fn history(run: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .expect("history.jsonl exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}
