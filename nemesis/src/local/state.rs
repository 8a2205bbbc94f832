//! What a run leaves on disk so that a crashed controller's run can be found and removed:
//! a registry entry per run (who owns it, where its state is, which namespaces it has)
//! and, in the run's state directory, the pids of its processes.
//!
//! The registry entry is written before any namespace is created and removed after the
//! last one is deleted, so a namespace with the prefix and no entry is always debris.

use crate::ClusterError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file in a run's state directory listing its processes.
pub(crate) const STATE_FILE: &str = "state.json";

/// An Owner identifies the controller process of a run. The start time guards against
/// pid reuse: a pid alone may belong to an unrelated process after a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Owner {
    pub(crate) pid: u32,
    pub(crate) start_time: u64,
}

impl Owner {
    /// The current process.
    pub(crate) fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start_time: proc_start_time(pid).unwrap_or(0),
        }
    }

    /// Returns true when the owner is still running (not a zombie, not a reused pid).
    pub(crate) fn is_alive(&self) -> bool {
        proc_start_time(self.pid) == Some(self.start_time)
    }
}

/// The start time (clock ticks since boot) of a live, non-zombie process.
pub(crate) fn proc_start_time(pid: u32) -> Option<u64> {
    let (state, fields) = proc_stat(pid)?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    // Field 22 of /proc/PID/stat; `fields` starts at field 3 (the state).
    fields.get(19)?.parse().ok()
}

/// The one-letter state of a process (`R`, `S`, `T`, `Z`, ...), if it exists.
pub(crate) fn proc_state(pid: u32) -> Option<char> {
    proc_stat(pid).map(|(state, _)| state)
}

fn proc_stat(pid: u32) -> Option<(char, Vec<String>)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; it ends at the last ')'.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<String> = after.split_whitespace().map(str::to_string).collect();
    let state = fields.first()?.chars().next()?;
    Some((state, fields))
}

/// A RegistryEntry is the record of one run in the registry directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RegistryEntry {
    pub(crate) run_id: String,
    pub(crate) owner: Owner,
    pub(crate) state_dir: PathBuf,
    pub(crate) namespaces: Vec<String>,
}

/// A ProcRecord is one process in the state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProcRecord {
    pub(crate) name: String,
    pub(crate) node: String,
    pub(crate) pid: u32,
    pub(crate) start_time: u64,
}

/// The RunState file: the pids of the run's live processes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunState {
    pub(crate) run_id: String,
    pub(crate) processes: Vec<ProcRecord>,
}

/// The registry directory under a state root.
pub(crate) fn registry_dir(state_root: &Path) -> PathBuf {
    state_root.join("runs")
}

/// The registry entry file of a run.
pub(crate) fn registry_path(state_root: &Path, run_id: &str) -> PathBuf {
    registry_dir(state_root).join(format!("{run_id}.json"))
}

/// Writes JSON atomically: a reader never sees half a file, even if we are killed.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ClusterError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ClusterError::io(format!("cannot create dir={}", dir.display()), e))?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(value).map_err(|e| ClusterError::State {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| ClusterError::io(format!("cannot write path={}", path.display()), e))
}

/// Reads JSON; Ok(None) when the file does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ClusterError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ClusterError::io(
                format!("cannot read path={}", path.display()),
                e,
            ));
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| ClusterError::State {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Removes a file, treating "already gone" as done.
pub(crate) fn remove_file(path: &Path) -> Result<(), ClusterError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::io(
            format!("cannot remove path={}", path.display()),
            e,
        )),
        _ => Ok(()),
    }
}

/// Removes a directory tree, treating "already gone" as done; returns whether it existed.
pub(crate) fn remove_dir(path: &Path) -> Result<bool, ClusterError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ClusterError::io(
            format!("cannot remove dir={}", path.display()),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_process_is_alive_and_a_reused_pid_is_not() {
        let me = Owner::current();
        assert!(me.start_time > 0);
        assert!(me.is_alive());
        let impostor = Owner {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!impostor.is_alive());
    }

    #[test]
    fn state_files_round_trip_and_a_missing_one_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(STATE_FILE);
        assert_eq!(read_json::<RunState>(&path).unwrap(), None);
        let state = RunState {
            run_id: "r".into(),
            processes: vec![ProcRecord {
                name: "a".into(),
                node: "n1".into(),
                pid: 1,
                start_time: 2,
            }],
        };
        write_json(&path, &state).unwrap();
        assert_eq!(read_json::<RunState>(&path).unwrap(), Some(state));
        std::fs::write(&path, "{").unwrap();
        let err = read_json::<RunState>(&path).unwrap_err().to_string();
        assert!(err.contains("corrupt state file"), "{err}");
    }
}
