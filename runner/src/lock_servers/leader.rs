//! Which node the lock service's leader is on, for the nemesis's `isolate-leader` and
//! `-leader` targets. Each system is asked the way its operators ask: etcd members their
//! maintenance status, ZooKeeper servers `srvr`, the sentinels which primary they follow,
//! Hazelcast members their status port (the default CP group's Raft leader, or with the
//! CP Subsystem off the owner of the lock's partition). Locks without a leader (a single
//! Redis, Redlock's independent primaries, plug-ins on other servers) have none.

use super::LockServers;
use super::etcd::{ETCD_CLIENT_PORT, ETCD_MEMBERS};
use super::hazelcast::HAZELCAST_STATUS_PORT;
use super::sentinel::MASTER_NAME;
use super::wait::{exchange, redis_request};
use splitbrain_nemesis::Cluster;
use splitbrain_workloads::locks::ServerSet;
use std::net::{IpAddr, SocketAddr};

/// The node of the leader of the run's servers now (the first of `sets` that has
/// one), if one is known.
pub fn leader_node(
    sets: &[ServerSet],
    cluster: &dyn Cluster,
    servers: &LockServers,
) -> Option<String> {
    let leader_ip = sets.iter().find_map(|set| match set {
        ServerSet::Etcd | ServerSet::Kubernetes => etcd_leader(cluster),
        ServerSet::Zookeeper => zookeeper_leader(cluster, servers),
        ServerSet::RedisSentinel => sentinel_primary(cluster, servers),
        ServerSet::Hazelcast | ServerSet::HazelcastNoCp => hazelcast_leader(cluster, servers),
        ServerSet::Redis | ServerSet::Redlock => None,
    })?;
    node_of(cluster, leader_ip)
}

/// The member whose id is the leader id its own status reports. Asked from the
/// member's own node, so a partition does not hide a member from the question.
fn etcd_leader(cluster: &dyn Cluster) -> Option<IpAddr> {
    for node in cluster.nodes().iter().take(ETCD_MEMBERS) {
        let addr = SocketAddr::new(node.addr.into(), ETCD_CLIENT_PORT);
        let request = b"POST /v3/maintenance/status HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        let Ok(reply) = exchange(cluster, &node.name, addr, request) else {
            continue;
        };
        let Some(status) = reply
            .split("\r\n\r\n")
            .nth(1)
            .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        else {
            continue;
        };
        let member = status["header"]["member_id"].as_str();
        if member.is_some() && member == status["leader"].as_str() {
            return Some(node.addr.into());
        }
    }
    None
}

/// The member whose status port says `leader`, asked from the member's own node.
fn hazelcast_leader(cluster: &dyn Cluster, servers: &LockServers) -> Option<IpAddr> {
    servers
        .ready_addrs
        .iter()
        .filter(|(name, _)| name.starts_with("hazelcast-"))
        .find_map(|(_, addr)| {
            let from = node_of(cluster, addr.ip())?;
            let status = SocketAddr::new(addr.ip(), HAZELCAST_STATUS_PORT);
            let reply = exchange(cluster, &from, status, b"").ok()?;
            (reply.trim() == "leader").then_some(addr.ip())
        })
}

/// The server that says `Mode: leader`.
fn zookeeper_leader(cluster: &dyn Cluster, servers: &LockServers) -> Option<IpAddr> {
    servers.ready_addrs.iter().find_map(|(_, addr)| {
        let from = node_of(cluster, addr.ip())?;
        let reply = exchange(cluster, &from, *addr, b"srvr").ok()?;
        reply
            .lines()
            .any(|l| l.trim() == "Mode: leader")
            .then_some(addr.ip())
    })
}

/// The primary the first answering sentinel names.
fn sentinel_primary(cluster: &dyn Cluster, servers: &LockServers) -> Option<IpAddr> {
    let request = redis_request(&format!("SENTINEL get-master-addr-by-name {MASTER_NAME}"));
    servers
        .ready_addrs
        .iter()
        .filter(|(name, _)| name.starts_with("sentinel"))
        .find_map(|(_, addr)| {
            let from = node_of(cluster, addr.ip())?;
            let reply = exchange(cluster, &from, *addr, &request).ok()?;
            // An array reply: *2, $len, ip, $len, port.
            reply.lines().nth(2)?.trim().parse::<IpAddr>().ok()
        })
}

fn node_of(cluster: &dyn Cluster, ip: IpAddr) -> Option<String> {
    cluster
        .nodes()
        .iter()
        .find(|n| IpAddr::from(n.addr) == ip)
        .map(|n| n.name.clone())
}
