//! The run directory: `results/<started>-<lock>-<workload>-seed<seed>/`, and the
//! `results/latest` link to the newest one.

use crate::RunError;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Creates a fresh run directory under `root` and returns its path. The name sorts by
/// start time and says what ran, so a directory listing reads as a log.
pub fn create(
    root: &Path,
    started: &str,
    lock: &str,
    workload: &str,
    seed: u64,
) -> Result<PathBuf, RunError> {
    let results_dir = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::ResultsDir { path, source }
    };
    std::fs::create_dir_all(root).map_err(results_dir(root))?;
    let stamp: String = started
        .chars()
        .take(19)
        .map(|c| if c == ':' { '-' } else { c })
        .collect();
    let base = format!("{stamp}-{lock}-{workload}-seed{seed}");
    for attempt in 0..100 {
        let name = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}-{attempt}")
        };
        let dir = root.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::create_dir(dir.join("logs")).map_err(results_dir(&dir))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(results_dir(&dir)(e)),
        }
    }
    Err(RunError::Config(format!(
        "too many run directories named {base}* under {}",
        root.display()
    )))
}

/// Writes how the run ended into its `run.json` (atomically), when the run got as far as
/// writing one.
pub fn record_end(dir: &Path, end: &splitbrain_history::RunEnd) -> Result<(), RunError> {
    let path = dir.join(splitbrain_checker::run_dir::RUN_FILE);
    if !path.exists() {
        return Ok(());
    }
    let mut info: splitbrain_history::RunInfo =
        splitbrain_checker::run_dir::read_json(&path).map_err(RunError::Check)?;
    info.end = Some(end.clone());
    let text = serde_json::to_vec_pretty(&info).expect("RunInfo serializes");
    splitbrain_checker::write_atomically(&path, &text).map_err(RunError::io(path))
}

/// Points `root/latest` at `dir`, replacing the previous link atomically.
pub fn link_latest(root: &Path, dir: &Path) -> Result<(), RunError> {
    let target = dir
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.to_path_buf());
    let tmp = root.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&target, &tmp).map_err(RunError::io(&tmp))?;
    std::fs::rename(&tmp, root.join("latest")).map_err(RunError::io(root.join("latest")))
}

/// A short id that names this run's namespaces and state: unique among live runs on this
/// host (process id and start time), and short, since interface names are limited to 15
/// bytes.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!("{:06x}", mixed & 0xff_ffff)
}

/// The current wall-clock time as RFC 3339 in UTC, for people reading run.json.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_directories_never_collide_and_latest_follows() {
        let root = tempfile::tempdir().unwrap();
        let a = create(root.path(), "2026-11-21T10:00:00Z", "redis", "counter", 7).unwrap();
        let b = create(root.path(), "2026-11-21T10:00:00Z", "redis", "counter", 7).unwrap();
        assert_ne!(a, b);
        assert!(a.join("logs").is_dir());
        link_latest(root.path(), &a).unwrap();
        link_latest(root.path(), &b).unwrap();
        let latest = std::fs::canonicalize(root.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b).unwrap());
    }
}
