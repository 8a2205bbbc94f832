//! End-to-end runs of `--workload leader` on a real Redis: leader election with the lock,
//! checked for split brain. These need root and take seconds each.

mod common;

use common::*;

fn leader(out: &str, nemesis: &str, fencing: &str) -> std::process::Output {
    splitbrain(&[
        "run",
        "--lock",
        "redis",
        "--workload",
        "leader",
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
        "--time-limit",
        "12",
        "--ttl-ms",
        "500",
        "--cs-wait-ms",
        "100",
        "--nemesis-interval",
        "1",
        "--out",
        out,
    ])
}

#[test]
fn leaders_elected_with_redis_never_overlap_without_faults() {
    let out = tempfile::tempdir().unwrap();
    let result = leader(out.path().to_str().unwrap(), "none", "off");
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    let sb = &r["checkers"]["split-brain"];
    assert_eq!(sb["valid"], true, "{sb:#}");
    assert!(sb["stats"]["terms"].as_u64().unwrap() >= 5, "{sb:#}");
    let history = std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""type":"ok","f":"renew""#),
        "redis leaders renew their lease"
    );
}

#[test]
fn pausing_the_unfenced_leader_past_its_ttl_is_reported_as_split_brain() {
    let out = tempfile::tempdir().unwrap();
    let result = leader(out.path().to_str().unwrap(), "pause-holder", "off");
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    let sb = &r["checkers"]["split-brain"];
    assert_eq!(sb["valid"], false, "{sb:#}");
    let first = &sb["evidence"][0];
    assert_eq!(first["detail"]["kind"], "two-leaders", "{first:#}");
    assert_ne!(
        first["detail"]["first"]["process"], first["detail"]["second"]["process"],
        "{first:#}"
    );
    assert!(
        first["op_indexes"].as_array().unwrap().len() >= 4,
        "evidence names both grants and both leaders' work: {first:#}"
    );
}

#[test]
fn fencing_turns_the_paused_leaders_late_work_away() {
    let out = tempfile::tempdir().unwrap();
    let result = leader(out.path().to_str().unwrap(), "pause-holder", "on");
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["checkers"]["split-brain"]["valid"], true, "{r:#}");
    assert!(
        r["checkers"]["resource-safety"]["stats"]["stale_writes_rejected"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{r:#}"
    );
}
