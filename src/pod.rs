//! What splitbrain runs inside a node pod of the Kubernetes backend (see
//! `splitbrain_nemesis::kube`): `pod-init`, the pod's first process, which keeps the pod
//! alive and reaps the processes started in it; `pod-spawn`, which starts one process of
//! the run in its own session with its output in a log file and leaves it to `pod-init`;
//! and `pod-signal`, which signals a started process's group by its name and waits until
//! the kernel shows the effect. The controller runs the last two through the API's exec.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the pid of each started process is kept, by process name.
const PID_DIR: &str = "/run/splitbrain-pod/pids";
/// How long `pod-signal` waits for a process to stop or die.
const SIGNAL_WAIT: Duration = Duration::from_secs(10);

/// `splitbrain pod-init`: sleeps as the pod's pid 1, reaping every orphan (the processes
/// `pod-spawn` started), until SIGTERM or SIGINT.
pub fn init() -> Result<()> {
    extern "C" fn stop(_: nix::libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { nix::libc::_exit(0) }
    }
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only calls _exit.
        unsafe { signal::signal(sig, SigHandler::Handler(stop)) }
            .context("installing pod-init's signal handlers")?;
    }
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) | Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => std::thread::sleep(Duration::from_millis(200)),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => bail!("pod-init: waitpid: {e}"),
        }
    }
}

/// `splitbrain pod-spawn`'s arguments.
#[derive(Args, Debug)]
pub struct SpawnArgs {
    /// The process's name in the run (agent-3, redis-n1).
    #[arg(long)]
    name: String,
    /// The file its stdout and stderr are appended to (created with its folder).
    #[arg(long)]
    log: PathBuf,
    /// An environment variable to add, NAME=VALUE; repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Starts the process in its own session and prints its pid; it outlives this command.
pub fn spawn(args: &SpawnArgs) -> Result<()> {
    let parent = args.log.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("opening {}", args.log.display()))?;
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    for pair in &args.env {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--env {pair}: expected NAME=VALUE"))?;
        command.env(name, value);
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", args.command[0]))?;
    fs::create_dir_all(PID_DIR).with_context(|| format!("creating {PID_DIR}"))?;
    let pid_file = Path::new(PID_DIR).join(&args.name);
    fs::write(&pid_file, child.id().to_string())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    println!("{}", child.id());
    Ok(())
}

/// The signals `pod-signal` sends.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PodSignal {
    /// SIGSTOP, then wait until every process of the group is stopped.
    Stop,
    /// SIGCONT.
    Cont,
    /// SIGKILL, then wait until the process is gone.
    Kill,
}

/// `splitbrain pod-signal`'s arguments.
#[derive(Args, Debug)]
pub struct SignalArgs {
    /// The process's name, as given to pod-spawn.
    #[arg(long)]
    name: String,
    /// What to send.
    #[arg(long, value_enum)]
    signal: PodSignal,
}

/// Signals the named process's group and waits for the effect. A process that is
/// already gone is no error for `kill` (nothing is left to kill) and is one otherwise.
pub fn signal(args: &SignalArgs) -> Result<()> {
    let pid_file = Path::new(PID_DIR).join(&args.name);
    let pid: i32 = fs::read_to_string(&pid_file)
        .with_context(|| format!("no process named {} was started here", args.name))?
        .trim()
        .parse()
        .with_context(|| format!("{} holds no pid", pid_file.display()))?;
    let group = Pid::from_raw(-pid);
    let sig = match args.signal {
        PodSignal::Stop => Signal::SIGSTOP,
        PodSignal::Cont => Signal::SIGCONT,
        PodSignal::Kill => Signal::SIGKILL,
    };
    if let Err(e) = signal::kill(group, sig) {
        if matches!(args.signal, PodSignal::Kill) && e == nix::errno::Errno::ESRCH {
            return Ok(());
        }
        bail!("{} (pid {pid}): {sig}: {e}", args.name);
    }
    let done = |state: Option<char>| match args.signal {
        PodSignal::Stop => matches!(state, Some('T') | Some('t')),
        PodSignal::Cont => true,
        PodSignal::Kill => matches!(state, None | Some('Z') | Some('X')),
    };
    let start = Instant::now();
    while !done(process_state(pid)) {
        if start.elapsed() > SIGNAL_WAIT {
            bail!(
                "{} (pid {pid}): no effect of {sig} after {SIGNAL_WAIT:?}",
                args.name
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The state letter of /proc/PID/stat, None when the process is gone.
fn process_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_of_this_process_is_running_and_of_a_missing_one_none() {
        let me = std::process::id() as i32;
        assert_eq!(process_state(me), Some('R'));
        assert_eq!(process_state(i32::MAX), None);
    }
}
