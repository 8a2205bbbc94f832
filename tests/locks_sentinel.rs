//! End-to-end runs of the `redis-sentinel` lock on the local backend: a real primary,
//! replica and three sentinels in network namespaces. These need root (CI is root).

mod common;

use common::*;

/// Seed 2 isolates n1 (the primary, one sentinel and one client) for 3.9 s from 1 s on:
/// the sentinels on n2 and n3 promote the replica while the client on n1 keeps taking
/// the lock on the old primary, and after the heal the old primary stays a primary for
/// seconds more until the sentinels demote it.
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
        "2",
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
    let r = results(&run);
    assert_eq!(r["checkers"]["exclusive-holding"]["valid"], false, "{r:#}");
    let safety = &r["checkers"]["resource-safety"];
    assert!(
        safety["stats"]["lost_updates"].as_u64().unwrap_or(0) >= 1,
        "{safety:#}"
    );
    let sentinel_log = std::fs::read_to_string(run.join("logs/sentinel-n2.log")).unwrap();
    assert!(
        sentinel_log.contains("+switch-master"),
        "the sentinels should have failed over:\n{sentinel_log}"
    );
}

#[test]
fn the_old_primarys_tokens_are_fenced_out_after_the_sentinel_failover() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&isolate_primary_args(out.path().to_str().unwrap(), "on"));
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    let safety = &r["checkers"]["resource-safety"];
    assert_eq!(safety["valid"], true, "{safety:#}");
    assert_eq!(safety["stats"]["stale_writes_accepted"], 0, "{safety:#}");
    assert!(
        safety["stats"]["stale_writes_rejected"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "one side's tokens should have been rejected: {safety:#}"
    );
}
