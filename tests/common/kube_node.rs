//! The local Kubernetes node (scripts/kube-node) as a test fixture: up when made, down
//! when dropped, even when the test fails. Tests that use it share one node per
//! machine, so nextest runs them one at a time (the kube-node group).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// scripts/kube-node.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kube-node")
}

/// A command's stdout and stderr, for failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The node while it is up; `down` when dropped, even when the test fails.
pub struct Node {
    /// The node's admin kubeconfig.
    pub kubeconfig: PathBuf,
}

impl Node {
    /// Brings the node up (or keeps a healthy one).
    pub fn up() -> Node {
        let out = Command::new(script())
            .arg("up")
            .output()
            .expect("kube-node runs");
        assert!(out.status.success(), "kube-node up failed:\n{}", text(&out));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let kubeconfig = PathBuf::from(stdout.lines().last().expect("a kubeconfig path"));
        assert!(
            kubeconfig.is_file(),
            "no kubeconfig at {}",
            kubeconfig.display()
        );
        Node { kubeconfig }
    }

    /// kubectl ARGS against the node.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let bin =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-kubernetes"))
                .arg("--print-bin-dir")
                .output()
                .expect("build-kubernetes runs");
        let dir = String::from_utf8(bin.stdout).unwrap();
        Command::new(Path::new(dir.trim_end()).join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    /// kubectl ARGS, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed:\n{}",
            args.join(" "),
            text(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("down").output();
    }
}
