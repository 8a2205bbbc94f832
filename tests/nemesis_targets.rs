//! Pause and kill hit exactly their targets: every lock server and agent on the planned
//! nodes for `-one`/`-minority`/`-majority`/`-all`, the holder's agent, the leader's
//! servers, and never the resource. Real processes and signals: needs root.

mod nemesis_support;

use nemesis_support::*;
use splitbrain_nemesis::faults::{FaultKind, Target};
use splitbrain_nemesis::{Cluster, ProcessKind, ProcessState};
use std::collections::BTreeSet;

/// A server and an agent on every node, and the resource's process.
fn populated(tag: &str, nodes: usize) -> Harness {
    let h = Harness::up(tag, nodes);
    for (i, node) in h.names().iter().enumerate() {
        h.spawn_idle(&format!("server-{node}"), node, ProcessKind::LockServer);
        h.spawn_idle(&format!("agent-{i}"), node, ProcessKind::Agent);
    }
    h.spawn_idle("resource", "resource", ProcessKind::Resource);
    h
}

fn states(h: &Harness) -> Vec<(String, String, ProcessState)> {
    h.cluster
        .processes()
        .into_iter()
        .map(|p| (p.name, p.node, p.state))
        .collect()
}

/// The processes in `state`, by name.
fn in_state(h: &Harness, state: ProcessState) -> BTreeSet<String> {
    states(h)
        .into_iter()
        .filter(|(_, _, s)| *s == state)
        .map(|(n, _, _)| n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_set_targets_hit_every_server_and_agent_on_their_nodes_and_nothing_else() {
    require_root();
    let h = populated("sets", 5);
    for (target, count) in [
        (Target::One, 1),
        (Target::Minority, 2),
        (Target::Majority, 3),
        (Target::All, 5),
    ] {
        for (kind, state, f) in [
            (FaultKind::Pause(target), ProcessState::Paused, "pause"),
            (FaultKind::Kill(target), ProcessState::Killed, "kill"),
        ] {
            let fault = first_planned(kind, &h.names());
            assert_eq!(fault.nodes.len(), count, "{kind}: {fault:?}");
            let expected: BTreeSet<String> = states(&h)
                .into_iter()
                .filter(|(n, node, _)| n != "resource" && fault.nodes.contains(node))
                .map(|(n, _, _)| n)
                .collect();
            assert_eq!(expected.len(), 2 * count);
            let running = h.start(vec![fault]);
            let op = h.wait_for_op(f, "info").await;
            assert!(op.get("error").is_none(), "{kind}: {op}");
            assert_eq!(in_state(&h, state), expected, "{kind}");
            let recorded: BTreeSet<String> =
                serde_json::from_value(op["value"]["processes"].clone()).unwrap();
            assert_eq!(recorded, expected, "{kind}: the op names what was hit");
            running.stop().await;
            assert_eq!(
                in_state(&h, ProcessState::Running).len(),
                11,
                "{kind}: healed"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_and_leader_targets_hit_the_holders_agent_and_the_leaders_servers() {
    require_root();
    let h = populated("roles", 3);
    h.set_holder(Some("agent-2"));
    h.set_leader(Some("n2"));
    let cases = [
        (
            FaultKind::Pause(Target::Holder),
            "pause",
            ProcessState::Paused,
            "agent-2",
        ),
        (
            FaultKind::Kill(Target::Holder),
            "kill",
            ProcessState::Killed,
            "agent-2",
        ),
        (
            FaultKind::Pause(Target::Leader),
            "pause",
            ProcessState::Paused,
            "server-n2",
        ),
        (
            FaultKind::Kill(Target::Leader),
            "kill",
            ProcessState::Killed,
            "server-n2",
        ),
    ];
    for (kind, f, state, hit) in cases {
        let running = h.start(vec![first_planned(kind, &h.names())]);
        let op = h.wait_for_op(f, "info").await;
        assert!(op.get("error").is_none(), "{kind}: {op}");
        assert_eq!(
            in_state(&h, state),
            BTreeSet::from([hit.to_string()]),
            "{kind}"
        );
        running.stop().await;
    }
    h.set_leader(None);
    let summary = h
        .start(vec![first_planned(
            FaultKind::Kill(Target::Leader),
            &h.names(),
        )])
        .finish()
        .await;
    assert_eq!(summary.refused, 1, "no leader: {summary:?}");
    let op = h.wait_for_op("kill", "info").await;
    assert!(op["error"].as_str().unwrap().contains("no leader"), "{op}");
    assert_eq!(in_state(&h, ProcessState::Running).len(), 7);
}
