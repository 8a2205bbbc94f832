//! What a lock client says on its own: a plug-in that reports, unprompted, that its
//! client lost a grant (as Curator does on a LOST connection) has the notice recorded in
//! the history, with the process the grant went to, and pinned on the report's
//! timeline; and a refusal's `detail` reaches the history's error. One client on one
//! node (the plug-in keeps its lock in memory); needs root.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// A run of one client whose plug-in drops each grant 250 ms after making it (after its
/// 200 ms TTL has run out: dropping it sooner would make it no mutex), while the holder
/// is still in a critical section of `cs_wait_ms`.
fn run_losing_plugin(out: &Path, time_limit_s: &str, cs_wait_ms: &str) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/single_client_lock.py");
    let command = format!("python3 {} --lose-after-ms 250", script.display());
    splitbrain(&[
        "run",
        "--lock",
        "external",
        "--plugin-command",
        &command,
        "--nemesis",
        "none",
        "--time-limit",
        time_limit_s,
        "--clients",
        "1",
        "--nodes",
        "1",
        "--ttl-ms",
        "200",
        "--cs-wait-ms",
        cs_wait_ms,
        "--out",
        out.to_str().unwrap(),
    ])
}

fn history(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_lost_notice_is_recorded_with_its_process_and_pinned_on_the_timeline() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = run_losing_plugin(out.path(), "4", "400");
    assert_exit(&r, 0);
    let run = latest_run(out.path());
    let ops = history(&run);
    let notices: Vec<&Value> = ops.iter().filter(|o| o["process"] == "notice").collect();
    assert!(!notices.is_empty(), "no notice in the history");
    let granted: Vec<u64> = ops
        .iter()
        .filter(|o| o["f"] == "acquire" && o["type"] == "ok")
        .filter_map(|o| o["process"].as_u64())
        .collect();
    for n in &notices {
        assert_eq!(n["type"], "info", "{n}");
        assert_eq!(n["f"], "lost", "{n}");
        assert_eq!(n["node"], "n1", "{n}");
        assert!(
            n["value"]["detail"].as_str().unwrap().contains("dropped"),
            "{n}"
        );
        let process = n["value"]["process"].as_u64().expect("the grant's process");
        assert!(
            granted.contains(&process),
            "{n} names a process that was granted"
        );
        assert!(n["token"].as_u64().is_some(), "{n}");
    }
    let r = results(&run);
    assert_eq!(r["checkers"]["well-formed"]["valid"], true, "{r:#}");
    // The releases after a loss are refused with the plug-in's detail.
    assert!(
        ops.iter().any(|o| o["f"] == "release"
            && o["type"] == "fail"
            && o["error"]
                .as_str()
                .is_some_and(|e| e.contains("plugin: the grant was dropped before the release"))),
        "no release refusal carries the detail"
    );
    let page = std::fs::read_to_string(run.join("index.html")).unwrap();
    assert!(page.contains("the client said on its own that it lost its lock"));
    let pins = page.matches(r##"fill="#1F618D">"##).count();
    assert!(pins > 0, "the timeline pins the notices with a label");
}

#[test]
fn a_notice_given_after_the_last_reply_of_the_run_is_recorded() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    // One grant, whose critical section outlasts the run: the plug-in's notice, 250 ms
    // after the grant, comes after the last reply the agent gives during the workload.
    let r = run_losing_plugin(out.path(), "2", "10000");
    assert_ne!(
        r.status.code(),
        Some(255),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let run = latest_run(out.path());
    let ops = history(&run);
    let grants: Vec<&Value> = ops
        .iter()
        .filter(|o| o["f"] == "acquire" && o["type"] == "ok")
        .collect();
    assert_eq!(
        grants.len(),
        1,
        "one grant, held past the run's end: {ops:#?}"
    );
    let last_reply_ns = ops
        .iter()
        .filter(|o| o["process"].is_u64() && o["type"] != "invoke")
        .filter_map(|o| o["time_ns"].as_u64())
        .max()
        .unwrap();
    let notices: Vec<&Value> = ops.iter().filter(|o| o["process"] == "notice").collect();
    assert_eq!(notices.len(), 1, "the notice is recorded: {ops:#?}");
    let notice = notices[0];
    assert_eq!(notice["value"]["process"], grants[0]["process"], "{notice}");
    assert_eq!(notice["token"], grants[0]["token"], "{notice}");
    assert!(
        notice["time_ns"].as_u64().unwrap() > last_reply_ns,
        "recorded after the workload's last reply: {notice}"
    );
}
