//! The local Kubernetes node (`scripts/kube-node`): a real single-node cluster from the
//! Kubernetes commands `scripts/build-kubernetes` builds, with Debian's containerd, runc
//! and CNI plugins, and images made without a registry. A pod runs, is reached from
//! another pod, is exec'd into and force-deleted; `down` leaves nothing of the node on
//! the machine. Needs root and what `scripts/install-deps` installs, as CI has.

mod common;

use common::kube_node::{Node, text};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DIRS: [&str; 2] = ["/run/splitbrain-kube-node", "/var/lib/splitbrain-kube-node"];
const BRIDGE: &str = "sbkn0";
/// The paths containerd, libcni and kubelet make on their own, which `down` removes when
/// they were not there before `up`.
const FOREIGN_PATHS: [&str; 6] = [
    "/run/containerd",
    "/var/lib/cni",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/kubelet",
    "/run/mount",
];
/// The sysctls kubelet changes while the node is up.
const SYSCTLS: [&str; 3] = [
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.overcommit_memory",
];

fn pod(name: &str, command: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},
        "spec":{{"terminationGracePeriodSeconds":1,"containers":[{{"name":"main",
        "image":"splitbrain.local/busybox:1","imagePullPolicy":"Never",
        "command":["/bin/sh","-c","{command}"]}}]}}}}"#
    )
}

fn sysctl(name: &str) -> String {
    let out = Command::new("sysctl").args(["-n", name]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Every process whose command line names one of the node's folders.
fn node_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if DIRS.iter().any(|d| cmdline.contains(d)) {
            found.push(cmdline);
        }
    }
    found
}

fn mounts_under_the_node() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| DIRS.iter().any(|d| m.starts_with(d)))
        .map(str::to_string)
        .collect()
}

fn iptables_kube_chains() -> Vec<String> {
    let out = Command::new("iptables-save")
        .output()
        .expect("iptables-save runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("KUBE-"))
        .map(str::to_string)
        .collect()
}

/// Runs `f` until it returns Some, at most `limit`.
fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_pod_runs_answers_another_pod_and_down_leaves_nothing_of_the_node() {
    common::require_root();
    let absent_before: Vec<&str> = FOREIGN_PATHS
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    let sysctls_before: Vec<String> = SYSCTLS.iter().map(|s| sysctl(s)).collect();
    let chains_before = iptables_kube_chains();

    let node = Node::up();
    let nodes = node.ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.trim(), "node/splitbrain-node");
    for (name, command) in [
        (
            "target",
            "while true; do nc -l -p 8081 -e echo hello-from-target; done",
        ),
        ("prober", "sleep 3600"),
    ] {
        let manifest = std::env::temp_dir().join(format!("kube-node-{name}.json"));
        std::fs::write(&manifest, pod(name, command)).unwrap();
        node.ok(&["apply", "-f", manifest.to_str().unwrap()]);
        let _ = std::fs::remove_file(manifest);
    }
    node.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/target",
        "pod/prober",
        "--timeout=120s",
    ]);
    let exec = node.ok(&["exec", "target", "--", "cat", "/proc/1/cmdline"]);
    assert!(exec.contains("nc -l -p 8081"), "pid 1 of the pod: {exec:?}");
    let ip = node.ok(&["get", "pod", "target", "-o", "jsonpath={.status.podIP}"]);
    assert!(ip.starts_with("10.214.0."), "pod IP {ip}");
    let answer = eventually(Duration::from_secs(10), || {
        let out = node.kubectl(&["exec", "prober", "--", "nc", "-w", "3", &ip, "8081"]);
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        said.contains("hello-from-target").then_some(said)
    });
    assert!(answer.is_some(), "prober never heard target at {ip}:8081");

    node.ok(&["delete", "pod", "target", "--grace-period=0", "--force"]);
    let gone = node.kubectl(&["get", "pod", "target"]);
    assert!(
        !gone.status.success() && text(&gone).contains("not found"),
        "force-deleted pod still there: {}",
        text(&gone)
    );
    // kubelet sets what it requires of a node machine-wide; `down` must put it back.
    assert_eq!(
        sysctl("kernel.panic"),
        "10",
        "kubelet's kernel.panic while up"
    );

    drop(node);
    assert_eq!(node_processes(), Vec::<String>::new(), "processes left");
    assert_eq!(mounts_under_the_node(), Vec::<String>::new(), "mounts left");
    for dir in DIRS {
        assert!(!Path::new(dir).exists(), "{dir} left");
    }
    let link = Command::new("ip")
        .args(["link", "show", BRIDGE])
        .output()
        .unwrap();
    assert!(!link.status.success(), "bridge {BRIDGE} left");
    assert_eq!(
        iptables_kube_chains(),
        chains_before,
        "iptables chains left"
    );
    let sysctls_after: Vec<String> = SYSCTLS.iter().map(|s| sysctl(s)).collect();
    assert_eq!(
        sysctls_after, sysctls_before,
        "sysctls of {SYSCTLS:?} not restored"
    );
    for path in absent_before {
        assert!(!Path::new(path).exists(), "{path} was made and left");
    }
}
