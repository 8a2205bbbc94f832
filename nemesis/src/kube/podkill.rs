//! Node kill on the Kubernetes backend (`kill-pod`): a node's pod is deleted through the
//! API with no grace period, then made again under the same name by the controller
//! (not by a StatefulSet: the controller owns the pods of a run, knows when each one is
//! gone and made again, and records both in the history). The new pod has a new IP and
//! empty volumes, as a pod without persistent volumes does; the node keeps its stable
//! address ([`super::addresses`]), so servers and agents need no new configuration.
//!
//! Every process of the pod is killed (`kill -KILL -1` from inside it) before the pod is
//! deleted: a force-deleted pod's containers can outlive the API object for a while (the
//! kubelet stops them when it notices), and a fault must know its victims are dead when
//! it says it is done. The pod's copy of the run directory (its processes' logs) is
//! brought back first, into a folder of the run directory, and put in front of what the
//! new pod writes when the run ends.

use super::{
    KubeCluster, RESOURCE_NODE, create_pod, delete_and_wait, kill_all_and_archive, start_daemons,
    untar, wait_running,
};
use crate::{ClusterError, NodeKill, ProcessState};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where, in the run directory, the files of killed pods wait until the run ends.
const SAVED_DIR: &str = ".pods-before-kill";
/// How long a deleted pod gets to leave the API.
const POD_DELETE_WAIT: Duration = Duration::from_secs(30);

impl NodeKill for KubeCluster {
    fn kill_nodes(&self, nodes: &[String]) -> Vec<(String, Result<Vec<String>, ClusterError>)> {
        let mut outcomes = Vec::new();
        let mut killable = Vec::new();
        for node in nodes {
            match self.killable(node) {
                Ok(()) => killable.push(node.clone()),
                Err(e) => outcomes.push((node.clone(), Err(e))),
            }
        }
        let (pods, dir) = (self.pods.clone(), self.cfg.run_dir.clone());
        let archives = self.wait(async move {
            let mut kills = tokio::task::JoinSet::new();
            for pod in killable {
                let (pods, dir) = (pods.clone(), dir.clone());
                kills.spawn(async move {
                    let killed = async {
                        let archive = kill_all_and_archive(&pods, &pod, &dir).await?;
                        delete_and_wait(&pods, "pod", &pod, POD_DELETE_WAIT).await?;
                        Ok::<_, ClusterError>(archive)
                    };
                    (pod.clone(), killed.await)
                });
            }
            let mut done = Vec::new();
            while let Some(joined) = kills.join_next().await {
                done.extend(joined.ok());
            }
            done.sort_by(|a, b| a.0.cmp(&b.0));
            done
        });
        for (node, archive) in archives {
            let killed = archive.map(|archive| self.mark_killed(&node, &archive));
            outcomes.push((node, killed));
        }
        outcomes
    }

    fn restore_nodes(&self, nodes: &[String]) -> Result<(), ClusterError> {
        {
            let inner = self.live()?;
            if let Some(node) = nodes.iter().find(|n| !inner.dead.contains(*n)) {
                return Err(ClusterError::WrongState {
                    name: format!("pod {node}"),
                    state: "running".into(),
                    operation: "restore",
                    needed: "killed",
                });
            }
        }
        let (cfg, pods, names) = (self.cfg.clone(), self.pods.clone(), nodes.to_vec());
        let daemons = self.daemons.clone();
        let places = self.wait(async move {
            for name in &names {
                create_pod(&cfg, &pods, name).await?;
            }
            let places = wait_running(&cfg, &pods, &names, "node pods").await?;
            // A pod made again may land on a Kubernetes node without a daemon yet.
            start_daemons(&cfg, &daemons, &places).await?;
            Ok::<_, ClusterError>(places)
        })?;
        let (grudge, loss) = {
            let mut inner = self.live()?;
            inner.pods.extend(places);
            for node in nodes {
                inner.dead.remove(node);
                inner.fresh.insert(node.clone());
            }
            (inner.grudge.clone(), inner.loss_percent)
        };
        // Every pod: the new ones their addresses, the others their new pod IPs.
        let all: Vec<String> = self.all_nodes().map(|n| n.name.clone()).collect();
        self.install_addresses(&all)?;
        self.open_signal_channels(nodes);
        if !grudge.is_empty() {
            crate::Cluster::partition(self, &grudge)?;
        }
        if loss > 0 {
            crate::PacketLoss::set_loss(self, loss)?;
        }
        self.restore_latency(nodes)
    }
}

impl KubeCluster {
    /// Records that `node`'s pod is gone with its processes, whose names it returns, and
    /// saves the files its pod had (`archive`) until the run ends.
    fn mark_killed(&self, node: &str, archive: &[u8]) -> Vec<String> {
        let mut inner = self.lock();
        inner.dead.insert(node.to_string());
        let mut killed = Vec::new();
        for p in inner.procs.values_mut() {
            if p.node == node && p.state.is_alive() {
                p.state = ProcessState::Killed;
                killed.push(p.spec.name.clone());
            }
        }
        let saved = self
            .cfg
            .run_dir
            .join(SAVED_DIR)
            .join(format!("{}-{node}", inner.salvaged.len() + 1));
        match untar(archive, &saved) {
            Ok(()) => inner.salvaged.push(saved),
            Err(e) => tracing::warn!(pod = node, error = %e, "saving a killed pod's files"),
        }
        killed
    }

    /// Ok when `node` is a lock node whose pod exists: the resource is never faulted.
    fn killable(&self, node: &str) -> Result<(), ClusterError> {
        if node == RESOURCE_NODE || !self.nodes.iter().any(|n| n.name == node) {
            return Err(ClusterError::UnknownNode {
                node: node.to_string(),
                known: self
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            });
        }
        if self.live()?.dead.contains(node) {
            return Err(ClusterError::WrongState {
                name: format!("pod {node}"),
                state: "killed".into(),
                operation: "kill",
                needed: "running",
            });
        }
        Ok(())
    }
}

/// Puts each file under `saved` in front of the file at the same place under `run_dir`
/// (a log before a kill, then the log of the pod made again), or moves it there when
/// the pod made again wrote no such file.
pub(super) fn prepend_saved(saved: &Path, run_dir: &Path) -> std::io::Result<()> {
    for file in files_under(saved)? {
        let relative = file.strip_prefix(saved).expect("walked from saved");
        let target = run_dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut joined = std::fs::read(&file)?;
        match std::fs::read(&target) {
            Ok(after) => joined.extend(after),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let partial = target.with_extension("joining");
        std::fs::write(&partial, joined)?;
        std::fs::rename(&partial, &target)?;
    }
    Ok(())
}

/// Removes the folder of saved files once they are where they belong.
pub(super) fn remove_saved(run_dir: &Path) {
    let dir = run_dir.join(SAVED_DIR);
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "removing the files of killed pods");
    }
}

/// Every regular file under `dir`, at any depth.
fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_files_go_in_front_of_what_the_new_pod_wrote_and_alone_where_it_wrote_none() {
        let run = tempfile::tempdir().unwrap();
        let first = run.path().join(SAVED_DIR).join("1-n2");
        let second = run.path().join(SAVED_DIR).join("2-n2");
        for (dir, text) in [(&first, "before the first kill\n"), (&second, "between\n")] {
            std::fs::create_dir_all(dir.join("logs")).unwrap();
            std::fs::write(dir.join("logs/redis-n2.log"), text).unwrap();
        }
        std::fs::write(first.join("logs/agent-2.log"), "agent, once\n").unwrap();
        std::fs::create_dir_all(run.path().join("logs")).unwrap();
        std::fs::write(run.path().join("logs/redis-n2.log"), "after\n").unwrap();
        // As the teardown does it: the latest kill first.
        for saved in [&second, &first] {
            prepend_saved(saved, run.path()).unwrap();
        }
        remove_saved(run.path());
        let read = |p: &str| std::fs::read_to_string(run.path().join(p)).unwrap();
        assert_eq!(
            read("logs/redis-n2.log"),
            "before the first kill\nbetween\nafter\n"
        );
        assert_eq!(read("logs/agent-2.log"), "agent, once\n");
        assert!(!run.path().join(SAVED_DIR).exists());
    }
}
