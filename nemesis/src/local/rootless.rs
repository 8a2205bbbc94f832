//! Rootless runs: the whole program re-executed inside user, network, mount and pid
//! namespaces, where it is root over namespaces it owns and nothing else.

use super::programs::{require_programs, system_command};
use crate::ClusterError;
use nix::mount::{MsFlags, mount};
use nix::unistd::geteuid;
use std::os::unix::process::{CommandExt, ExitStatusExt};

/// The environment variable that tells the re-executed program it is the namespaced
/// child. Only the first process of the new pid namespace (pid 1) acts on it, so
/// programs it starts, which inherit the variable, are not confused.
pub const USERNS_ENV: &str = "SPLITBRAIN_USERNS_CHILD";

/// Makes sure the program can create network namespaces.
///
/// As root: returns `Ok(None)` and the caller goes on. Otherwise re-executes the current
/// binary with the same arguments under `unshare --user --map-root-user --net --mount
/// --pid --fork --kill-child --mount-proc`, waits for it, and returns `Some(exit code)`
/// for the caller to exit with. In that child this function mounts a private tmpfs on
/// /run (where `ip netns` keeps its namespaces) and returns `Ok(None)`.
///
/// Everything the run starts lives in the child's pid namespace, so if the child dies,
/// however it dies, the kernel kills all of it, and the namespaces, which live in its
/// private /run, go with it: a rootless run leaves nothing behind.
///
/// Call it first in `main`, before any thread is started.
pub fn enter_user_namespace_if_needed() -> Result<Option<i32>, ClusterError> {
    if std::env::var_os(USERNS_ENV).is_some() && std::process::id() == 1 {
        prepare_child()?;
        return Ok(None);
    }
    if geteuid().is_root() {
        return Ok(None);
    }
    require_programs(&[("unshare", "util-linux")])?;
    let exe = std::env::current_exe().map_err(|e| ClusterError::UserNamespace {
        reason: format!("cannot find the current executable: {e}"),
    })?;
    let mut cmd = system_command("unshare");
    // If this process dies, unshare gets SIGKILL and --kill-child passes it on to the
    // namespaced controller, whose pid namespace then takes every process of the run
    // with it. SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let status = cmd
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--",
        ])
        .arg(&exe)
        .args(std::env::args_os().skip(1))
        .env(USERNS_ENV, "1")
        .status()
        .map_err(|e| ClusterError::UserNamespace {
            reason: format!("cannot run unshare: {e}"),
        })?;
    Ok(Some(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    ))
}

/// Inside the namespaces: a private, writable /run for `ip netns` and our state.
fn prepare_child() -> Result<(), ClusterError> {
    if !geteuid().is_root() {
        return Err(ClusterError::UserNamespace {
            reason: format!("{USERNS_ENV} is set but this process is not root in its namespace"),
        });
    }
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(|e| ClusterError::UserNamespace {
        reason: format!("cannot mount a tmpfs on /run: {e}"),
    })
}
