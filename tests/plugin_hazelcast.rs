//! Hazelcast's FencedLock (Hazelcast 5.4.0, the Java client) as a plug-in
//! (`plugins/hazelcast`) on the run's 3 Hazelcast members. `--lock hazelcast` runs the
//! members with the CP Subsystem on (a 3-member Raft group): exclusive with no faults,
//! broken by a paused holder without fencing (its CP session expires while it is
//! stopped), saved by the fence as a token. `--lock hazelcast-unsafe` runs the same
//! plug-in against members with the CP Subsystem off, where the lock lives in one
//! partition of the cluster instead of a Raft group: a partition that splits the
//! cluster lets both sides grant it, the unsafety Jepsen reported for Hazelcast 3.8.3.
//! `isolate-leader` cuts off the default CP group's Raft leader, or with the CP Subsystem
//! off the owner of the lock's partition, as each member's status port tells.

mod common;

use common::*;
use serde_json::Value;

/// Each plug-in is a JVM: a little more workload time than the Go plug-ins get. The TTL
/// is Hazelcast's shortest CP session TTL (whole seconds, above a heartbeat of at least
/// 1 s): a stopped holder loses the lock 2.5 to 3 s after it stops, and pause-holder
/// pauses last 4.5 s or more.
fn run(out: &std::path::Path, lock: &str, nemesis: &str, fencing: &str) -> std::process::Output {
    require_plugin("hazelcast");
    LockRun {
        time_limit: "20",
        ..LockRun::new(lock, nemesis, fencing)
    }
    .run(out)
}

#[test]
fn hazelcasts_fenced_lock_without_faults_is_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "hazelcast", "none", "on"), 0);
    let run_dir = latest_run(out.path());
    let r = results(&run_dir);
    assert_eq!(r["valid"], true, "{r:#}");
    // The workload starts once every client has answered `ready`: no op meets a client
    // still starting (the plug-in answers such an op "busy").
    let busy: Vec<Value> = history_ops(&run_dir)
        .into_iter()
        .filter(|o| o["error"].as_str().is_some_and(|e| e.contains("busy")))
        .collect();
    assert!(
        busy.is_empty(),
        "ops met a client still starting: {busy:#?}"
    );
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
    require_plugin("hazelcast");
    let mut outcomes = vec![];
    for seed in ["1", "2", "3", "4"] {
        let out = tempfile::tempdir().unwrap();
        let output = LockRun {
            seed,
            time_limit: "40",
            ttl_ms: "5000",
            nemesis_interval: "3",
            ..LockRun::new("hazelcast-unsafe", "partition", "off")
        }
        .run(out.path());
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

/// The nemesis's first `isolate-leader` of a run on `lock` (seed 1: at 1.2 s, long after
/// the clients said they were ready).
fn first_leader_isolation(lock: &str) -> Value {
    require_root();
    require_plugin("hazelcast");
    let out = tempfile::tempdir().unwrap();
    let r = LockRun {
        seed: "1",
        nemesis_interval: "1",
        ..LockRun::new(lock, "isolate-leader", "off")
    }
    .run(out.path());
    assert_ne!(r.status.code(), Some(255), "{}", output_text(&r));
    history_ops(&latest_run(out.path()))
        .into_iter()
        .find(|o| o["process"] == "nemesis" && o["type"] == "info" && o["f"] == "start-partition")
        .expect("the nemesis isolated something")
}

#[test]
fn isolate_leader_finds_the_leader_of_the_cp_group() {
    let op = first_leader_isolation("hazelcast");
    assert!(op["error"].is_null(), "a leader was found: {op}");
    assert_eq!(op["value"]["shape"], "leader", "{op}");
    assert!(
        ["n1", "n2", "n3"].contains(&op["value"]["node"].as_str().unwrap_or("")),
        "{op}"
    );
}

#[test]
fn isolate_leader_finds_the_owner_of_the_unsafe_locks_partition() {
    let op = first_leader_isolation("hazelcast-unsafe");
    assert!(
        op["error"].is_null(),
        "the lock's partition owner was found: {op}"
    );
    assert_eq!(op["value"]["shape"], "leader", "{op}");
}
