//! Bad input around the locks: an unknown lock name, an agent missing its servers.
//! No root needed.

mod common;

use common::*;

#[test]
fn an_unknown_lock_name_is_refused_with_every_lock_listed() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "chubby",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_exit(&result, 254);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("'chubby'"), "{stderr}");
    for lock in ["redis", "etcd", "zookeeper", "redlock", "redis-sentinel"] {
        assert!(stderr.contains(lock), "{lock} missing from: {stderr}");
    }
}

#[test]
fn an_agent_without_its_lock_servers_names_the_flag_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    for (lock, flag) in [
        ("etcd", "--etcd"),
        ("zookeeper", "--zookeeper"),
        ("redlock", "--redlock"),
        ("redis-sentinel", "--sentinels"),
    ] {
        let result = splitbrain(&[
            "agent",
            "--socket",
            socket.to_str().unwrap(),
            "--node",
            "n1",
            "--lock",
            lock,
            "--resource",
            "127.0.0.1:1",
        ]);
        assert!(!result.status.success(), "{lock}: the agent started");
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains(flag), "{lock}: {stderr}");
    }
}
