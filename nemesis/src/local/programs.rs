//! The system programs the local backend runs, and how it runs them.

use crate::ClusterError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The programs the local backend itself needs, with the Debian package of each.
pub const BACKEND_PROGRAMS: &[(&str, &str)] = &[("ip", "iproute2"), ("nft", "nftables")];

/// Checks that every program is in PATH (or, for root's tools, in /sbin and /usr/sbin,
/// which an ordinary user's PATH often lacks), and names the Debian package to install
/// for the first one missing.
pub fn require_programs(programs: &[(&str, &str)]) -> Result<(), ClusterError> {
    for (program, package) in programs {
        if find_program(program).is_none() {
            return Err(ClusterError::MissingProgram {
                program: program.to_string(),
                package: package.to_string(),
            });
        }
    }
    Ok(())
}

/// The full path of a program, if it can be found.
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A system program's command, resolved through [`find_program`] so that /usr/sbin tools
/// work with an ordinary user's PATH.
pub(crate) fn system_command(program: &str) -> Command {
    Command::new(find_program(program).unwrap_or_else(|| PathBuf::from(program)))
}

/// Starts a command with `input` on its stdin and its stderr captured.
pub(crate) fn start_with_input(mut cmd: Command, input: &str) -> Result<Running, ClusterError> {
    let line = describe(&cmd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| ClusterError::io(format!("cannot start `{line}`"), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows up as the command's own error below.
        let _ = stdin.write_all(input.as_bytes());
    }
    Ok(Running { child, line })
}

/// Runs a command with `input` on its stdin and fails with its stderr if it fails.
pub(crate) fn run_with_input(cmd: Command, input: &str) -> Result<(), ClusterError> {
    start_with_input(cmd, input)?.finish()
}

/// Running is a started system command whose outcome is still to be collected; starting
/// several before finishing any runs them in parallel.
pub(crate) struct Running {
    child: Child,
    line: String,
}

impl Running {
    /// Waits for the command and turns a failure into an error carrying its stderr.
    pub(crate) fn finish(self) -> Result<(), ClusterError> {
        let out = self
            .child
            .wait_with_output()
            .map_err(|e| ClusterError::io(format!("cannot wait for `{}`", self.line), e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(ClusterError::Command {
            command: self.line,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Finishes every command, returning the first error after waiting for all of them.
pub(crate) fn finish_all(running: Vec<Running>) -> Result<(), ClusterError> {
    let mut first = Ok(());
    for r in running {
        let result = r.finish();
        if first.is_ok() {
            first = result;
        }
    }
    first
}

fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_error_names_the_package_to_install() {
        let err = require_programs(&[("sh", "dash"), ("no-such-program-xyz", "xyz-tools")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("program=no-such-program-xyz"), "{err}");
        assert!(err.contains("apt-get install xyz-tools"), "{err}");
        assert!(require_programs(&[("sh", "dash")]).is_ok());
    }

    #[test]
    fn a_failing_command_reports_its_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat >&2; exit 3"]);
        let err = run_with_input(cmd, "boom").unwrap_err().to_string();
        assert!(err.contains("boom") && err.contains("status="), "{err}");
    }
}
