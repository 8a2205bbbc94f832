//! A verdict is never `valid` about nothing: a lock that grants nothing, faults that
//! never happened, a run cut short by a signal or a killed controller, a lock that is no
//! lock. These run real clusters and need root.

mod common;

use common::{
    assert_exit, bin, latest_run, namespaces_of, processes_mentioning, require_root, results,
    splitbrain,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn plugin(args: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/grant_everything.py");
    format!("python3 {} {args}", script.display())
}

/// Three seconds of the counter workload on one node with `command` as the lock, no
/// faults.
fn plugin_run(out: &Path, command: &str, clients: &str) -> std::process::Output {
    splitbrain(&[
        "run",
        "--lock",
        "external",
        "--plugin-command",
        command,
        "--nemesis",
        "none",
        "--time-limit",
        "3",
        "--clients",
        clients,
        "--nodes",
        "1",
        "--out",
        out.to_str().unwrap(),
    ])
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_lock_that_never_grants_is_unknown_not_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = plugin_run(out.path(), "true", "2");
    assert_exit(&r, 2);
    assert!(
        stdout(&r).contains("no client ever acquired the lock: nothing was tested"),
        "{}",
        stdout(&r)
    );
}

#[test]
fn faults_that_cannot_be_applied_are_said_with_the_verdict_and_counted() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = splitbrain(&[
        "run",
        "--nodes",
        "1",
        "--clients",
        "2",
        "--nemesis",
        "partition",
        "--time-limit",
        "6",
        "--nemesis-interval",
        "1",
        "--seed",
        "1",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_exit(&r, 2);
    let text = stdout(&r);
    let verdict = text.lines().next().unwrap_or_default();
    assert!(
        verdict.starts_with("verdict: unknown (faults: none of the"),
        "{text}"
    );
    assert!(verdict.contains("too few nodes"), "{text}");
    let faults = &results(&latest_run(out.path()))["checkers"]["faults"]["stats"]["faults"];
    assert_eq!(faults["applied"], 0, "{faults}");
    assert!(faults["planned"].as_u64().unwrap() >= 1, "{faults}");
}

#[test]
fn a_lock_without_tokens_under_fencing_is_never_valid() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = plugin_run(out.path(), &plugin(""), "2");
    assert!(matches!(r.status.code(), Some(1 | 2)), "{r:?}");
    let res = results(&latest_run(out.path()));
    let stats = res["checkers"]["stats"]["summary"].as_str().unwrap();
    assert!(stats.contains("for want of a fencing token"), "{stats}");
}

#[test]
fn a_plugin_that_grants_everyone_is_not_a_lock_even_when_fencing_saves_the_resource() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = plugin_run(out.path(), &plugin("--tokens"), "3");
    assert_exit(&r, 1);
    let res = results(&latest_run(out.path()));
    assert_eq!(res["checkers"]["resource-safety"]["valid"], true, "{res}");
    let mutex = &res["checkers"]["mutex"];
    assert_eq!(mutex["valid"], false, "{mutex}");
    assert!(
        mutex["summary"].as_str().unwrap().contains("not a lock"),
        "{mutex}"
    );
}

/// Starts a run and sends it `signal` once `ready` says so; returns its output.
fn interrupted_run(
    out: &Path,
    signal: nix::sys::signal::Signal,
    ready: impl Fn(&Path) -> bool,
) -> std::process::Output {
    let child = Command::new(bin())
        .args([
            "run",
            "--lock",
            "etcd",
            "--clients",
            "2",
            "--nodes",
            "3",
            "--time-limit",
            "60",
            "--nemesis",
            "none",
            "--out",
        ])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready(out) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run never got ready"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    child.wait_with_output().unwrap()
}

fn run_dir_of(out: &Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
}

fn assert_nothing_left(run: &Path) {
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    let run_id = info["extra"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(namespaces_of(&run_id), Vec::<String>::new());
    assert_eq!(processes_mentioning(&run_id), Vec::<String>::new());
}

#[test]
fn a_run_interrupted_during_its_workload_is_unknown_and_says_so() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = interrupted_run(out.path(), nix::sys::signal::Signal::SIGTERM, |out| {
        run_dir_of(out).is_some_and(|d| {
            std::fs::metadata(d.join("history.jsonl")).is_ok_and(|m| m.len() > 2000)
        })
    });
    assert_exit(&r, 2);
    assert!(
        stdout(&r).contains("interrupted by SIGTERM after"),
        "{}",
        stdout(&r)
    );
    let run = latest_run(out.path());
    assert_eq!(results(&run)["checkers"]["run-end"]["valid"], "unknown");
    let junit = common::valid_junit(&run);
    assert!(junit.contains("<error message=\""), "{junit}");
    assert_nothing_left(&run);
    // Checked again later, it stays unknown: run.json remembers how it ended.
    let again = splitbrain(&["check", run.to_str().unwrap()]);
    assert_exit(&again, 2);
}

#[test]
fn a_ctrl_c_while_the_lock_servers_start_is_unknown_and_leaves_nothing() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    // The run directory exists before the cluster is up; etcd takes seconds to start.
    let r = interrupted_run(out.path(), nix::sys::signal::Signal::SIGINT, |out| {
        run_dir_of(out).is_some_and(|d| {
            d.join("logs")
                .read_dir()
                .is_ok_and(|mut l| l.next().is_some())
        })
    });
    assert_exit(&r, 2);
    assert!(
        stdout(&r).contains("before the workload started"),
        "{}",
        stdout(&r)
    );
    assert_eq!(
        processes_mentioning("etcd --name")
            .iter()
            .filter(|p| p.contains(out.path().to_str().unwrap()))
            .count(),
        0
    );
    if let Some(run) = run_dir_of(out.path()).filter(|d| d.join("run.json").exists()) {
        assert_nothing_left(&run);
    }
}

#[test]
fn a_ctrl_c_at_once_tears_down_whatever_was_made() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let r = interrupted_run(out.path(), nix::sys::signal::Signal::SIGINT, |out| {
        run_dir_of(out).is_some()
    });
    assert!(matches!(r.status.code(), Some(2 | 254)), "{r:?}");
    assert!(r.status.code().is_some(), "killed by the signal: {r:?}");
    let leftovers: Vec<String> = processes_mentioning(out.path().to_str().unwrap())
        .into_iter()
        .filter(|p| !p.contains("splitbrain run"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}
