//! The Kubernetes binaries `scripts/install-deps` builds: kube-apiserver, kubectl,
//! kubelet, kube-scheduler and kube-controller-manager from the `k8s.io/kubernetes`
//! module pinned in `tools/kubernetes/go.mod`, cached outside the repository. These fail,
//! saying what to run, when the binaries are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL_HINT: &str = "run scripts/install-deps (or scripts/build-kubernetes)";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The version `tools/kubernetes/go.mod` requires `k8s.io/kubernetes` at: the one place
/// the version is written, read here the same way the build script reads it.
fn pinned_version() -> String {
    let go_mod = repo().join("tools/kubernetes/go.mod");
    let text = std::fs::read_to_string(&go_mod)
        .unwrap_or_else(|e| panic!("cannot read path={}: {e}", go_mod.display()));
    text.lines()
        .map(|line| line.trim().trim_start_matches("require").split_whitespace())
        .find_map(|mut words| match (words.next(), words.next()) {
            (Some("k8s.io/kubernetes"), Some(v)) if v.starts_with('v') => Some(v.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no k8s.io/kubernetes requirement in {}", go_mod.display()))
}

/// The folder the build script puts the binaries in; the script alone knows the cache
/// layout, so the test asks it rather than repeating it.
fn bin_dir() -> PathBuf {
    let script = repo().join("scripts/build-kubernetes");
    let out = Command::new(&script)
        .arg("--print-bin-dir")
        .output()
        .unwrap_or_else(|e| panic!("cannot run path={}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} --print-bin-dir failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end())
}

/// Runs `bin_dir/name args` and returns its stdout, failing with what to do when the
/// binary is missing or exits non-zero.
fn run(name: &str, args: &[&str]) -> String {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "missing path={}: {INSTALL_HINT}",
        path.display()
    );
    let out = Command::new(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run path={}: {e}; {INSTALL_HINT}", path.display()));
    assert!(
        out.status.success(),
        "{} {} exited {:?}: {}",
        path.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

#[test]
fn kube_apiserver_reports_the_pinned_kubernetes_version() {
    let version = pinned_version();
    let printed = run("kube-apiserver", &["--version"]);
    assert_eq!(
        printed.trim_end(),
        format!("Kubernetes {version}"),
        "a stale or foreign kube-apiserver; {INSTALL_HINT}"
    );
}

#[test]
fn the_node_commands_report_the_pinned_kubernetes_version() {
    let version = pinned_version();
    for command in ["kubelet", "kube-scheduler", "kube-controller-manager"] {
        let printed = run(command, &["--version"]);
        assert_eq!(
            printed.trim_end(),
            format!("Kubernetes {version}"),
            "a stale or foreign {command}; {INSTALL_HINT}"
        );
    }
}

#[test]
fn kubectl_reports_the_pinned_kubernetes_version_as_its_client_version() {
    let version = pinned_version();
    let printed = run("kubectl", &["version", "--client", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&printed)
        .unwrap_or_else(|e| panic!("kubectl version -o json printed no JSON ({e}): {printed}"));
    let client = &json["clientVersion"];
    assert_eq!(
        client["gitVersion"], version,
        "a stale or foreign kubectl; {INSTALL_HINT}"
    );
    let minor = version.trim_start_matches("v1.").split('.').next().unwrap();
    assert_eq!(
        (client["major"].as_str(), client["minor"].as_str()),
        (Some("1"), Some(minor))
    );
}

/// The runs look for the binaries where the build script puts them, at the version it
/// builds.
#[test]
fn runs_use_the_version_and_folder_the_build_script_uses() {
    use splitbrain_runner::kube_control_plane::{KUBERNETES_VERSION, kubernetes_bin_dir};
    assert_eq!(KUBERNETES_VERSION, pinned_version());
    assert_eq!(kubernetes_bin_dir(), bin_dir());
}
