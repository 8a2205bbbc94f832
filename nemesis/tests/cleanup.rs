//! Cleanup that cannot be skipped: teardown, the Drop backstop, and removing what a
//! crashed controller left behind.

mod common;

use common::*;
use splitbrain_nemesis::local::{STATE_ROOT, cleanup_leftovers};
use splitbrain_nemesis::{Cluster, ProcessKind};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn registry_entry(run_id: &str) -> PathBuf {
    Path::new(STATE_ROOT)
        .join("runs")
        .join(format!("{run_id}.json"))
}

#[test]
fn teardown_leaves_no_namespace_process_or_state_behind_and_can_be_called_again() {
    require_root();
    let cluster = up("down", 3);
    let run = cluster.run_id().to_string();
    for (i, node) in ["n1", "n2", "n3", "resource"].iter().enumerate() {
        let name = format!("p{i}");
        cluster
            .spawn(
                node,
                spec(&cluster, &name, ProcessKind::Agent, "sleep", &["1000"]),
            )
            .unwrap();
    }
    cluster.pause("p1").unwrap();
    let pids: Vec<u32> = cluster.processes().iter().map(|p| p.pid).collect();
    let state_dir = cluster.state_dir().to_path_buf();
    assert_eq!(namespaces_with_prefix(&format!("sb-{run}-")).len(), 5);
    assert!(state_dir.join("state.json").exists() && registry_entry(&run).exists());

    let report = cluster.teardown().unwrap();
    assert!(report.first_call);
    assert_eq!(report.processes_killed, 4);
    assert_eq!(report.namespaces_deleted, 5);
    assert!(
        pids.iter().all(|p| !is_alive(*p)),
        "survivors among {pids:?}"
    );
    assert!(namespaces_with_prefix(&format!("sb-{run}-")).is_empty());
    assert!(!state_dir.exists());
    assert!(!registry_entry(&run).exists());

    let again = cluster.teardown().unwrap();
    assert!(!again.first_call);
    assert!(
        cluster
            .spawn(
                "n1",
                spec(&cluster, "late", ProcessKind::Agent, "true", &[])
            )
            .is_err()
    );
}

#[test]
fn dropping_a_cluster_tears_it_down() {
    require_root();
    let cluster = up("drop-bs", 2);
    let run = cluster.run_id().to_string();
    cluster
        .spawn(
            "n1",
            spec(&cluster, "s", ProcessKind::LockServer, "sleep", &["1000"]),
        )
        .unwrap();
    let pid = cluster.processes()[0].pid;
    let state_dir = cluster.state_dir().to_path_buf();
    drop(cluster);
    assert!(!is_alive(pid));
    assert!(namespaces_with_prefix(&format!("sb-{run}-")).is_empty());
    assert!(!state_dir.exists() && !registry_entry(&run).exists());
}

#[test]
fn cleanup_after_a_killed_controller_removes_its_run_and_leaves_live_runs_alone() {
    require_root();
    let _serial = cleanup_test_lock();
    let _leftovers = LeftoverGuard;
    // A live run of our own, which cleanup must not touch.
    let live = up("live", 1);
    live.spawn(
        "n1",
        spec(&live, "keep", ProcessKind::Agent, "sleep", &["1000"]),
    )
    .unwrap();
    let live_pid = live.processes()[0].pid;

    // A controller in another process brings a cluster up, then is SIGKILLed.
    let crashed_run = run_id("crash");
    let child = Command::new(PROBE)
        .args(["hold", &crashed_run, "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(Some(child));
    let stdout = guard.0.as_mut().unwrap().stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).expect(&line);
    let orphan_pids: Vec<u32> = ready["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect();
    let crashed_state = PathBuf::from(ready["state_dir"].as_str().unwrap());
    assert_eq!(orphan_pids.len(), 2);
    let mut controller = guard.0.take().unwrap();
    controller.kill().unwrap();
    controller.wait().unwrap();
    // The crash left everything behind.
    assert!(orphan_pids.iter().all(|p| is_alive(*p)));
    assert_eq!(
        namespaces_with_prefix(&format!("sb-{crashed_run}-")).len(),
        4
    );

    let report = cleanup_leftovers().unwrap();
    assert!(report.runs_removed.contains(&crashed_run), "{report:?}");
    assert!(
        report.live_runs_kept.contains(&live.run_id().to_string()),
        "{report:?}"
    );
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(
        eventually(Duration::from_secs(2), || orphan_pids
            .iter()
            .all(|p| !is_alive(*p))),
        "orphans survived: {orphan_pids:?}"
    );
    assert!(namespaces_with_prefix(&format!("sb-{crashed_run}-")).is_empty());
    assert!(!crashed_state.exists() && !registry_entry(&crashed_run).exists());

    // The live run is whole.
    assert!(is_alive(live_pid));
    assert_eq!(
        namespaces_with_prefix(&format!("sb-{}-", live.run_id())).len(),
        3
    );
    assert!(live.state_dir().exists());
    live.teardown().unwrap();
}

#[test]
fn cleanup_removes_an_unregistered_namespace_with_the_prefix_and_its_processes() {
    require_root();
    let _serial = cleanup_test_lock();
    let _leftovers = LeftoverGuard;
    // As if a crash happened after `ip netns add` but with the registry lost.
    let name = format!("sb-{}-n1", run_id("stray"));
    let status = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap();
    assert!(status.success());
    let child = Command::new("ip")
        .args(["netns", "exec", &name, "sleep", "1000"])
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(Some(child));
    let pid = guard.0.as_ref().unwrap().id();
    assert!(eventually(Duration::from_secs(2), || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p.ends_with("sleep"))
    }));

    let report = cleanup_leftovers().unwrap();
    assert!(report.namespaces_deleted.contains(&name), "{report:?}");
    assert!(report.processes_killed.contains(&pid), "{report:?}");
    let status = guard.0.as_mut().unwrap().wait().unwrap();
    assert!(!status.success());
    assert!(namespaces_with_prefix(&name).is_empty());
}

#[test]
fn cleanup_removes_a_state_dir_that_no_run_registered_and_keeps_registered_ones() {
    require_root();
    let _serial = cleanup_test_lock();
    let _leftovers = LeftoverGuard;
    // As if a controller died after creating its state dir and losing its entry.
    let ghost = Path::new(STATE_ROOT).join("state").join(run_id("ghost"));
    std::fs::create_dir_all(&ghost).unwrap();
    std::fs::write(ghost.join("state.json"), "{}").unwrap();
    // A registered, live run keeps its state dir.
    let live = up("kept", 1);
    let report = cleanup_leftovers().unwrap();
    assert!(report.state_dirs_removed.contains(&ghost), "{report:?}");
    assert!(!ghost.exists());
    assert!(live.state_dir().exists());
    assert!(report.live_runs_kept.contains(&live.run_id().to_string()));
}

#[test]
fn a_state_dir_with_files_in_it_is_refused_because_teardown_would_remove_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
    let mut cfg = splitbrain_nemesis::local::LocalConfig::new(run_id("occupied"), 1);
    cfg.state_dir = dir.path().to_path_buf();
    let err = splitbrain_nemesis::local::LocalCluster::up(cfg)
        .err()
        .expect("refused")
        .to_string();
    // Without root the cluster is refused earlier, for want of namespaces; the
    // directory's files must survive either way.
    if nix::unistd::geteuid().is_root() {
        assert!(
            err.contains("state_dir=") && err.contains("not empty"),
            "{err}"
        );
    }
    assert!(dir.path().join("precious.txt").exists());
}

/// Removes a hand-made registry file and namespace, even if the test fails.
struct HandMade {
    entry: PathBuf,
    namespace: String,
}

impl Drop for HandMade {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.entry);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn a_corrupt_registry_entry_is_reported_and_its_namespaces_are_not_taken_for_debris() {
    require_root();
    let _serial = cleanup_test_lock();
    let run = run_id("corrupt");
    let made = HandMade {
        entry: registry_entry(&run),
        namespace: format!("sb-{run}-n1"),
    };
    std::fs::create_dir_all(made.entry.parent().unwrap()).unwrap();
    std::fs::write(&made.entry, "{ truncated").unwrap();
    let status = Command::new("ip")
        .args(["netns", "add", &made.namespace])
        .status()
        .unwrap();
    assert!(status.success());

    let report = cleanup_leftovers().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("corrupt state file") && p.contains(&format!("{run}.json"))),
        "{report:?}"
    );
    assert!(!report.namespaces_deleted.contains(&made.namespace));
    assert_eq!(namespaces_with_prefix(&made.namespace).len(), 1);
}

/// Set in the child process that runs the half-way test with the fake `ip` in its PATH.
const HALFWAY_CHILD: &str = "SPLITBRAIN_TEST_HALFWAY_CHILD";

#[test]
fn a_cluster_that_fails_half_way_up_removes_what_it_had_created() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    // The fake `ip` is put first in the PATH of a child process that runs only this test:
    // under `cargo test` the other tests are threads of this process, and a PATH changed
    // here would make their clusters fail too.
    if std::env::var_os(HALFWAY_CHILD).is_none() {
        // An `ip` that creates namespaces but fails inside them.
        let bin = tempfile::tempdir().unwrap();
        let fake = bin.path().join("ip");
        std::fs::write(
            &fake,
            "#!/bin/sh\ncase \" $* \" in *\" -n \"*) echo injected failure >&2; exit 1;; esac\nexec /usr/sbin/ip \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap()
        );
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_cluster_that_fails_half_way_up_removes_what_it_had_created",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PATH", path)
            .env(HALFWAY_CHILD, "1")
            .status()
            .unwrap();
        assert!(status.success(), "the test failed in its child: {status}");
        return;
    }

    let run = run_id("halfway");
    let cfg = splitbrain_nemesis::local::LocalConfig::new(run.clone(), 2);
    let state_dir = cfg.state_dir.clone();
    let err = splitbrain_nemesis::local::LocalCluster::up(cfg)
        .err()
        .expect("up must fail")
        .to_string();
    assert!(err.contains("injected failure"), "{err}");
    assert!(namespaces_with_prefix(&format!("sb-{run}-")).is_empty());
    assert!(!state_dir.exists());
    assert!(!registry_entry(&run).exists());
}
