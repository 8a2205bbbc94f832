//! What runs where: the lock servers on the nodes, the resource on its own node, and one
//! agent per client spread over the nodes. Every process is started through the
//! [`Cluster`], so the nemesis can pause, kill and restart it.

use crate::{RunConfig, RunError};
use splitbrain_nemesis::{Cluster, ProcessKind, ProcessSpec};
use std::path::{Path, PathBuf};

/// The TCP port Redis listens on inside its node.
pub const REDIS_PORT: u16 = 6379;
/// The TCP port the resource listens on inside its node.
pub const RESOURCE_PORT: u16 = 7070;

/// An AgentEndpoint is how the controller reaches one client's agent.
#[derive(Clone, Debug)]
pub struct AgentEndpoint {
    /// The process name in the cluster (`agent-3`).
    pub name: String,
    /// The node it runs on.
    pub node: String,
    /// Its Unix socket: filesystem sockets cross network namespaces, so the controller is
    /// never partitioned from its agents.
    pub socket: PathBuf,
}

/// Services is what a run started: where the lock server listens and the agents.
#[derive(Clone, Debug)]
pub struct Services {
    /// `host:port` of the lock server.
    pub lock_addr: String,
    /// `host:port` of the resource.
    pub resource_addr: String,
    /// One agent per client slot, in slot order.
    pub agents: Vec<AgentEndpoint>,
}

/// Starts Redis on the first node, the resource on the resource node, and the agents.
/// `state` is scratch space removed at teardown; `run_dir` keeps logs and resource.jsonl.
pub fn start(
    cluster: &dyn Cluster,
    cfg: &RunConfig,
    run_dir: &Path,
    state: &Path,
) -> Result<Services, RunError> {
    let me = std::env::current_exe().map_err(RunError::io("/proc/self/exe"))?;
    let lock_node = cluster.nodes()[0].clone();
    let lock_addr = format!("{}:{REDIS_PORT}", lock_node.addr);
    start_redis(cluster, &lock_node.name, &lock_node.addr.to_string(), run_dir, state)?;

    let res_node = cluster.resource_node().clone();
    let resource_addr = format!("{}:{RESOURCE_PORT}", res_node.addr);
    cluster.spawn(
        &res_node.name,
        ProcessSpec {
            name: "resource".into(),
            kind: ProcessKind::Resource,
            program: me.clone(),
            args: vec![
                "resource".into(),
                "--listen".into(),
                resource_addr.clone(),
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
        let socket = state.join(format!("{name}.sock"));
        cluster.spawn(
            &node.name,
            ProcessSpec {
                name: name.clone(),
                kind: ProcessKind::Agent,
                program: me.clone(),
                args: agent_args(cfg, &socket, &node.name, &lock_addr, &resource_addr),
                env: vec![],
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
        lock_addr,
        resource_addr,
        agents,
    })
}

fn start_redis(
    cluster: &dyn Cluster,
    node: &str,
    addr: &str,
    run_dir: &Path,
    state: &Path,
) -> Result<(), RunError> {
    let data = state.join(format!("redis-{node}"));
    std::fs::create_dir_all(&data).map_err(RunError::io(&data))?;
    // The append-only file with fsync on every write keeps the lock and the fencing
    // counter across a kill and restart, as a lock service in production would be set
    // up; without it a restart hands out tokens from 1 again.
    let args = [
        "--bind", addr, "--port", &REDIS_PORT.to_string(), "--protected-mode", "no",
        "--save", "", "--appendonly", "yes", "--appendfsync", "always",
        "--dir", &data.display().to_string(), "--daemonize", "no",
    ];
    cluster.spawn(
        node,
        ProcessSpec {
            name: format!("redis-{node}"),
            kind: ProcessKind::LockServer,
            program: PathBuf::from("redis-server"),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            log: run_dir.join(format!("logs/redis-{node}.log")),
        },
    )?;
    Ok(())
}

fn agent_args(cfg: &RunConfig, socket: &Path, node: &str, lock_addr: &str, resource_addr: &str) -> Vec<String> {
    vec![
        "agent".into(),
        "--socket".into(),
        socket.display().to_string(),
        "--node".into(),
        node.into(),
        "--lock".into(),
        cfg.lock.as_str().into(),
        "--redis".into(),
        lock_addr.into(),
        "--resource".into(),
        resource_addr.into(),
        "--fencing".into(),
        on_off(cfg.fencing).into(),
        "--op-timeout-ms".into(),
        cfg.op_timeout.as_millis().to_string(),
    ]
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
