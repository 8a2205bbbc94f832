//! Bad input around the locks (no root needed), and finding a lock service's leader for
//! `isolate-leader` (real clusters: needs root, as CI has).

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
fn a_lock_the_kubernetes_image_lacks_is_refused_naming_the_locks_it_runs() {
    let out = tempfile::tempdir().unwrap();
    for (lock, extra, why) in [
        (
            "external",
            vec!["--plugin-command", "/usr/local/bin/my-lock"],
            "a plug-in command is a program on this machine, not in the image",
        ),
        (
            "k8s-lease",
            vec![],
            "its servers kubernetes are not in the image",
        ),
    ] {
        // Refused before any cluster is asked for: the kubeconfig is never read.
        let mut args = vec![
            "run",
            "--backend",
            "kubernetes",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--image",
            "splitbrain.local/splitbrain:any",
            "--lock",
            lock,
            "--out",
            out.path().to_str().unwrap(),
        ];
        args.extend(extra);
        let result = splitbrain(&args);
        assert_exit(&result, 254);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains(why), "{lock}: {stderr}");
        let runs = stderr.split("it runs --lock ").nth(1).unwrap_or_default();
        for runnable in ["redis,", "zookeeper,", "hazelcast,", "kazoo,", "redsync,"] {
            assert!(
                runs.contains(runnable),
                "{lock}: {runnable} missing from {stderr}"
            );
        }
        assert!(!runs.contains("k8s-"), "{lock}: {stderr}");
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

/// `isolate-leader` asks the lock service where its leader is (etcd's maintenance status,
/// ZooKeeper's `srvr`, the sentinels' primary) and cuts that node off; a lock service
/// whose leader could not be found would have the fault recorded as not applied.
#[test]
fn isolate_leader_finds_and_cuts_off_the_leader_of_etcd_zookeeper_and_sentinel() {
    for lock in ["etcd", "zookeeper", "redis-sentinel"] {
        let out = tempfile::tempdir().unwrap();
        let result = splitbrain(&[
            "run",
            "--lock",
            lock,
            "--nemesis",
            "isolate-leader",
            "--seed",
            "5",
            "--clients",
            "3",
            "--nodes",
            "3",
            "--time-limit",
            "5",
            "--nemesis-interval",
            "1",
            "--fencing",
            "on",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        assert!(
            matches!(result.status.code(), Some(0..=2)),
            "{lock}: {result:?}"
        );
        let history =
            std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
        let partitions: Vec<serde_json::Value> = history
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|op| op["f"] == "start-partition" && op["type"] == "info")
            .collect();
        assert!(
            !partitions.is_empty(),
            "{lock}: no isolate-leader was planned"
        );
        for p in &partitions {
            assert!(p.get("error").is_none(), "{lock}: leader not found: {p}");
            let node = p["value"]["node"].as_str().unwrap();
            assert!(["n1", "n2", "n3"].contains(&node), "{lock}: {p}");
            assert_eq!(
                p["value"]["grudge"][node].as_array().unwrap().len(),
                2,
                "{lock}: {p}"
            );
        }
    }
}
