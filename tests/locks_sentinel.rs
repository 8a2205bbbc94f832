//! End-to-end runs of the `redis-sentinel` lock on the local backend: a real primary,
//! replica and three sentinels in network namespaces. These need root (CI is root).

mod common;

use common::*;

/// Seed 1520 isolates n1 (the primary, one sentinel and one client) for 3.9 s from 1.4 s
/// on, and again for 2.5 s from 6.3 s: the sentinels on n2 and n3 promote the replica while
/// the client on n1 keeps taking the lock on the old primary, and after the heal the old
/// primary stays a primary for seconds more until the sentinels demote it.
fn isolate_primary_args<'a>(out: &'a str, fencing: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--lock",
        "redis-sentinel",
        "--nemesis",
        "partition",
        "--fencing",
        fencing,
        "--seed",
        "1520",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--time-limit",
        "12",
        "--ttl-ms",
        "2000",
        "--nemesis-interval",
        "1",
        "--out",
        out,
    ]
}

#[test]
fn redis_sentinel_without_faults_is_valid() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "redis-sentinel",
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
    for log in [
        "redis-primary",
        "redis-replica",
        "sentinel-n1",
        "sentinel-n3",
    ] {
        assert!(run.join(format!("logs/{log}.log")).is_file(), "{log}");
    }
}

#[test]
fn isolating_the_sentinel_primary_makes_two_primaries_and_breaks_the_unfenced_counter() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&isolate_primary_args(out.path().to_str().unwrap(), "off"));
    assert_exit(&result, 1);
    let run = latest_run(out.path());
    assert_isolated_n1_first(&run);
    let r = results(&run);
    assert_eq!(r["checkers"]["exclusive-holding"]["valid"], false, "{r:#}");
    assert_lost_updates(&r);
    let sentinel_log = std::fs::read_to_string(run.join("logs/sentinel-n2.log")).unwrap();
    assert!(
        sentinel_log.contains("+switch-master"),
        "the sentinels should have failed over:\n{sentinel_log}"
    );
}

#[test]
fn the_old_primarys_tokens_are_fenced_out_but_the_failover_hands_tokens_out_twice() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&isolate_primary_args(out.path().to_str().unwrap(), "on"));
    // The data is safe: the fenced resource turns the old primary's holders away.
    let r = results(&latest_run(out.path()));
    assert_stale_writes_fenced_out(&r);
    // The lock is not: the new primary's INCR counter starts from what the replica had
    // copied, so tokens the old primary already gave out are given again, and two
    // primaries grant one lock at once.
    assert_exit(&result, 1);
    let tokens = &r["checkers"]["fencing-tokens"];
    assert_eq!(tokens["valid"], false, "{tokens:#}");
    assert!(
        tokens["summary"]
            .as_str()
            .unwrap()
            .contains("granted twice"),
        "{tokens:#}"
    );
}

/// The scenario needs the first partition to cut n1 off from n2 and n3; a change in how
/// schedules are drawn from seeds must fail here, not as a puzzling verdict.
fn assert_isolated_n1_first(run: &std::path::Path) {
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let first = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|op| op["process"] == "nemesis" && op["f"] == "start-partition")
        .expect("a partition was applied");
    let n1_drops = &first["value"]["grudge"]["n1"];
    assert_eq!(
        n1_drops,
        &serde_json::json!(["n2", "n3"]),
        "seed 1520 no longer isolates n1 first; pick a seed whose first partition does \
         (`cargo run -p splitbrain-nemesis --example plan`): {first}"
    );
}
