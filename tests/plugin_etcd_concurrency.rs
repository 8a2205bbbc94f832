//! etcd's own lock recipe, `go.etcd.io/etcd/client/v3/concurrency` Mutex, as a Go
//! plug-in (`plugins/etcd-concurrency`, `--lock etcd-concurrency`) on the run's 3-member etcd: exclusive with no
//! faults, broken by a paused holder without fencing (its session's lease runs out
//! while it is stopped), saved by the lock key's revision as a fencing token.

mod common;

use common::*;

fn run(out: &std::path::Path, nemesis: &str, fencing: &str) -> std::process::Output {
    require_plugin("etcd-concurrency");
    LockRun::new("etcd-concurrency", nemesis, fencing).run(out)
}

#[test]
fn etcds_mutex_without_faults_is_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "none", "on"), 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["valid"], true, "{r:#}");
}

#[test]
fn a_paused_holder_of_etcds_mutex_loses_updates_without_fencing() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder", "off"), 1);
    assert_lost_updates(&results(&latest_run(out.path())));
}

#[test]
fn the_lock_keys_revision_as_a_fencing_token_rejects_the_paused_holders_write() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder", "on"), 0);
    assert_stale_writes_fenced_out(&results(&latest_run(out.path())));
}
