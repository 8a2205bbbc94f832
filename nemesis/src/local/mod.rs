//! The local backend: every node is a Linux network namespace on this host, joined by a
//! bridge in a namespace of its own, so a run never touches the host's network.
//!
//! Needs root, or a user namespace made by [`enter_user_namespace_if_needed`]. Programs
//! run inside the namespaces with the host's file system and clock.

mod cleanup;
pub(crate) mod clocks;
mod config;
mod firewall;
mod latency;
mod netns;
mod procs;
mod programs;
mod rootless;
mod state;
pub mod vdso;

pub use cleanup::{CleanupReport, cleanup_leftovers};
pub use clocks::{FAKETIME_LIB, faketime_env};
pub use config::{DEFAULT_SUBNET, LocalConfig, STATE_ROOT};
pub(crate) use config::{validate_nodes, validate_run_id};
pub use netns::NAMESPACE_PREFIX;
pub use programs::{BACKEND_PROGRAMS, require_programs};
pub use rootless::{USERNS_ENV, enter_user_namespace_if_needed};

use crate::clock::ClockSetting;
use crate::{
    ClockControl, ClockReach, Cluster, ClusterError, Grudge, LatencyControl, Node, PacketLoss,
    ProcessInfo, ProcessSpec, TeardownReport,
};
use latency::LatencyProxies;
use procs::ProcessTable;
use state::{Owner, RegistryEntry, RunState};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The name of the node where the resource runs.
pub const RESOURCE_NODE: &str = "resource";

/// A LocalCluster is a run's nodes as network namespaces on this host, with the
/// processes spawned in them. Dropping it tears it down, as a backstop for an explicit
/// [`Cluster::teardown`].
pub struct LocalCluster {
    run_id: String,
    nodes: Vec<Node>,
    resource: Node,
    prefix: u8,
    state_dir: PathBuf,
    state_root: PathBuf,
    namespaces: Vec<String>,
    inner: Mutex<Inner>,
}

struct Inner {
    procs: ProcessTable,
    latency: Option<LatencyProxies>,
    torn_down: bool,
}

impl LocalCluster {
    /// Creates the namespaces, the bridge and the addresses of a new run.
    pub fn up(config: LocalConfig) -> Result<LocalCluster, ClusterError> {
        config::validate_run_id(&config.run_id)?;
        config::validate_nodes(config.nodes)?;
        let subnet = config::parse_subnet(&config.subnet, config.nodes)?;
        require_programs(BACKEND_PROGRAMS)?;
        let nodes: Vec<Node> = (1..=config.nodes)
            .map(|i| Node {
                name: format!("n{i}"),
                addr: subnet.host(i as u32),
            })
            .collect();
        let resource = Node {
            name: RESOURCE_NODE.to_string(),
            addr: subnet.host(config.nodes as u32 + 1),
        };
        let mut all = nodes.clone();
        all.push(resource.clone());
        let mut cluster = LocalCluster {
            namespaces: netns::run_namespaces(&config.run_id, &all),
            run_id: config.run_id,
            nodes,
            resource,
            prefix: subnet.prefix,
            state_dir: config.state_dir,
            state_root: PathBuf::from(STATE_ROOT),
            inner: Mutex::new(Inner {
                procs: ProcessTable::default(),
                latency: None,
                torn_down: false,
            }),
        };
        if let Err(e) = cluster.refuse_if_taken() {
            // What exists belongs to someone else: Drop must not tear it down.
            cluster
                .inner
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .torn_down = true;
            return Err(e);
        }
        // From here on, a failure tears down whatever exists (Drop does it too).
        cluster.register()?;
        netns::create_network(&cluster.run_id, &all, cluster.prefix)?;
        Ok(cluster)
    }

    /// The directory holding the run's state file.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The names of the run's network namespaces (nodes, resource and bridge).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// The namespace a node lives in, for tools run by hand (`ip netns exec NAME ...`).
    pub fn namespace_of(&self, node: &str) -> Result<String, ClusterError> {
        self.node(node)
            .map(|n| netns::ns_name(&self.run_id, &n.name))
    }

    /// Runs `f` on a thread inside a node's network namespace: sockets it opens belong
    /// to that node (and stay there after `f` returns).
    pub fn run_in_node<T: Send>(
        &self,
        node: &str,
        f: impl FnOnce() -> T + Send,
    ) -> Result<T, ClusterError> {
        let ns = self.namespace_of(node)?;
        netns::in_namespace(&ns, f)
    }

    fn refuse_if_taken(&self) -> Result<(), ClusterError> {
        let entry = state::registry_path(&self.state_root, &self.run_id);
        let taken = |reason: String| ClusterError::InvalidConfig {
            field: "run_id",
            value: self.run_id.clone(),
            reason,
        };
        if let Some(e) = state::read_json::<RegistryEntry>(&entry)? {
            return Err(if e.owner.is_alive() {
                taken(format!(
                    "in use by the live run of pid={}; pick another run id",
                    e.owner.pid
                ))
            } else {
                taken("left over from a crashed run; run `splitbrain cleanup`".to_string())
            });
        }
        // Teardown removes the state dir: never adopt one that holds someone's files.
        let occupied = std::fs::read_dir(&self.state_dir).is_ok_and(|mut d| d.next().is_some());
        if occupied {
            return Err(ClusterError::InvalidConfig {
                field: "state_dir",
                value: self.state_dir.display().to_string(),
                reason: "it exists and is not empty; the cluster removes its state dir at \
                         teardown, so give it a new or empty directory"
                    .to_string(),
            });
        }
        if let Some(ns) = self.namespaces.iter().find(|n| netns::namespace_exists(n)) {
            return Err(taken(format!(
                "namespace {ns} already exists; run `splitbrain cleanup`"
            )));
        }
        Ok(())
    }

    /// Registers the run, then creates its state dir: in that order, a state dir with no
    /// registry entry is always debris that cleanup may remove.
    fn register(&self) -> Result<(), ClusterError> {
        let entry = RegistryEntry {
            run_id: self.run_id.clone(),
            owner: Owner::current(),
            state_dir: self.state_dir.clone(),
            namespaces: self.namespaces.clone(),
        };
        state::write_json(
            &state::registry_path(&self.state_root, &self.run_id),
            &entry,
        )?;
        std::fs::create_dir_all(&self.state_dir).map_err(|e| {
            ClusterError::io(
                format!("cannot create state_dir={}", self.state_dir.display()),
                e,
            )
        })?;
        self.save_state(&ProcessTable::default())
    }

    fn save_state(&self, procs: &ProcessTable) -> Result<(), ClusterError> {
        let state = RunState {
            run_id: self.run_id.clone(),
            processes: procs.records(),
        };
        state::write_json(&self.state_dir.join(state::STATE_FILE), &state)
    }

    fn node(&self, name: &str) -> Result<&Node, ClusterError> {
        self.nodes
            .iter()
            .chain(std::iter::once(&self.resource))
            .find(|n| n.name == name)
            .ok_or_else(|| ClusterError::UnknownNode {
                node: name.to_string(),
                known: self.node_names(true).join(","),
            })
    }

    fn node_names(&self, with_resource: bool) -> Vec<String> {
        let mut names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        if with_resource {
            names.push(self.resource.name.clone());
        }
        names
    }

    fn live(&self) -> Result<MutexGuard<'_, Inner>, ClusterError> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.torn_down {
            return Err(ClusterError::TornDown {
                run_id: self.run_id.clone(),
            });
        }
        Ok(inner)
    }

    /// Runs a process-table operation and saves the pids it changed.
    fn with_procs(
        &self,
        f: impl FnOnce(&mut ProcessTable) -> Result<(), ClusterError>,
    ) -> Result<(), ClusterError> {
        let mut inner = self.live()?;
        let result = f(&mut inner.procs);
        self.save_state(&inner.procs)?;
        result
    }

    fn teardown_inner(&self, inner: &mut Inner) -> Result<TeardownReport, ClusterError> {
        let start = Instant::now();
        // The proxies hold sockets inside the namespaces: close them first.
        if let Some(proxies) = inner.latency.take() {
            proxies.stop();
        }
        let mut report = TeardownReport {
            processes_killed: inner.procs.kill_all(),
            first_call: true,
            ..TeardownReport::default()
        };
        // Anything our processes forked into another group is still in the namespaces.
        report.processes_killed += cleanup::kill_namespace_processes(&self.namespaces).len();
        report.namespaces_deleted = netns::delete_namespaces(&self.namespaces)?;
        report.state_removed = state::remove_dir(&self.state_dir)?;
        // Last: while the entry exists, cleanup knows the namespaces are this run's.
        state::remove_file(&state::registry_path(&self.state_root, &self.run_id))?;
        report.elapsed_ms = start.elapsed().as_millis() as u64;
        Ok(report)
    }
}

impl Cluster for LocalCluster {
    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn resource_node(&self) -> &Node {
        &self.resource
    }

    fn spawn(&self, node: &str, mut spec: ProcessSpec) -> Result<(), ClusterError> {
        let node = self.node(node)?.name.clone();
        clocks::add_clock_env(&mut spec, &self.state_dir)?;
        self.with_procs(|procs| procs.spawn(&self.run_id, &node, spec))
    }

    fn kill(&self, name: &str) -> Result<(), ClusterError> {
        self.with_procs(|procs| procs.kill(name))
    }

    fn restart(&self, name: &str) -> Result<(), ClusterError> {
        self.with_procs(|procs| procs.restart(&self.run_id, name))?;
        // A process started again gets a fresh vDSO: its skewed clock, if any, is
        // written into it again, as a machine's clock stays skewed across a restart.
        let mut inner = self.live()?;
        let spec = inner.procs.spec(name)?.clone();
        if let Some((pid, _)) = inner.procs.live_pid(name) {
            clocks::reapply_after_restart(&self.state_dir, &spec, pid);
        }
        Ok(())
    }

    fn pause(&self, name: &str) -> Result<(), ClusterError> {
        self.live()?.procs.pause(name)
    }

    fn resume(&self, name: &str) -> Result<(), ClusterError> {
        self.live()?.procs.resume(name)
    }

    fn partition(&self, grudge: &Grudge) -> Result<(), ClusterError> {
        grudge.validate(&self.node_names(false))?;
        let _inner = self.live()?;
        firewall::apply(&self.run_id, &self.nodes, grudge)
    }

    fn heal(&self) -> Result<(), ClusterError> {
        let _inner = self.live()?;
        firewall::heal(&self.run_id, &self.nodes)
    }

    fn processes(&self) -> Vec<ProcessInfo> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.procs.infos()
    }

    fn connect(
        &self,
        from_node: &str,
        to: SocketAddr,
        timeout: Duration,
    ) -> Result<TcpStream, ClusterError> {
        self.run_in_node(from_node, || TcpStream::connect_timeout(&to, timeout))?
            .map_err(|e| ClusterError::io(format!("connect from node={from_node} to={to}"), e))
    }

    fn clocks(&self) -> Option<&dyn ClockControl> {
        Some(self)
    }

    fn packet_loss(&self) -> Option<&dyn PacketLoss> {
        Some(self)
    }

    fn latency(&self) -> Option<&dyn LatencyControl> {
        Some(self)
    }

    fn teardown(&self) -> Result<TeardownReport, ClusterError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.torn_down {
            return Ok(TeardownReport::default());
        }
        // Marked first: a failed teardown is not retried by Drop, it is left for
        // `splitbrain cleanup`, which the error message points to.
        inner.torn_down = true;
        self.teardown_inner(&mut inner).map_err(|e| {
            tracing::error!(run_id = %self.run_id, error = %e, "teardown failed; run `splitbrain cleanup`");
            e
        })
    }
}

impl ClockControl for LocalCluster {
    fn set_clock(&self, process: &str, setting: &ClockSetting) -> Result<ClockReach, ClusterError> {
        let mut inner = self.live()?;
        let target = inner.procs.live_pid(process);
        let spec = inner.procs.spec(process)?;
        clocks::set_clock(&self.state_dir, spec, target, setting)
    }
}

impl PacketLoss for LocalCluster {
    fn set_loss(&self, percent: u8) -> Result<(), ClusterError> {
        let _inner = self.live()?;
        firewall::set_loss(&self.run_id, &self.nodes, percent)
    }
}

impl LatencyControl for LocalCluster {
    fn prepare_latency(&self) -> Result<(), ClusterError> {
        let mut inner = self.live()?;
        if inner.latency.is_none() {
            inner.latency = Some(LatencyProxies::start(&self.run_id, &self.nodes)?);
        }
        Ok(())
    }

    fn set_latency(&self, delay: Duration) -> Result<(), ClusterError> {
        let mut inner = self.live()?;
        if inner.latency.is_none() {
            inner.latency = Some(LatencyProxies::start(&self.run_id, &self.nodes)?);
        }
        if let Some(proxies) = inner.latency.as_ref() {
            proxies.set_delay(delay);
        }
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(run_id = %self.run_id, error = %e, "teardown on drop failed");
        }
    }
}
