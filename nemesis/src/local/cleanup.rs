//! Removing what crashed runs left behind: their processes, namespaces and state.

use super::config::STATE_ROOT;
use super::netns;
use super::procs::signal_group;
use super::state::{
    self, RegistryEntry, RunState, STATE_FILE, proc_start_time, read_json, registry_dir,
};
use crate::ClusterError;
use nix::sys::signal::Signal;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for killed processes to disappear before deleting namespaces.
const DEATH_WAIT: Duration = Duration::from_secs(2);

/// A CleanupReport says what `cleanup_leftovers` removed and what it left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// Runs whose controller was dead and whose remains were removed.
    pub runs_removed: Vec<String>,
    /// Runs whose controller is still alive, left untouched.
    pub live_runs_kept: Vec<String>,
    /// Namespaces deleted (of removed runs, and unregistered ones with the prefix).
    pub namespaces_deleted: Vec<String>,
    /// Pids killed.
    pub processes_killed: Vec<u32>,
    /// State directories removed.
    pub state_dirs_removed: Vec<PathBuf>,
    /// Things that could not be removed, with why; the rest was still cleaned.
    pub problems: Vec<String>,
}

impl CleanupReport {
    /// Returns true when nothing was found to remove.
    pub fn is_empty(&self) -> bool {
        self.runs_removed.is_empty()
            && self.namespaces_deleted.is_empty()
            && self.processes_killed.is_empty()
            && self.state_dirs_removed.is_empty()
    }
}

/// Removes the remains of every run under `/run/splitbrain` whose controller is dead,
/// and every namespace with the `sb-` prefix that no registered run owns. Runs whose
/// controller is alive are never touched.
pub fn cleanup_leftovers() -> Result<CleanupReport, ClusterError> {
    // One root only, on purpose: a namespace is judged debris when no entry of the
    // registry claims it, so a sweep against any other registry would take live runs.
    let state_root = Path::new(STATE_ROOT);
    let mut report = CleanupReport::default();
    // Namespaces are listed before the registry is read: a run registers before it
    // creates namespaces, so any namespace seen here has its entry visible below.
    let namespaces = netns::list_namespaces();
    let mut owned: BTreeSet<String> = BTreeSet::new();
    for (path, entry) in registry_entries(state_root, &mut report)? {
        owned.extend(entry.namespaces.iter().cloned());
        if entry.owner.is_alive() {
            report.live_runs_kept.push(entry.run_id);
            continue;
        }
        if let Err(e) = remove_run(&path, &entry, &mut report) {
            report
                .problems
                .push(format!("run_id={}: {e}", entry.run_id));
        }
    }
    let registered: BTreeSet<String> = registry_run_ids(state_root);
    remove_unregistered_state_dirs(state_root, &registered, &mut report);
    // A namespace is debris only if nothing claims it: not a registered run's list, nor
    // (by its name) a run with a registry file, even one too corrupt to read.
    let orphans: Vec<String> = namespaces
        .into_iter()
        .filter(|ns| !owned.contains(ns) && netns::namespace_exists(ns))
        .filter(|ns| netns::run_of_namespace(ns).is_none_or(|run| !registered.contains(run)))
        .collect();
    if !orphans.is_empty() {
        report
            .processes_killed
            .extend(kill_namespace_processes(&orphans));
        match netns::delete_namespaces(&orphans) {
            Ok(_) => report.namespaces_deleted.extend(orphans),
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    Ok(report)
}

/// The run ids that still have a registry entry (after dead runs were removed).
fn registry_run_ids(state_root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(registry_dir(state_root))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.strip_suffix(".json").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Removes default-location state dirs (`<root>/state/<run_id>`) of runs with no
/// registry entry: a run registers before it creates its state dir and removes the dir
/// before its entry, so such a dir belongs to no run.
fn remove_unregistered_state_dirs(
    state_root: &Path,
    registered: &BTreeSet<String>,
    report: &mut CleanupReport,
) {
    let Ok(dirs) = std::fs::read_dir(state_root.join("state")) else {
        return;
    };
    for dir in dirs.flatten() {
        let Ok(run_id) = dir.file_name().into_string() else {
            continue;
        };
        if registered.contains(&run_id) {
            continue;
        }
        match state::remove_dir(&dir.path()) {
            Ok(true) => report.state_dirs_removed.push(dir.path()),
            Ok(false) => {}
            Err(e) => report.problems.push(e.to_string()),
        }
    }
}

fn registry_entries(
    state_root: &Path,
    report: &mut CleanupReport,
) -> Result<Vec<(PathBuf, RegistryEntry)>, ClusterError> {
    let dir = registry_dir(state_root);
    let listing = match std::fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ClusterError::io(
                format!("cannot list dir={}", dir.display()),
                e,
            ));
        }
    };
    let mut entries = Vec::new();
    for item in listing.flatten() {
        let path = item.path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        match read_json::<RegistryEntry>(&path) {
            Ok(Some(entry)) => entries.push((path, entry)),
            Ok(None) => {}
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    entries.sort_by(|a, b| a.1.run_id.cmp(&b.1.run_id));
    Ok(entries)
}

/// Kills a dead run's processes, deletes its namespaces, state and registry entry.
fn remove_run(
    entry_path: &Path,
    entry: &RegistryEntry,
    report: &mut CleanupReport,
) -> Result<(), ClusterError> {
    let state_file = entry.state_dir.join(STATE_FILE);
    let recorded = read_json::<RunState>(&state_file).unwrap_or_else(|e| {
        report.problems.push(e.to_string());
        None
    });
    for p in recorded.map(|s| s.processes).unwrap_or_default() {
        // Only the process that was started then: the pid may have been reused since.
        if proc_start_time(p.pid) == Some(p.start_time) {
            signal_group(p.pid, Signal::SIGCONT);
            signal_group(p.pid, Signal::SIGKILL);
            report.processes_killed.push(p.pid);
        }
    }
    report
        .processes_killed
        .extend(kill_namespace_processes(&entry.namespaces));
    let deleted: Vec<String> = entry
        .namespaces
        .iter()
        .filter(|n| netns::namespace_exists(n))
        .cloned()
        .collect();
    netns::delete_namespaces(&deleted)?;
    report.namespaces_deleted.extend(deleted);
    if state::remove_dir(&entry.state_dir)? {
        report.state_dirs_removed.push(entry.state_dir.clone());
    }
    state::remove_file(entry_path)?;
    report.runs_removed.push(entry.run_id.clone());
    Ok(())
}

/// SIGKILLs every process inside the namespaces and waits (briefly) until they are gone;
/// returns their pids.
pub(crate) fn kill_namespace_processes(names: &[String]) -> Vec<u32> {
    let pids: Vec<u32> = netns::pids_in_namespaces(names).into_keys().collect();
    for &pid in &pids {
        signal_group(pid, Signal::SIGCONT);
        signal_group(pid, Signal::SIGKILL);
    }
    let deadline = Instant::now() + DEATH_WAIT;
    while Instant::now() < deadline && pids.iter().any(|&p| proc_start_time(p).is_some()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    pids
}
