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
    require_root();
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
    // A bare program name is started from where PATH has it (`/usr/bin/sleep`).
    let argv = cmdline(pid);
    assert!(
        argv.ends_with(b"sleep\x001000\x00") && argv.starts_with(b"/"),
        "{argv:?}"
    );
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
    assert_eq!(
        cmdline(new_pid),
        argv,
        "restarted with the same command line"
    );
    assert_eq!(netns_inode_of_pid(new_pid), netns_inode(&ns));

    // Restarting a live process replaces it.
    cluster.restart("sleeper").unwrap();
    let (third_pid, _) = pid_of(cluster.as_ref(), "sleeper");
    assert!(!is_alive(new_pid) && is_alive(third_pid));
}

#[test]
fn a_process_that_exits_on_its_own_is_reported_with_its_exit_code_and_its_output_is_logged() {
    require_root();
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
    require_root();
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

/// Sends PING from `from` to the Redis at `to`; true on `+PONG` within the timeout.
fn redis_pings(cluster: &dyn Cluster, from: &str, to: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let timeout = Duration::from_secs(1);
    let Ok(mut stream) = cluster.connect(from, to, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

#[test]
fn a_real_redis_server_stops_answering_while_paused_and_answers_again_after_a_restart() {
    require_root();
    splitbrain_nemesis::local::require_programs(&[("redis-server", "redis-server")]).unwrap();
    let cluster = up("redis", 2);
    let addr = cluster_addr(&cluster, "n1");
    let args = [
        "--bind",
        &addr.to_string(),
        "--port",
        "6379",
        "--save",
        "",
        "--appendonly",
        "no",
        // Without a password, Redis 7 answers non-loopback clients only with DENIED.
        "--protected-mode",
        "no",
    ]
    .map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cluster
        .spawn(
            "n1",
            spec(
                &cluster,
                "redis-n1",
                ProcessKind::LockServer,
                "redis-server",
                &args,
            ),
        )
        .unwrap();
    let to = (addr, 6379).into();
    assert!(eventually(Duration::from_secs(5), || redis_pings(
        cluster.as_ref(),
        "n2",
        to
    )));

    cluster.pause("redis-n1").unwrap();
    // The kernel still accepts the connection (backlog); the reply never comes.
    assert!(!redis_pings(cluster.as_ref(), "n2", to));
    cluster.resume("redis-n1").unwrap();
    assert!(redis_pings(cluster.as_ref(), "n2", to));

    let (old, _) = pid_of(cluster.as_ref(), "redis-n1");
    cluster.kill("redis-n1").unwrap();
    assert!(!redis_pings(cluster.as_ref(), "n2", to));
    cluster.restart("redis-n1").unwrap();
    let (new, _) = pid_of(cluster.as_ref(), "redis-n1");
    assert_ne!(old, new);
    assert!(eventually(Duration::from_secs(5), || redis_pings(
        cluster.as_ref(),
        "n2",
        to
    )));
}
