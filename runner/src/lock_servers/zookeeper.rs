//! A 3-server ZooKeeper ensemble on the first three nodes, run by hand from Debian's
//! jars (`QuorumPeerMain` with a `zoo.cfg` and a `myid` per server, as the zookeeper
//! package's own scripts would, but in the foreground so the nemesis can signal it).
//! tickTime is 500 ms, so sessions may last from 1 s (2 ticks) to 10 s (20 ticks).

use super::LockServers;
use super::wait::{READY_LIMIT, exchange, until_ready};
use crate::RunError;
use splitbrain_nemesis::{Cluster, Node, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The port ZooKeeper serves clients on inside its node.
pub const ZK_CLIENT_PORT: u16 = 2181;
/// The quorum (follower-to-leader) port.
pub const ZK_QUORUM_PORT: u16 = 2888;
/// The leader-election port.
pub const ZK_ELECTION_PORT: u16 = 3888;
/// How many servers the ensemble has when the run has enough nodes.
pub const ZK_SERVERS: usize = 3;
/// The jar with ZooKeeper's server, from the Debian `zookeeper` package.
pub const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";
/// The logging back end the server's slf4j calls go to.
pub const SLF4J_JAR: &str = "/usr/share/java/slf4j-simple.jar";

/// Files the ensemble needs besides `java`, with the Debian package of each.
pub const REQUIRED_FILES: &[(&str, &str)] = &[(ZK_JAR, "zookeeper"), (SLF4J_JAR, "libslf4j-java")];

/// Starts the ensemble, waits until every server is a leader or follower, and returns
/// the agents' `--zookeeper` flag.
/// With `under_faketime`, the JVMs run under libfaketime so clock faults reach them.
pub fn start(
    cluster: &dyn Cluster,
    run_dir: &Path,
    state: &Path,
    under_faketime: bool,
) -> Result<LockServers, RunError> {
    let env = if under_faketime {
        splitbrain_nemesis::local::faketime_env()?
    } else {
        vec![]
    };
    let servers: Vec<Node> = cluster.nodes().iter().take(ZK_SERVERS).cloned().collect();
    let mut addrs = Vec::new();
    for (i, node) in servers.iter().enumerate() {
        let cfg = write_config(&servers, i, state)?;
        let name = format!("zookeeper-{}", node.name);
        cluster.spawn(
            &node.name,
            ProcessSpec {
                name: name.clone(),
                kind: ProcessKind::LockServer,
                program: PathBuf::from("java"),
                args: java_args(&cfg),
                env: env.clone(),
                log: run_dir.join(format!("logs/{name}.log")),
            },
        )?;
        addrs.push((name, SocketAddr::new(node.addr.into(), ZK_CLIENT_PORT)));
    }
    wait_serving(cluster, &addrs)?;
    let list = addrs
        .iter()
        .map(|(_, a)| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    Ok(LockServers {
        agent_args: vec!["--zookeeper".into(), list],
        ready_addrs: addrs,
    })
}

/// Writes `zoo.cfg` and `myid` for server `i` (myid `i + 1`) into its own data
/// directory, which also holds its snapshots and transaction log across restarts.
fn write_config(servers: &[Node], i: usize, state: &Path) -> Result<PathBuf, RunError> {
    let node = &servers[i];
    let dir = state.join(format!("zookeeper-{}", node.name));
    std::fs::create_dir_all(&dir).map_err(RunError::io(&dir))?;
    let myid = dir.join("myid");
    std::fs::write(&myid, format!("{}\n", i + 1)).map_err(RunError::io(&myid))?;
    let mut cfg = format!(
        "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={ZK_CLIENT_PORT}\n\
         clientPortAddress={}\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,ruok\n\
         maxClientCnxns=0\n",
        dir.display(),
        node.addr
    );
    for (j, peer) in servers.iter().enumerate() {
        cfg.push_str(&format!(
            "server.{}={}:{ZK_QUORUM_PORT}:{ZK_ELECTION_PORT}\n",
            j + 1,
            peer.addr
        ));
    }
    let path = dir.join("zoo.cfg");
    std::fs::write(&path, cfg).map_err(RunError::io(&path))?;
    Ok(path)
}

/// A small heap and the serial collector keep three JVMs within a CI machine; C1 only
/// (`TieredStopAtLevel=1`) starts faster and spends less CPU compiling.
fn java_args(cfg: &Path) -> Vec<String> {
    vec![
        "-Xmx256m".into(),
        "-XX:+UseSerialGC".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-cp".into(),
        format!("{ZK_JAR}:{SLF4J_JAR}"),
        "org.apache.zookeeper.server.quorum.QuorumPeerMain".into(),
        cfg.display().to_string(),
    ]
}

/// Waits until every server answers `srvr` with its mode (leader or follower); a
/// server without a quorum answers that it is not serving requests.
fn wait_serving(cluster: &dyn Cluster, addrs: &[(String, SocketAddr)]) -> Result<(), RunError> {
    let from = cluster.nodes()[0].name.clone();
    until_ready("zookeeper", READY_LIMIT, || {
        for (name, addr) in addrs {
            let reply = exchange(cluster, &from, *addr, b"srvr")?;
            if !reply.contains("Mode: ") {
                let first = reply.lines().next().unwrap_or("(nothing)").to_string();
                return Err(format!("server={name} not serving: {first}"));
            }
        }
        Ok(())
    })
}
