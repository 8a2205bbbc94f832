//! Redisson's `RLock` (Java, org.redisson:redisson 3.52.0) as a plug-in
//! (`plugins/redisson`, `--lock redisson`) on the run's single Redis: exclusive with no
//! faults, broken by a paused holder without fencing (its lease runs out while it is
//! stopped; the lease given turns Redisson's watchdog off), and with fencing on Redisson's
//! `RFencedLock`, whose token turns the paused holder's write away.

mod common;

use common::*;

fn run(out: &std::path::Path, nemesis: &str, fencing: &str) -> std::process::Output {
    require_plugin("redisson");
    LockRun::new("redisson", nemesis, fencing).run(out)
}

#[test]
fn redissons_lock_without_faults_is_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "none", "on"), 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["valid"], true, "{r:#}");
    assert_eq!(r["checkers"]["fencing-tokens"]["valid"], true, "{r:#}");
}

#[test]
fn a_paused_holder_of_redissons_lock_loses_updates_without_fencing() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder", "off"), 1);
    assert_lost_updates(&results(&latest_run(out.path())));
}

#[test]
fn redissons_fenced_lock_token_rejects_the_paused_holders_write() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder", "on"), 0);
    assert_stale_writes_fenced_out(&results(&latest_run(out.path())));
}
