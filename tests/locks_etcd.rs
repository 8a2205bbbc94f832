//! End-to-end runs of the `etcd` lock on the local backend: a real 3-member etcd
//! cluster in network namespaces, real signals. These need root (CI is root).

mod common;

use common::*;

/// A pause of the holder's agent (2 x TTL + 0.5 s to 3 x TTL + 0.5 s: 3.5 to 5 s)
/// outlives its lease (etcd rounds 1.5 s up to 2 s), so another client takes the lock
/// while the paused one still thinks it holds it. Seed 4242 pauses twice in 12 s (4.8 s
/// from 0.4 s and from 6.0 s), each waiting for a holder if there is none at its moment,
/// so the verdict does not hang on a single pause.
fn pause_holder_args<'a>(out: &'a str, fencing: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--lock",
        "etcd",
        "--nemesis",
        "pause-holder",
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
        "1500",
        "--cs-wait-ms",
        "100",
        "--nemesis-interval",
        "0.5",
        "--out",
        out,
    ]
}

#[test]
fn etcd_lock_without_faults_is_valid_and_hands_out_growing_revisions() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "etcd",
        "--nemesis",
        "none",
        "--time-limit",
        "5",
        "--out",
        dir,
    ]);
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    assert_eq!(results(&run)["valid"], true);
    let tokens = acquire_tokens(&run);
    assert!(tokens.len() >= 10, "only {} grants", tokens.len());
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
    assert!(run.join("logs/etcd-n3.log").is_file());
}

#[test]
fn pausing_the_etcd_holder_past_its_lease_breaks_the_unfenced_counter() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&pause_holder_args(out.path().to_str().unwrap(), "off"));
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    assert_lost_updates(&r);
}

#[test]
fn etcd_revisions_fence_out_the_paused_holders_stale_write() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&pause_holder_args(out.path().to_str().unwrap(), "on"));
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    assert_stale_writes_fenced_out(&r);
}

#[test]
fn killing_etcd_members_and_agents_keeps_the_fenced_counter_valid() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "etcd",
        "--nemesis",
        "kill",
        "--seed",
        "130",
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
        dir,
    ]);
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    let killed = killed_processes(&run);
    assert!(
        killed.iter().any(|p| p.starts_with("etcd-")),
        "seed 130 should kill an etcd member: {killed:?}"
    );
    assert_eq!(results(&run)["valid"], true);
}

/// The tokens of successful acquires, in history order.
fn acquire_tokens(run: &std::path::Path) -> Vec<u64> {
    history(run)
        .iter()
        .filter(|op| op["f"] == "acquire" && op["type"] == "ok")
        .filter_map(|op| op["token"].as_u64())
        .collect()
}

/// The processes the nemesis killed, in order.
fn killed_processes(run: &std::path::Path) -> Vec<String> {
    history(run)
        .iter()
        .filter(|op| op["process"] == "nemesis" && op["f"] == "kill" && op["type"] == "info")
        .flat_map(|op| {
            op["value"]["processes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.as_str().map(String::from))
        .collect()
}

fn history(run: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .expect("history.jsonl exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}
