//! Added latency on the Kubernetes backend: the proxy of [`crate::latency_proxy`] runs in
//! every node pod's first process (`splitbrain pod-init`, on [`LATENCY_PORT`]), reading
//! the delay from [`LATENCY_FILE`]; the controller puts the redirect rules in the pods
//! before the workload starts and changes the delay by writing that file through exec.
//! The redirect matches the other lock nodes' stable addresses and comes before their
//! translation to pod IPs, so the proxy connects to the stable address and the
//! translation applies to its connection.

use super::KubeCluster;
use crate::latency_proxy::redirect_script;
use crate::{ClusterError, LatencyControl};
use std::time::Duration;

/// The loopback port of each pod's latency proxy.
pub const LATENCY_PORT: u16 = 7198;
/// The file in each pod that holds the delay in force, in milliseconds.
pub const LATENCY_FILE: &str = "/run/splitbrain-pod/latency-ms";

impl LatencyControl for KubeCluster {
    fn prepare_latency(&self) -> Result<(), ClusterError> {
        if self.live()?.latency_ms.is_some() {
            return Ok(());
        }
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        self.install_redirects(&names)?;
        self.live()?.latency_ms = Some(0);
        Ok(())
    }

    fn set_latency(&self, delay: Duration) -> Result<(), ClusterError> {
        self.prepare_latency()?;
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.live()?.latency_ms = Some(ms);
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        self.write_delay(&names, ms)
    }
}

impl KubeCluster {
    /// The redirect rules in the pods of `names` (lock nodes whose pods exist).
    fn install_redirects(&self, names: &[String]) -> Result<(), ClusterError> {
        let scripts = self
            .live_pods(&self.nodes)
            .filter(|n| names.contains(&n.name))
            .map(|n| {
                let script = redirect_script(n, &self.nodes, LATENCY_PORT);
                (n.name.clone(), script)
            })
            .collect();
        self.nft_each(scripts)
    }

    /// Writes the delay into the pods of `names` (lock nodes whose pods exist).
    fn write_delay(&self, names: &[String], ms: u64) -> Result<(), ClusterError> {
        let commands = self
            .live_pods(&self.nodes)
            .filter(|n| names.contains(&n.name))
            .map(|n| {
                let command = vec![
                    "sh".to_string(),
                    "-c".into(),
                    "mkdir -p \"${1%/*}\" && printf '%s' \"$2\" > \"$1.new\" && mv \"$1.new\" \"$1\""
                        .into(),
                    "set-latency".into(),
                    LATENCY_FILE.into(),
                    ms.to_string(),
                ];
                (n.name.clone(), command)
            })
            .collect();
        self.exec_each(commands)
    }

    /// Puts the latency in force back into pods made again after a node kill.
    pub(super) fn restore_latency(&self, nodes: &[String]) -> Result<(), ClusterError> {
        let Some(ms) = self.live()?.latency_ms else {
            return Ok(());
        };
        self.install_redirects(nodes)?;
        self.write_delay(nodes, ms)
    }
}
