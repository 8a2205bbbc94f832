//! Apache Curator's `InterProcessMutex` (Java, curator-recipes 5.9.0) as a plug-in
//! (`plugins/curator`, `--lock curator`) on the run's 3-server ZooKeeper: exclusive with
//! no faults, broken by a paused holder without fencing (its session expires while it is
//! stopped, and ZooKeeper deletes its lock node), saved by the lock node's czxid as a
//! fencing token. When the paused holder runs again Curator finds its session expired
//! (connection state LOST) and the plug-in says so unprompted: the history records a
//! `lost` notice for the grant.

mod common;

use common::*;
use serde_json::Value;

fn run(out: &std::path::Path, nemesis: &str, fencing: &str) -> std::process::Output {
    require_plugin("curator");
    LockRun::new("curator", nemesis, fencing).run(out)
}

#[test]
fn curators_mutex_without_faults_is_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "none", "on"), 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["valid"], true, "{r:#}");
    assert_eq!(r["checkers"]["fencing-tokens"]["valid"], true, "{r:#}");
}

#[test]
fn a_paused_holder_of_curators_mutex_loses_updates_without_fencing() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder", "off"), 1);
    assert_lost_updates(&results(&latest_run(out.path())));
}

#[test]
fn the_lock_nodes_czxid_as_a_fencing_token_rejects_the_paused_holders_write() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder", "on"), 0);
    assert_stale_writes_fenced_out(&results(&latest_run(out.path())));
}

#[test]
fn the_paused_holder_learns_its_session_is_lost_and_the_history_records_it() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    assert_exit(&run(out.path(), "pause-holder", "on"), 0);
    let run = latest_run(out.path());
    let ops = history_ops(&run);
    let notices: Vec<&Value> = ops.iter().filter(|o| o["process"] == "notice").collect();
    assert!(!notices.is_empty(), "no lost notice in the history");
    let grants: Vec<(u64, u64)> = ops
        .iter()
        .filter(|o| o["f"] == "acquire" && o["type"] == "ok")
        .filter_map(|o| Some((o["process"].as_u64()?, o["token"].as_u64()?)))
        .collect();
    for n in &notices {
        assert_eq!(n["f"], "lost", "{n}");
        assert_eq!(n["type"], "info", "{n}");
        let detail = n["value"]["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with("curator connection "), "{n}");
        let process = n["value"]["process"].as_u64().expect("the grant's process");
        let token = n["token"].as_u64().expect("the grant's token");
        assert!(
            grants.contains(&(process, token)),
            "{n} names a grant (process, czxid) of the history"
        );
    }
    assert!(
        notices.iter().any(|n| n["value"]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("curator connection LOST"))),
        "the paused holder's session expired: {notices:#?}"
    );
}
