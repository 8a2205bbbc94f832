//! Per-process clocks on the local backend: the control files the nemesis writes and
//! the environment that points each process at its own (see [`crate::clock`]).

use super::state;
use crate::clock::{CLOCK_FILE_ENV, ClockSetting};
use crate::{ClockReach, ClusterError, ProcessKind, ProcessSpec};
use std::path::{Path, PathBuf};

/// Where Debian's libfaketime lives (`apt-get install faketime`).
pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The environment that starts a server under libfaketime, for a [`ProcessSpec`]'s
/// `env`; the cluster adds the timestamp file. Fails when libfaketime is not installed.
/// It reaches C and JVM programs (ZooKeeper works), not Go programs such as etcd, which
/// read the clock without libc; Debian's redis-server hangs under it at start (its
/// jemalloc clashes with it), a Redis built with `make MALLOC=libc` works.
pub fn faketime_env() -> Result<Vec<(String, String)>, ClusterError> {
    if !Path::new(FAKETIME_LIB).exists() {
        return Err(ClusterError::MissingProgram {
            program: FAKETIME_LIB.to_string(),
            package: "faketime".to_string(),
        });
    }
    Ok(vec![("LD_PRELOAD".to_string(), FAKETIME_LIB.to_string())])
}

/// The directory of a run's clock files.
pub(crate) fn clock_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("clocks")
}

fn json_path(state_dir: &Path, process: &str) -> PathBuf {
    clock_dir(state_dir).join(format!("{process}.json"))
}

fn faketime_path(state_dir: &Path, process: &str) -> PathBuf {
    clock_dir(state_dir).join(format!("{process}.faketime"))
}

/// Returns true when the spec starts its program under libfaketime.
fn under_faketime(spec: &ProcessSpec) -> bool {
    spec.env
        .iter()
        .any(|(k, v)| k == "LD_PRELOAD" && v.contains("libfaketime"))
}

/// Points a process at its clock files, and gives a libfaketime process a timestamp
/// file at the true time (libfaketime re-reads it on every clock call).
pub(crate) fn add_clock_env(spec: &mut ProcessSpec, state_dir: &Path) -> Result<(), ClusterError> {
    let json = json_path(state_dir, &spec.name);
    spec.env
        .push((CLOCK_FILE_ENV.to_string(), json.display().to_string()));
    if under_faketime(spec) {
        let file = faketime_path(state_dir, &spec.name);
        write_atomic(&file, &ClockSetting::true_time().faketime_spec())?;
        spec.env.push((
            "FAKETIME_TIMESTAMP_FILE".to_string(),
            file.display().to_string(),
        ));
        spec.env
            .push(("FAKETIME_NO_CACHE".to_string(), "1".to_string()));
    }
    Ok(())
}

/// Writes a process's clock files and says whether the setting reaches it. A lock
/// server libfaketime does not run (`target`: its pid and whether it is paused, when it
/// is alive) gets the setting in its vDSO.
pub(crate) fn set_clock(
    state_dir: &Path,
    spec: &ProcessSpec,
    target: Option<(u32, bool)>,
    setting: &ClockSetting,
) -> Result<ClockReach, ClusterError> {
    state::write_json(&json_path(state_dir, &spec.name), setting)?;
    if under_faketime(spec) {
        write_atomic(
            &faketime_path(state_dir, &spec.name),
            &setting.faketime_spec(),
        )?;
        return Ok(ClockReach::Faketime);
    }
    Ok(match (spec.kind, target) {
        (ProcessKind::Agent, Some((pid, paused))) => {
            // The agent reads its clock file; the lock plug-in it runs (a Go or any
            // other program) gets the setting in its vDSO.
            for child in super::vdso::descendants(pid) {
                if let Err(e) = super::vdso::set_process_clock(child, setting, paused) {
                    tracing::warn!(agent = %spec.name, pid = child, error = %e, "plug-in clock not set");
                }
            }
            ClockReach::ClockFile
        }
        (ProcessKind::Agent, None) => ClockReach::ClockFile,
        (ProcessKind::LockServer, Some((pid, paused))) => {
            match super::vdso::set_process_clock(pid, setting, paused) {
                Ok(()) => ClockReach::Vdso,
                Err(e) => ClockReach::Unreached(format!(
                    "process={} program={}: {e}",
                    spec.name,
                    spec.program.display()
                )),
            }
        }
        _ => ClockReach::Unreached(format!(
            "process={} program={} is neither under libfaketime nor alive",
            spec.name,
            spec.program.display()
        )),
    })
}

/// After a restart, writes the process's clock setting (if it is not the true time)
/// into its new vDSO once the new program has replaced the one that started it.
pub(crate) fn reapply_after_restart(state_dir: &Path, spec: &ProcessSpec, pid: u32) {
    if spec.kind != ProcessKind::LockServer || under_faketime(spec) {
        return;
    }
    let setting: Option<ClockSetting> = state::read_json(&json_path(state_dir, &spec.name))
        .ok()
        .flatten();
    let Some(setting) = setting.filter(|s| !s.is_true_time()) else {
        return;
    };
    // Until exec, the child is a fork of this process: its vDSO would be replaced.
    let forked_from = std::env::current_exe().ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        if exe.is_some() && exe != forked_from {
            if let Err(e) = super::vdso::set_process_clock(pid, &setting, false) {
                tracing::warn!(process = %spec.name, error = %e, "clock not written after restart");
            }
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    tracing::warn!(process = %spec.name, "clock not written after restart: the program did not start");
}

fn write_atomic(path: &Path, text: &str) -> Result<(), ClusterError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ClusterError::io(format!("cannot create dir={}", dir.display()), e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| ClusterError::io(format!("cannot write path={}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ProcessKind, env: Vec<(String, String)>) -> ProcessSpec {
        ProcessSpec {
            name: "p".into(),
            kind,
            program: "prog".into(),
            args: vec![],
            env,
            log: "p.log".into(),
        }
    }

    #[test]
    fn agents_read_the_clock_file_faketime_servers_their_own_and_others_are_unreached() {
        let dir = tempfile::tempdir().unwrap();
        let bump = ClockSetting {
            offset_ms: 1500,
            ..ClockSetting::true_time()
        };
        let mut agent = spec(ProcessKind::Agent, vec![]);
        add_clock_env(&mut agent, dir.path()).unwrap();
        assert_eq!(agent.env[0].0, CLOCK_FILE_ENV);
        assert_eq!(
            set_clock(dir.path(), &agent, None, &bump).unwrap(),
            ClockReach::ClockFile
        );
        let written: ClockSetting = state::read_json(Path::new(&agent.env[0].1))
            .unwrap()
            .unwrap();
        assert_eq!(written, bump);

        let preload = vec![("LD_PRELOAD".into(), FAKETIME_LIB.into())];
        let mut server = spec(ProcessKind::LockServer, preload);
        add_clock_env(&mut server, dir.path()).unwrap();
        let file = faketime_path(dir.path(), "p");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "+0.000");
        assert_eq!(
            set_clock(dir.path(), &server, None, &bump).unwrap(),
            ClockReach::Faketime
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "+1.500");

        let plain = spec(ProcessKind::LockServer, vec![]);
        let reach = set_clock(dir.path(), &plain, None, &bump).unwrap();
        assert!(matches!(reach, ClockReach::Unreached(r) if r.contains("libfaketime")));
    }
}
