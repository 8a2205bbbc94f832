//! The agent server: a listener for the controller (a Unix socket on the local backend, a
//! TCP port inside the pod on the Kubernetes backend), and the per-process state of one
//! client.

use super::protocol::{AgentNotice, AgentReply, AgentRequest, Command};
use crate::clock::Clock;
use crate::lock::{Certainty, Guard, Lock, LockError};
use crate::locks::{
    ExternalLock, ExternalLockConfig, LockEndpoints, LockKind, LockOptions, RedisLock,
    RedisLockConfig,
};
use crate::optimistic::{
    EtcdVersionedStore, KubeVersionedStore, RedisVersionedStore, VersionedStore,
};
use crate::resource::{ResourceClient, ResourceError};
use crate::{Error, Fencing};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// AgentArgs are the agent's command line (`splitbrain agent ...`).
#[derive(Clone, Debug, clap::Args)]
pub struct AgentArgs {
    /// The Unix socket to accept controller connections on; a stale file is replaced.
    #[arg(long, required_unless_present = "listen")]
    pub socket: Option<PathBuf>,
    /// Accept controller connections on this TCP address instead of a Unix socket (the
    /// Kubernetes backend: `127.0.0.1:PORT` in the pod, reached through port-forward).
    #[arg(long, conflicts_with = "socket")]
    pub listen: Option<std::net::SocketAddr>,
    /// The node this agent runs on, for holder ids and logs.
    #[arg(long)]
    pub node: String,
    /// The lock system to drive.
    #[arg(long, value_enum, default_value_t = LockKind::Redis)]
    pub lock: LockKind,
    /// The Redis server, `host:port` (for `--lock redis`).
    #[arg(long)]
    pub redis: Option<String>,
    /// Where the other lock systems' servers are.
    #[command(flatten)]
    pub endpoints: LockEndpoints,
    /// Where the `k8s-*` locks find the Kubernetes API.
    #[command(flatten)]
    pub kube: crate::locks::KubeAgentArgs,
    /// The resource, `host:port`.
    #[arg(long)]
    pub resource: String,
    /// Ask the lock for fencing tokens and send them with every resource access.
    #[arg(long, value_enum, default_value_t = Fencing::Off)]
    pub fencing: Fencing,
    /// The bound on each step (a lock call, a resource access), in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub op_timeout_ms: u64,
    /// Test-only: the optimistic workload's compare-and-set skips its version check.
    #[arg(long, hide = true)]
    pub optimistic_unsafe: bool,
    /// Where the plug-in is and what it is told (for `--lock external`).
    #[command(flatten)]
    pub plugin: PluginArgs,
}

/// PluginArgs are the agent's flags for `--lock external`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct PluginArgs {
    /// The plug-in to start, run with `sh -c "exec COMMAND"`.
    #[arg(long)]
    pub plugin_command: Option<String>,
    /// The plug-in's working directory.
    #[arg(long)]
    pub plugin_dir: Option<PathBuf>,
    /// An environment variable for the plug-in, `NAME=VALUE`; repeatable.
    #[arg(long = "plugin-env", value_parser = parse_env_pair)]
    pub plugin_env: Vec<(String, String)>,
}

/// Parses `NAME=VALUE`.
fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "plugin-env={s:?}: expected NAME=VALUE, such as SPLITBRAIN_REDIS=10.77.0.1:6379"
        )),
    }
}

/// The environment variable that turns the agent's lease check on (`on`).
pub const LEASE_CHECK_ENV: &str = "SPLITBRAIN_LEASE_CHECK";

/// A ProcessSlot is the process the agent currently serves and the guard it holds.
struct ProcessSlot {
    process: u64,
    guard: Option<Guard>,
    /// When the guard's lease runs out by the agent's own clock (local Unix ms):
    /// the time the acquire was sent plus the TTL, as a lease-based client reckons it.
    lease_expires_ms: Option<f64>,
}

/// The agent's state; one mutex around it makes the agent execute one request at a
/// time, as the single client it stands for.
struct AgentState {
    node: String,
    lock: Box<dyn Lock>,
    resource: ResourceClient,
    /// The versioned store of the optimistic workload, when the lock system has one.
    store: Option<Box<dyn VersionedStore>>,
    fencing: bool,
    current: Option<ProcessSlot>,
    /// The local clock every lease decision reads; the nemesis can skew it.
    clock: Arc<Clock>,
    /// Refuse resource access once the lease ran out by `clock`.
    lease_check: bool,
    /// The latest grants' holder ids and the process each went to, newest last, so a
    /// notice about a grant can name its process after the process was retired.
    recent_grants: std::collections::VecDeque<(String, u64)>,
}

/// How many grants [`AgentState::recent_grants`] remembers.
const RECENT_GRANTS: usize = 64;

/// An AgentServer is a bound agent, ready to serve.
pub struct AgentServer {
    listener: Listener,
    socket: PathBuf,
    state: Arc<Mutex<AgentState>>,
}

impl AgentServer {
    /// Builds the lock client and binds the socket, replacing a stale socket file left
    /// by a killed agent.
    pub async fn bind(args: &AgentArgs) -> Result<AgentServer, Error> {
        if args.op_timeout_ms == 0 {
            return Err(Error::Config {
                name: "op-timeout-ms",
                value: "0".into(),
                hint: "give a bound above 0, such as 1000".into(),
            });
        }
        let clock = Arc::new(Clock::from_env());
        let kube_api = if uses_builtin_kube_client(args.lock) {
            Some(args.kube.api_for(&args.node).await?)
        } else {
            None
        };
        let (lock, store) = if args.lock.system().is_plugin() {
            build_plugin_lock_and_store(args)?
        } else {
            let lock = build_lock(args, kube_api.clone(), clock.clone())?;
            (lock, build_store(args, kube_api.as_ref())?)
        };
        if let Err(e) = lock.prepare().await {
            tracing::warn!(error = %e, "the lock client could not get ready; its first op will try again");
        }
        let listener = Listener::bind(args).await?;
        let socket = listener.address();
        let timeout = Duration::from_millis(args.op_timeout_ms);
        let state = AgentState {
            node: args.node.clone(),
            lock,
            resource: ResourceClient::new(args.resource.clone(), timeout),
            store,
            fencing: args.fencing.is_on(),
            current: None,
            clock,
            lease_check: std::env::var(LEASE_CHECK_ENV).is_ok_and(|v| v == "on"),
            recent_grants: Default::default(),
        };
        Ok(AgentServer {
            listener,
            socket,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The socket path (or, listening on TCP, the address as a path).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Serves controller connections until the task is dropped. Connection tasks are
    /// owned by this future, so dropping it closes every connection, as a killed agent
    /// would.
    pub async fn run(self) -> Result<(), Error> {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let state = Arc::clone(&self.state);
                    match accepted.map_err(|source| Error::Bind {
                        addr: self.socket.display().to_string(),
                        source,
                    })? {
                        Accepted::Unix(stream) => conns.spawn(serve_connection(stream, state)),
                        Accepted::Tcp(stream) => conns.spawn(serve_connection(stream, state)),
                    };
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    }
}

/// Runs the agent with `args` until it fails: what `splitbrain agent` does.
pub async fn serve(args: AgentArgs) -> Result<(), Error> {
    let server = AgentServer::bind(&args).await?;
    tracing::info!(socket = %server.socket().display(), node = %args.node, "agent listening");
    server.run().await
}

/// Whether the lock is one of splitbrain's own Kubernetes clients, which talk to the
/// API server of the agent's node.
fn uses_builtin_kube_client(kind: LockKind) -> bool {
    let system = kind.system();
    !system.is_plugin() && system.servers == [crate::locks::ServerSet::Kubernetes]
}

/// Builds the lock client; `kube_api` is the API server of a `k8s-*` lock.
fn build_lock(
    args: &AgentArgs,
    kube_api: Option<kube::Config>,
    clock: Arc<Clock>,
) -> Result<Box<dyn Lock>, Error> {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // Node, pid and start time: unique across agents and across restarts.
    let holder_prefix = format!("{}-{}-{started}", args.node, std::process::id());
    let options = LockOptions {
        fencing: args.fencing.is_on(),
        op_timeout: Duration::from_millis(args.op_timeout_ms),
        holder_prefix,
    };
    match args.lock {
        LockKind::K8sLease | LockKind::K8sConfigmap | LockKind::K8sLeaseManager => {
            let api = kube_api.ok_or_else(|| Error::Config {
                name: "kubeconfig",
                value: "(missing)".into(),
                hint: "the k8s locks need --kubeconfig FILE[,...]".into(),
            })?;
            crate::locks::kube_lock_for_agent(args, api, crate::locks::elector_clocks(clock))
        }
        LockKind::Redis => {
            let addr = args.redis.clone().ok_or_else(|| Error::Config {
                name: "redis",
                value: "(missing)".into(),
                hint: "--lock redis needs --redis host:port".into(),
            })?;
            let cfg = RedisLockConfig {
                addr,
                fencing: options.fencing,
                op_timeout: options.op_timeout,
                holder_prefix: options.holder_prefix,
            };
            let lock = RedisLock::new(cfg).map_err(|source| Error::Lock { source })?;
            Ok(Box::new(lock.with_clock(clock)))
        }
        other => crate::locks::build(other, &args.endpoints, options),
    }
}

/// The optimistic workload's store on the lock system's servers: a Lua
/// compare-and-set on Redis, a transaction comparing mod_revision on etcd, a ConfigMap
/// PUT with its resourceVersion on Kubernetes.
fn build_store(
    args: &AgentArgs,
    kube_api: Option<&kube::Config>,
) -> Result<Option<Box<dyn VersionedStore>>, Error> {
    let timeout = Duration::from_millis(args.op_timeout_ms);
    match (&args.lock, &args.redis) {
        (LockKind::Redis, Some(addr)) => {
            let store = RedisVersionedStore::new(addr, timeout, args.optimistic_unsafe)
                .map_err(|source| Error::Lock { source })?;
            Ok(Some(Box::new(store)))
        }
        (LockKind::Etcd, _) if !args.endpoints.etcd.is_empty() => {
            let store =
                EtcdVersionedStore::new(&args.endpoints.etcd, timeout, args.optimistic_unsafe)
                    .map_err(|source| Error::Lock { source })?;
            Ok(Some(Box::new(store)))
        }
        (LockKind::K8sLease | LockKind::K8sConfigmap | LockKind::K8sLeaseManager, _) => {
            let Some(api) = kube_api else {
                return Ok(None);
            };
            let ns = &args.kube.kube_namespace;
            let store = KubeVersionedStore::new(api, ns, timeout, args.optimistic_unsafe)
                .map_err(|source| Error::Lock { source })?;
            Ok(Some(Box::new(store)))
        }
        _ => Ok(None),
    }
}

/// Node, pid and start time: unique across agents and across restarts.
fn holder_prefix(node: &str) -> String {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{node}-{}-{started}", std::process::id())
}

/// A plug-in's lock and, for a lock whose description has a versioned store, the same
/// plug-in process as the optimistic workload's store (its `read` and `cas`).
type LockAndStore = (Box<dyn Lock>, Option<Box<dyn VersionedStore>>);

fn build_plugin_lock_and_store(args: &AgentArgs) -> Result<LockAndStore, Error> {
    let plugin = build_external(args)?;
    let store = args
        .lock
        .has_versioned_store()
        .then(|| Box::new(plugin.clone()) as Box<dyn VersionedStore>);
    Ok((Box::new(plugin), store))
}

fn build_external(args: &AgentArgs) -> Result<ExternalLock, Error> {
    let command = args
        .plugin
        .plugin_command
        .clone()
        .ok_or_else(|| Error::Config {
            name: "plugin-command",
            value: "(missing)".into(),
            hint: "--lock external needs --plugin-command \"python3 path/to/lock.py\"".into(),
        })?;
    let mut env = vec![
        ("SPLITBRAIN_NODE".to_string(), args.node.clone()),
        (
            "SPLITBRAIN_FENCING".to_string(),
            if args.fencing.is_on() { "on" } else { "off" }.to_string(),
        ),
    ];
    env.extend(
        args.plugin
            .plugin_env
            .iter()
            .map(|(name, value)| (name.clone(), plugin_env_for_node(name, value, &args.node))),
    );
    let cfg = ExternalLockConfig {
        command,
        dir: args.plugin.plugin_dir.clone(),
        env,
        op_timeout: Duration::from_millis(args.op_timeout_ms),
        holder_prefix: holder_prefix(&args.node),
    };
    ExternalLock::new(cfg).map_err(|source| Error::Lock { source })
}

/// The value of a plug-in's server variable for the agent on `node`: the kubeconfig
/// list (one per node, as the built-in `k8s-*` clients get it) becomes this node's
/// file; every other variable is passed as it is.
fn plugin_env_for_node(name: &str, value: &str, node: &str) -> String {
    if name != KUBECONFIG_ENV {
        return value.to_string();
    }
    let files: Vec<&str> = value.split(',').collect();
    crate::locks::pick_for_node(&files, node).map_or_else(|| value.to_string(), |f| f.to_string())
}

/// The plug-in variable naming the kubeconfig of the node's own API server.
pub const KUBECONFIG_ENV: &str = "SPLITBRAIN_KUBECONFIG";

/// Removes the socket file a killed agent left at `path`. Anything that is not a socket
/// is left alone: a mistyped path must not delete someone's file.
fn remove_stale_socket(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(bind_error(path, source)),
    };
    if !meta.file_type().is_socket() {
        return Err(Error::Config {
            name: "socket",
            value: path.display().to_string(),
            hint: "a file that is not a socket is in the way; give a path in the run \
                   directory"
                .into(),
        });
    }
    std::fs::remove_file(path).map_err(|source| bind_error(path, source))
}

fn bind_error(path: &Path, source: std::io::Error) -> Error {
    Error::Bind {
        addr: path.display().to_string(),
        source,
    }
}

/// Where an agent accepts the controller.
enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// A connection a [`Listener`] accepted.
enum Accepted {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

impl Listener {
    /// Binds `--listen` when given, else `--socket` (replacing a stale socket file).
    async fn bind(args: &AgentArgs) -> Result<Listener, Error> {
        if let Some(addr) = args.listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind {
                    addr: addr.to_string(),
                    source,
                })?;
            return Ok(Listener::Tcp(listener));
        }
        let Some(socket) = &args.socket else {
            return Err(Error::Config {
                name: "socket",
                value: String::new(),
                hint: "give --socket PATH or --listen HOST:PORT".into(),
            });
        };
        remove_stale_socket(socket)?;
        let listener = UnixListener::bind(socket).map_err(|source| bind_error(socket, source))?;
        Ok(Listener::Unix(listener))
    }

    /// The socket path, or the TCP address as a path, for messages.
    fn address(&self) -> PathBuf {
        match self {
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_path_buf))
                .unwrap_or_default(),
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| PathBuf::from(a.to_string()))
                .unwrap_or_default(),
        }
    }

    async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| Accepted::Tcp(s)),
        }
    }
}

async fn serve_connection<S>(stream: S, state: Arc<Mutex<AgentState>>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<AgentRequest>(&line) {
            Ok(req) => state.lock().await.handle(req).await,
            Err(e) => bad_request(&line, &e),
        };
        let mut out = serde_json::to_vec(&reply).expect("a reply always serializes");
        out.push(b'\n');
        if write.write_all(&out).await.is_err() {
            break;
        }
    }
}

/// A request that does not parse was not executed: a definite failure, with its id if
/// one can be found.
fn bad_request(line: &str, e: &serde_json::Error) -> AgentReply {
    let id = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_u64))
        .unwrap_or(0);
    AgentReply::fail(
        id,
        format!(
            "bad request: {e} (expected {{\"id\":N,\"process\":P,\"op\":\"acquire|read|write|release|renew|cas-read|cas|ready|notices\",...}})"
        ),
    )
}

impl AgentState {
    async fn handle(&mut self, req: AgentRequest) -> AgentReply {
        let id = req.id;
        let reply = self.execute(id, req.process, req.command).await;
        AgentReply {
            notices: self.notices(),
            ..reply
        }
    }

    /// Runs one command for `process`, first forgetting the previous process's guard
    /// if `process` is a new one and the command acts for it.
    async fn execute(&mut self, id: u64, process: u64, command: Command) -> AgentReply {
        if command.acts_for_a_process() && self.current.as_ref().map(|c| c.process) != Some(process)
        {
            tracing::debug!(process, node = %self.node, "serving a new process");
            // A new process id: the previous process was retired; its guard is
            // forgotten (the lock may still be held until its TTL runs out).
            self.current = Some(ProcessSlot {
                process,
                guard: None,
                lease_expires_ms: None,
            });
        }
        let f = command.f();
        let reply = match command {
            Command::Acquire { key, ttl_ms } => self.acquire(id, process, &key, ttl_ms).await,
            Command::Read => self.read(id, process).await,
            Command::Write { value } => self.write(id, process, value).await,
            Command::Release => self.release(id, process).await,
            Command::Renew { ttl_ms } => self.renew(id, process, ttl_ms).await,
            Command::CasRead { key } => self.cas_read(id, &key).await,
            Command::Cas { key, from, to } => self.cas(id, &key, from, to).await,
            Command::Ready { within_ms } => self.ready(id, within_ms).await,
            // The notices every reply carries are the answer.
            Command::Notices => AgentReply::ok(id, Value::Null, None),
        };
        tracing::debug!(id, process, f, outcome = ?reply.outcome, error = ?reply.error, "done");
        reply
    }

    /// Whether the lock client said within `within_ms` that it can take requests: ok, or
    /// a failure saying why not (the run goes on either way).
    async fn ready(&self, id: u64, within_ms: u64) -> AgentReply {
        let started = std::time::Instant::now();
        match self.lock.ready(Duration::from_millis(within_ms)).await {
            Ok(()) => {
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(node = %self.node, after_ms = ms, "the lock client is ready");
                AgentReply::ok(id, ms.into(), None)
            }
            Err(e) => {
                tracing::warn!(node = %self.node, error = %e, "the lock client did not say it is ready");
                AgentReply::fail(id, e.to_string())
            }
        }
    }

    /// The lock client's notices since the previous reply, each with the process its
    /// grant went to.
    fn notices(&self) -> Vec<AgentNotice> {
        let now = std::time::Instant::now();
        self.lock
            .take_notices()
            .into_iter()
            .map(|n| AgentNotice {
                process: self
                    .recent_grants
                    .iter()
                    .rev()
                    .find(|(holder, _)| *holder == n.holder)
                    .map(|(_, process)| *process),
                holder: n.holder,
                token: n.token,
                detail: n.detail,
                age_ms: u64::try_from(now.duration_since(n.received).as_millis()).unwrap_or(0),
            })
            .collect()
    }

    fn remember_grant(&mut self, holder: &str, process: u64) {
        if self.recent_grants.len() == RECENT_GRANTS {
            self.recent_grants.pop_front();
        }
        self.recent_grants.push_back((holder.to_string(), process));
    }

    fn guard(&self) -> Option<&Guard> {
        self.current.as_ref().and_then(|c| c.guard.as_ref())
    }

    fn not_holder(&self, id: u64, process: u64) -> AgentReply {
        AgentReply::fail(
            id,
            format!(
                "not the holder: process={process} holds no lock on node={}",
                self.node
            ),
        )
    }

    /// The token to show the resource: the guard's, only when fencing is on.
    fn token(&self) -> Option<u64> {
        if self.fencing {
            self.guard().and_then(|g| g.token)
        } else {
            None
        }
    }

    async fn acquire(&mut self, id: u64, process: u64, key: &str, ttl_ms: u64) -> AgentReply {
        if let Some(g) = self.guard() {
            let held = &g.key;
            return AgentReply::fail(
                id,
                format!("already holding: process={process} key={held} (release first)"),
            );
        }
        // Counted from before the request: the server's TTL may start any time after.
        let sent_ms = self.clock.now_unix_ms();
        let guard = match self.lock.acquire(key, Duration::from_millis(ttl_ms)).await {
            Ok(guard) => guard,
            Err(e) => return lock_error_reply(id, &e),
        };
        let token = guard.token;
        self.remember_grant(&guard.holder_id, process);
        if let Some(slot) = self.current.as_mut() {
            slot.guard = Some(guard);
            slot.lease_expires_ms = Some(sent_ms + ttl_ms as f64);
        }
        match self.resource.enter(process, self.token()).await {
            Ok(()) => AgentReply::ok(id, Value::String(key.to_string()), token),
            // The lock was granted but the critical section could not be announced:
            // the acquire took effect, the section's start is unknown.
            Err(e) => AgentReply::info(id, format!("acquired but resource enter failed: {e}")),
        }
    }

    /// With the lease check on, a definite failure when the lease has run out by the
    /// agent's clock: the access is not sent. A skewed clock makes this check lie.
    fn lease_expired(&self, id: u64, process: u64) -> Option<AgentReply> {
        if !self.lease_check {
            return None;
        }
        let expires = self.current.as_ref()?.lease_expires_ms?;
        let now = self.clock.now_unix_ms();
        (now >= expires).then(|| {
            AgentReply::fail(
                id,
                format!(
                    "lease expired by the local clock: process={process} now_ms={now:.0} expires_ms={expires:.0} (access not sent)"
                ),
            )
        })
    }

    async fn read(&mut self, id: u64, process: u64) -> AgentReply {
        if self.guard().is_none() {
            return self.not_holder(id, process);
        }
        if let Some(reply) = self.lease_expired(id, process) {
            return reply;
        }
        let token = self.token();
        match self.resource.read(process, token).await {
            Ok(v) => AgentReply::ok(id, v.into(), self.guard().and_then(|g| g.token)),
            Err(e) => resource_error_reply(id, &e),
        }
    }

    async fn write(&mut self, id: u64, process: u64, value: i64) -> AgentReply {
        if self.guard().is_none() {
            return self.not_holder(id, process);
        }
        if let Some(reply) = self.lease_expired(id, process) {
            return reply;
        }
        let token = self.token();
        match self.resource.write(process, token, value).await {
            Ok(()) => AgentReply::ok(id, value.into(), self.guard().and_then(|g| g.token)),
            Err(e) => resource_error_reply(id, &e),
        }
    }

    async fn release(&mut self, id: u64, process: u64) -> AgentReply {
        let token = self.token();
        let Some(guard) = self.current.as_mut().and_then(|c| c.guard.take()) else {
            return self.not_holder(id, process);
        };
        // Exit first: the critical section ends before the lock is given up.
        let exit = self.resource.exit(process, token).await;
        let released = self.lock.release(&guard).await;
        match (released, exit) {
            (Err(e), _) => lock_error_reply(id, &e),
            (Ok(()), Ok(())) => AgentReply::ok(id, Value::String(guard.key.clone()), guard.token),
            (Ok(()), Err(e)) => {
                AgentReply::info(id, format!("released but resource exit failed: {e}"))
            }
        }
    }
}

impl AgentState {
    async fn renew(&mut self, id: u64, process: u64, ttl_ms: u64) -> AgentReply {
        let Some(guard) = self.guard().cloned() else {
            return self.not_holder(id, process);
        };
        match self.lock.renew(&guard, Duration::from_millis(ttl_ms)).await {
            Ok(()) => AgentReply::ok(id, Value::String(guard.key.clone()), guard.token),
            Err(e) => lock_error_reply(id, &e),
        }
    }

    fn no_store(&self, id: u64) -> AgentReply {
        AgentReply::fail(
            id,
            format!(
                "unsupported: lock={} has no versioned store for the optimistic workload \
                 (supported: {})",
                self.lock.name(),
                LockKind::versioned_store_names()
            ),
        )
    }

    async fn cas_read(&mut self, id: u64, key: &str) -> AgentReply {
        let Some(store) = self.store.as_ref() else {
            return self.no_store(id);
        };
        match store.read(key).await {
            Ok(v) => AgentReply::ok(id, v.into(), None),
            Err(e) => lock_error_reply(id, &e),
        }
    }

    async fn cas(&mut self, id: u64, key: &str, from: i64, to: i64) -> AgentReply {
        let Some(store) = self.store.as_ref() else {
            return self.no_store(id);
        };
        match store.cas(key, from, to).await {
            Ok(swapped) => AgentReply::ok(id, Value::Bool(swapped), None),
            Err(e) => lock_error_reply(id, &e),
        }
    }
}

fn lock_error_reply(id: u64, e: &LockError) -> AgentReply {
    match e.certainty() {
        Certainty::Definite => AgentReply::fail(id, e.to_string()),
        Certainty::Indeterminate => AgentReply::info(id, e.to_string()),
    }
}

fn resource_error_reply(id: u64, e: &ResourceError) -> AgentReply {
    match e.certainty() {
        Certainty::Definite => AgentReply::fail(id, e.to_string()),
        Certainty::Indeterminate => AgentReply::info(id, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_gets_the_kubeconfig_of_its_own_node_and_other_variables_unchanged() {
        let list = "/s/agent-n1.kubeconfig,/s/agent-n2.kubeconfig";
        assert_eq!(
            plugin_env_for_node(KUBECONFIG_ENV, list, "n2"),
            "/s/agent-n2.kubeconfig"
        );
        assert_eq!(
            plugin_env_for_node("SPLITBRAIN_ETCD", "a:1,b:2", "n2"),
            "a:1,b:2"
        );
    }
}
