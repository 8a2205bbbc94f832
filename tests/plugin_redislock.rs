//! bsm/redislock (`github.com/bsm/redislock`), a Redis lock for Go, as a plug-in
//! (`plugins/redislock`) on the run's single Redis: exclusive with no faults, broken by a
//! paused holder (its key expires while it is stopped, and the next client obtains the
//! lock). redislock hands out no fencing token, so there is no run that fencing could
//! save.

mod common;

use common::*;

fn run(out: &std::path::Path, nemesis: &str) -> std::process::Output {
    require_plugin("redislock");
    LockRun::new("redislock", nemesis, "off").run(out)
}

#[test]
fn redislock_without_faults_is_valid_and_its_grants_carry_no_token() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "none"), 0);
    let run = latest_run(out.path());
    assert_eq!(results(&run)["valid"], true, "{:#}", results(&run));
    let grants = grants(&run);
    assert!(grants.len() >= 10, "only {} grants", grants.len());
    assert!(
        grants.iter().all(|g| g["token"].is_null()),
        "redislock has no token"
    );
}

#[test]
fn a_paused_holder_of_redislock_loses_updates() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder"), 1);
    assert_lost_updates(&results(&latest_run(out.path())));
}
