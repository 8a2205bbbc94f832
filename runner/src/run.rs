//! One run, end to end: cluster up, services, workload and nemesis, record, teardown,
//! check, report. Teardown happens whatever happens: on success, on error, and on
//! Ctrl-C or SIGTERM.

use crate::interrupt::Interrupt;
use crate::lock_servers::LockServers;
use crate::progress::Progress;
use crate::services::{self, Services};
use crate::{Backend, RunConfig, RunError, WorkloadName, run_dir};
use splitbrain_checker::Results;
use splitbrain_history::{FaultTally, NodeInfo, Recorder, RunEnd, RunInfo};
use splitbrain_nemesis::Cluster;
use splitbrain_nemesis::faults::{FaultMix, NemesisSummary, PlannedFault, ScheduleConfig, Targets};
use splitbrain_nemesis::kube::{KubeCluster, KubeConfig};
use splitbrain_nemesis::local::{LocalCluster, LocalConfig, STATE_ROOT, require_programs};
use splitbrain_workloads::SlotConfig;
use splitbrain_workloads::counter::{self, CounterClientConfig, HolderBoard};
use splitbrain_workloads::leader::{self, LeaderConfig};
use splitbrain_workloads::locks::{Client, LockKind, ServerSet};
use splitbrain_workloads::optimistic::{self, OptimisticConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A RunOutcome is where a finished run's files are and what the checkers said.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// The composed verdict and each checker's result.
    pub results: Results,
    /// True when the run was cut short by Ctrl-C or SIGTERM.
    pub interrupted: bool,
}

/// What a run knows of itself: when it started, and what its parts learn while it goes,
/// for the record of its end (read after the run's body has finished or been dropped by
/// an interrupt).
#[derive(Default)]
struct RunState {
    /// Wall-clock start, RFC 3339.
    started_at: String,
    /// When the workload started.
    workload_started: std::sync::OnceLock<Instant>,
    /// What the nemesis did, once it ended.
    faults: std::sync::Mutex<Option<FaultTally>>,
}

/// Carries out one run. Everything created on the machine is removed before this
/// returns, whatever the outcome. A Ctrl-C or SIGTERM at any moment ends it early,
/// torn down, with an `unknown` verdict that says it was interrupted.
pub async fn run(cfg: RunConfig, progress: &Progress) -> Result<RunOutcome, RunError> {
    // First of all, so that no signal can kill the run between creating something and
    // removing it.
    let interrupt = Interrupt::install().map_err(RunError::Signals)?;
    let faults = check_config(&cfg)?;
    let run_id = run_dir::new_run_id();
    let started_at = run_dir::now_rfc3339();
    let dir = run_dir::create(
        &cfg.results_root,
        &started_at,
        &cfg.lock.name(),
        cfg.workload.as_str(),
        cfg.seed,
    )?;
    progress.println(format!(
        "splitbrain run: seed={} lock={} workload={} nemesis={} fencing={} -> {}",
        cfg.seed,
        &cfg.lock.name(),
        cfg.workload.as_str(),
        nemesis_label(&cfg.nemesis),
        if cfg.fencing { "on" } else { "off" },
        dir.display()
    ));
    let node_names: Vec<String> = (1..=cfg.nodes).map(|i| format!("n{i}")).collect();
    let plan =
        splitbrain_nemesis::faults::plan(&schedule_config(&cfg, faults.clone()), &node_names);
    print_plan(progress, &faults, &plan);

    let state = state_dir(&cfg.backend, &run_id);
    progress.phase("cluster up");
    let cluster = cluster_up(&cfg, &run_id, &state, &dir).await?;
    if let Err(e) = require_plugin_on_nodes(&cfg, cluster.as_ref()) {
        if let Err(down) = cluster.teardown() {
            tracing::error!(error = %down, "tearing down a cluster that lacks the plug-in");
        }
        return Err(e);
    }
    let run_state = RunState {
        started_at,
        ..RunState::default()
    };
    let (outcome, interrupted_by) = {
        let body = run_on_cluster(
            &cfg,
            cluster.clone(),
            &dir,
            &state,
            plan,
            progress,
            &run_state,
        );
        // A signal that came while the cluster was coming up is seen here, before the body
        // starts anything more.
        match interrupt.fired() {
            Some(signal) => (Ok(()), Some(signal)),
            None => tokio::select! {
                r = body => (r, None),
                signal = interrupt.wait() => (Ok(()), Some(signal)),
            },
        }
    };
    let stopped = Instant::now();
    progress.phase("cluster down");
    let down = tokio::task::spawn_blocking(move || cluster.teardown())
        .await
        .expect("teardown task panicked");
    crate::lock_servers::kubernetes::forget_admin_kubeconfig(&dir);
    outcome?;
    down?;
    let end = run_end(&cfg, &run_state, stopped, interrupted_by);
    finish(&cfg, dir, end, progress)
}
/// Brings the run's nodes up on the backend asked for.
async fn cluster_up(
    cfg: &RunConfig,
    run_id: &str,
    state: &Path,
    dir: &Path,
) -> Result<Arc<dyn Cluster>, RunError> {
    let cluster: Arc<dyn Cluster> = match &cfg.backend {
        Backend::Local => {
            let local = LocalConfig {
                run_id: run_id.to_string(),
                nodes: cfg.nodes,
                subnet: cfg.subnet.clone(),
                state_dir: state.to_path_buf(),
            };
            Arc::new(
                tokio::task::spawn_blocking(move || LocalCluster::up(local))
                    .await
                    .expect("cluster setup task panicked")?,
            )
        }
        Backend::Kubernetes(kube) => {
            let kube = KubeConfig {
                run_id: run_id.to_string(),
                nodes: cfg.nodes,
                namespace: kube
                    .namespace
                    .clone()
                    .unwrap_or_else(|| format!("splitbrain-{run_id}")),
                image: kube.image.clone(),
                kubeconfig: kube.kubeconfig.clone(),
                run_dir: dir.to_path_buf(),
                state_dir: state.to_path_buf(),
                ready_timeout: KUBE_PODS_READY,
            };
            Arc::new(
                tokio::task::spawn_blocking(move || KubeCluster::up(kube))
                    .await
                    .expect("cluster setup task panicked")?,
            )
        }
    };
    Ok(cluster)
}

/// How long a Kubernetes run's node pods get to be running (the first pods of a new
/// image on a node take longest).
const KUBE_PODS_READY: Duration = Duration::from_secs(120);

/// Refuses, before anything starts, a schedule with faults that need an optional part of
/// the backend (clocks, packet loss, latency) that this cluster lacks.
fn refuse_faults_the_backend_lacks(
    plan: &[PlannedFault],
    cluster: &dyn Cluster,
) -> Result<(), RunError> {
    let missing = splitbrain_nemesis::faults::missing_abilities(plan, cluster);
    if missing.is_empty() {
        return Ok(());
    }
    let lacks: Vec<String> = missing.iter().map(|a| a.to_string()).collect();
    Err(RunError::Config(format!(
        "this backend cannot run the nemesis asked for: it lacks {}; leave the faults that \
         need it out of --nemesis",
        lacks.join(", ")
    )))
}

/// How the run ended, from what its parts recorded.
fn run_end(
    cfg: &RunConfig,
    state: &RunState,
    stopped: Instant,
    interrupted_by: Option<&str>,
) -> RunEnd {
    let workload_s = state.workload_started.get().map_or(0.0, |t| {
        stopped.duration_since(*t).min(cfg.time_limit).as_secs_f64()
    });
    RunEnd {
        completed: interrupted_by.is_none(),
        interrupted_by: interrupted_by.map(str::to_string),
        workload_s,
        faults: state.faults.lock().ok().and_then(|f| f.clone()),
    }
}

async fn run_on_cluster(
    cfg: &RunConfig,
    cluster: Arc<dyn Cluster>,
    dir: &Path,
    state: &Path,
    plan: Vec<PlannedFault>,
    progress: &Progress,
    run_state: &RunState,
) -> Result<(), RunError> {
    refuse_faults_the_backend_lacks(&plan, cluster.as_ref())?;
    let services = services::start(cluster.as_ref(), cfg, dir, state)?;
    let started_at = &run_state.started_at;
    write_run_info(cfg, cluster.as_ref(), &services, &plan, started_at, dir)?;
    for line in crate::ready::wait_for_services(cluster.clone(), &services).await? {
        progress.println(line);
    }
    progress.phase("workload");
    let _ = run_state.workload_started.set(Instant::now());
    let recorder = Arc::new(
        Recorder::create(&dir.join("history.jsonl"))
            .map_err(RunError::io(dir.join("history.jsonl")))?,
    );
    let board = Arc::new(HolderBoard::default());
    // Latency proxies only see connections opened after them: before any client.
    let needs = plan.clone();
    let prepared = cluster.clone();
    let ready = tokio::task::spawn_blocking(move || {
        splitbrain_nemesis::faults::prepare(&needs, prepared.as_ref())
    })
    .await
    .expect("nemesis preparation task panicked");
    if let Err(e) = ready {
        // Not fatal: each fault that needed it is then recorded as not applied.
        progress.println(format!("nemesis: cannot prepare latency: {e}"));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (healed_tx, healed_rx) = watch::channel(false);
    let clients = spawn_clients(cfg, &services, &recorder, &board, &stop_rx, &healed_rx);
    let targets: Arc<dyn Targets> = Arc::new(RunTargets {
        board: board.clone(),
        cluster: cluster.clone(),
        server_sets: crate::lock_servers::server_sets(cfg.lock, plugin_servers(cfg)),
        servers: services.lock.clone(),
    });
    let watched = plan.clone();
    let nemesis = tokio::spawn(splitbrain_nemesis::faults::run_nemesis(
        plan,
        cluster.clone(),
        targets,
        recorder.clone(),
        stop_rx.clone(),
    ));
    watch_workload(cfg, &watched, &recorder, progress).await;
    let _ = stop_tx.send(true);
    let nemesis = nemesis.await;
    // Every fault is healed: a holder resumed only now can still say it lost its lock,
    // and the clients ask their agents for that before they end.
    let _ = healed_tx.send(true);
    for c in clients {
        let _ = c.await;
    }
    if let (Ok(summary), Ok(mut faults)) = (nemesis, run_state.faults.lock()) {
        *faults = Some(fault_tally(&summary));
    }
    recorder
        .sync()
        .map_err(RunError::io(dir.join("history.jsonl")))?;
    Ok(())
}

fn spawn_clients(
    cfg: &RunConfig,
    services: &Services,
    recorder: &Arc<Recorder>,
    board: &Arc<HolderBoard>,
    stop: &watch::Receiver<bool>,
    healed: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    services
        .agents
        .iter()
        .enumerate()
        .map(|(slot, agent)| {
            let slot_cfg = SlotConfig {
                slot,
                clients: cfg.clients,
                seed: cfg.seed,
                rate: cfg.rate,
                op_timeout: cfg.op_timeout,
                agent_socket: agent.socket.clone(),
                node: agent.node.clone(),
                agent_name: agent.name.clone(),
                final_notices: Some(healed.clone()),
            };
            let (recorder, board, stop) = (recorder.clone(), board.clone(), stop.clone());
            match cfg.workload {
                WorkloadName::Counter => {
                    let client_cfg = counter_config(cfg, slot_cfg);
                    tokio::spawn(async move {
                        counter::run_client(client_cfg, recorder, board, stop).await;
                    })
                }
                WorkloadName::Optimistic => {
                    let opt_cfg = OptimisticConfig {
                        slot: slot_cfg,
                        think: cfg.cs_wait,
                    };
                    tokio::spawn(async move {
                        optimistic::run_client(opt_cfg, recorder, stop).await;
                    })
                }
                WorkloadName::Leader => {
                    let leader_cfg = LeaderConfig {
                        slot: slot_cfg,
                        key: LOCK_KEY.into(),
                        ttl: cfg.ttl,
                        work_interval: cfg.cs_wait,
                    };
                    tokio::spawn(async move {
                        leader::run_client(leader_cfg, recorder, board, stop).await;
                    })
                }
            }
        })
        .collect()
}

/// The lock key every workload contends for.
const LOCK_KEY: &str = "splitbrain-lock";

fn counter_config(cfg: &RunConfig, s: SlotConfig) -> CounterClientConfig {
    CounterClientConfig {
        slot: s.slot,
        clients: s.clients,
        seed: s.seed,
        rate: s.rate,
        key: LOCK_KEY.into(),
        ttl: cfg.ttl,
        cs_wait: cfg.cs_wait,
        op_timeout: s.op_timeout,
        agent_socket: s.agent_socket,
        node: s.node,
        agent_name: s.agent_name,
        final_notices: s.final_notices,
    }
}

/// Shows live counts and the faults in force until the time limit.
async fn watch_workload(
    cfg: &RunConfig,
    plan: &[PlannedFault],
    recorder: &Recorder,
    progress: &Progress,
) {
    let start = Instant::now();
    let deadline = start + cfg.time_limit;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while Instant::now() < deadline {
        tick.tick().await;
        let faults = faults_in_force(plan, start.elapsed(), recorder.last_nemesis());
        progress.workload(start.elapsed(), cfg.time_limit, recorder.counts(), &faults);
    }
}

/// What the plan has in force at `elapsed`, with the latest thing the nemesis did (which
/// names the process or nodes it struck): `in force: pause-holder (4.0-6.5s): pause
/// agent-2 n3`, or `no fault in force`.
fn faults_in_force(
    plan: &[PlannedFault],
    elapsed: Duration,
    last: Option<splitbrain_history::Op>,
) -> String {
    let now: Vec<String> = plan
        .iter()
        .filter(|f| f.at <= elapsed && elapsed < f.at + f.duration)
        .map(|f| {
            format!(
                "{} ({:.1}-{:.1}s)",
                f.kind,
                f.at.as_secs_f64(),
                (f.at + f.duration).as_secs_f64()
            )
        })
        .collect();
    if now.is_empty() {
        return "no fault in force".to_owned();
    }
    let struck = last.map_or(String::new(), |op| format!(": {}", nemesis_event(&op)));
    format!("in force: {}{struck}", now.join(", "))
}

/// A nemesis completion as a few words: what it did and to whom.
fn nemesis_event(op: &splitbrain_history::Op) -> String {
    let target = splitbrain_checker::fault_windows::describe_target(&op.value);
    let refused = op
        .error
        .as_ref()
        .map_or(String::new(), |e| format!(" (refused: {e})"));
    format!("{} {target}{refused}", op.f)
}

fn fault_tally(summary: &NemesisSummary) -> FaultTally {
    FaultTally {
        planned: summary.planned,
        applied: summary.applied,
        refused: summary.refused,
        reasons: summary.errors.clone(),
    }
}

/// Records the end in `run.json`, then checks and reports. A run stopped before its
/// workload has no history to check: its results say only how it ended.
fn finish(
    cfg: &RunConfig,
    dir: PathBuf,
    end: RunEnd,
    progress: &Progress,
) -> Result<RunOutcome, RunError> {
    let interrupted = !end.completed;
    run_dir::record_end(&dir, &end)?;
    progress.phase("check");
    let results = if dir.join(splitbrain_checker::run_dir::HISTORY_FILE).exists() {
        let results = splitbrain_checker::run_dir::check_run_dir(&dir)?;
        progress.phase("report");
        splitbrain_reports::write_report(&dir)?;
        splitbrain_reports::write_junit(&dir)?;
        results
    } else {
        let mut only = std::collections::BTreeMap::new();
        let summary = splitbrain_checker::run_end::check(Some(&end), cfg.time_limit.as_secs_f64());
        only.insert(splitbrain_checker::run_end::NAME.to_string(), summary);
        let results = Results::compose(only);
        splitbrain_checker::write_results(&dir, &results)?;
        results
    };
    run_dir::link_latest(&cfg.results_root, &dir)?;
    progress.finish();
    Ok(RunOutcome {
        dir,
        results,
        interrupted,
    })
}

/// What the nemesis may ask about the run: who holds the lock (from the controller's
/// own record) and where the lock service's leader is (asked of the servers).
struct RunTargets {
    board: Arc<HolderBoard>,
    cluster: Arc<dyn Cluster>,
    server_sets: Vec<ServerSet>,
    servers: LockServers,
}

impl Targets for RunTargets {
    fn holder_agent(&self) -> Option<String> {
        self.board.current()
    }

    fn leader_node(&self) -> Option<String> {
        // The servers are asked over blocking sockets (bounded by a short timeout);
        // tell the runtime so its other tasks move to another worker meanwhile.
        tokio::task::block_in_place(|| {
            crate::lock_servers::leader::leader_node(
                &self.server_sets,
                self.cluster.as_ref(),
                &self.servers,
            )
        })
    }
}

fn write_run_info(
    cfg: &RunConfig,
    cluster: &dyn Cluster,
    services: &Services,
    plan: &[PlannedFault],
    started_at: &str,
    dir: &Path,
) -> Result<(), RunError> {
    let mut nodes: Vec<NodeInfo> = cluster
        .nodes()
        .iter()
        .chain(std::iter::once(cluster.resource_node()))
        .map(|n| NodeInfo {
            name: n.name.clone(),
            addr: n.addr.to_string(),
            roles: vec![],
        })
        .collect();
    for p in cluster.processes() {
        if let Some(n) = nodes.iter_mut().find(|n| n.name == p.node) {
            n.roles.push(p.name.clone());
        }
    }
    let info = RunInfo {
        splitbrain_version: env!("CARGO_PKG_VERSION").into(),
        seed: cfg.seed,
        lock: cfg.lock.name(),
        workload: cfg.workload.as_str().into(),
        nemesis: cfg.nemesis.clone(),
        clients: cfg.clients,
        nodes: cfg.nodes,
        time_limit_s: cfg.time_limit.as_secs_f64(),
        ttl_ms: cfg.ttl.as_millis() as u64,
        fencing: cfg.fencing,
        command: cfg.command.clone(),
        started_at: started_at.into(),
        cluster: nodes,
        schedule: serde_json::to_value(plan).unwrap_or_default(),
        end: None,
        extra: serde_json::json!({
            "run_id": cluster.run_id(),
            "backend": cluster.describe(),
            "lock_agent_args": services.lock.agent_args,
            "lock_notes": crate::lock_servers::notes(cfg.lock),
            "resource_addr": services.resource_addr.to_string(),
            "cs_wait_ms": cfg.cs_wait.as_millis() as u64,
            "rate": cfg.rate,
            "op_timeout_ms": cfg.op_timeout.as_millis() as u64,
            "nemesis_interval_ms": cfg.nemesis_interval.as_millis() as u64,
            "plugin": cfg.plugin.as_ref().map(|p| serde_json::json!({
                "command": p.command,
                "dir": p.dir.display().to_string(),
                "servers": p.servers.iter().map(|s| s.name()).collect::<Vec<_>>(),
            })),
            "optimistic_unsafe": cfg.optimistic_unsafe,
            "nemesis_options": {
                "clock_bump_max_ms": cfg.nemesis_options.clock_bump_max.as_millis() as u64,
                "clock_drift_max": cfg.nemesis_options.clock_drift_max,
                "loss_percent": cfg.nemesis_options.loss_percent,
                "latency_ms": cfg.nemesis_options.latency.as_millis() as u64,
            },
            "lease_check": cfg.lease_check,
        }),
    };
    let path = dir.join("run.json");
    let text = serde_json::to_vec_pretty(&info).expect("RunInfo serializes");
    std::fs::write(&path, text).map_err(RunError::io(path))
}

/// Checks everything about a configuration that can be checked before creating
/// anything: the numbers, the lock and workload fit, the fault names, the programs and
/// files the lock needs. Returns the parsed fault mix. It has no side effects.
pub fn check_config(cfg: &RunConfig) -> Result<FaultMix, RunError> {
    validate(cfg)?;
    let faults = parse_faults(&cfg.nemesis)?;
    match cfg.backend {
        // The lock servers run here: their programs must be installed here.
        Backend::Local => {
            for set in crate::lock_servers::server_sets(cfg.lock, plugin_servers(cfg)) {
                require_programs(crate::lock_servers::required_programs(set))?;
            }
        }
        // They run in the image, which holds only some of them for now.
        Backend::Kubernetes(_) => refuse_locks_the_image_lacks(cfg)?,
    }
    crate::lock_servers::preflight(cfg.lock, plugin_servers(cfg), cfg.fencing)?;
    Ok(faults)
}

/// The lock servers the image holds: the programs of image/packages.txt, and Hazelcast's
/// members, which run from the plug-ins' cache that scripts/build-image adds.
const IMAGE_SERVER_SETS: &[ServerSet] = &[
    ServerSet::Redis,
    ServerSet::RedisSentinel,
    ServerSet::Redlock,
    ServerSet::Etcd,
    ServerSet::Zookeeper,
    ServerSet::Hazelcast,
    ServerSet::HazelcastNoCp,
];

/// True for the locks the Kubernetes backend can run: servers in the image, and a client
/// that is splitbrain's own or a plug-in of scripts/build-plugins (a user's plug-in
/// command is a program on this machine, which the pods do not have).
fn runs_on_kubernetes(kind: LockKind) -> bool {
    let system = kind.system();
    system.client != Client::UserPlugin
        && system.servers.iter().all(|s| IMAGE_SERVER_SETS.contains(s))
}

/// Refuses a lock the Kubernetes backend cannot run yet, naming the ones it runs.
fn refuse_locks_the_image_lacks(cfg: &RunConfig) -> Result<(), RunError> {
    let system = cfg.lock.system();
    let sets = crate::lock_servers::server_sets(cfg.lock, plugin_servers(cfg));
    let missing: Vec<String> = sets
        .iter()
        .filter(|s| !IMAGE_SERVER_SETS.contains(s))
        .map(|s| s.name())
        .collect();
    let user_plugin = system.client == Client::UserPlugin;
    if user_plugin || !missing.is_empty() {
        let runs: Vec<String> = LockKind::all()
            .iter()
            .filter(|k| runs_on_kubernetes(**k))
            .map(|k| k.name())
            .collect();
        return Err(RunError::Config(format!(
            "--backend kubernetes cannot run --lock {} yet ({}); it runs --lock {}",
            cfg.lock.name(),
            if user_plugin {
                "a plug-in command is a program on this machine, not in the image".to_string()
            } else {
                format!("its servers {} are not in the image", missing.join(", "))
            },
            runs.join(", ")
        )));
    }
    Ok(())
}

/// Fails, naming what to do, when the lock's plug-in is not where the nodes look for it:
/// on the Kubernetes backend, an image built before scripts/build-plugins, or with
/// `--no-plugins`.
fn require_plugin_on_nodes(cfg: &RunConfig, cluster: &dyn Cluster) -> Result<(), RunError> {
    let Client::Plugin { program } = cfg.lock.system().client else {
        return Ok(());
    };
    let path = crate::build_cache::plugins_bin_dir().join(program);
    let node = &cluster.nodes()[0].name;
    if cluster.has_file(node, &path)? {
        return Ok(());
    }
    Err(RunError::Config(format!(
        "--lock {}: the nodes have no {}; build the plug-ins (scripts/build-plugins) and \
         then the image again (scripts/build-image adds them), and load it",
        cfg.lock.name(),
        path.display()
    )))
}

/// The servers a user's plug-in asked for (none for every other lock).
pub(crate) fn plugin_servers(cfg: &RunConfig) -> &[ServerSet] {
    cfg.plugin.as_ref().map_or(&[], |p| p.servers.as_slice())
}

fn validate(cfg: &RunConfig) -> Result<(), RunError> {
    let bad = |m: String| Err(RunError::Config(m));
    if cfg.clients == 0 || cfg.clients > 200 {
        return bad(format!("clients={} must be between 1 and 200", cfg.clients));
    }
    if cfg.nodes == 0 || cfg.nodes > 50 {
        return bad(format!("nodes={} must be between 1 and 50", cfg.nodes));
    }
    if cfg.ttl.is_zero() {
        return bad("ttl-ms=0: a lock needs a positive time-to-live".into());
    }
    if cfg.time_limit.is_zero() {
        return bad("time-limit=0: give the workload at least one second".into());
    }
    if !(cfg.rate > 0.0 && cfg.rate.is_finite()) {
        return bad(format!("rate={} must be a positive number", cfg.rate));
    }
    validate_lock_choice(cfg)
}

/// The lock, its plug-in and the workload fit together.
fn validate_lock_choice(cfg: &RunConfig) -> Result<(), RunError> {
    let bad = |m: String| Err(RunError::Config(m));
    let user_plugin = cfg.lock.system().client == Client::UserPlugin;
    match (&cfg.plugin, user_plugin) {
        (None, true) => bad("lock=external needs --plugin-command, such as \
             --plugin-command \"python3 examples/python-redis-lock/lock.py\" --plugin-servers redis"
            .into()),
        (Some(p), true) if p.command.trim().is_empty() => {
            bad("plugin-command is empty: give the command that starts the plug-in".into())
        }
        (Some(_), false) => bad(format!(
            "plugin-command is only used with --lock external; --lock {} brings its own \
             client and servers",
            cfg.lock.name()
        )),
        _ => Ok(()),
    }?;
    lock_can_take_over(cfg)?;
    if cfg.workload == WorkloadName::Optimistic && !cfg.lock.has_versioned_store() {
        return bad(format!(
            "workload=optimistic needs a lock system with a versioned store; supported: \
             --lock {}",
            LockKind::versioned_store_names()
        ));
    }
    Ok(())
}

/// The op timeout a run gets when none is given: 5 s, and for a lock that needs longer
/// to take over an expired holder (client-go), enough for [`lock_can_take_over`].
pub fn default_op_timeout_ms(lock: LockKind, ttl_ms: u64) -> u64 {
    match lock.system().op_timeout_per_ttl {
        Some(per_ttl) => DEFAULT_OP_TIMEOUT_MS.max(ttl_ms.saturating_mul(per_ttl)),
        None => DEFAULT_OP_TIMEOUT_MS,
    }
}

/// The op timeout of a run that names none.
const DEFAULT_OP_TIMEOUT_MS: u64 = 5000;

/// client-go takes over a Lease only after watching it unchanged for the lease duration
/// plus up to two jittered retry periods (about 1.6 TTL), and each acquire is one elector
/// waiting within the agent's step (a third of the op timeout, less what the plug-in
/// keeps to answer in time): under 6 TTL (its description's `op_timeout_per_ttl`), an
/// expired holder would seldom be replaced. A shorter op timeout is refused.
fn lock_can_take_over(cfg: &RunConfig) -> Result<(), RunError> {
    let Some(per_ttl) = cfg.lock.system().op_timeout_per_ttl else {
        return Ok(());
    };
    let needed = cfg.ttl * per_ttl as u32;
    if cfg.op_timeout >= needed {
        return Ok(());
    }
    let op_ms = cfg.op_timeout.as_millis();
    let want_ms = needed.as_millis();
    Err(RunError::Config(format!(
        "lock={} ttl-ms={} op-timeout-ms={op_ms}: it takes over a lease only after \
         watching it unchanged for the lease duration, so an acquire must be able to \
         outwait a lease: the op timeout must be {per_ttl} x the TTL; give --op-timeout-ms \
         {want_ms} or more (or leave it out)",
        cfg.lock.name(),
        cfg.ttl.as_millis()
    )))
}

fn parse_faults(names: &[String]) -> Result<FaultMix, RunError> {
    names
        .join(",")
        .parse::<FaultMix>()
        .map_err(|e| RunError::Config(e.to_string()))
}

fn schedule_config(cfg: &RunConfig, faults: FaultMix) -> ScheduleConfig {
    let o = &cfg.nemesis_options;
    ScheduleConfig {
        seed: cfg.seed,
        faults,
        time_limit: cfg.time_limit,
        interval: cfg.nemesis_interval,
        ttl: cfg.ttl,
        clock_bump_max: o.clock_bump_max,
        clock_drift_max: o.clock_drift_max,
        loss_percent: o.loss_percent,
        latency: o.latency,
    }
}

fn print_plan(progress: &Progress, mix: &FaultMix, plan: &[PlannedFault]) {
    if plan.is_empty() {
        progress.println(format!("nemesis: none planned (mix: {mix})"));
        return;
    }
    progress.println(format!(
        "nemesis schedule ({} faults, mix {mix}):",
        plan.len()
    ));
    for fault in plan {
        progress.println(format!(
            "  at {:>6.1}s  {:<26} for {:>4.1}s  {}",
            fault.at.as_secs_f64(),
            fault.kind.to_string(),
            fault.duration.as_secs_f64(),
            fault_details(fault)
        ));
    }
}

/// Whom a fault on processes strikes, when the plan cannot name them yet: the run finds
/// them when the fault starts (the history's `pause`/`kill` ops name them).
fn target_words(fault: &PlannedFault) -> Option<String> {
    use splitbrain_nemesis::faults::{FaultKind, Target};
    let (FaultKind::Pause(t) | FaultKind::Kill(t) | FaultKind::PodKill(t) | FaultKind::Clock(_, t)) =
        fault.kind
    else {
        return None;
    };
    Some(match t {
        Target::Process => format!(
            "target: lock server or agent number {} (modulo those running then)",
            fault.target_index
        ),
        Target::Holder => "target: the agent of the lock's holder at that moment".to_owned(),
        Target::Leader => "target: the lock servers on the leader's node at that moment".to_owned(),
        Target::One | Target::Minority | Target::Majority | Target::All => return None,
    })
}

/// What a planned fault hits and how hard, as far as the plan knows it.
fn fault_details(fault: &PlannedFault) -> String {
    let mut parts = Vec::new();
    if !fault.nodes.is_empty() {
        parts.push(format!("nodes={}", fault.nodes.join(",")));
    } else if let Some(words) = target_words(fault) {
        parts.push(words);
    }
    if let Some(p) = &fault.partition {
        let cut: Vec<String> = p
            .grudge
            .entries()
            .map(|(n, d)| format!("{n}-x{}", d.iter().cloned().collect::<Vec<_>>().join("+")))
            .collect();
        if !cut.is_empty() {
            parts.push(format!("drops {}", cut.join(" ")));
        }
    }
    if let Some(c) = &fault.clock {
        if let Some(s) = c.strobe {
            parts.push(format!(
                "strobe {:+} ms every {} ms",
                s.delta_ms, s.period_ms
            ));
        } else if c.rate != 1.0 {
            parts.push(format!("rate x{:.2}", c.rate));
        } else if c.offset_ms != 0 {
            parts.push(format!("jump {:+} ms", c.offset_ms));
        }
    }
    if let Some(p) = fault.loss_percent {
        parts.push(format!("{p}% packets dropped"));
    }
    if let Some(ms) = fault.latency_ms {
        parts.push(format!("+{ms} ms each way"));
    }
    parts.join("  ")
}

fn nemesis_label(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(",")
    }
}

/// The cluster's own state directory: created at `up`, removed with everything in it at
/// teardown, so sockets and server data put there cannot outlive the run. A Kubernetes
/// run keeps only its agents' relay sockets here, so without root it uses the temporary
/// directory (a local run without root is in a user namespace, where it is root).
fn state_dir(backend: &Backend, run_id: &str) -> PathBuf {
    let root = match backend {
        Backend::Kubernetes(_) if !nix::unistd::geteuid().is_root() => {
            std::env::temp_dir().join(format!("splitbrain-{}", nix::unistd::geteuid()))
        }
        _ => PathBuf::from(STATE_ROOT),
    };
    root.join("state").join(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(kind: splitbrain_nemesis::faults::FaultKind, at: f64, secs: f64) -> PlannedFault {
        let config = ScheduleConfig::new(
            1,
            vec![kind],
            Duration::from_secs(30),
            Duration::from_secs(1),
        );
        let plan = splitbrain_nemesis::faults::plan(&config, &["n1".to_owned()]);
        let mut fault = plan.into_iter().next().expect("a default plan has a fault");
        fault.kind = kind;
        fault.at = Duration::from_secs_f64(at);
        fault.duration = Duration::from_secs_f64(secs);
        fault
    }

    #[test]
    fn the_progress_line_names_the_fault_in_force_and_whom_the_nemesis_struck() {
        use splitbrain_nemesis::faults::FaultKind;
        let plan = vec![planned(FaultKind::PAUSE_HOLDER, 4.0, 2.5)];
        let struck = splitbrain_history::Op::new(
            7,
            4_050_000_000,
            splitbrain_history::Process::Nemesis,
            splitbrain_history::OpType::Info,
            "pause",
            serde_json::json!({"processes": ["agent-2"], "nodes": ["n3"]}),
        );
        let at = |s: f64| Duration::from_secs_f64(s);
        assert_eq!(faults_in_force(&plan, at(3.0), None), "no fault in force");
        assert_eq!(
            faults_in_force(&plan, at(5.0), Some(struck)),
            "in force: pause-holder (4.0-6.5s): pause agent-2 n3"
        );
        assert_eq!(faults_in_force(&plan, at(6.5), None), "no fault in force");
        assert_eq!(
            fault_details(&plan[0]),
            "target: the agent of the lock's holder at that moment"
        );
    }

    #[test]
    fn client_go_gets_an_op_timeout_that_outwaits_its_lease() {
        assert_eq!(default_op_timeout_ms(LockKind::K8sClientgo, 1000), 6000);
        assert_eq!(default_op_timeout_ms(LockKind::K8sClientgo, 500), 5000);
        assert_eq!(default_op_timeout_ms(LockKind::K8sLease, 2000), 5000);
    }
}
