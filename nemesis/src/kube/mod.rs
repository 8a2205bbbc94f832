//! The Kubernetes backend: every node of a run (`n1..nN` and `resource`) is a pod, in a
//! namespace of the run's own, on a real cluster reached through its API with a
//! kubeconfig, as a Jepsen node is a machine. The processes of a node (lock servers,
//! agents, the resource) run inside its pod, started with the API's exec by the image's
//! `splitbrain pod-spawn` and reaped by `splitbrain pod-init`, the pod's first process;
//! pause, resume and kill are signals to the process's group that pod-init sends when
//! the controller asks through the API's port-forward ([`relay::Signals`]). Partitions
//! and packet loss are the local backend's nftables scripts ([`crate::nft`]), run in
//! each node pod's network namespace by the node daemon on its Kubernetes node
//! ([`daemon`]), so the node pods need no privilege. The controller stays outside the cluster and reaches agents and servers through the
//! API's port-forward ([`relay`]), so no partition ever cuts it off.
//!
//! A pod mirrors the run's directories at the same paths as on the controller's machine,
//! so the paths in command lines mean the same in a pod; at teardown each pod's copy of
//! the run directory (logs, the resource's log) is brought back before the namespace is
//! deleted. The cluster trait is synchronous; this backend runs its API calls on a small
//! runtime of its own and waits for them, so it may be called from any thread.
//!
//! Nodes have stable addresses ([`addresses`]), so a node whose pod is deleted through
//! the API and made again (`kill-pod`, [`NodeKill`]) keeps its address in every
//! server's and agent's configuration.
//!
//! Clock faults are the local backend's, made inside the pods ([`clocks`]), and so is
//! latency: each pod's `pod-init` runs the latency proxy ([`latency`]).

mod addresses;
mod cleanup;
mod clocks;
mod daemon;
mod exec;
mod latency;
mod podkill;
mod pods;
mod relay;

pub use cleanup::{KubeCleanupReport, cleanup_leftovers};
pub use clocks::set_clock_in_pod;
pub use daemon::{DAEMON_PORT, check_namespace_length, daemon_namespace};
pub use latency::{LATENCY_FILE, LATENCY_PORT};
pub use pods::{CONTAINER, CONTROLLER_ANNOTATION, IMAGE_BINARY, NODE_LABEL, RUN_LABEL};
pub use relay::PROXY_PORT;

use crate::nft::{dropped_addrs, loss_script, other_addrs, partition_script};
use crate::{
    AgentChannel, Cluster, ClusterError, Grudge, Node, NodeKill, PacketLoss, ProcessInfo,
    ProcessSpec, ProcessState, TeardownReport,
};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The name of the node where the resource runs.
pub const RESOURCE_NODE: &str = "resource";
/// The first TCP port agents listen on inside their pods (one port per agent).
const FIRST_AGENT_PORT: u16 = 7200;
/// How long a namespace gets to be gone after its deletion.
const NAMESPACE_DELETE_WAIT: Duration = Duration::from_secs(90);

/// KubeConfig is what a Kubernetes cluster of one run is made from.
#[derive(Clone, Debug)]
pub struct KubeConfig {
    /// The run's id, for the labels of what the run creates.
    pub run_id: String,
    /// The number of nodes `n1..nN` (the resource's pod is one more).
    pub nodes: usize,
    /// The run's namespace; it must not exist.
    pub namespace: String,
    /// The image every node pod runs (scripts/build-image, image/Dockerfile).
    pub image: String,
    /// The kubeconfig file; None reads `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The run directory: mirrored into each pod and brought back at teardown.
    pub run_dir: PathBuf,
    /// The run's scratch directory: mirrored into each pod, and where the agents' relay
    /// sockets are on this machine.
    pub state_dir: PathBuf,
    /// How long the pods get to be running.
    pub ready_timeout: Duration,
}

/// A KubeCluster is a run's nodes as pods in the run's namespace. Dropping it tears it
/// down, as a backstop for an explicit [`Cluster::teardown`].
pub struct KubeCluster {
    cfg: KubeConfig,
    /// The nodes with their stable addresses ([`addresses`]).
    nodes: Vec<Node>,
    resource: Node,
    runtime: Option<tokio::runtime::Runtime>,
    client: Client,
    pods: Api<Pod>,
    /// The channels to each pod's pod-init that signals go through.
    signals: Arc<relay::Signals>,
    /// The node daemons, which run the network commands in the pods.
    daemons: Arc<daemon::Daemons>,
    inner: Mutex<Inner>,
}

struct Inner {
    procs: BTreeMap<String, Proc>,
    relays: Vec<JoinHandle<()>>,
    next_agent_port: u16,
    torn_down: bool,
    /// Where each node's pod is now: its IP and the Kubernetes node it runs on.
    pods: BTreeMap<String, PodPlace>,
    /// The partition and the packet loss in force, put again on a pod made again.
    grudge: Grudge,
    loss_percent: u8,
    /// Pods deleted by a node kill and not made again yet.
    dead: BTreeSet<String>,
    /// Pods made again whose scratch folder has not been sent yet.
    fresh: BTreeSet<String>,
    /// The pod folders brought back before each node kill, in the order of the kills.
    salvaged: Vec<PathBuf>,
    /// The clock each process was last given, set again after a restart.
    clocks: BTreeMap<String, crate::clock::ClockSetting>,
    /// The latency in force, in milliseconds, once the redirect rules are in the pods.
    latency_ms: Option<u64>,
}

/// Where one node's pod runs now.
#[derive(Clone, Debug)]
struct PodPlace {
    ip: Ipv4Addr,
    host: String,
    /// The pod's UID, by which the node daemon finds it.
    uid: String,
}

/// One process of the run: where it runs, how it started, what was last done to it.
struct Proc {
    node: String,
    spec: ProcessSpec,
    pid: u32,
    state: ProcessState,
}

/// The runtime the backend's API calls run on.
fn runtime() -> Result<tokio::runtime::Runtime, ClusterError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("splitbrain-kube")
        .enable_all()
        .build()
        .map_err(|e| ClusterError::io("starting the Kubernetes backend's runtime", e))
}

/// A client of the cluster the kubeconfig (or `$KUBECONFIG`, `~/.kube/config`) names.
async fn client_for(kubeconfig: Option<&Path>) -> Result<Client, ClusterError> {
    let failed = |reason: String| ClusterError::Kube {
        operation: match kubeconfig {
            Some(p) => format!("read the kubeconfig {}", p.display()),
            None => "find a kubeconfig ($KUBECONFIG, ~/.kube/config)".into(),
        },
        reason,
    };
    let config = match kubeconfig {
        Some(path) => {
            let file =
                kube::config::Kubeconfig::read_from(path).map_err(|e| failed(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .map_err(|e| failed(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| failed(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| failed(e.to_string()))
}

/// Deletes namespace `name` and waits until it is gone (its pods with it).
async fn delete_namespace(client: &Client, name: &str, wait: Duration) -> Result<(), ClusterError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    delete_and_wait(&namespaces, "namespace", name, wait).await
}

/// Deletes the object `name` (a `kind` such as namespace or pod) with no grace period
/// and waits until the API no longer has it; one already gone is no error.
async fn delete_and_wait<K>(
    api: &Api<K>,
    kind: &str,
    name: &str,
    wait: Duration,
) -> Result<(), ClusterError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let failed = |reason: String| ClusterError::Kube {
        operation: format!("delete {kind} {name}"),
        reason,
    };
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::background()
    };
    match api.delete(name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => return Err(failed(e.to_string())),
    }
    let started = Instant::now();
    loop {
        match api.get_opt(name).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) if started.elapsed() > wait => {
                return Err(failed(format!("still there after {wait:?}")));
            }
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(failed(e.to_string())),
        }
    }
}

impl KubeCluster {
    /// Creates the run's namespace and its node pods, and waits until every pod runs.
    /// Whatever was created is deleted again when this fails.
    pub fn up(cfg: KubeConfig) -> Result<KubeCluster, ClusterError> {
        crate::local::validate_run_id(&cfg.run_id)?;
        crate::local::validate_nodes(cfg.nodes)?;
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(|e| ClusterError::io(format!("creating {}", cfg.state_dir.display()), e))?;
        let runtime = runtime()?;
        let setup = cfg.clone();
        let (client, places, daemons) = runtime.block_on(async move { create(&setup).await })?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &cfg.namespace);
        let nodes: Vec<Node> = (1..=cfg.nodes)
            .map(|i| Node {
                name: format!("n{i}"),
                addr: addresses::node_addr(i),
            })
            .collect();
        let resource = Node {
            name: RESOURCE_NODE.to_string(),
            addr: addresses::RESOURCE_ADDR,
        };
        let cluster = KubeCluster {
            cfg,
            nodes,
            resource,
            runtime: Some(runtime),
            client,
            pods,
            signals: Arc::default(),
            daemons: Arc::new(daemons),
            inner: Mutex::new(Inner {
                procs: BTreeMap::new(),
                relays: Vec::new(),
                next_agent_port: FIRST_AGENT_PORT,
                torn_down: false,
                pods: places,
                grudge: Grudge::default(),
                loss_percent: 0,
                dead: BTreeSet::new(),
                fresh: BTreeSet::new(),
                salvaged: Vec::new(),
                clocks: BTreeMap::new(),
                latency_ms: None,
            }),
        };
        // Dropping the cluster on an error here deletes its namespace.
        let all: Vec<String> = cluster.all_nodes().map(|n| n.name.clone()).collect();
        cluster.install_addresses(&all)?;
        cluster.open_signal_channels(&all);
        Ok(cluster)
    }

    /// The run's namespace.
    pub fn namespace(&self) -> &str {
        &self.cfg.namespace
    }

    /// The Kubernetes node each node pod runs on now, by pod name.
    pub fn placement(&self) -> BTreeMap<String, String> {
        let inner = self.lock();
        inner
            .pods
            .iter()
            .map(|(name, place)| (name.clone(), place.host.clone()))
            .collect()
    }

    /// The nodes as their pods' IPs now: what the partition and loss rules match, since
    /// packets between pods carry pod IPs.
    fn pod_view(&self) -> Vec<Node> {
        let inner = self.lock();
        self.nodes
            .iter()
            .filter_map(|n| {
                Some(Node {
                    name: n.name.clone(),
                    addr: inner.pods.get(&n.name)?.ip,
                })
            })
            .collect()
    }

    /// Gives the pods `targets` their stable address and every pod the translation of the
    /// stable addresses to the pod IPs as they are now.
    fn install_addresses(&self, targets: &[String]) -> Result<(), ClusterError> {
        let stable: BTreeMap<String, Ipv4Addr> =
            self.all_nodes().map(|n| (n.name.clone(), n.addr)).collect();
        let pod_ips: BTreeMap<String, Ipv4Addr> = {
            let inner = self.lock();
            inner
                .pods
                .iter()
                .filter(|(name, _)| !inner.dead.contains(*name))
                .map(|(name, place)| (name.clone(), place.ip))
                .collect()
        };
        let commands = targets
            .iter()
            .filter(|pod| pod_ips.contains_key(*pod))
            .map(|pod| {
                let command = addresses::address_command(pod, &stable, &pod_ips);
                (pod.clone(), command)
            })
            .collect();
        self.in_netns_each(commands)
    }

    /// Runs `fut` on the backend's runtime and waits for it, from any thread (a tokio
    /// worker of the caller's runtime included, which a nested `block_on` would not allow).
    fn wait<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime().spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().expect("the Kubernetes backend's runtime stopped")
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self) -> Result<MutexGuard<'_, Inner>, ClusterError> {
        let inner = self.lock();
        if inner.torn_down {
            return Err(ClusterError::TornDown {
                run_id: self.cfg.run_id.clone(),
            });
        }
        Ok(inner)
    }

    fn ensure_live(&self) -> Result<(), ClusterError> {
        self.live().map(drop)
    }

    fn all_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().chain([&self.resource])
    }

    fn node(&self, name: &str) -> Result<&Node, ClusterError> {
        self.all_nodes()
            .find(|n| n.name == name)
            .ok_or_else(|| ClusterError::UnknownNode {
                node: name.to_string(),
                known: self
                    .all_nodes()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            })
    }

    /// Starts `spec` in its node's pod; returns its pid there.
    fn start(&self, node: &str, spec: &ProcessSpec) -> Result<u32, ClusterError> {
        let mut command: Vec<String> = vec![
            IMAGE_BINARY.into(),
            "pod-spawn".into(),
            "--name".into(),
            spec.name.clone(),
            "--log".into(),
            spec.log.display().to_string(),
        ];
        for (k, v) in &spec.env {
            command.extend(["--env".into(), format!("{k}={v}")]);
        }
        command.push("--".into());
        command.push(spec.program.display().to_string());
        command.extend(spec.args.iter().cloned());
        let (pods, pod) = (self.pods.clone(), node.to_string());
        let out = self.wait(async move { exec::run(&pods, &pod, command).await })?;
        let text = String::from_utf8_lossy(&out);
        text.trim().parse().map_err(|_| ClusterError::Kube {
            operation: format!("start {} in pod {node}", spec.name),
            reason: format!("pod-spawn printed {text:?}, not a pid"),
        })
    }

    /// Copies the run's scratch directory from this machine into `node`'s pod, where the
    /// lock servers' folders and configuration files are made before they start (on the
    /// local backend both sides see one folder). The relay sockets stay here.
    fn send_state(&self, node: &str) -> Result<(), ClusterError> {
        let archive = tar_of(&self.cfg.state_dir)?;
        if archive.len() > MAX_STATE_ARCHIVE {
            return Err(ClusterError::Kube {
                operation: format!("send {} to pod {node}", self.cfg.state_dir.display()),
                reason: format!(
                    "its archive is {} bytes, more than the {MAX_STATE_ARCHIVE} a command \
                     line carries",
                    archive.len()
                ),
            });
        }
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(archive);
        let command = vec![
            "sh".to_string(),
            "-c".into(),
            "printf '%s' \"$2\" | base64 -d | tar -x -C \"$1\" --no-overwrite-dir".into(),
            "send-state".into(),
            self.cfg.state_dir.display().to_string(),
            encoded,
        ];
        let (pods, pod) = (self.pods.clone(), node.to_string());
        self.wait(async move { exec::run(&pods, &pod, command).await })
            .map(drop)
    }

    /// Sends `signal` (stop, cont, kill) to a process's group in its pod and waits for it.
    fn signal(&self, node: &str, name: &str, signal: &str) -> Result<(), ClusterError> {
        let (pods, pod, name, signal) = (
            self.pods.clone(),
            node.to_string(),
            name.to_string(),
            signal.to_string(),
        );
        let signals = self.signals.clone();
        self.wait(async move { signals.send(&pods, &pod, &name, &signal).await })
    }

    /// Opens the signal channels to the pods `nodes` ([`relay::Signals`]).
    fn open_signal_channels(&self, nodes: &[String]) {
        let (pods, signals, nodes) = (self.pods.clone(), self.signals.clone(), nodes.to_vec());
        self.wait(async move { signals.open(&pods, &nodes).await });
    }

    /// Runs one nftables script per node pod, all at once.
    fn nft_each(&self, scripts: Vec<(String, String)>) -> Result<(), ClusterError> {
        let commands = scripts
            .into_iter()
            .map(|(pod, script)| (pod, exec::nft_command(&script)))
            .collect();
        self.in_netns_each(commands)
    }

    /// Runs one command per pod, all at once; the first failure is the error.
    fn exec_each(&self, commands: Vec<(String, Vec<String>)>) -> Result<(), ClusterError> {
        let pods = self.pods.clone();
        self.wait(async move {
            let mut runs = tokio::task::JoinSet::new();
            for (pod, command) in commands {
                let pods = pods.clone();
                runs.spawn(async move { exec::run(&pods, &pod, command).await.map(drop) });
            }
            first_error(runs).await
        })
    }

    /// Runs one command per node pod in its network namespace, through the node daemon
    /// on its Kubernetes node ([`daemon`]), all at once; the first failure is the error.
    fn in_netns_each(&self, commands: Vec<(String, Vec<String>)>) -> Result<(), ClusterError> {
        let places = self.lock().pods.clone();
        let mut targets = Vec::new();
        for (pod, argv) in commands {
            let Some(place) = places.get(&pod) else {
                self.node(&pod)?;
                continue; // a pod killed and not made again has no rules to change
            };
            targets.push((pod, place.host.clone(), place.uid.clone(), argv));
        }
        let daemons = self.daemons.clone();
        self.wait(async move {
            let mut runs = tokio::task::JoinSet::new();
            for (pod, host, uid, argv) in targets {
                let daemons = daemons.clone();
                runs.spawn(async move {
                    let what = format!("in pod {pod}: {}", argv.join(" "));
                    daemons.run_in_pod_netns(&host, &uid, &argv, &what).await
                });
            }
            first_error(runs).await
        })
    }

    /// Kills what still runs in each pod and brings the pod's copy of the run directory
    /// back into the run directory here, every pod at once; then puts the files saved
    /// before node kills in front of what the pods made again wrote.
    fn copy_back(&self) -> Vec<String> {
        let dir = self.cfg.run_dir.clone();
        let (names, salvaged) = {
            let inner = self.lock();
            let names: Vec<String> = self
                .all_nodes()
                .map(|n| n.name.clone())
                .filter(|n| !inner.dead.contains(n))
                .collect();
            (names, inner.salvaged.clone())
        };
        let pods = self.pods.clone();
        let mut problems = self.wait(async move {
            let mut runs = tokio::task::JoinSet::new();
            for pod in names {
                let (pods, dir) = (pods.clone(), dir.clone());
                runs.spawn(async move {
                    let archive = kill_all_and_archive(&pods, &pod, &dir).await;
                    archive
                        .map_err(|e| e.to_string())
                        .and_then(|a| untar(&a, &dir))
                        .map_err(|e| format!("{pod}: {e}"))
                });
            }
            let mut problems = Vec::new();
            while let Some(done) = runs.join_next().await {
                match done {
                    Ok(Err(problem)) => problems.push(problem),
                    Err(e) => problems.push(format!("copying a pod's files back: {e}")),
                    Ok(Ok(())) => {}
                }
            }
            problems
        });
        for saved in salvaged.iter().rev() {
            if let Err(e) = podkill::prepend_saved(saved, &self.cfg.run_dir) {
                problems.push(format!("{}: {e}", saved.display()));
            }
        }
        podkill::remove_saved(&self.cfg.run_dir);
        problems
    }
}

/// Kills every process of `pod` but its first (as the local backend kills at teardown,
/// so no file changes while tar reads it) and returns its copy of `dir` as a tar archive.
async fn kill_all_and_archive(
    pods: &Api<Pod>,
    pod: &str,
    dir: &Path,
) -> Result<Vec<u8>, ClusterError> {
    let tar = vec![
        "sh".to_string(),
        "-c".into(),
        "kill -KILL -1 2>/dev/null; sleep 0.2; exec tar -C \"$1\" -cf - .".into(),
        "copy-back".into(),
        dir.display().to_string(),
    ];
    exec::run(pods, pod, tar).await
}

/// Waits for every task of `runs`; the first error among them is the result.
async fn first_error(
    mut runs: tokio::task::JoinSet<Result<(), ClusterError>>,
) -> Result<(), ClusterError> {
    let mut first = None;
    while let Some(done) = runs.join_next().await {
        if let Ok(Err(e)) = done {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// The objects [`create`] makes: the client, where each node pod runs, the daemons.
type Created = (Client, BTreeMap<String, PodPlace>, daemon::Daemons);

/// Creates the namespaces, the node pods and the node daemons; deletes the namespaces
/// again if anything fails.
async fn create(cfg: &KubeConfig) -> Result<Created, ClusterError> {
    check_namespace_length(&cfg.namespace).map_err(|reason| ClusterError::Kube {
        operation: format!("create namespace {}", cfg.namespace),
        reason,
    })?;
    let client = client_for(cfg.kubeconfig.as_deref()).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let controller = pods::controller_identity();
    // The node pods run with no privilege; the daemons beside them with all of it.
    let run = pods::namespace(&cfg.namespace, &cfg.run_id, &controller, "baseline");
    let daemons_ns = daemon_namespace(&cfg.namespace);
    let daemons_of = pods::namespace(&daemons_ns, &cfg.run_id, &controller, "privileged");
    for ns in [&run, &daemons_of] {
        let created = namespaces.create(&PostParams::default(), ns).await;
        if let Err(e) = created {
            let name = ns.metadata.name.clone().unwrap_or_default();
            delete_namespaces_after_failure(&client, cfg).await;
            return Err(ClusterError::Kube {
                operation: format!("create namespace {name}"),
                reason: e.to_string(),
            });
        }
    }
    let daemons = daemon::Daemons::new(
        Api::namespaced(client.clone(), &daemons_ns),
        &cfg.run_id,
        &cfg.image,
    );
    match create_pods(cfg, &client, &daemons).await {
        Ok(places) => Ok((client, places, daemons)),
        Err(e) => {
            delete_namespaces_after_failure(&client, cfg).await;
            Err(e)
        }
    }
}

/// Deletes the run's namespaces after a failed start, logging what could not be.
async fn delete_namespaces_after_failure(client: &Client, cfg: &KubeConfig) {
    if let Err(cleanup) = delete_run_namespaces(client, &cfg.namespace).await {
        tracing::error!(error = %cleanup, "deleting the namespaces of a failed start");
    }
}

/// Deletes the run's namespace and its daemons' namespace, both at once, and waits until
/// they are gone.
async fn delete_run_namespaces(client: &Client, namespace: &str) -> Result<(), ClusterError> {
    let daemons = daemon_namespace(namespace);
    let (run, daemons) = tokio::join!(
        delete_namespace(client, namespace, NAMESPACE_DELETE_WAIT),
        delete_namespace(client, &daemons, NAMESPACE_DELETE_WAIT)
    );
    run.and(daemons)
}

async fn create_pods(
    cfg: &KubeConfig,
    client: &Client,
    daemons: &daemon::Daemons,
) -> Result<BTreeMap<String, PodPlace>, ClusterError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &cfg.namespace);
    let names: Vec<String> = (1..=cfg.nodes)
        .map(|i| format!("n{i}"))
        .chain([RESOURCE_NODE.to_string()])
        .collect();
    for name in &names {
        create_pod(cfg, &pods, name).await?;
    }
    let places = wait_running(cfg, &pods, &names, "node pods").await?;
    start_daemons(cfg, daemons, &places).await?;
    Ok(places)
}

/// Starts a node daemon on each Kubernetes node of `places` that has none yet and waits
/// until they run.
async fn start_daemons(
    cfg: &KubeConfig,
    daemons: &daemon::Daemons,
    places: &BTreeMap<String, PodPlace>,
) -> Result<(), ClusterError> {
    let hosts: BTreeSet<String> = places.values().map(|p| p.host.clone()).collect();
    let created = daemons.create_on(&hosts).await?;
    let names: Vec<String> = created.iter().map(|(name, _)| name.clone()).collect();
    wait_running(cfg, daemons.api(), &names, "node daemons").await?;
    daemons.record(created).await;
    Ok(())
}

/// Creates the pod of node `name`.
async fn create_pod(cfg: &KubeConfig, pods: &Api<Pod>, name: &str) -> Result<(), ClusterError> {
    let mirrored = [cfg.run_dir.as_path(), cfg.state_dir.as_path()];
    let pod = pods::node_pod(name, &cfg.run_id, &cfg.image, &mirrored);
    pods.create(&PostParams::default(), &pod)
        .await
        .map(drop)
        .map_err(|e| ClusterError::Kube {
            operation: format!("create pod {name} in {}", cfg.namespace),
            reason: e.to_string(),
        })
}

/// Waits until every pod of `names` runs and has an address; says why not when an image
/// is missing or the pods are not running within the configured time.
async fn wait_running(
    cfg: &KubeConfig,
    pods: &Api<Pod>,
    names: &[String],
    what: &str,
) -> Result<BTreeMap<String, PodPlace>, ClusterError> {
    let started = Instant::now();
    loop {
        let mut places = BTreeMap::new();
        let mut waiting = Vec::new();
        for name in names {
            let pod = pods.get(name).await.map_err(|e| ClusterError::Kube {
                operation: format!("get pod {name}"),
                reason: e.to_string(),
            })?;
            match running_address(&pod) {
                Ok(ip) => {
                    let host = pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.clone())
                        .unwrap_or_default();
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    places.insert(name.clone(), PodPlace { ip, host, uid });
                }
                Err(why) => waiting.push(format!("{name}: {why}")),
            }
        }
        if waiting.is_empty() {
            return Ok(places);
        }
        if let Some(fatal) = waiting.iter().find(|w| {
            w.contains("ErrImageNeverPull")
                || w.contains("ImagePullBackOff")
                || w.contains("ErrImagePull")
        }) {
            return Err(ClusterError::Kube {
                operation: format!("start the {what} of {}", cfg.namespace),
                reason: format!(
                    "{fatal}: the image {} is not on the cluster's nodes; build it with \
                     scripts/build-image and load it (scripts/kube-node load-image, or kind \
                     load docker-image)",
                    cfg.image
                ),
            });
        }
        if started.elapsed() > cfg.ready_timeout {
            return Err(ClusterError::Kube {
                operation: format!("start the {what} of {}", cfg.namespace),
                reason: format!(
                    "not running after {:?}: {}",
                    cfg.ready_timeout,
                    waiting.join("; ")
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The pod's IPv4 address once it runs, or why it does not yet.
fn running_address(pod: &Pod) -> Result<std::net::Ipv4Addr, String> {
    let status = pod.status.as_ref().ok_or("no status yet")?;
    let phase = status.phase.clone().unwrap_or_default();
    let container = status.container_statuses.iter().flatten().next();
    if let Some(waiting) = container
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
    {
        return Err(format!(
            "{} {}",
            waiting.reason.clone().unwrap_or_default(),
            waiting.message.clone().unwrap_or_default()
        ));
    }
    if phase != "Running" {
        return Err(format!("phase {phase}"));
    }
    match status.pod_ip.as_deref().map(str::parse::<IpAddr>) {
        Some(Ok(IpAddr::V4(v4))) => Ok(v4),
        Some(_) => Err("no IPv4 address (splitbrain's partitions are by IPv4 address)".into()),
        None => Err("no address yet".into()),
    }
}

/// The most of the scratch directory's archive [`KubeCluster::send_state`] sends: it
/// travels base64-encoded as one argument, which Linux caps at 128 KiB.
const MAX_STATE_ARCHIVE: usize = 90 * 1024;

/// The contents of `dir` as a tar archive, without sockets, made with the system's tar.
/// The agents' relays bind their sockets in `dir` while it is read, which changes the
/// folder under tar: GNU tar then exits 1 ("file changed as we read it") with a complete
/// archive of every file it read, so that status, with the warning silenced and nothing
/// else said, is success.
fn tar_of(dir: &Path) -> Result<Vec<u8>, ClusterError> {
    let out = std::process::Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args([
            "--exclude=*.sock",
            "--warning=no-file-changed",
            "-cf",
            "-",
            ".",
        ])
        .output()
        .map_err(|e| ClusterError::io(format!("tar of {}", dir.display()), e))?;
    let only_changed = out.status.code() == Some(1) && out.stderr.is_empty();
    if !out.status.success() && !only_changed {
        return Err(ClusterError::Command {
            command: format!("tar -C {} -cf - .", dir.display()),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

/// Unpacks a tar archive into `dir` with the system's tar.
fn untar(archive: &[u8], dir: &Path) -> Result<(), String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut child = std::process::Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-xf", "-", "--no-same-owner", "--no-overwrite-dir"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("tar: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(archive)
        .map_err(|e| format!("tar: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("tar: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tar: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Cluster for KubeCluster {
    fn run_id(&self) -> &str {
        &self.cfg.run_id
    }

    fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn resource_node(&self) -> &Node {
        &self.resource
    }

    fn spawn(&self, node: &str, mut spec: ProcessSpec) -> Result<(), ClusterError> {
        let node = self.node(node)?.name.clone();
        if self.live()?.procs.contains_key(&spec.name) {
            return Err(ClusterError::DuplicateProcess { name: spec.name });
        }
        self.add_clock_env(&mut spec)?;
        self.send_state(&node)?;
        let pid = self.start(&node, &spec)?;
        self.live()?.procs.insert(
            spec.name.clone(),
            Proc {
                node,
                spec,
                pid,
                state: ProcessState::Running,
            },
        );
        Ok(())
    }

    fn kill(&self, name: &str) -> Result<(), ClusterError> {
        let node = self.alive_process(name, "kill")?.0;
        self.signal(&node, name, "kill")?;
        self.set_state(name, ProcessState::Killed);
        Ok(())
    }

    fn restart(&self, name: &str) -> Result<(), ClusterError> {
        let (node, spec, state) = {
            let inner = self.live()?;
            let p = inner
                .procs
                .get(name)
                .ok_or_else(|| self.unknown(name, &inner))?;
            (p.node.clone(), p.spec.clone(), p.state)
        };
        if state.is_alive() {
            self.signal(&node, name, "kill")?;
        }
        if self.live()?.fresh.contains(&node) {
            self.send_state(&node)?;
            self.lock().fresh.remove(&node);
        }
        let pid = self.start(&node, &spec)?;
        if let Some(p) = self.live()?.procs.get_mut(name) {
            p.pid = pid;
            p.state = ProcessState::Running;
        }
        self.reapply_clock(name)
    }

    fn pause(&self, name: &str) -> Result<(), ClusterError> {
        self.change_state(
            name,
            "pause",
            ProcessState::Running,
            "stop",
            ProcessState::Paused,
        )
    }

    fn resume(&self, name: &str) -> Result<(), ClusterError> {
        self.change_state(
            name,
            "resume",
            ProcessState::Paused,
            "cont",
            ProcessState::Running,
        )
    }

    fn partition(&self, grudge: &Grudge) -> Result<(), ClusterError> {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        grudge.validate(&names)?;
        self.live()?.grudge = grudge.clone();
        let pods = self.pod_view();
        let scripts = self
            .live_pods(&pods)
            .map(|n| {
                (
                    n.name.clone(),
                    partition_script(&dropped_addrs(&pods, grudge, &n.name)),
                )
            })
            .collect();
        self.nft_each(scripts)
    }

    fn heal(&self) -> Result<(), ClusterError> {
        self.partition(&Grudge::default())
    }

    fn processes(&self) -> Vec<ProcessInfo> {
        self.lock()
            .procs
            .values()
            .map(|p| ProcessInfo::of(&p.spec, &p.node, p.pid, p.state))
            .collect()
    }

    fn connect(
        &self,
        from_node: &str,
        to: SocketAddr,
        timeout: Duration,
    ) -> Result<TcpStream, ClusterError> {
        let pod = self.node(from_node)?.name.clone();
        self.ensure_live()?;
        let pods = self.pods.clone();
        self.wait(relay::open(pods, pod, to, timeout))
    }

    fn teardown(&self) -> Result<TeardownReport, ClusterError> {
        let started = Instant::now();
        let (relays, alive) = {
            let mut inner = self.lock();
            if inner.torn_down {
                return Ok(TeardownReport {
                    first_call: false,
                    ..TeardownReport::default()
                });
            }
            inner.torn_down = true;
            let alive = inner.procs.values().filter(|p| p.state.is_alive()).count();
            (std::mem::take(&mut inner.relays), alive)
        };
        for relay in relays {
            relay.abort();
        }
        for problem in self.copy_back() {
            tracing::warn!(%problem, "bringing a pod's files back");
        }
        let client = self.client.clone();
        let namespace = self.cfg.namespace.clone();
        self.wait(async move { delete_run_namespaces(&client, &namespace).await })?;
        let state_removed = std::fs::remove_dir_all(&self.cfg.state_dir).is_ok();
        Ok(TeardownReport {
            processes_killed: alive,
            namespaces_deleted: 2,
            state_removed,
            elapsed_ms: started.elapsed().as_millis() as u64,
            first_call: true,
        })
    }

    fn describe(&self) -> serde_json::Value {
        let pod_ips: BTreeMap<String, String> = self
            .pod_view()
            .into_iter()
            .map(|n| (n.name, n.addr.to_string()))
            .collect();
        serde_json::json!({
            "backend": "kubernetes",
            "namespace": self.cfg.namespace,
            "image": self.cfg.image,
            "pods_on": self.placement(),
            "pod_ips": pod_ips,
        })
    }

    fn has_file(&self, node: &str, path: &Path) -> Result<bool, ClusterError> {
        let pod = self.node(node)?.name.clone();
        let command = vec![
            "sh".to_string(),
            "-c".into(),
            "if test -e \"$1\"; then echo yes; else echo no; fi".into(),
            "has-file".into(),
            path.display().to_string(),
        ];
        let pods = self.pods.clone();
        let out = self.wait(async move { exec::run(&pods, &pod, command).await })?;
        Ok(out.starts_with(b"yes"))
    }

    fn read_file(&self, node: &str, path: &Path) -> Result<Vec<u8>, ClusterError> {
        let pod = self.node(node)?.name.clone();
        let command = vec!["cat".to_string(), path.display().to_string()];
        let pods = self.pods.clone();
        self.wait(async move { exec::run(&pods, &pod, command).await })
    }

    fn splitbrain_program(&self) -> Result<PathBuf, ClusterError> {
        Ok(PathBuf::from(IMAGE_BINARY))
    }

    fn agent_channel(
        &self,
        node: &str,
        name: &str,
        socket: PathBuf,
    ) -> Result<AgentChannel, ClusterError> {
        self.node(node)?;
        let mut inner = self.live()?;
        let port = inner.next_agent_port;
        inner.next_agent_port += 1;
        let relay = {
            let _entered = self.runtime().enter();
            relay::agent_relay(self.pods.clone(), node.to_string(), port, socket.clone())
        };
        inner.relays.push(relay);
        tracing::debug!(
            agent = name,
            node,
            port,
            "agent channel through port-forward"
        );
        Ok(AgentChannel {
            agent_args: vec!["--listen".into(), format!("127.0.0.1:{port}")],
            controller_socket: socket,
        })
    }

    fn packet_loss(&self) -> Option<&dyn PacketLoss> {
        Some(self)
    }

    fn node_kill(&self) -> Option<&dyn NodeKill> {
        Some(self)
    }

    fn clocks(&self) -> Option<&dyn crate::ClockControl> {
        Some(self)
    }

    fn latency(&self) -> Option<&dyn crate::LatencyControl> {
        Some(self)
    }
}

impl PacketLoss for KubeCluster {
    fn set_loss(&self, percent: u8) -> Result<(), ClusterError> {
        self.live()?.loss_percent = percent;
        let pods = self.pod_view();
        let scripts = self
            .live_pods(&pods)
            .map(|n| {
                (
                    n.name.clone(),
                    loss_script(&other_addrs(&pods, &n.name), percent),
                )
            })
            .collect();
        self.nft_each(scripts)
    }
}

impl KubeCluster {
    /// Sends `signal` to a process that is in state `from` and records it as `to`: a
    /// pause of a running process, a resume of a paused one.
    fn change_state(
        &self,
        name: &str,
        operation: &'static str,
        from: ProcessState,
        signal: &str,
        to: ProcessState,
    ) -> Result<(), ClusterError> {
        let (node, state) = self.alive_process(name, operation)?;
        if state != from {
            return Err(ClusterError::WrongState {
                name: name.into(),
                state: state.to_string(),
                operation,
                needed: if from == ProcessState::Paused {
                    "paused"
                } else {
                    "running"
                },
            });
        }
        self.signal(&node, name, signal)?;
        self.set_state(name, to);
        Ok(())
    }

    /// The nodes of `pods` whose pods exist now (not deleted by a node kill).
    fn live_pods<'a>(&self, pods: &'a [Node]) -> impl Iterator<Item = &'a Node> {
        let dead = self.lock().dead.clone();
        pods.iter().filter(move |n| !dead.contains(&n.name))
    }

    /// The node and state of a live process, or why `operation` cannot act on it.
    fn alive_process(
        &self,
        name: &str,
        operation: &'static str,
    ) -> Result<(String, ProcessState), ClusterError> {
        let inner = self.live()?;
        let p = inner
            .procs
            .get(name)
            .ok_or_else(|| self.unknown(name, &inner))?;
        if !p.state.is_alive() {
            return Err(ClusterError::WrongState {
                name: name.into(),
                state: p.state.to_string(),
                operation,
                needed: "alive",
            });
        }
        Ok((p.node.clone(), p.state))
    }

    fn set_state(&self, name: &str, state: ProcessState) {
        if let Some(p) = self.lock().procs.get_mut(name) {
            p.state = state;
        }
    }

    fn unknown(&self, name: &str, inner: &Inner) -> ClusterError {
        ClusterError::UnknownProcess {
            name: name.into(),
            known: inner.procs.keys().cloned().collect::<Vec<_>>().join(","),
        }
    }
}

impl Drop for KubeCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, namespace = %self.cfg.namespace, "tearing the Kubernetes cluster of a run down");
        }
        // A runtime may not be dropped on a thread that is inside another runtime.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_archive_is_made_while_sockets_come_and_go_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("redis-n1.conf"), "port 6379\n").unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let (dir, stop) = (dir.path().to_path_buf(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let socket = dir.join(format!("agent-{}.sock", i % 8));
                    let _ = std::fs::remove_file(&socket);
                    let _ = std::os::unix::net::UnixListener::bind(&socket);
                    i += 1;
                }
            })
        };
        for _ in 0..50 {
            let archive = tar_of(dir.path()).expect("an archive despite the churn");
            let scratch = tempfile::tempdir().unwrap();
            untar(&archive, scratch.path()).unwrap();
            assert!(scratch.path().join("redis-n1.conf").is_file());
            assert!(!scratch.path().join("agent-0.sock").exists());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().unwrap();
    }
}
