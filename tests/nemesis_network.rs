//! Network faults on the local backend, measured from inside the nodes: every partition
//! shape cuts exactly the intended directed pairs (a UDP datagram per ordered pair, so
//! one-way cuts show), packet loss drops about the share asked, and latency delays even
//! connections opened before it. Real namespaces and nftables: these need root.

mod nemesis_support;

use nemesis_support::*;
use splitbrain_nemesis::faults::{FaultKind, PartitionShape, PlannedFault};
use splitbrain_nemesis::{Cluster, Grudge, ProcessKind};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

const UDP_PORT: u16 = 9100;

/// Which ordered pairs `(from, to)` of lock nodes deliver a UDP datagram.
type Delivery = BTreeMap<(String, String), bool>;

/// Sends three datagrams per ordered pair at once and sees which arrive.
fn delivery(h: &Harness) -> Delivery {
    let names = h.names();
    let sockets: Vec<(String, UdpSocket)> = names
        .iter()
        .map(|n| {
            let s = h
                .cluster
                .run_in_node(n, || UdpSocket::bind(("0.0.0.0", UDP_PORT)))
                .unwrap()
                .unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            (n.clone(), s)
        })
        .collect();
    for from in &names {
        let targets: Vec<_> = h
            .cluster
            .nodes()
            .iter()
            .filter(|n| &n.name != from)
            .cloned()
            .collect();
        h.cluster
            .run_in_node(from, || {
                let s = UdpSocket::bind(("0.0.0.0", 0)).unwrap();
                for _ in 0..3 {
                    for t in &targets {
                        let _ = s.send_to(from.as_bytes(), (t.addr, UDP_PORT));
                    }
                }
            })
            .unwrap();
    }
    // Every receiver reads at once: each waits out its timeout after the last datagram.
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|(to, socket)| {
            std::thread::spawn(move || {
                let mut from = Vec::new();
                let mut buf = [0u8; 64];
                while let Ok(n) = socket.recv(&mut buf) {
                    from.push(String::from_utf8_lossy(&buf[..n]).to_string());
                }
                (to, from)
            })
        })
        .collect();
    let mut seen = Delivery::new();
    for to in &names {
        for from in names.iter().filter(|f| *f != to) {
            seen.insert((from.clone(), to.clone()), false);
        }
    }
    for reader in readers {
        let (to, senders) = reader.join().unwrap();
        for from in senders {
            seen.insert((from, to.clone()), true);
        }
    }
    seen
}

/// What a grudge should deliver: `to` drops `from` or it arrives.
fn expected_from(grudge: &Grudge, names: &[String]) -> Delivery {
    let mut d = Delivery::new();
    for from in names {
        for to in names.iter().filter(|t| *t != from) {
            let dropped = grudge.dropped_by(to).is_some_and(|s| s.contains(from));
            d.insert((from.clone(), to.clone()), !dropped);
        }
    }
    d
}

/// The nodes each node hears from (itself included).
fn heard(d: &Delivery, names: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    names
        .iter()
        .map(|to| {
            let mut from: BTreeSet<String> = d
                .iter()
                .filter(|((_, t), ok)| t == to && **ok)
                .map(|((f, _), _)| f.clone())
                .collect();
            from.insert(to.clone());
            (to.clone(), from)
        })
        .collect()
}

fn symmetric(d: &Delivery) -> bool {
    d.iter()
        .all(|((f, t), ok)| d[&(t.clone(), f.clone())] == *ok)
}

/// The components of a symmetric delivery matrix, by size.
fn component_sizes(d: &Delivery, names: &[String]) -> Vec<usize> {
    let groups: BTreeSet<BTreeSet<String>> = heard(d, names).into_values().collect();
    let mut sizes: Vec<usize> = groups.iter().map(BTreeSet::len).collect();
    sizes.sort();
    sizes
}

/// Applies one partition fault through the nemesis, measures the cut while it is in
/// force and after its heal, and returns the measured cut and the recorded grudge.
async fn measure(h: &Harness, kind: FaultKind) -> (Delivery, Grudge) {
    let fault = first_planned(kind, &h.names());
    let running = h.start(vec![fault]);
    let op = h.wait_for_op("start-partition", "info").await;
    assert!(op.get("error").is_none(), "{kind}: {op}");
    let grudge: Grudge = serde_json::from_value(op["value"]["grudge"].clone()).unwrap();
    let during = tokio::task::block_in_place(|| delivery(h));
    running.stop().await;
    let after = tokio::task::block_in_place(|| delivery(h));
    assert!(
        after.values().all(|ok| *ok),
        "{kind}: not healed: {after:?}"
    );
    assert_eq!(
        during,
        expected_from(&grudge, &h.names()),
        "{kind}: measured cut differs from its grudge"
    );
    (during, grudge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partition_shape_cuts_exactly_its_intended_pairs() {
    require_root();
    let h = Harness::up("shapes", 5);
    h.spawn_idle("agent-x", "n4", ProcessKind::Agent);
    let names = h.names();
    let s = |v: &[&str]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<BTreeSet<String>>()
    };

    let (d, _) = measure(&h, FaultKind::Partition(PartitionShape::Halves)).await;
    let groups: BTreeSet<_> = heard(&d, &names).into_values().collect();
    assert_eq!(
        groups,
        BTreeSet::from([s(&["n1", "n2"]), s(&["n3", "n4", "n5"])])
    );

    let (d, _) = measure(&h, FaultKind::Partition(PartitionShape::RandomHalves)).await;
    assert!(symmetric(&d));
    assert_eq!(component_sizes(&d, &names), vec![2, 3]);

    for kind in [
        FaultKind::Partition(PartitionShape::One),
        FaultKind::PARTITION,
    ] {
        let (d, _) = measure(&h, kind).await;
        assert!(symmetric(&d));
        let sizes = component_sizes(&d, &names);
        assert!(
            sizes == vec![1, 4] || (kind == FaultKind::PARTITION && sizes == vec![2, 3]),
            "{kind}: {sizes:?}"
        );
    }

    let (d, _) = measure(&h, FaultKind::Partition(PartitionShape::MajoritiesRing)).await;
    let views = heard(&d, &names);
    assert!(symmetric(&d));
    assert!(views.values().all(|v| v.len() == 3), "{views:?}");
    assert_eq!(
        views.values().collect::<BTreeSet<_>>().len(),
        5,
        "two nodes see the same majority"
    );

    let (d, _) = measure(&h, FaultKind::Partition(PartitionShape::Bridge)).await;
    let views = heard(&d, &names);
    let bridges: Vec<_> = views.iter().filter(|(_, v)| v.len() == 5).collect();
    assert_eq!(bridges.len(), 1, "{views:?}");
    assert!(
        views.values().filter(|v| v.len() == 3).count() == 4,
        "{views:?}"
    );

    let (d, _) = measure(&h, FaultKind::Partition(PartitionShape::Oneway)).await;
    assert!(!symmetric(&d), "a one-way cut must deliver one way: {d:?}");
    let cut = d.iter().filter(|(_, ok)| !**ok).count();
    assert_eq!(cut, 6, "3 nodes drop 2 senders each: {d:?}");
    for ((f, t), ok) in &d {
        if !ok {
            assert!(d[&(t.clone(), f.clone())], "{t}->{f} must still arrive");
        }
    }

    h.set_holder(Some("agent-x"));
    let (d, g) = measure(&h, FaultKind::Partition(PartitionShape::Holder)).await;
    assert_eq!(g, Grudge::isolate("n4", &names));
    assert!(d.iter().all(|((f, t), ok)| *ok == (f != "n4" && t != "n4")));

    h.set_leader(Some("n2"));
    let (_, g) = measure(&h, FaultKind::Partition(PartitionShape::Leader)).await;
    assert_eq!(g, Grudge::isolate("n2", &names));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_a_leader_that_does_not_exist_is_recorded_as_not_applied() {
    require_root();
    let h = Harness::up("noleader", 3);
    let fault = first_planned(FaultKind::Partition(PartitionShape::Leader), &h.names());
    let summary = h.start(vec![fault]).finish().await;
    assert_eq!((summary.applied, summary.refused), (0, 1), "{summary:?}");
    let op = h.wait_for_op("start-partition", "info").await;
    assert!(op["error"].as_str().unwrap().contains("no leader"), "{op}");
    assert!(
        tokio::task::block_in_place(|| delivery(&h))
            .values()
            .all(|ok| *ok)
    );
}

/// Datagrams from n1 that reach n2 and the resource node, out of `count` each.
fn arrivals(h: &Harness, count: usize) -> (usize, usize) {
    let recv = |node: &str| {
        let s = h
            .cluster
            .run_in_node(node, || UdpSocket::bind(("0.0.0.0", UDP_PORT)))
            .unwrap()
            .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s
    };
    // Read while sending: a socket buffer holds only a few hundred datagrams.
    let count_of = |s: UdpSocket| {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16];
            std::iter::from_fn(|| s.recv(&mut buf).ok()).count()
        })
    };
    let (n2, res) = (count_of(recv("n2")), count_of(recv("resource")));
    let n2_addr = h.cluster.nodes()[1].addr;
    let res_addr = h.cluster.resource_node().addr;
    h.cluster
        .run_in_node("n1", || {
            let s = UdpSocket::bind(("0.0.0.0", 0)).unwrap();
            for i in 0..count {
                let _ = s.send_to(&i.to_be_bytes(), (n2_addr, UDP_PORT));
                let _ = s.send_to(&i.to_be_bytes(), (res_addr, UDP_PORT));
                if i % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
        .unwrap();
    (n2.join().unwrap(), res.join().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_loss_drops_about_the_share_asked_between_lock_nodes_only() {
    require_root();
    let h = Harness::up("loss", 3);
    let mut fault = PlannedFault::new(Duration::ZERO, FaultKind::Loss, Duration::from_secs(30));
    fault.loss_percent = Some(50);
    let running = h.start(vec![fault]);
    let op = h.wait_for_op("start-loss", "info").await;
    assert_eq!(op["value"]["loss_percent"], 50);
    let (to_n2, to_resource) = tokio::task::block_in_place(|| arrivals(&h, 400));
    assert!(
        (120..=280).contains(&to_n2),
        "{to_n2} of 400 arrived at 50% loss"
    );
    assert_eq!(to_resource, 400, "the resource node is never a loss target");
    assert!(
        !host_tables().contains("splitbrain"),
        "the host's firewall is untouched"
    );
    running.stop().await;
    let (to_n2, _) = tokio::task::block_in_place(|| arrivals(&h, 400));
    assert_eq!(to_n2, 400, "loss healed");
}

/// The host's own nftables tables: faults live inside the run's namespaces only.
fn host_tables() -> String {
    let out = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Round trip of one byte over `stream`, to an echo server.
fn round_trip(stream: &mut std::net::TcpStream) -> Duration {
    let start = Instant::now();
    stream.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    stream.read_exact(&mut b).unwrap();
    start.elapsed()
}

fn echo_server(h: &Harness, node: &str, port: u16) {
    let listener = h
        .cluster
        .run_in_node(node, || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut b = [0u8; 1];
                while conn.read_exact(&mut b).is_ok() && conn.write_all(&b).is_ok() {}
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_each_direction_even_on_connections_opened_before_it() {
    require_root();
    let h = Harness::up("latency", 2);
    echo_server(&h, "n2", 9200);
    echo_server(&h, "resource", 9200);
    let mut fault = PlannedFault::new(
        Duration::from_millis(300),
        FaultKind::Latency,
        Duration::from_secs(30),
    );
    fault.latency_ms = Some(150);
    // What the runner does before the workload: proxies first, then connections.
    let started = Instant::now();
    splitbrain_nemesis::faults::prepare(std::slice::from_ref(&fault), h.cluster.as_ref()).unwrap();
    let prepared_in = started.elapsed();
    let n2 = (h.cluster.nodes()[1].addr, 9200).into();
    let res = (h.cluster.resource_node().addr, 9200).into();
    let connect = |to| h.cluster.connect("n1", to, Duration::from_secs(1)).unwrap();
    let (mut early, mut to_resource) = (connect(n2), connect(res));
    let before = round_trip(&mut early);
    assert!(
        before < Duration::from_millis(50),
        "no delay yet: {before:?}"
    );

    let running = h.start(vec![fault]);
    h.wait_for_op("start-latency", "info").await;
    let during = tokio::task::block_in_place(|| round_trip(&mut early));
    assert!(
        !host_tables().contains("splitbrain"),
        "the host's firewall is untouched"
    );
    assert!(
        during >= Duration::from_millis(300),
        "150 ms each way: {during:?}"
    );
    assert!(during < Duration::from_millis(1000), "{during:?}");
    let resource_rtt = tokio::task::block_in_place(|| round_trip(&mut to_resource));
    assert!(
        resource_rtt < Duration::from_millis(50),
        "the resource is never delayed: {resource_rtt:?}"
    );
    running.stop().await;
    let after = tokio::task::block_in_place(|| round_trip(&mut early));
    assert!(
        after < Duration::from_millis(50),
        "latency healed: {after:?}"
    );
    eprintln!(
        "latency figures: prepare={prepared_in:?} rtt_before={before:?} rtt_during={during:?} \
         rtt_after={after:?} rtt_to_resource={resource_rtt:?}"
    );
}
