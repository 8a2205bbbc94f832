//! Three Hazelcast 5.4 members on the first three nodes, from the Maven jars of
//! `plugins/hazelcast` (`hazelcast-member`, built by `scripts/build-plugins`), joined
//! over TCP/IP with the CP Subsystem on (a 3-member CP group, whose FencedLock is held
//! for as long as its holder's CP session lives) or off (FencedLock's unsafe mode).
//!
//! The CP session's time-to-live plays the lease's role, so the members get the run's
//! TTL as it; the plug-in's clients keep their sessions alive with heartbeats.

use super::LockServers;
use super::wait::{READY_LIMIT, until_ready};
use crate::RunError;
use splitbrain_nemesis::{Cluster, Node, ProcessKind, ProcessSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The port a member serves members and clients on inside its node.
pub const HAZELCAST_PORT: u16 = 5701;
/// The member's status port: one line, `leader` or `follower` (or `unknown: why`),
/// whether it leads the lock (`lock_servers::leader`).
pub const HAZELCAST_STATUS_PORT: u16 = 5801;
/// How many members the cluster has when the run has enough nodes.
pub const HAZELCAST_MEMBERS: usize = 3;
/// The line a member prints once it has joined and, with the CP Subsystem on, the CP
/// group has formed.
pub const READY_LINE: &str = "hazelcast-member ready";
/// The program `scripts/build-plugins` installs for a member.
const MEMBER_PROGRAM: &str = "hazelcast-member";

/// The built member program, or the error saying how to build it.
pub fn member_program() -> Result<PathBuf, RunError> {
    super::plugin_program(MEMBER_PROGRAM)
}

/// Starts the members, waits until each says it is ready, and returns the flag whose
/// value a plug-in gets as `SPLITBRAIN_HAZELCAST`.
pub fn start(
    cluster: &dyn Cluster,
    run_dir: &Path,
    cp_subsystem: bool,
    session_ttl: Duration,
) -> Result<LockServers, RunError> {
    let program = member_program()?;
    let members: Vec<Node> = cluster
        .nodes()
        .iter()
        .take(HAZELCAST_MEMBERS)
        .cloned()
        .collect();
    let addrs: Vec<(String, SocketAddr)> = members
        .iter()
        .map(|n| {
            let addr = SocketAddr::new(n.addr.into(), HAZELCAST_PORT);
            (format!("hazelcast-{}", n.name), addr)
        })
        .collect();
    let list = join_addrs(&addrs);
    let cp_members = if cp_subsystem { members.len() } else { 0 };
    let mut logs = Vec::new();
    for (node, (name, addr)) in members.iter().zip(&addrs) {
        let log = run_dir.join(format!("logs/{name}.log"));
        cluster.spawn(
            &node.name,
            ProcessSpec {
                name: name.clone(),
                kind: ProcessKind::LockServer,
                program: program.clone(),
                args: member_args(*addr, &list, cp_members, session_ttl),
                env: vec![("SPLITBRAIN_JAVA_OPTS".into(), JAVA_OPTS.into())],
                log: log.clone(),
            },
        )?;
        logs.push((name.clone(), node.name.clone(), log));
    }
    wait_ready(cluster, &logs)?;
    Ok(LockServers {
        agent_args: vec!["--hazelcast".into(), list],
        ready_addrs: addrs,
    })
}

/// A small heap and the serial collector keep three members within a CI machine.
const JAVA_OPTS: &str = "-Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1";

fn join_addrs(addrs: &[(String, SocketAddr)]) -> String {
    addrs
        .iter()
        .map(|(_, a)| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The member's command line: its own address, its peers, the CP group size (0: off),
/// and the CP session's TTL and heartbeat (a fifth of the TTL, at least a second: the
/// member rounds both to whole seconds).
fn member_args(
    addr: SocketAddr,
    members: &str,
    cp_members: usize,
    session_ttl: Duration,
) -> Vec<String> {
    let heartbeat = (session_ttl / 5).max(Duration::from_secs(1));
    vec![
        "--bind".into(),
        addr.ip().to_string(),
        "--port".into(),
        addr.port().to_string(),
        "--members".into(),
        members.into(),
        "--cluster-name".into(),
        "splitbrain".into(),
        "--cp-members".into(),
        cp_members.to_string(),
        "--session-ttl-ms".into(),
        session_ttl.as_millis().to_string(),
        "--heartbeat-ms".into(),
        heartbeat.as_millis().to_string(),
        "--status-port".into(),
        HAZELCAST_STATUS_PORT.to_string(),
    ]
}

/// Waits until every member's log (name, node, path) holds [`READY_LINE`], read where
/// the member runs.
fn wait_ready(cluster: &dyn Cluster, logs: &[(String, String, PathBuf)]) -> Result<(), RunError> {
    until_ready("hazelcast", READY_LIMIT + READY_LIMIT, || {
        for (name, node, log) in logs {
            let bytes = cluster.read_file(node, log).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            if !text.contains(READY_LINE) {
                let last = text.lines().last().unwrap_or("(nothing yet)").to_string();
                return Err(format!(
                    "member={name} not ready; its log's last line: {last}"
                ));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_told_its_peers_and_a_heartbeat_under_its_session_ttl() {
        let addr: SocketAddr = "10.77.0.2:5701".parse().unwrap();
        let args = member_args(addr, "a:1,b:2,c:3", 3, Duration::from_secs(10));
        let value = |flag: &str| {
            let i = args.iter().position(|a| a == flag).unwrap();
            args[i + 1].clone()
        };
        assert_eq!(value("--bind"), "10.77.0.2");
        assert_eq!(value("--members"), "a:1,b:2,c:3");
        assert_eq!(value("--cp-members"), "3");
        assert_eq!(value("--session-ttl-ms"), "10000");
        assert_eq!(value("--heartbeat-ms"), "2000");
        let short = member_args(addr, "a:1", 0, Duration::from_secs(2));
        assert!(short.contains(&"1000".to_string()), "{short:?}");
    }
}
