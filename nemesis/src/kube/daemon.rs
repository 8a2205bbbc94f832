//! The node daemons: one privileged pod per Kubernetes node that holds node pods of the
//! run, running `splitbrain node-daemon` with the host's pid namespace, in a namespace of
//! the run's own beside the run's ([`daemon_namespace`], PodSecurity `privileged`). Every
//! network command for a node pod (its stable address, partitions, loss, the latency
//! redirect: `ip` and `nft` scripts) goes to the daemon on that pod's Kubernetes node,
//! which runs it in the pod's network namespace, as Chaos Mesh's chaos-daemon does. So
//! the node pods run with the container runtime's default capabilities, and the run's
//! namespace enforces PodSecurity `baseline`: the processes under test get no privilege.
//!
//! The controller reaches a daemon as it reaches a pod-init, through the API's
//! port-forward, on a channel it keeps ([`KeptChannels`]); a request is one JSON line
//! naming the target pod by UID and the command, the answer `ok` or `error WHY`.

use super::pods::{IMAGE_BINARY, RUN_LABEL};
use super::relay::KeptChannels;
use crate::ClusterError;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The daemon pod's loopback port where `splitbrain node-daemon` takes requests.
pub const DAEMON_PORT: u16 = 7196;
/// The label naming the Kubernetes node a daemon pod serves.
pub const DAEMON_HOST_LABEL: &str = "splitbrain.dev/daemon-for";
/// The daemon pods' one container.
const DAEMON_CONTAINER: &str = "daemon";
/// Kubernetes caps a namespace's name at 63 characters.
const MAX_NAMESPACE: usize = 63;

/// The namespace of the run's node daemons, beside the run's own.
pub fn daemon_namespace(run_namespace: &str) -> String {
    format!("{run_namespace}-daemon")
}

/// Why `run_namespace` cannot be a run's namespace, if it cannot: its daemons' namespace
/// must be a valid name too.
pub fn check_namespace_length(run_namespace: &str) -> Result<(), String> {
    let daemons = daemon_namespace(run_namespace);
    if daemons.len() > MAX_NAMESPACE {
        return Err(format!(
            "--namespace {run_namespace:?} is too long: the run also makes {daemons:?}, and a \
             namespace's name has at most {MAX_NAMESPACE} characters; give one of at most {}",
            MAX_NAMESPACE - (daemons.len() - run_namespace.len())
        ));
    }
    Ok(())
}

/// The daemon pod for Kubernetes node `host`: bound to it by name (no scheduling), the
/// host's pid namespace (to find the node pods' processes and so their network
/// namespaces), privileged (to enter those namespaces and change their rules), tolerating
/// every taint, never restarted by the kubelet.
pub fn daemon_pod(name: &str, host: &str, run_id: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": { RUN_LABEL: run_id, DAEMON_HOST_LABEL: label_value(host) },
        },
        "spec": {
            "nodeName": host,
            "hostPID": true,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "enableServiceLinks": false,
            "automountServiceAccountToken": false,
            "tolerations": [{ "operator": "Exists" }],
            "containers": [{
                "name": DAEMON_CONTAINER,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": [IMAGE_BINARY, "node-daemon"],
                "securityContext": { "privileged": true },
            }],
        },
    }))
    .expect("the daemon pod manifest is a Pod")
}

/// A label value for a Kubernetes node's name (at most 63 characters).
fn label_value(host: &str) -> String {
    host.chars().take(63).collect()
}

/// The daemons of a run: which daemon pod serves which Kubernetes node, and the kept
/// channels to them.
pub struct Daemons {
    api: Api<Pod>,
    run_id: String,
    image: String,
    /// The daemon pod of each Kubernetes node, once it runs.
    on_host: tokio::sync::Mutex<BTreeMap<String, String>>,
    channels: KeptChannels,
}

impl Daemons {
    /// The daemons of run `run_id` in the namespace `api` is for.
    pub fn new(api: Api<Pod>, run_id: &str, image: &str) -> Daemons {
        Daemons {
            api,
            run_id: run_id.to_string(),
            image: image.to_string(),
            on_host: tokio::sync::Mutex::default(),
            channels: KeptChannels::new(DAEMON_PORT),
        }
    }

    /// The API of the daemons' namespace.
    pub fn api(&self) -> &Api<Pod> {
        &self.api
    }

    /// The daemon pod's name for the `index`th Kubernetes node a run uses.
    fn pod_name(index: usize) -> String {
        format!("daemon-{index}")
    }

    /// Creates a daemon pod on each of `hosts` that has none yet and returns the new
    /// pods' names with their hosts, for the caller to wait until they run.
    pub async fn create_on(
        &self,
        hosts: &BTreeSet<String>,
    ) -> Result<Vec<(String, String)>, ClusterError> {
        let known = self.on_host.lock().await.clone();
        let mut created = Vec::new();
        let mut index = known.len();
        for host in hosts.iter().filter(|h| !known.contains_key(*h)) {
            index += 1;
            let name = Self::pod_name(index);
            let pod = daemon_pod(&name, host, &self.run_id, &self.image);
            self.api
                .create(&PostParams::default(), &pod)
                .await
                .map_err(|e| ClusterError::Kube {
                    operation: format!("create the node daemon {name} on {host}"),
                    reason: e.to_string(),
                })?;
            created.push((name, host.clone()));
        }
        Ok(created)
    }

    /// Records that the daemon pods `running` (name, host) run.
    pub async fn record(&self, running: Vec<(String, String)>) {
        let mut on_host = self.on_host.lock().await;
        for (name, host) in running {
            on_host.insert(host, name);
        }
    }

    /// Runs `argv` in the network namespace of the pod `pod_uid` on Kubernetes node
    /// `host`; `what` names it in an error.
    pub async fn run_in_pod_netns(
        &self,
        host: &str,
        pod_uid: &str,
        argv: &[String],
        what: &str,
    ) -> Result<(), ClusterError> {
        let daemon = self.on_host.lock().await.get(host).cloned();
        let Some(daemon) = daemon else {
            return Err(ClusterError::Kube {
                operation: what.to_string(),
                reason: format!("no node daemon runs on the Kubernetes node {host}"),
            });
        };
        let line = json!({ "pod_uid": pod_uid, "argv": argv }).to_string();
        let operation = format!("{what} (through the node daemon {daemon} on {host})");
        self.channels
            .ask(&self.api, &daemon, &line, &operation)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_pod_is_bound_to_its_host_with_the_hosts_pids_and_privilege() {
        let pod = daemon_pod("daemon-1", "kind-worker2", "r1", "splitbrain.local/x:1");
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[RUN_LABEL], "r1");
        assert_eq!(labels[DAEMON_HOST_LABEL], "kind-worker2");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("kind-worker2"));
        assert_eq!(spec.host_pid, Some(true));
        let container = &spec.containers[0];
        assert_eq!(container.command.as_ref().unwrap()[1], "node-daemon");
        let security = container.security_context.as_ref().unwrap();
        assert_eq!(security.privileged, Some(true));
    }

    #[test]
    fn a_run_namespace_too_long_for_its_daemons_namespace_is_refused_with_the_limit() {
        assert!(check_namespace_length("splitbrain-1a2b3c").is_ok());
        let long = "x".repeat(60);
        let why = check_namespace_length(&long).unwrap_err();
        assert!(why.contains("at most 56"), "{why}");
        assert!(check_namespace_length(&"x".repeat(56)).is_ok());
    }
}
