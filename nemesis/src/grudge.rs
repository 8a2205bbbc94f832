//! The grudge: Jepsen's description of a network partition.

use crate::ClusterError;
use crate::rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A Grudge is a network partition as Jepsen writes it: for each node, the set of nodes
/// whose packets it drops. A cut in both directions is two symmetric entries, so one-way
/// partitions can be expressed too. Nodes that appear nowhere are untouched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grudge(BTreeMap<String, BTreeSet<String>>);

impl Grudge {
    /// A grudge from explicit entries: `node -> nodes whose packets it drops`.
    pub fn from_entries<I, S>(entries: I) -> Grudge
    where
        I: IntoIterator<Item = (S, Vec<S>)>,
        S: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (node, dropped) in entries {
            let set: BTreeSet<String> = dropped.into_iter().map(Into::into).collect();
            if !set.is_empty() {
                map.insert(node.into(), set);
            }
        }
        Grudge(map)
    }

    /// The complete grudge between components: every node drops every node of every
    /// other component (Jepsen's `complete-grudge`).
    pub fn between(components: &[Vec<String>]) -> Grudge {
        let mut map = BTreeMap::new();
        for (i, component) in components.iter().enumerate() {
            let others: BTreeSet<String> = components
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, c)| c.iter().cloned())
                .collect();
            if others.is_empty() {
                continue;
            }
            for node in component {
                map.insert(node.clone(), others.clone());
            }
        }
        Grudge(map)
    }

    /// Splits the nodes, in the order given, into two halves and cuts them apart. With
    /// `bigger_first` the odd node out joins the first half, otherwise the second, so a
    /// seeded coin decides which side keeps the majority.
    pub fn halves(nodes: &[String], bigger_first: bool) -> Grudge {
        let cut = if bigger_first {
            nodes.len().div_ceil(2)
        } else {
            nodes.len() / 2
        };
        let (a, b) = nodes.split_at(cut);
        Grudge::between(&[a.to_vec(), b.to_vec()])
    }

    /// Cuts one node off from all the others.
    pub fn isolate(node: &str, nodes: &[String]) -> Grudge {
        let rest: Vec<String> = nodes.iter().filter(|n| *n != node).cloned().collect();
        Grudge::between(&[vec![node.to_string()], rest])
    }

    /// Cuts the nodes, in the order given, into two halves with the middle node in
    /// neither: it talks to both sides, which cannot talk to each other (Jepsen's
    /// `bridge`). Fewer than three nodes give an empty grudge.
    pub fn bridge(nodes: &[String]) -> Grudge {
        if nodes.len() < 3 {
            return Grudge::default();
        }
        let mid = nodes.len() / 2;
        let mut grudge = Grudge::between(&[nodes[..mid].to_vec(), nodes[mid + 1..].to_vec()]);
        grudge.0.remove(&nodes[mid]);
        grudge
    }

    /// Places the nodes, in the order given, on a ring where each node talks only to
    /// its nearest neighbours, as many as make it see a majority (itself included); no
    /// two nodes see the same majority, so every node can believe it is in the
    /// majority (Jepsen's `majorities-ring`, in a symmetric form: a node may see a bit
    /// more than a bare majority). With three nodes or fewer everyone sees everyone.
    pub fn majorities_ring(nodes: &[String]) -> Grudge {
        let n = nodes.len();
        let majority = n / 2 + 1;
        let reach = (majority - 1).div_ceil(2);
        let ring_distance = |i: usize, j: usize| {
            let d = i.abs_diff(j);
            d.min(n - d)
        };
        let mut map = BTreeMap::new();
        for (i, node) in nodes.iter().enumerate() {
            let dropped: BTreeSet<String> = nodes
                .iter()
                .enumerate()
                .filter(|(j, _)| ring_distance(i, *j) > reach)
                .map(|(_, other)| other.clone())
                .collect();
            if !dropped.is_empty() {
                map.insert(node.clone(), dropped);
            }
        }
        Grudge(map)
    }

    /// Splits the nodes, in the order given, into halves, the first holding the odd node
    /// out; the first half drops the second's packets and the second drops nothing:
    /// packets flow from the first half to the second only (Jepsen's one-way partition).
    pub fn oneway_halves(nodes: &[String]) -> Grudge {
        if nodes.len() < 2 {
            return Grudge::default();
        }
        let (a, b) = nodes.split_at(nodes.len().div_ceil(2));
        Grudge::from_entries(a.iter().map(|n| (n.clone(), b.to_vec())))
    }

    /// Shuffles the nodes with a seeded generator and cuts them into halves; the same
    /// seed always gives the same grudge.
    pub fn random_halves(nodes: &[String], seed: u64) -> Grudge {
        let mut rng = SeededRng::new(seed);
        Grudge::shuffled_halves(nodes, &mut rng)
    }

    pub(crate) fn shuffled_halves(nodes: &[String], rng: &mut SeededRng) -> Grudge {
        let mut shuffled = nodes.to_vec();
        shuffled.sort();
        rng.shuffle(&mut shuffled);
        Grudge::halves(&shuffled, rng.coin())
    }

    /// The nodes whose packets `node` drops.
    pub fn dropped_by(&self, node: &str) -> Option<&BTreeSet<String>> {
        self.0.get(node)
    }

    /// Returns true when `from`'s packets do not reach `to`, in either direction's rule:
    /// `to` drops `from`, or `from` drops `to` (its replies would be lost).
    pub fn cuts(&self, a: &str, b: &str) -> bool {
        let drops = |x: &str, y: &str| self.0.get(x).is_some_and(|s| s.contains(y));
        drops(a, b) || drops(b, a)
    }

    /// Every `(node, dropped nodes)` entry.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &BTreeSet<String>)> {
        self.0.iter()
    }

    /// Returns true when no node drops anything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every node the grudge names, as dropping or dropped.
    pub fn nodes(&self) -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        for (node, dropped) in &self.0 {
            all.insert(node.clone());
            all.extend(dropped.iter().cloned());
        }
        all
    }

    /// Checks that the grudge names only `allowed` nodes and that no node drops itself.
    pub fn validate(&self, allowed: &[String]) -> Result<(), ClusterError> {
        for node in self.nodes() {
            if !allowed.contains(&node) {
                return Err(ClusterError::InvalidGrudge {
                    reason: format!(
                        "node={node} is not a partitionable node (allowed: {})",
                        allowed.join(",")
                    ),
                });
            }
        }
        for (node, dropped) in &self.0 {
            if dropped.contains(node) {
                return Err(ClusterError::InvalidGrudge {
                    reason: format!("node={node} drops its own packets"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn halves_cut_every_pair_across_the_halves_and_none_within() {
        let nodes = names(5);
        let g = Grudge::halves(&nodes, false);
        // n1,n2 | n3,n4,n5
        assert!(g.cuts("n1", "n3") && g.cuts("n5", "n2"));
        assert!(!g.cuts("n1", "n2") && !g.cuts("n3", "n5"));
        assert_eq!(g.dropped_by("n1").unwrap().len(), 3);
        let g = Grudge::halves(&nodes, true);
        assert_eq!(g.dropped_by("n1").unwrap().len(), 2);
    }

    #[test]
    fn isolate_cuts_one_node_from_all_others_symmetrically() {
        let nodes = names(3);
        let g = Grudge::isolate("n2", &nodes);
        assert!(g.cuts("n2", "n1") && g.cuts("n3", "n2"));
        assert!(!g.cuts("n1", "n3"));
        assert_eq!(
            serde_json::to_value(&g).unwrap(),
            serde_json::json!({"n1":["n2"],"n2":["n1","n3"],"n3":["n2"]})
        );
    }

    #[test]
    fn random_halves_depend_only_on_the_seed() {
        let nodes = names(5);
        assert_eq!(
            Grudge::random_halves(&nodes, 3),
            Grudge::random_halves(&nodes, 3)
        );
        let distinct: BTreeSet<String> = (0..20)
            .map(|s| serde_json::to_string(&Grudge::random_halves(&nodes, s)).unwrap())
            .collect();
        assert!(distinct.len() > 3, "seeds gave only {distinct:?}");
    }

    #[test]
    fn a_bridge_node_talks_to_both_halves_which_cannot_talk_to_each_other() {
        let g = Grudge::bridge(&names(5));
        // n1,n2 | n3 | n4,n5
        assert!(g.cuts("n1", "n4") && g.cuts("n2", "n5"));
        assert!(!g.cuts("n3", "n1") && !g.cuts("n3", "n5") && !g.cuts("n1", "n2"));
        assert!(g.dropped_by("n3").is_none());
        assert!(Grudge::bridge(&names(2)).is_empty());
    }

    #[test]
    fn in_a_majorities_ring_every_node_sees_a_distinct_majority() {
        for n in [4, 5, 6, 7] {
            let nodes = names(n);
            let g = Grudge::majorities_ring(&nodes);
            let seen: BTreeSet<Vec<&String>> = nodes
                .iter()
                .map(|a| {
                    let visible: Vec<&String> = nodes.iter().filter(|b| !g.cuts(a, b)).collect();
                    assert!(visible.len() > n / 2, "n={n} {a} sees {visible:?}");
                    visible
                })
                .collect();
            assert_eq!(seen.len(), n, "n={n}: two nodes see the same majority");
            assert_eq!(g.validate(&nodes).map_err(|e| e.to_string()), Ok(()));
        }
        assert!(Grudge::majorities_ring(&names(3)).is_empty());
    }

    #[test]
    fn a_oneway_grudge_drops_in_one_direction_only() {
        let g = Grudge::oneway_halves(&names(5));
        // n1,n2,n3 drop n4,n5; n4,n5 drop nothing.
        assert!(g.dropped_by("n1").unwrap().contains("n5"));
        assert!(g.dropped_by("n4").is_none());
        assert_eq!(g.dropped_by("n3").unwrap().len(), 2);
        assert!(Grudge::oneway_halves(&names(1)).is_empty());
    }

    #[test]
    fn a_grudge_naming_the_resource_node_is_refused() {
        let nodes = names(2);
        let g = Grudge::from_entries([("n1", vec!["resource"])]);
        let err = g.validate(&nodes).unwrap_err().to_string();
        assert!(err.contains("node=resource"), "{err}");
        let g = Grudge::from_entries([("n1", vec!["n1"])]);
        assert!(g.validate(&nodes).is_err());
    }
}
