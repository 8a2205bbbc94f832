//! What runs where: the lock servers on the nodes, the resource on its own node, and one
//! agent per client spread over the nodes. Every process is started through the
//! [`Cluster`], so the nemesis can pause, kill and restart it.

use crate::lock_servers::{self, LockServers};
use crate::{RunConfig, RunError};
use splitbrain_nemesis::{AgentChannel, Cluster, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The TCP port the resource listens on inside its node.
pub const RESOURCE_PORT: u16 = 7070;

/// An AgentEndpoint is how the controller reaches one client's agent.
#[derive(Clone, Debug)]
pub struct AgentEndpoint {
    /// The process name in the cluster (`agent-3`).
    pub name: String,
    /// The node it runs on.
    pub node: String,
    /// The Unix socket on this machine the controller connects to: the agent's own on the
    /// local backend (filesystem sockets cross network namespaces), a relay through the
    /// API's port-forward on the Kubernetes one; no partition cuts either.
    pub socket: PathBuf,
}

/// Services is what a run started: the lock servers, the resource and the agents.
#[derive(Clone, Debug)]
pub struct Services {
    /// The lock system's servers.
    pub lock: LockServers,
    /// The resource's address.
    pub resource_addr: SocketAddr,
    /// One agent per client slot, in slot order.
    pub agents: Vec<AgentEndpoint>,
}

/// Starts the lock system's servers, the resource on the resource node, and the agents.
/// `state` is scratch space removed at teardown; `run_dir` keeps logs and resource.jsonl.
pub fn start(
    cluster: &dyn Cluster,
    cfg: &RunConfig,
    run_dir: &Path,
    state: &Path,
) -> Result<Services, RunError> {
    let me = cluster.splitbrain_program()?;
    let settings = lock_servers::ServerSettings {
        server_clocks: has_clock_faults(cfg),
        ttl: cfg.ttl,
    };
    let lock = lock_servers::start(
        cfg.lock,
        crate::run::plugin_servers(cfg),
        cluster,
        (run_dir, state),
        settings,
    )?;
    let res_node = cluster.resource_node().clone();
    let resource_addr = SocketAddr::new(res_node.addr.into(), RESOURCE_PORT);
    cluster.spawn(
        &res_node.name,
        ProcessSpec {
            name: "resource".into(),
            kind: ProcessKind::Resource,
            program: me.clone(),
            args: vec![
                "resource".into(),
                "--listen".into(),
                resource_addr.to_string(),
                "--log".into(),
                run_dir.join("resource.jsonl").display().to_string(),
                "--fencing".into(),
                on_off(cfg.fencing).into(),
            ],
            env: vec![],
            log: run_dir.join("logs/resource.log"),
        },
    )?;

    let nodes = cluster.nodes().to_vec();
    let mut agents = Vec::with_capacity(cfg.clients);
    for slot in 0..cfg.clients {
        let node = &nodes[slot % nodes.len()];
        let name = format!("agent-{slot}");
        let channel =
            cluster.agent_channel(&node.name, &name, state.join(format!("{name}.sock")))?;
        let socket = channel.controller_socket.clone();
        cluster.spawn(
            &node.name,
            ProcessSpec {
                name: name.clone(),
                kind: ProcessKind::Agent,
                program: me.clone(),
                args: agent_args(cfg, &channel, &node.name, &lock, resource_addr),
                env: agent_env(cfg),
                log: run_dir.join(format!("logs/{name}.log")),
            },
        )?;
        agents.push(AgentEndpoint {
            name,
            node: node.name.clone(),
            socket,
        });
    }
    Ok(Services {
        lock,
        resource_addr,
        agents,
    })
}

fn agent_args(
    cfg: &RunConfig,
    channel: &AgentChannel,
    node: &str,
    lock: &LockServers,
    resource_addr: SocketAddr,
) -> Vec<String> {
    let mut args = vec!["agent".to_string()];
    args.extend(channel.agent_args.iter().cloned());
    args.extend([
        "--node".into(),
        node.into(),
        "--lock".into(),
        cfg.lock.name(),
        "--resource".into(),
        resource_addr.to_string(),
        "--fencing".into(),
        on_off(cfg.fencing).into(),
        "--op-timeout-ms".into(),
        agent_step_timeout(cfg).as_millis().to_string(),
    ]);
    args.extend(lock.agent_args.iter().cloned());
    if cfg.optimistic_unsafe {
        args.push("--optimistic-unsafe".into());
    }
    if let Some(plugin) = &cfg.plugin {
        args.extend([
            "--plugin-command".into(),
            plugin.command.clone(),
            "--plugin-dir".into(),
            plugin.dir.display().to_string(),
        ]);
    }
    args
}

/// The agent bounds each step (a lock call, a resource access) so that its own, more
/// precise answer arrives before the controller gives up on the op: acquire and release
/// are two steps each, so a third of the controller's bound.
fn agent_step_timeout(cfg: &RunConfig) -> std::time::Duration {
    (cfg.op_timeout / 3).max(std::time::Duration::from_millis(50))
}

/// The agent's environment: the lease check is a switch the CLI does not show the
/// agent's users (the cluster adds the clock file itself).
fn agent_env(cfg: &RunConfig) -> Vec<(String, String)> {
    let check = on_off(cfg.lease_check).to_string();
    vec![(
        splitbrain_workloads::agent::LEASE_CHECK_ENV.to_string(),
        check,
    )]
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Whether the run's nemesis mix skews clocks, so servers should start where the
/// nemesis can reach their clocks.
fn has_clock_faults(cfg: &RunConfig) -> bool {
    use splitbrain_nemesis::faults::{FaultKind, FaultMix};
    cfg.nemesis.join(",").parse::<FaultMix>().is_ok_and(|mix| {
        mix.faults
            .iter()
            .any(|f| matches!(f.kind, FaultKind::Clock(..)))
    })
}
