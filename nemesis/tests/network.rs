//! The local backend's network: namespaces, the bridge, addresses and partitions, checked
//! with real TCP connections between real processes in the namespaces.

mod common;

use common::*;
use splitbrain_nemesis::local::{LocalCluster, LocalConfig};
use splitbrain_nemesis::probe::reachability;
use splitbrain_nemesis::{Cluster, ClusterError, Grudge, Node, ProcessKind};
use std::time::{Duration, Instant};

// Generous: a busy 2-core machine must not turn a slow answer into a "cut" pair.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

fn all_nodes(cluster: &LocalCluster) -> Vec<Node> {
    let mut nodes = cluster.nodes().to_vec();
    nodes.push(cluster.resource_node().clone());
    nodes
}

#[test]
fn a_five_node_cluster_is_fully_connected_and_a_partition_cuts_exactly_the_grudged_pairs() {
    require_root();
    let started = Instant::now();
    let cluster = up("net5", 5);
    let up_elapsed = started.elapsed();
    assert!(
        up_elapsed < Duration::from_secs(3),
        "up took {up_elapsed:?}"
    );
    let nodes = all_nodes(&cluster);
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    start_listeners(&cluster, &names, ProcessKind::Agent);

    let before = reachability(cluster.as_ref(), &nodes, PORT, PROBE_TIMEOUT);
    assert_eq!(before.len(), 30);
    assert!(
        before.values().all(|ok| *ok),
        "not fully connected: {before:?}"
    );

    let node_names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
    let grudge = Grudge::halves(&node_names, false);
    let t = Instant::now();
    cluster.partition(&grudge).unwrap();
    eprintln!("partition applied in {:?}", t.elapsed());
    let during = reachability(cluster.as_ref(), &nodes, PORT, PROBE_TIMEOUT);
    for ((from, to), ok) in &during {
        assert_eq!(
            *ok,
            !grudge.cuts(from, to),
            "{from}->{to} reachable={ok} under {grudge:?}"
        );
    }
    // The resource node is never cut off.
    assert!(
        during
            .iter()
            .filter(|((a, b), _)| a == "resource" || b == "resource")
            .all(|(_, ok)| *ok)
    );
    assert_eq!(during.values().filter(|ok| !**ok).count(), 12);

    let t = Instant::now();
    cluster.heal().unwrap();
    eprintln!("healed in {:?}", t.elapsed());
    let after = reachability(cluster.as_ref(), &nodes, PORT, PROBE_TIMEOUT);
    assert!(after.values().all(|ok| *ok), "not healed: {after:?}");

    let t = Instant::now();
    cluster.teardown().unwrap();
    let down = t.elapsed();
    eprintln!("5 nodes: up {up_elapsed:?}, down {down:?}");
    assert!(down < Duration::from_secs(2), "teardown took {down:?}");
}

#[test]
fn a_partitioned_connection_times_out_instead_of_being_refused() {
    require_root();
    let cluster = up("drop", 2);
    start_listeners(&cluster, &["n2"], ProcessKind::LockServer);
    let names = vec!["n1".to_string(), "n2".to_string()];
    cluster.partition(&Grudge::isolate("n2", &names)).unwrap();
    let to = (cluster_addr(&cluster, "n2"), PORT).into();
    let t = Instant::now();
    let err = cluster
        .connect("n1", to, Duration::from_millis(400))
        .unwrap_err();
    let ClusterError::Io { source, .. } = &err else {
        panic!("expected an io error, got {err}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(t.elapsed() >= Duration::from_millis(350));
    // A port with no listener on a reachable node is refused at once: the difference
    // a partition makes.
    cluster.heal().unwrap();
    let closed = (cluster_addr(&cluster, "n2"), PORT + 1).into();
    let err = cluster
        .connect("n1", closed, Duration::from_millis(400))
        .unwrap_err();
    let ClusterError::Io { source, .. } = &err else {
        panic!("expected an io error, got {err}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_second_partition_replaces_the_first_and_one_way_grudges_cut_one_direction() {
    require_root();
    let cluster = up("repl", 3);
    let nodes = cluster.nodes().to_vec();
    start_listeners(&cluster, &["n1", "n2", "n3"], ProcessKind::Agent);
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    cluster.partition(&Grudge::isolate("n1", &names)).unwrap();
    // n3 drops n2's packets only: n2 cannot reach n3, and n3's SYN-ACKs to n2 are lost
    // too, so neither direction connects; n1 is whole again.
    let one_way = Grudge::from_entries([("n3", vec!["n2"])]);
    cluster.partition(&one_way).unwrap();
    let r = reachability(cluster.as_ref(), &nodes, PORT, PROBE_TIMEOUT);
    let key = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert!(r[&key("n1", "n2")] && r[&key("n2", "n1")] && r[&key("n1", "n3")]);
    assert!(!r[&key("n2", "n3")] && !r[&key("n3", "n2")]);
}

#[test]
fn bad_configurations_and_names_are_refused_with_the_offending_value() {
    let mut cfg = LocalConfig::new("x", 3);
    cfg.subnet = "8.8.8.0/24".into();
    let err = LocalCluster::up(cfg).err().unwrap().to_string();
    assert!(err.contains("subnet=8.8.8.0/24"), "{err}");
    let err = LocalCluster::up(LocalConfig::new("Bad Id", 3))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("run_id=Bad Id"), "{err}");
    require_root();
    let cluster = up("names", 1);
    let err = cluster
        .spawn(
            "n9",
            spec(&cluster, "x", ProcessKind::Agent, "sleep", &["1"]),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("node=n9") && err.contains("n1,resource"),
        "{err}"
    );
    let err = cluster
        .partition(&Grudge::from_entries([("n1", vec!["resource"])]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("node=resource"), "{err}");
    assert!(matches!(
        cluster.kill("nobody"),
        Err(ClusterError::UnknownProcess { .. })
    ));
}

#[test]
fn a_run_id_in_use_is_refused_and_the_live_run_is_left_intact() {
    require_root();
    let cluster = up("dup", 1);
    let again = LocalCluster::up(LocalConfig::new(cluster.run_id(), 1));
    let err = again.err().expect("second up must fail").to_string();
    assert!(err.contains("in use by the live run"), "{err}");
    // The failed attempt must not have torn down what it found.
    assert_eq!(
        namespaces_with_prefix(&format!("sb-{}-", cluster.run_id())).len(),
        3
    );
    assert!(cluster.state_dir().exists());
}
