//! The rootless path, for real: the probe runs as the ordinary user `sbuser`, enters a
//! user namespace, and brings up, partitions, heals and tears down a cluster there.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const USER: &str = "sbuser";

fn ensure_user() {
    let exists = Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let status = Command::new("useradd").args(["-m", USER]).status().unwrap();
        assert!(status.success(), "cannot create user {USER}");
    }
}

#[test]
fn the_local_backend_works_rootless_as_an_ordinary_user() {
    if !is_root() {
        return;
    }
    ensure_user();
    // The build directory may not be readable by the user: run a world-readable copy.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let probe = dir.path().join("splitbrain-cluster-probe");
    std::fs::copy(PROBE, &probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = run_id("rootless");
    let out = Command::new("setpriv")
        .args(["--reuid", USER, "--regid", USER, "--init-groups"])
        .arg(&probe)
        .args(["selftest", &run, "3"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status={} stdout={stdout} stderr={stderr}",
        out.status
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect(&stdout);
    assert_eq!(report["passed"], true, "{report}");
    // Root inside, but only over its own namespaces: the user's uid is mapped to 0,
    // nothing else is.
    assert_eq!(report["euid"], 0);
    let uid = Command::new("id").args(["-u", USER]).output().unwrap();
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_string();
    let map: Vec<String> = report["uid_map"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(map, vec!["0".to_string(), uid, "1".to_string()]);
    assert_eq!(report["pairs"], 6);
    assert_eq!(report["reachable_during"], 2);
    assert_eq!(report["partition_exact"], true);
    // Nothing of it is visible on the host.
    assert!(namespaces_with_prefix(&format!("sb-{run}-")).is_empty());
}

/// Host pids of the processes in the pid namespace of the process whose command line
/// contains `needle`, if one exists.
fn pid_namespace_members(needle: &[u8]) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let pidns = |pid: u32| {
        std::fs::metadata(format!("/proc/{pid}/ns/pid"))
            .ok()
            .map(|m| m.ino())
    };
    let ns = pids.iter().find_map(|&pid| {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let ours = pidns(std::process::id());
        let theirs = pidns(pid);
        (cmd.windows(needle.len()).any(|w| w == needle) && theirs != ours).then_some(theirs?)
    });
    let Some(ns) = ns else { return Vec::new() };
    pids.into_iter()
        .filter(|&p| pidns(p) == Some(ns) && is_alive(p))
        .collect()
}

#[test]
fn killing_a_rootless_controller_takes_every_process_of_its_run_with_it() {
    use std::io::{BufRead, BufReader};
    if !is_root() {
        return;
    }
    ensure_user();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let probe = dir.path().join("splitbrain-cluster-probe");
    std::fs::copy(PROBE, &probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = run_id("rl-crash");
    let child = Command::new("setpriv")
        .args(["--reuid", USER, "--regid", USER, "--init-groups"])
        .arg(&probe)
        .args(["hold", &run, "2"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(Some(child));
    let stdout = guard.0.as_mut().unwrap().stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(line.contains("\"ready\":true"), "{line}");
    let needle = format!("hold\0{run}\0");
    let members = pid_namespace_members(needle.as_bytes());
    // The controller, the sleeper and the listener at least.
    assert!(members.len() >= 3, "members={members:?}");
    let _members_guard = PidsGuard(members.clone());

    let mut top = guard.0.take().unwrap();
    top.kill().unwrap();
    top.wait().unwrap();
    assert!(
        eventually(std::time::Duration::from_secs(3), || members
            .iter()
            .all(|p| !is_alive(*p))),
        "survivors of the killed rootless run: {:?}",
        members.iter().filter(|p| is_alive(**p)).collect::<Vec<_>>()
    );
    assert!(namespaces_with_prefix(&format!("sb-{run}-")).is_empty());
}

/// PidsGuard SIGKILLs the pids still alive when dropped, so a failing test leaves no
/// namespaced run behind (killing its first process ends its pid namespace).
struct PidsGuard(Vec<u32>);

impl Drop for PidsGuard {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if is_alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}
