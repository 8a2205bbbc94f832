//! `splitbrain cleanup --backend kubernetes`: deletes the namespaces of runs whose
//! controller is gone (a SIGKILLed `splitbrain run` cannot delete its own), found by the
//! run label, and leaves a live run's alone.

use super::pods::{CONTROLLER_ANNOTATION, RUN_LABEL, start_time};
use super::{client_for, delete_namespace};
use crate::ClusterError;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use std::path::Path;
use std::time::Duration;

/// What cleanup found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeCleanupReport {
    /// Namespaces of crashed runs, deleted.
    pub deleted: Vec<String>,
    /// Namespaces of runs whose controller still runs on this machine, kept.
    pub live: Vec<String>,
    /// Namespaces of runs controlled from another machine, kept (delete them there, or
    /// by hand with `kubectl delete namespace`).
    pub elsewhere: Vec<String>,
}

/// Deletes every run namespace whose controller, on this machine, is gone.
pub fn cleanup_leftovers(kubeconfig: Option<&Path>) -> Result<KubeCleanupReport, ClusterError> {
    let runtime = super::runtime()?;
    let kubeconfig = kubeconfig.map(Path::to_path_buf);
    runtime.block_on(async move {
        let client = client_for(kubeconfig.as_deref()).await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let list = namespaces
            .list(&ListParams::default().labels(RUN_LABEL))
            .await
            .map_err(|e| ClusterError::Kube {
                operation: "list the namespaces of runs".into(),
                reason: e.to_string(),
            })?;
        let here = super::pods::controller_identity();
        let host = here.split('/').next().unwrap_or_default().to_string();
        let mut report = KubeCleanupReport::default();
        for ns in list {
            let name = ns.metadata.name.clone().unwrap_or_default();
            let controller = ns
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(CONTROLLER_ANNOTATION))
                .cloned()
                .unwrap_or_default();
            match controller_state(&controller, &host) {
                Controller::Alive => report.live.push(name),
                Controller::Elsewhere => report.elsewhere.push(name),
                Controller::Gone => {
                    delete_namespace(&client, &name, Duration::from_secs(60)).await?;
                    report.deleted.push(name);
                }
            }
        }
        Ok(report)
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Controller {
    Alive,
    Gone,
    Elsewhere,
}

/// Whether the controller named `<host>/<pid>/<start>` still runs, judged from `host`.
fn controller_state(controller: &str, host: &str) -> Controller {
    let mut parts = controller.split('/');
    let (Some(h), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return Controller::Gone;
    };
    if h != host {
        return Controller::Elsewhere;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return Controller::Gone;
    };
    if start_time(pid) == Some(start) {
        Controller::Alive
    } else {
        Controller::Gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controller_is_alive_only_as_the_same_process_on_this_host() {
        let me = super::super::pods::controller_identity();
        let host = me.split('/').next().unwrap().to_string();
        assert_eq!(controller_state(&me, &host), Controller::Alive);
        let pid = std::process::id();
        assert_eq!(
            controller_state(&format!("{host}/{pid}/1"), &host),
            Controller::Gone
        );
        assert_eq!(
            controller_state(&format!("{host}/{}/1", u32::MAX), &host),
            Controller::Gone
        );
        assert_eq!(
            controller_state("other-host/1/1", &host),
            Controller::Elsewhere
        );
        assert_eq!(controller_state("", &host), Controller::Gone);
    }
}
