//! End-to-end runs of the `zookeeper` lock on the local backend: a real 3-server ZooKeeper
//! ensemble in network namespaces, real signals. These need root (CI is root).

mod common;

use common::*;

/// A pause of the holder's agent (2 x TTL + 0.5 s to 3 x TTL + 0.5 s: 2.5 to 3.5 s)
/// outlives its session (1 s): the ensemble expires it and deletes the znode, so another
/// client takes the lock while the paused one still thinks it holds it. Seed 4242 pauses
/// three times in 12 s, each waiting for a holder if there is none at its moment, so the
/// verdict does not hang on a single pause.
fn pause_holder_args<'a>(out: &'a str, fencing: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--lock",
        "zookeeper",
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
        "1000",
        "--cs-wait-ms",
        "100",
        "--nemesis-interval",
        "0.5",
        "--out",
        out,
    ]
}

#[test]
fn zookeeper_lock_without_faults_is_valid_and_hands_out_growing_czxids() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "zookeeper",
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
    assert!(run.join("logs/zookeeper-n3.log").is_file());
}

#[test]
fn pausing_the_zookeeper_holder_past_its_session_timeout_breaks_the_unfenced_counter() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&pause_holder_args(out.path().to_str().unwrap(), "off"));
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    assert_lost_updates(&r);
}

#[test]
fn zookeeper_czxids_fence_out_the_paused_holders_stale_write() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&pause_holder_args(out.path().to_str().unwrap(), "on"));
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    assert_stale_writes_fenced_out(&r);
}

#[test]
fn killing_zookeeper_servers_and_agents_keeps_the_fenced_counter_valid() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "zookeeper",
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
        killed.iter().any(|p| p.starts_with("zookeeper-")),
        "seed 130 should kill a ZooKeeper server: {killed:?}"
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

/// ZooKeeper runs on the JVM, which libfaketime reaches: with a clock fault in the mix
/// the ensemble starts under it, and a bump of every clock reaches the servers as well as
/// the agents.
#[test]
fn a_clock_bump_reaches_the_zookeeper_servers_through_libfaketime() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "zookeeper",
        "--nemesis",
        "clock-bump-all",
        "--seed",
        "3",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--time-limit",
        "6",
        "--nemesis-interval",
        "1",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(matches!(result.status.code(), Some(0..=2)), "{result:?}");
    let history = std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
    let bump: serde_json::Value = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|op| op["f"] == "bump-clock" && op["type"] == "info")
        .expect("a clock bump was applied");
    for server in ["zookeeper-n1", "zookeeper-n2", "zookeeper-n3"] {
        assert_eq!(bump["value"]["reached"][server], "faketime", "{bump:#}");
    }
    assert_eq!(
        bump["value"]["reached"]["agent-0"], "clock-file",
        "{bump:#}"
    );
}
