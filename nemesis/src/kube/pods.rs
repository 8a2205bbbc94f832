//! The objects a run creates on the cluster: its namespaces (its own and its node
//! daemons', [`super::daemon`]), labelled and annotated so `splitbrain cleanup --backend
//! kubernetes` finds them and knows whether their controller still lives, and one pod
//! per node.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde_json::json;
use std::path::Path;

/// The label every object of a run carries, valued with the run's id.
pub const RUN_LABEL: &str = "splitbrain.dev/run";
/// The label naming the run's node a pod is (`n1`, `resource`).
pub const NODE_LABEL: &str = "splitbrain.dev/node";
/// The annotation naming the controller: `<host>/<pid>/<start time in clock ticks>`.
pub const CONTROLLER_ANNOTATION: &str = "splitbrain.dev/controller";
/// The node pods' one container.
pub const CONTAINER: &str = "node";
/// Where the image holds the splitbrain binary.
pub const IMAGE_BINARY: &str = "/usr/local/bin/splitbrain";

/// A namespace of the run (its own, or its node daemons'), whose pods the API admits
/// only under the Pod Security Standard `pod_security` (`baseline`, `privileged`).
pub fn namespace(name: &str, run_id: &str, controller: &str, pod_security: &str) -> Namespace {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                RUN_LABEL: run_id,
                "app.kubernetes.io/managed-by": "splitbrain",
                "pod-security.kubernetes.io/enforce": pod_security,
            },
            "annotations": { CONTROLLER_ANNOTATION: controller },
        },
    }))
    .expect("the namespace manifest is a Namespace")
}

/// The pod of node `node`: the image's `splitbrain pod-init` as its first process, the
/// run's directories mirrored at the same paths as on the controller's machine (empty
/// volumes, so the paths in processes' command lines mean the same there), no capability
/// beyond the container runtime's defaults (the node daemons change its network rules),
/// spread over the cluster's nodes where it can be (a preferred anti-affinity, so a
/// one-node cluster runs them all), and never restarted by the kubelet: a process's death
/// is the nemesis's to decide.
pub fn node_pod(node: &str, run_id: &str, image: &str, mirrored: &[&Path]) -> Pod {
    let mounts: Vec<_> = mirrored
        .iter()
        .enumerate()
        .map(|(i, dir)| json!({ "name": format!("mirror-{i}"), "mountPath": dir }))
        .collect();
    let volumes: Vec<_> = (0..mirrored.len())
        .map(|i| json!({ "name": format!("mirror-{i}"), "emptyDir": {} }))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": node,
            "labels": { RUN_LABEL: run_id, NODE_LABEL: node },
        },
        "spec": {
            "hostname": node,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "enableServiceLinks": false,
            "automountServiceAccountToken": false,
            "affinity": { "podAntiAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": { "matchLabels": { RUN_LABEL: run_id } },
                },
            }]}},
            "containers": [{
                "name": CONTAINER,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": [IMAGE_BINARY, "pod-init"],
                "volumeMounts": mounts,
            }],
            "volumes": volumes,
        },
    }))
    .expect("the pod manifest is a Pod")
}

/// The controller's identity, for the namespace's annotation: this host, this process,
/// and its start time (so a reused pid is not taken for the same controller).
pub fn controller_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let pid = std::process::id();
    format!("{host}/{pid}/{}", start_time(pid).unwrap_or(0))
}

/// The start time of process `pid` in clock ticks since boot, from /proc.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_pod_mirrors_the_run_directories_and_is_labelled_with_its_run() {
        let pod = node_pod(
            "n2",
            "r1",
            "splitbrain.local/splitbrain:abc",
            &[Path::new("/results/run"), Path::new("/run/splitbrain/r1")],
        );
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[RUN_LABEL], "r1");
        assert_eq!(labels[NODE_LABEL], "n2");
        let spec = pod.spec.unwrap();
        let mounts = spec.containers[0].volume_mounts.clone().unwrap();
        let paths: Vec<_> = mounts.iter().map(|m| m.mount_path.as_str()).collect();
        assert_eq!(paths, ["/results/run", "/run/splitbrain/r1"]);
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.containers[0].command.as_ref().unwrap()[1], "pod-init");
    }

    #[test]
    fn the_controller_identity_names_this_process_and_its_start_time() {
        let id = controller_identity();
        let parts: Vec<_> = id.split('/').collect();
        assert_eq!(parts[1], std::process::id().to_string());
        assert_eq!(
            parts[2],
            start_time(std::process::id()).unwrap().to_string()
        );
    }
}
