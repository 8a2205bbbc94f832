//! What a run leaves behind (nothing), what `splitbrain cleanup` removes, the rootless
//! path, and how the command line treats bad input.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_id_of(run: &std::path::Path) -> String {
    let text = std::fs::read_to_string(run.join("run.json")).expect("run.json written");
    let info: serde_json::Value = serde_json::from_str(&text).unwrap();
    info["extra"]["run_id"]
        .as_str()
        .expect("run.json names its run id")
        .to_string()
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn cleanup_removes_everything_a_sigkilled_controller_left() {
    sigkill_the_controller_then_clean_up("redis");
}

/// The same for a Kubernetes run: no kube-apiserver, no certificate, key or kubeconfig
/// outside the run directory.
#[test]
fn cleanup_removes_the_control_plane_a_sigkilled_controller_left() {
    let run_id = sigkill_the_controller_then_clean_up("k8s-lease");
    let state = std::path::Path::new("/run/splitbrain/state").join(&run_id);
    assert!(!state.exists(), "{} removed", state.display());
    let apiservers = std::process::Command::new("pgrep")
        .args(["-f", "kube-apiserver"])
        .output()
        .unwrap();
    let pids = String::from_utf8_lossy(&apiservers.stdout);
    for pid in pids.split_whitespace() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains(&run_id),
            "kube-apiserver pid={pid} of run {run_id} survived"
        );
    }
}

/// SIGKILLs a controller running `lock` once its workload is under way, runs
/// `splitbrain cleanup`, checks nothing of the run is left, and returns its run id.
fn sigkill_the_controller_then_clean_up(lock: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args([
            "run",
            "--lock",
            lock,
            "--time-limit",
            "60",
            "--clients",
            "3",
            "--nodes",
            "3",
            "--nemesis",
            "pause,partition",
        ])
        .args(["--seed", "7", "--nemesis-interval", "1", "--out"])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the workload is under way: history.jsonl has ops in it.
    let mut run = None;
    wait_for("the workload to start", Duration::from_secs(30), || {
        run = std::fs::read_dir(out.path())
            .ok()
            .and_then(|mut d| d.find_map(|e| e.ok().map(|e| e.path()).filter(|p| p.is_dir())));
        run.as_ref()
            .and_then(|r| std::fs::metadata(r.join("history.jsonl")).ok())
            .is_some_and(|m| m.len() > 2000)
    });
    let run = run.unwrap();
    let run_id = run_id_of(&run);
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    assert!(
        !namespaces_of(&run_id).is_empty(),
        "a killed controller leaves namespaces behind"
    );

    let cleanup = splitbrain(&["cleanup"]);
    assert_exit(&cleanup, 0);
    assert_eq!(namespaces_of(&run_id), Vec::<String>::new());
    assert_eq!(processes_mentioning(&run_id), Vec::<String>::new());
    assert!(
        !std::path::Path::new("/run/splitbrain")
            .join(&run_id)
            .exists()
    );
    // The history written so far is still readable by the checker, and never passes:
    // the run did not reach its end.
    let check = splitbrain(&["check", run.to_str().unwrap()]);
    assert_exit(&check, 2);
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("never reached its end"),
        "{check:?}"
    );
    run_id
}

#[test]
fn a_finished_run_leaves_no_namespaces_processes_or_state() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&[
        "run",
        "--nemesis",
        "pause,kill,partition",
        "--time-limit",
        "6",
        "--clients",
        "2",
        "--nodes",
        "3",
        "--nemesis-interval",
        "0.5",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(matches!(result.status.code(), Some(0..=2)), "{result:?}");
    let run_id = run_id_of(&latest_run(out.path()));
    assert_eq!(namespaces_of(&run_id), Vec::<String>::new());
    assert_eq!(processes_mentioning(&run_id), Vec::<String>::new());
    assert!(
        !std::path::Path::new("/run/splitbrain")
            .join(&run_id)
            .exists()
    );
}

#[test]
fn a_user_without_root_runs_inside_a_user_namespace() {
    let user = "sbuser";
    if Command::new("id")
        .arg(user)
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        let made = Command::new("useradd").args(["-m", user]).status().unwrap();
        assert!(made.success(), "useradd {user}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bin_copy = dir.path().join("splitbrain");
    std::fs::copy(bin(), &bin_copy).unwrap();
    let out_dir = dir.path().join("results");
    std::fs::create_dir(&out_dir).unwrap();
    for p in [dir.path(), out_dir.as_path(), bin_copy.as_path()] {
        Command::new("chmod").arg("0777").arg(p).status().unwrap();
    }
    let result = Command::new("runuser")
        .args(["-u", user, "--"])
        .arg(&bin_copy)
        .args([
            "run",
            "--nemesis",
            "partition",
            "--time-limit",
            "4",
            "--clients",
            "2",
            "--nodes",
            "3",
        ])
        .args(["--nemesis-interval", "0.5", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(matches!(result.status.code(), Some(0..=2)), "{result:?}");
    let run = latest_run(&out_dir);
    assert!(run.join("results.json").is_file());
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(
        history.contains("start-partition"),
        "the partition was applied as an unprivileged user"
    );
}

#[test]
fn bad_arguments_exit_254_with_a_message_naming_the_problem() {
    let unknown_lock = splitbrain(&["run", "--lock", "zookeepr"]);
    assert_exit(&unknown_lock, 254);
    assert!(String::from_utf8_lossy(&unknown_lock.stderr).contains("zookeepr"));

    let unknown_fault = splitbrain(&[
        "run",
        "--nemesis",
        "pause,explode",
        "--out",
        "/nonexistent-never-created",
    ]);
    assert_exit(&unknown_fault, 254);
    assert!(String::from_utf8_lossy(&unknown_fault.stderr).contains("explode"));
    assert!(
        !std::path::Path::new("/nonexistent-never-created").exists(),
        "bad input creates nothing"
    );

    let zero_clients = splitbrain(&["run", "--clients", "0"]);
    assert_exit(&zero_clients, 254);
}

#[test]
fn help_explains_every_run_flag() {
    let help = splitbrain(&["run", "--help"]);
    assert_exit(&help, 0);
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--lock",
        "--workload",
        "--nemesis",
        "--clients",
        "--nodes",
        "--time-limit",
        "--ttl-ms",
        "--fencing",
        "--seed",
        "--out",
    ] {
        assert!(text.contains(flag), "run --help lacks {flag}");
    }
}
