//! Rootless runs: the whole program re-executed inside user, network, mount and pid
//! namespaces, where it is root over namespaces it owns and nothing else.

use super::programs::{require_programs, system_command};
use crate::ClusterError;
use nix::mount::{MsFlags, mount};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
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
/// private /run, go with it: a rootless run leaves nothing behind. If this process is
/// killed, the child is killed too. Ctrl-C (SIGINT to the foreground process group)
/// reaches the child, which may handle it and finish; this process waits for it.
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
    preflight()?;
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
    // Ctrl-C reaches the whole foreground process group: the namespaced controller gets
    // it and may finish its run; unshare ignores it and waits. This process must not die
    // of it either, or the parent-death signal would kill the controller mid-teardown.
    // A do-nothing handler rather than SIG_IGN, which exec would pass on to the child.
    let previous = ignore_sigint_here();
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
        .status();
    restore_sigint(previous);
    let status = status.map_err(|e| ClusterError::UserNamespace {
        reason: format!("cannot run unshare: {e}"),
    })?;
    Ok(Some(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    ))
}

/// Tries the namespaces with `true` first, so that a kernel refusing unprivileged user
/// namespaces gives a clear error instead of the child's exit status.
fn preflight() -> Result<(), ClusterError> {
    let out = system_command("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--pid",
            "--fork",
            "true",
        ])
        .output()
        .map_err(|e| ClusterError::UserNamespace {
            reason: format!("cannot run unshare: {e}"),
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(ClusterError::UserNamespace {
        reason: format!(
            "unshare --user --map-root-user --net --mount --pid failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    })
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

extern "C" fn do_nothing(_: libc::c_int) {}

fn ignore_sigint_here() -> Option<SigAction> {
    let action = SigAction::new(
        SigHandler::Handler(do_nothing),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    unsafe { sigaction(Signal::SIGINT, &action) }.ok()
}

fn restore_sigint(previous: Option<SigAction>) {
    if let Some(previous) = previous {
        // SAFETY: puts back the disposition that was there before.
        let _ = unsafe { sigaction(Signal::SIGINT, &previous) };
    }
}
