//! End-to-end runs of `--workload optimistic` on a real Redis: compare-and-set on a
//! counter, checked for linearizability. These need root and take seconds each.

mod common;

use common::*;

fn optimistic(out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "--lock",
        "redis",
        "--workload",
        "optimistic",
        "--clients",
        "4",
        "--nodes",
        "3",
        "--time-limit",
        "6",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    splitbrain(&args)
}

#[test]
fn compare_and_set_on_redis_is_linearizable_without_faults() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic(
        out.path().to_str().unwrap(),
        &["--nemesis", "none", "--seed", "1"],
    );
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    let lin = &r["checkers"]["linearizability"];
    assert_eq!(lin["valid"], true, "{lin:#}");
    assert!(
        r["checkers"].get("resource-safety").is_none(),
        "the optimistic workload has no resource to check: {r:#}"
    );
    let history = std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
    let swaps = history
        .matches(r#""type":"ok","f":"cas","value":["#)
        .count();
    let conflicts = history
        .matches(r#""type":"ok","f":"cas","value":false"#)
        .count();
    assert!(swaps >= 20, "too few swaps: {swaps}");
    assert!(
        conflicts >= 1,
        "slots should sometimes lose the race: {conflicts}"
    );
}

#[test]
fn compare_and_set_stays_linearizable_under_kills_pauses_and_partitions() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic(
        out.path().to_str().unwrap(),
        &[
            "--nemesis",
            "pause,kill,partition",
            "--nemesis-interval",
            "1",
            "--seed",
            "3",
        ],
    );
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["checkers"]["linearizability"]["valid"], true, "{r:#}");
}

#[test]
fn a_compare_and_set_that_skips_the_version_check_is_caught_as_not_linearizable() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic(
        out.path().to_str().unwrap(),
        &["--nemesis", "none", "--seed", "2", "--optimistic-unsafe"],
    );
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    let lin = &r["checkers"]["linearizability"];
    assert_eq!(lin["valid"], false, "{lin:#}");
    assert!(
        lin["summary"]
            .as_str()
            .unwrap()
            .contains("not linearizable"),
        "{lin:#}"
    );
}

fn optimistic_on(lock: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "--lock",
        lock,
        "--workload",
        "optimistic",
        "--clients",
        "4",
        "--nodes",
        "3",
        "--time-limit",
        "6",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    splitbrain(&args)
}

/// Runs `--workload optimistic` on `lock` under seeds 4 (a kill, then a pause) and 5
/// (two partitions) and checks each run is linearizable and that the faults happened.
fn linearizable_under_faults(lock: &str) {
    let mut faults = String::new();
    for seed in ["4", "5"] {
        let out = tempfile::tempdir().unwrap();
        let result = optimistic_on(
            lock,
            out.path().to_str().unwrap(),
            &[
                "--nemesis",
                "pause,kill,partition",
                "--nemesis-interval",
                "1",
                "--seed",
                seed,
            ],
        );
        assert_exit(&result, 0);
        let r = results(&latest_run(out.path()));
        assert_eq!(
            r["checkers"]["linearizability"]["valid"], true,
            "seed={seed} {r:#}"
        );
        let history =
            std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
        for line in history
            .lines()
            .filter(|l| l.contains(r#""process":"nemesis""#))
        {
            faults.push_str(line);
            faults.push('\n');
        }
    }
    for f in ["start-partition", "pause", "kill"] {
        assert!(
            faults.contains(&format!(r#""f":"{f}""#)),
            "the runs should include {f}: {faults}"
        );
    }
}

#[test]
fn compare_and_set_on_a_kubernetes_configmap_is_linearizable_without_faults() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic_on(
        "k8s-lease",
        out.path().to_str().unwrap(),
        &["--nemesis", "none", "--seed", "1"],
    );
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["checkers"]["linearizability"]["valid"], true, "{r:#}");
    let history = std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
    let swaps = history
        .matches(r#""type":"ok","f":"cas","value":["#)
        .count();
    let conflicts = history
        .matches(r#""type":"ok","f":"cas","value":false"#)
        .count();
    assert!(swaps >= 10, "too few swaps: {swaps}");
    assert!(
        conflicts >= 1,
        "stale resourceVersions should conflict: {conflicts}"
    );
}

#[test]
fn compare_and_set_on_a_kubernetes_configmap_stays_linearizable_under_faults() {
    linearizable_under_faults("k8s-lease");
}

#[test]
fn a_configmap_put_without_its_resource_version_is_caught_as_not_linearizable() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic_on(
        "k8s-configmap",
        out.path().to_str().unwrap(),
        &["--nemesis", "none", "--seed", "2", "--optimistic-unsafe"],
    );
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["checkers"]["linearizability"]["valid"], false, "{r:#}");
}

#[test]
fn compare_and_set_on_etcd_is_linearizable_without_faults() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic_on(
        "etcd",
        out.path().to_str().unwrap(),
        &["--nemesis", "none", "--seed", "1"],
    );
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["checkers"]["linearizability"]["valid"], true, "{r:#}");
    let history = std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
    let swaps = history
        .matches(r#""type":"ok","f":"cas","value":["#)
        .count();
    let conflicts = history
        .matches(r#""type":"ok","f":"cas","value":false"#)
        .count();
    assert!(swaps >= 20, "too few swaps: {swaps}");
    assert!(
        conflicts >= 1,
        "stale revisions should conflict: {conflicts}"
    );
}

#[test]
fn compare_and_set_on_etcd_stays_linearizable_under_kills_pauses_and_partitions() {
    linearizable_under_faults("etcd");
}

#[test]
fn an_etcd_put_without_its_revision_compare_is_caught_as_not_linearizable() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic_on(
        "etcd",
        out.path().to_str().unwrap(),
        &["--nemesis", "none", "--seed", "2", "--optimistic-unsafe"],
    );
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["checkers"]["linearizability"]["valid"], false, "{r:#}");
}

#[test]
fn the_optimistic_workload_on_a_lock_without_a_versioned_store_is_a_bad_argument() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "zookeeper",
        "--workload",
        "optimistic",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_exit(&result, 254);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("workload=optimistic"), "{stderr}");
    assert!(
        stderr.contains("external"),
        "a plug-in's read and cas are offered: {stderr}"
    );
}
