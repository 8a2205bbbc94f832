//! Process control on real processes: spawn inside a node, pause, resume, kill, restart.

mod common;

use common::*;
use splitbrain_nemesis::{Cluster, ClusterError, ProcessKind, ProcessState};
use std::time::Duration;

fn pid_of(cluster: &dyn Cluster, name: &str) -> (u32, ProcessState) {
    let info = cluster
        .processes()
        .into_iter()
        .find(|p| p.name == name)
        .expect("process listed");
    (info.pid, info.state)
}

fn cmdline(pid: u32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap()
}

#[test]
fn pause_resume_kill_and_restart_act_on_the_real_process_inside_its_node() {
    if !is_root() {
        return;
    }
    let cluster = up("procs", 2);
    cluster
        .spawn(
            "n2",
            spec(
                &cluster,
                "sleeper",
                ProcessKind::LockServer,
                "sleep",
                &["1000"],
            ),
        )
        .unwrap();
    let (pid, state) = pid_of(cluster.as_ref(), "sleeper");
    assert_eq!(state, ProcessState::Running);
    assert_eq!(cmdline(pid), b"sleep\x001000\x00");
    let ns = cluster.namespace_of("n2").unwrap();
    assert_eq!(netns_inode_of_pid(pid), netns_inode(&ns), "not inside n2");

    cluster.pause("sleeper").unwrap();
    assert_eq!(stat_state(pid), Some('T'));
    assert_eq!(pid_of(cluster.as_ref(), "sleeper").1, ProcessState::Paused);
    assert!(matches!(
        cluster.pause("sleeper"),
        Err(ClusterError::WrongState { .. })
    ));
    cluster.resume("sleeper").unwrap();
    assert!(eventually(Duration::from_secs(1), || stat_state(pid) == Some('S')));

    // A paused process is killed too.
    cluster.pause("sleeper").unwrap();
    cluster.kill("sleeper").unwrap();
    assert!(!is_alive(pid));
    assert_eq!(pid_of(cluster.as_ref(), "sleeper").1, ProcessState::Killed);
    assert!(matches!(
        cluster.resume("sleeper"),
        Err(ClusterError::WrongState { .. })
    ));

    cluster.restart("sleeper").unwrap();
    let (new_pid, state) = pid_of(cluster.as_ref(), "sleeper");
    assert_eq!(state, ProcessState::Running);
    assert_ne!(new_pid, pid);
    assert_eq!(cmdline(new_pid), cmdline_of_spec());
    assert_eq!(netns_inode_of_pid(new_pid), netns_inode(&ns));

    // Restarting a live process replaces it.
    cluster.restart("sleeper").unwrap();
    let (third_pid, _) = pid_of(cluster.as_ref(), "sleeper");
    assert!(!is_alive(new_pid) && is_alive(third_pid));
}

fn cmdline_of_spec() -> Vec<u8> {
    b"sleep\x001000\x00".to_vec()
}

#[test]
fn a_process_that_exits_on_its_own_is_reported_with_its_exit_code_and_its_output_is_logged() {
    if !is_root() {
        return;
    }
    let cluster = up("exit", 1);
    let mut s = spec(
        &cluster,
        "quitter",
        ProcessKind::Agent,
        "sh",
        &["-c", "echo out; echo err >&2; exit 3"],
    );
    s.env.push(("SB_TEST".into(), "1".into()));
    let log = s.log.clone();
    cluster.spawn("n1", s).unwrap();
    assert!(eventually(Duration::from_secs(2), || {
        pid_of(cluster.as_ref(), "quitter").1 == ProcessState::Exited(Some(3))
    }));
    assert!(matches!(
        cluster.kill("quitter"),
        Err(ClusterError::WrongState { .. })
    ));
    cluster.restart("quitter").unwrap();
    assert!(eventually(Duration::from_secs(2), || {
        pid_of(cluster.as_ref(), "quitter").1 != ProcessState::Running
    }));
    // Appended across restarts, stdout and stderr both.
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("out\n").count(), 2, "{text}");
    assert_eq!(text.matches("err\n").count(), 2, "{text}");
}

#[test]
fn a_duplicate_name_or_a_missing_program_is_refused_clearly() {
    if !is_root() {
        return;
    }
    let cluster = up("dupname", 1);
    let s = spec(&cluster, "a", ProcessKind::Agent, "sleep", &["100"]);
    cluster.spawn("n1", s.clone()).unwrap();
    let err = cluster.spawn("n1", s).unwrap_err().to_string();
    assert!(err.contains("process=a already exists"), "{err}");
    let missing = spec(&cluster, "b", ProcessKind::Agent, "/nonexistent/prog", &[]);
    let err = cluster.spawn("n1", missing).unwrap_err().to_string();
    assert!(
        err.contains("process=b") && err.contains("/nonexistent/prog"),
        "{err}"
    );
    assert_eq!(cluster.processes().len(), 1);
}
