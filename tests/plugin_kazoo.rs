//! kazoo's `Lock` recipe (Python, kazoo 2.11.0) as a plug-in (`plugins/kazoo`) on the
//! run's 3-server ZooKeeper ensemble: exclusive with no faults, broken by a paused
//! holder without fencing (its session expires while it is stopped and another
//! contender's node becomes the lowest), saved by the lock node's czxid as a fencing
//! token. The paused holder's kazoo learns it lost its session and says so: the history
//! records the notice.

mod common;

use common::*;

fn run(out: &std::path::Path, nemesis: &str, fencing: &str) -> std::process::Output {
    require_plugin("kazoo");
    LockRun::new("kazoo", nemesis, fencing).run(out)
}

#[test]
fn kazoos_lock_without_faults_is_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "none", "on"), 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["valid"], true, "{r:#}");
}

#[test]
fn a_paused_holder_of_kazoos_lock_loses_updates_without_fencing() {
    require_root();
    require_plugin("kazoo");
    let out = tempfile::tempdir().unwrap();
    // The pauses (2 x TTL + 500 ms to 3 x TTL + 500 ms) outlast the default op timeout
    // of 5 s; with a longer one the controller waits for the resumed holder instead of
    // retiring it, so the holder goes on to its release and its kazoo has a session to
    // learn about (a retired holder's grant is abandoned, and its session dropped by the
    // plug-in, before kazoo may notice anything).
    let run_with_patience = LockRun {
        op_timeout_ms: "8000",
        ..LockRun::new("kazoo", "pause-holder", "off")
    };
    assert_exit(&run_with_patience.run(out.path()), 1);
    let run = latest_run(out.path());
    assert_lost_updates(&results(&run));
    // The resumed holder's client learned it lost the grant and said so: kazoo's
    // connection went SUSPENDED, or its release found the lock node gone first. The
    // history has the notice, naming the process whose grant it was.
    let notices = notices(&run);
    assert!(!notices.is_empty(), "no lost notice in the history");
    assert!(
        notices.iter().all(|n| n["f"] == "lost"
            && n["value"]["process"].is_u64()
            && n["value"]["detail"].as_str().is_some_and(|d| !d.is_empty())),
        "{notices:?}"
    );
}

#[test]
fn the_lock_nodes_czxid_as_a_fencing_token_rejects_the_paused_holders_write() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder", "on"), 0);
    assert_stale_writes_fenced_out(&results(&latest_run(out.path())));
}
