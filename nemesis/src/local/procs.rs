//! The processes of a run: started inside node namespaces, signalled as process groups.
//!
//! Each process is started in a process group of its own, so a signal reaches whatever
//! it forked (a wrapper script's server, say), and the controller's terminal signals do
//! not reach it: the controller decides when its processes die.

use super::netns::{NsHandle, enter_raw, ns_name};
use super::state::{ProcRecord, proc_start_time, proc_state};
use crate::{ClusterError, ProcessInfo, ProcessSpec, ProcessState};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `pause` waits for the kernel to show a process stopped.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// A Managed process: its spec, where it runs, and its latest incarnation.
struct Managed {
    spec: ProcessSpec,
    node: String,
    child: Option<Child>,
    pid: u32,
    start_time: u64,
    state: ProcessState,
}

/// A ProcessTable holds every process a run spawned, by name.
#[derive(Default)]
pub(crate) struct ProcessTable {
    procs: BTreeMap<String, Managed>,
}

impl ProcessTable {
    /// Starts a new process.
    pub(crate) fn spawn(
        &mut self,
        run_id: &str,
        node: &str,
        spec: ProcessSpec,
    ) -> Result<(), ClusterError> {
        if self.procs.contains_key(&spec.name) {
            return Err(ClusterError::DuplicateProcess { name: spec.name });
        }
        let child = start(run_id, node, &spec)?;
        let pid = child.id();
        let managed = Managed {
            start_time: proc_start_time(pid).unwrap_or(0),
            spec,
            node: node.to_string(),
            child: Some(child),
            pid,
            state: ProcessState::Running,
        };
        self.procs.insert(managed.spec.name.clone(), managed);
        Ok(())
    }

    /// SIGKILLs a live process and reaps it.
    pub(crate) fn kill(&mut self, name: &str) -> Result<(), ClusterError> {
        let p = self.live(name, "kill")?;
        p.stop_for_good();
        p.state = ProcessState::Killed;
        Ok(())
    }

    /// Kills the process if it is alive, then starts it again from its spec.
    pub(crate) fn restart(&mut self, run_id: &str, name: &str) -> Result<(), ClusterError> {
        let p = self.get(name)?;
        p.refresh();
        if p.state.is_alive() {
            p.stop_for_good();
            p.state = ProcessState::Killed;
        }
        let child = start(run_id, &p.node, &p.spec)?;
        p.pid = child.id();
        p.start_time = proc_start_time(p.pid).unwrap_or(0);
        p.child = Some(child);
        p.state = ProcessState::Running;
        Ok(())
    }

    /// SIGSTOPs a running process and waits until the kernel shows it stopped, so that
    /// a recorded pause really is in force.
    pub(crate) fn pause(&mut self, name: &str) -> Result<(), ClusterError> {
        let p = self.live(name, "pause")?;
        if p.state == ProcessState::Paused {
            return Err(p.wrong_state("pause", "running"));
        }
        signal_group(p.pid, Signal::SIGSTOP);
        let deadline = Instant::now() + STOP_WAIT;
        while !matches!(proc_state(p.pid), Some('T') | Some('t') | None) {
            if Instant::now() > deadline {
                return Err(ClusterError::io(
                    format!("process={name} pid={} did not stop after SIGSTOP", p.pid),
                    std::io::Error::from(std::io::ErrorKind::TimedOut),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        p.state = ProcessState::Paused;
        Ok(())
    }

    /// SIGCONTs a paused process.
    pub(crate) fn resume(&mut self, name: &str) -> Result<(), ClusterError> {
        let p = self.live(name, "resume")?;
        if p.state != ProcessState::Paused {
            return Err(p.wrong_state("resume", "paused"));
        }
        signal_group(p.pid, Signal::SIGCONT);
        p.state = ProcessState::Running;
        Ok(())
    }

    /// A snapshot of every process, sorted by name, with exits noticed.
    pub(crate) fn infos(&mut self) -> Vec<ProcessInfo> {
        self.procs
            .values_mut()
            .map(|p| {
                p.refresh();
                ProcessInfo::of(&p.spec, &p.node, p.pid, p.state)
            })
            .collect()
    }

    /// The records of live processes, for the state file.
    pub(crate) fn records(&self) -> Vec<ProcRecord> {
        self.procs
            .values()
            .filter(|p| p.state.is_alive())
            .map(|p| ProcRecord {
                name: p.spec.name.clone(),
                node: p.node.clone(),
                pid: p.pid,
                start_time: p.start_time,
            })
            .collect()
    }

    /// Kills every live process (continuing paused ones first) and reaps them all;
    /// returns how many were alive.
    pub(crate) fn kill_all(&mut self) -> usize {
        let mut killed = 0;
        for p in self.procs.values_mut() {
            p.refresh();
            if p.state.is_alive() {
                killed += 1;
                p.stop_for_good();
                p.state = ProcessState::Killed;
            } else if let Some(mut child) = p.child.take() {
                // Reap an exited process so no zombie outlives the run.
                let _ = child.wait();
            }
        }
        killed
    }

    /// The spec a process was started from.
    /// The pid of a live process, and whether it is paused.
    pub(crate) fn live_pid(&mut self, name: &str) -> Option<(u32, bool)> {
        let p = self.get(name).ok()?;
        p.refresh();
        p.state
            .is_alive()
            .then_some((p.pid, p.state == ProcessState::Paused))
    }

    pub(crate) fn spec(&mut self, name: &str) -> Result<&ProcessSpec, ClusterError> {
        Ok(&self.get(name)?.spec)
    }

    fn get(&mut self, name: &str) -> Result<&mut Managed, ClusterError> {
        if !self.procs.contains_key(name) {
            let known: Vec<&str> = self.procs.keys().map(String::as_str).collect();
            return Err(ClusterError::UnknownProcess {
                name: name.to_string(),
                known: known.join(","),
            });
        }
        Ok(self.procs.get_mut(name).expect("checked above"))
    }

    fn live(&mut self, name: &str, operation: &'static str) -> Result<&mut Managed, ClusterError> {
        let p = self.get(name)?;
        p.refresh();
        if !p.state.is_alive() {
            return Err(p.wrong_state(operation, "running or paused"));
        }
        Ok(p)
    }
}

impl Managed {
    /// Notices an exit the backend did not cause.
    fn refresh(&mut self) {
        if !self.state.is_alive() {
            return;
        }
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            self.state = ProcessState::Exited(status.code());
            self.child = None;
        }
    }

    /// SIGCONT then SIGKILL to the whole group, then reap: a stopped process would
    /// otherwise keep a signal pending, and an unreaped one stays a zombie.
    fn stop_for_good(&mut self) {
        signal_group(self.pid, Signal::SIGCONT);
        signal_group(self.pid, Signal::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    fn wrong_state(&self, operation: &'static str, needed: &'static str) -> ClusterError {
        ClusterError::WrongState {
            name: self.spec.name.clone(),
            state: self.state.to_string(),
            operation,
            needed,
        }
    }
}

/// Signals a process group, falling back to the process alone if the group is gone.
/// Errors are ignored: the only one possible here is that the process already died.
pub(crate) fn signal_group(pid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    if killpg(Pid::from_raw(raw), signal).is_err() {
        let _ = kill(Pid::from_raw(raw), signal);
    }
}

/// Starts a spec's program inside a node's namespace, with stdout and stderr appended to
/// its log. The namespace is entered with setns(2) between fork and exec: no `ip netns
/// exec` process in between, so the pid we hold is the program's own.
fn start(run_id: &str, node: &str, spec: &ProcessSpec) -> Result<Child, ClusterError> {
    let spawn_err = |source| ClusterError::Spawn {
        name: spec.name.clone(),
        program: spec.program.clone(),
        source,
    };
    if let Some(dir) = spec.log.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(spawn_err)?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(spawn_err)?;
    let log_err = log.try_clone().map_err(spawn_err)?;
    let handle = NsHandle::open(&ns_name(run_id, node))?;
    let fd = handle.raw_fd();
    // A bare name is found the way `require_programs` finds it, so a program that
    // passed that check also starts.
    let program = match spec.program.parent() {
        Some(dir) if dir.as_os_str().is_empty() => spec
            .program
            .to_str()
            .and_then(super::programs::find_program)
            .unwrap_or_else(|| spec.program.clone()),
        _ => spec.program.clone(),
    };
    let mut cmd = Command::new(&program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    // SAFETY: the closure only calls setns(2), which is async-signal-safe, on a
    // descriptor that `handle` keeps open until spawn returns.
    unsafe {
        cmd.pre_exec(move || enter_raw(fd));
    }
    let child = cmd.spawn().map_err(spawn_err)?;
    drop(handle);
    Ok(child)
}
