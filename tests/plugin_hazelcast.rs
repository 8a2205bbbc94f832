//! Hazelcast's FencedLock (Hazelcast 5.4.0, the Java client) as a plug-in
//! (`plugins/hazelcast`) on the run's 3 Hazelcast members. `--lock hazelcast` runs the
//! members with the CP Subsystem on (a 3-member Raft group): exclusive with no faults,
//! broken by a paused holder without fencing (its CP session expires while it is
//! stopped), saved by the fence as a token. `--lock hazelcast-unsafe` runs the same
//! plug-in against members with the CP Subsystem off, where the lock lives in one
//! partition of the cluster instead of a Raft group: a partition that splits the
//! cluster lets both sides grant it, the unsafety Jepsen reported for Hazelcast 3.8.3.

mod common;

use common::*;

fn run(out: &std::path::Path, lock: &str, nemesis: &str, fencing: &str) -> std::process::Output {
    let plugin = splitbrain_runner::build_cache::plugins_bin_dir().join("hazelcast");
    assert!(
        plugin.is_file(),
        "{} is missing: run scripts/install-deps",
        plugin.display()
    );
    splitbrain(&[
        "run",
        "--lock",
        lock,
        "--nemesis",
        nemesis,
        "--fencing",
        fencing,
        "--seed",
        "4242",
        "--clients",
        "3",
        "--nodes",
        "3",
        // Each plug-in is a JVM that starts at its first request (about 1.5 s before it
        // answers one): a little more time than the Go plug-ins get.
        "--time-limit",
        "20",
        // Hazelcast's shortest CP session TTL (it counts whole seconds and wants the TTL
        // above a heartbeat of at least 1 s). A stopped holder loses the lock 2.5 to 3 s
        // after it stops; pause-holder pauses last 4.5 s or more.
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

#[test]
fn hazelcasts_fenced_lock_without_faults_is_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "hazelcast", "none", "on"), 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["valid"], true, "{r:#}");
}

#[test]
fn a_paused_holder_of_hazelcasts_fenced_lock_loses_updates_without_fencing() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "hazelcast", "pause-holder", "off"), 1);
    assert_lost_updates(&results(&latest_run(out.path())));
}

#[test]
fn the_fence_as_a_token_rejects_the_paused_holders_write() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "hazelcast", "pause-holder", "on"), 0);
    assert_stale_writes_fenced_out(&results(&latest_run(out.path())));
}

#[test]
fn hazelcasts_unsafe_mode_lock_without_faults_is_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "hazelcast-unsafe", "none", "on"), 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["valid"], true, "{r:#}");
}

#[test]
fn a_paused_holder_of_the_unsafe_mode_lock_loses_updates_without_fencing() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(
        &run(out.path(), "hazelcast-unsafe", "pause-holder", "off"),
        1,
    );
    assert_lost_updates(&results(&latest_run(out.path())));
}

/// Without a member crash the partition's operation counter only grows, so the fence
/// still fences out a paused holder in unsafe mode.
#[test]
fn the_unsafe_mode_fence_rejects_the_paused_holders_write() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(
        &run(out.path(), "hazelcast-unsafe", "pause-holder", "on"),
        0,
    );
    assert_stale_writes_fenced_out(&results(&latest_run(out.path())));
}

/// A partition splits the cluster only once the members on each side have given up on
/// the others (5 s without a heartbeat); then each side owns the lock's partition, and
/// once the holder's CP session has expired on the side it cannot reach, a client there
/// takes the lock too. Partitions last one to two TTLs: a 5 s TTL makes them long enough
/// for that. Not every seed isolates a holder from the other contenders long enough, so
/// a few seeds run and at least one must be invalid.
#[test]
fn a_partition_lets_both_sides_grant_the_unsafe_mode_lock() {
    require_root();
    let plugin = splitbrain_runner::build_cache::plugins_bin_dir().join("hazelcast");
    assert!(
        plugin.is_file(),
        "{} is missing: run scripts/install-deps",
        plugin.display()
    );
    let mut outcomes = vec![];
    for seed in ["1", "2", "3", "4"] {
        let out = tempfile::tempdir().unwrap();
        let output = splitbrain(&[
            "run",
            "--lock",
            "hazelcast-unsafe",
            "--nemesis",
            "partition",
            "--fencing",
            "off",
            "--seed",
            seed,
            "--clients",
            "3",
            "--nodes",
            "3",
            "--time-limit",
            "40",
            "--ttl-ms",
            "5000",
            "--cs-wait-ms",
            "100",
            "--nemesis-interval",
            "3",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        let code = output.status.code();
        assert!(
            matches!(code, Some(0) | Some(1)),
            "seed {seed}: exit {code:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        if code == Some(1) {
            assert_eq!(results(&latest_run(out.path()))["valid"], false);
            return;
        }
        outcomes.push(format!("seed {seed}: valid"));
    }
    panic!("no seed found the unsafe mode's split brain: {outcomes:?}");
}
