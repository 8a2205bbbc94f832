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

/// The build directory may not be readable by the user: a world-readable copy of the
/// probe in a temp dir (removed when the returned guard drops).
fn probe_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let probe = dir.path().join("splitbrain-cluster-probe");
    std::fs::copy(PROBE, &probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, probe)
}

/// Starts the probe as the user, in a process group of its own (like a shell job).
fn spawn_as_user(probe: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> ChildGuard {
    use std::os::unix::process::CommandExt;
    let child = Command::new("setpriv")
        .args(["--reuid", USER, "--regid", USER, "--init-groups"])
        .arg(probe)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    ChildGuard(Some(child))
}

#[test]
fn the_local_backend_works_rootless_as_an_ordinary_user() {
    require_root();
    ensure_user();
    let (dir, probe) = probe_copy();

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
    require_root();
    ensure_user();
    let (dir, probe) = probe_copy();
    let run = run_id("rl-crash");
    let mut guard = spawn_as_user(&probe, dir.path(), &["hold", &run, "2"]);
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

#[test]
fn ctrl_c_reaches_a_rootless_controller_which_tears_down_and_exits_cleanly() {
    use std::io::{BufRead, BufReader};
    require_root();
    ensure_user();
    let (dir, probe) = probe_copy();
    let run = run_id("rl-int");
    let mut guard = spawn_as_user(&probe, dir.path(), &["hold", &run, "2"]);
    let child = guard.0.as_mut().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"ready\":true"), "{line}");
    let members = pid_namespace_members(format!("hold\0{run}\0").as_bytes());
    let _members_guard = PidsGuard(members.clone());

    // What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "status={status} output={rest}");
    let report: serde_json::Value = serde_json::from_str(rest.trim()).expect(&rest);
    assert_eq!(report["torn_down"]["first_call"], true, "{report}");
    assert_eq!(report["torn_down"]["namespaces_deleted"], 4, "{report}");
    assert!(eventually(std::time::Duration::from_secs(2), || members
        .iter()
        .all(|p| !is_alive(*p))));
}
