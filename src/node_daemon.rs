//! `splitbrain node-daemon`: the Kubernetes backend's privileged daemon, one pod per
//! Kubernetes node that holds node pods of a run (see `splitbrain_nemesis::kube::daemon`).
//! It shares the host's pid namespace, finds a node pod's network namespace through the
//! cgroup of that pod's processes, and runs the controller's `nft` and `ip` commands in
//! it, so the node pods themselves need no capability beyond the container defaults.
//!
//! The controller reaches it through the API's port-forward, on the daemon pod's
//! loopback port [`DAEMON_PORT`]. Each line the controller sends is one request, a JSON
//! object `{"pod_uid": UID, "argv": [PROGRAM, ARG...]}`; the daemon runs the program in
//! the network namespace of the pod UID (in its own mount namespace, so `nft` and `ip`
//! are the image's) and answers `ok`, or `error WHY` with the program's stderr. A
//! connection takes requests until it closes.

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};
use serde::Deserialize;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The daemon pod's loopback port for the controller. Kept in step with
/// `splitbrain_nemesis::kube`.
pub const DAEMON_PORT: u16 = splitbrain_nemesis::kube::DAEMON_PORT;
/// The longest request line taken: a partition script for dozens of nodes fits.
const MAX_REQUEST: usize = 1 << 20;

/// One request: a command to run in a pod's network namespace.
#[derive(Debug, Deserialize, PartialEq)]
struct Request {
    pod_uid: String,
    argv: Vec<String>,
}

/// Serves the controller's connections until the pod is stopped.
pub fn serve() -> Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", DAEMON_PORT))
        .with_context(|| format!("listening on 127.0.0.1:{DAEMON_PORT}"))?;
    for conn in listener.incoming().flatten() {
        std::thread::spawn(move || serve_connection(conn, Path::new("/proc")));
    }
    Ok(())
}

/// Answers each request line of `conn`, in order, until it closes.
fn serve_connection(conn: std::net::TcpStream, proc_root: &Path) {
    let Ok(reading) = conn.try_clone() else {
        return;
    };
    let mut lines = BufReader::new(reading);
    let mut writer = conn;
    loop {
        let mut line = String::new();
        match lines.by_ref().take(MAX_REQUEST as u64).read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let answer = match answer(&line, proc_root) {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("error {}", format!("{e:#}").replace('\n', " ")),
        };
        if writeln!(writer, "{answer}").is_err() {
            return;
        }
    }
}

/// Parses one request line and runs it.
fn answer(line: &str, proc_root: &Path) -> Result<()> {
    if !line.ends_with('\n') {
        bail!("a request is one line of at most {MAX_REQUEST} bytes");
    }
    let request: Request = serde_json::from_str(line.trim_end())
        .context("a request is {\"pod_uid\": UID, \"argv\": [PROGRAM, ARG...]}")?;
    if request.argv.is_empty() {
        bail!("the request's argv is empty");
    }
    let netns = pod_netns(proc_root, &request.pod_uid)?;
    run_in_netns(&netns, &request.argv)
}

/// The network namespace of a process of the pod `uid`: the first process whose cgroup
/// path names the pod, as kubelet's cgroupfs driver (`pod<uid>`) or its systemd driver
/// (`pod<uid with _ for ->.slice`) does.
fn pod_netns(proc_root: &Path, uid: &str) -> Result<PathBuf> {
    if uid.is_empty() || !uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        bail!("{uid:?} is not a pod UID");
    }
    let forms = [format!("pod{uid}"), format!("pod{}", uid.replace('-', "_"))];
    let entries =
        std::fs::read_dir(proc_root).with_context(|| format!("reading {}", proc_root.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cgroups) = std::fs::read_to_string(entry.path().join("cgroup")) else {
            continue;
        };
        if cgroups
            .lines()
            .any(|l| forms.iter().any(|f| names_pod(l, f)))
        {
            return Ok(entry.path().join("ns/net"));
        }
    }
    bail!(
        "no process of pod {uid} on this Kubernetes node (is the daemon's pod sharing the \
         host's pid namespace, and does the pod run here?)"
    )
}

/// Whether cgroup line `line` has a path component that is the pod's cgroup `form`
/// (`pod<uid>`), or a systemd slice ending with it (`kubepods-besteffort-pod<uid>.slice`).
fn names_pod(line: &str, form: &str) -> bool {
    let path = line.splitn(3, ':').nth(2).unwrap_or_default();
    path.split('/').any(|part| {
        part == form
            || part
                .strip_suffix(".slice")
                .is_some_and(|s| s.ends_with(&format!("-{form}")))
    })
}

/// Runs `argv` in the network namespace `netns` and waits; a failure carries its stderr.
fn run_in_netns(netns: &Path, argv: &[String]) -> Result<()> {
    let ns = File::open(netns).with_context(|| format!("opening {}", netns.display()))?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setns is a single system call, safe between fork and exec.
    unsafe {
        command
            .pre_exec(move || setns(&ns, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from));
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", argv[0]))?;
    if !output.status.success() {
        bail!(
            "{} in {}: {}: {}",
            argv[0],
            netns.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "3f1c2a9e-5b7d-4e21-9c0a-1b2c3d4e5f60";

    #[test]
    fn a_pods_cgroup_is_found_under_either_kubelet_driver() {
        let cgroupfs = format!("12:pids:/kubepods/besteffort/pod{UID}/0123abcd");
        let systemd = format!(
            "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/\
             kubelet-kubepods-besteffort-pod{}.slice/cri-containerd-0123.scope",
            UID.replace('-', "_")
        );
        let forms = [format!("pod{UID}"), format!("pod{}", UID.replace('-', "_"))];
        assert!(names_pod(&cgroupfs, &forms[0]));
        assert!(names_pod(&systemd, &forms[1]));
        // Another pod whose UID starts the same is not this one.
        let other = format!("12:pids:/kubepods/besteffort/pod{UID}0/0123abcd");
        assert!(!forms.iter().any(|f| names_pod(&other, f)));
    }

    #[test]
    fn the_namespace_is_the_first_process_of_the_pod_in_proc() {
        let proc_root = tempfile::tempdir().unwrap();
        let process = |pid: &str, cgroup: &str| {
            let dir = proc_root.path().join(pid);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cgroup"), cgroup).unwrap();
        };
        process("1", "12:pids:/\n");
        process(
            "4711",
            &format!("12:pids:/kubepods/besteffort/pod{UID}/ab\n"),
        );
        process(
            "self",
            &format!("12:pids:/kubepods/besteffort/pod{UID}/ab\n"),
        );
        assert_eq!(
            pod_netns(proc_root.path(), UID).unwrap(),
            proc_root.path().join("4711/ns/net")
        );
        let missing = pod_netns(proc_root.path(), "0000-1111").unwrap_err();
        assert!(missing.to_string().contains("no process of pod 0000-1111"));
        let bad = pod_netns(proc_root.path(), "../etc").unwrap_err();
        assert!(bad.to_string().contains("not a pod UID"), "{bad}");
    }

    #[test]
    fn a_bad_request_is_answered_with_what_is_wrong() {
        let proc_root = tempfile::tempdir().unwrap();
        let err = |line: &str| answer(line, proc_root.path()).unwrap_err().to_string();
        assert!(err("{\"pod_uid\": \"ab\"}\n").contains("a request is"));
        assert!(err("{\"pod_uid\": \"ab\", \"argv\": []}\n").contains("argv is empty"));
        assert!(err("{\"pod_uid\": \"ab\", \"argv\": [\"nft\"]}").contains("one line"));
        assert!(err("{\"pod_uid\": \"ab\", \"argv\": [\"nft\"]}\n").contains("no process of pod"));
    }

    #[test]
    fn a_command_runs_in_the_namespace_and_its_failure_says_why() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root: entering a network namespace takes CAP_SYS_ADMIN"
        );
        // A process in a network namespace of its own stands for a pod.
        let mut pod = Command::new("unshare")
            .args(["--net", "sleep", "30"])
            .spawn()
            .expect("unshare (util-linux) runs");
        let netns = PathBuf::from(format!("/proc/{}/ns/net", pod.id()));
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let start = std::time::Instant::now();
        while std::fs::read_link(&netns).ok().is_none_or(|ns| ns == own) {
            assert!(start.elapsed().as_secs() < 5, "unshare made no namespace");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let sh = |script: &str| -> Vec<String> { vec!["sh".into(), "-c".into(), script.into()] };
        let has_address = sh("ip -o addr show dev lo | grep -q 198.18.255.77 || \
                              { echo 'no 198.18.255.77 on lo' >&2; exit 1; }");
        let made = run_in_netns(&netns, &sh("ip addr add 198.18.255.77/32 dev lo"));
        let seen_there = run_in_netns(&netns, &has_address);
        let seen_here = run_in_netns(Path::new("/proc/self/ns/net"), &has_address);
        pod.kill().unwrap();
        pod.wait().unwrap();
        made.unwrap();
        seen_there.unwrap();
        let failed = seen_here.unwrap_err().to_string();
        assert!(failed.contains("no 198.18.255.77 on lo"), "{failed}");
    }
}
