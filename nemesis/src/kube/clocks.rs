//! Clock faults on the Kubernetes backend, as on the local one (see [`crate::clock`]):
//! agents read their clock files, servers started under libfaketime its timestamp file,
//! and other servers (and the programs agents run) get the setting in their vDSO. The
//! files are in the pod's copy of the scratch folder and the vDSO is the process's own,
//! so the setting is made inside the pod, by the image's `splitbrain pod-clock`, which
//! runs the local backend's code there.

use super::{IMAGE_BINARY, KubeCluster, exec};
use crate::clock::ClockSetting;
use crate::{ClockControl, ClockReach, ClusterError, ProcessSpec, ProcessState};
use std::path::Path;

impl ClockControl for KubeCluster {
    fn set_clock(&self, process: &str, setting: &ClockSetting) -> Result<ClockReach, ClusterError> {
        let (node, spec, state) = {
            let mut inner = self.live()?;
            let p = inner
                .procs
                .get(process)
                .ok_or_else(|| self.unknown(process, &inner))?;
            let found = (p.node.clone(), p.spec.clone(), p.state);
            inner.clocks.insert(process.to_string(), *setting);
            found
        };
        if self.lock().dead.contains(&node) {
            return Ok(ClockReach::Unreached(format!(
                "process={process}: its pod {node} is killed"
            )));
        }
        let mut command = vec![
            IMAGE_BINARY.to_string(),
            "pod-clock".into(),
            "--spec".into(),
            serde_json::to_string(&spec).expect("a process spec is JSON"),
            "--setting".into(),
            serde_json::to_string(setting).expect("a clock setting is JSON"),
            "--state-dir".into(),
            self.cfg.state_dir.display().to_string(),
        ];
        match state {
            ProcessState::Paused => command.push("--paused".into()),
            s if !s.is_alive() => command.push("--not-running".into()),
            _ => {}
        }
        let (pods, pod) = (self.pods.clone(), node.clone());
        let out = self.wait(async move { exec::run(&pods, &pod, command).await })?;
        serde_json::from_slice(&out).map_err(|e| ClusterError::Kube {
            operation: format!("set the clock of {process} in pod {node}"),
            reason: format!(
                "pod-clock printed {:?}, not how the setting reached it: {e}",
                String::from_utf8_lossy(&out)
            ),
        })
    }
}

impl KubeCluster {
    /// Points a process about to start at its clock files, as the local backend does.
    pub(super) fn add_clock_env(&self, spec: &mut ProcessSpec) -> Result<(), ClusterError> {
        crate::local::clocks::add_clock_env(spec, &self.cfg.state_dir)
    }

    /// Sets a restarted process's clock again when a fault had set it: a new program
    /// has a new vDSO, and a pod made again has new clock files.
    pub(super) fn reapply_clock(&self, process: &str) -> Result<(), ClusterError> {
        let setting = self.lock().clocks.get(process).copied();
        match setting {
            Some(s) if !s.is_true_time() => self.set_clock(process, &s).map(drop),
            _ => Ok(()),
        }
    }
}

/// What `splitbrain pod-clock` does inside a pod: the local backend's clock setting for
/// the process `spec` started, `target` being its pid and whether it is paused (None
/// when it does not run).
pub fn set_clock_in_pod(
    state_dir: &Path,
    spec: &ProcessSpec,
    target: Option<(u32, bool)>,
    setting: &ClockSetting,
) -> Result<ClockReach, ClusterError> {
    crate::local::clocks::set_clock(state_dir, spec, target, setting)
}
