//! splitbrain-nemesis holds the faults (partitions of every shape, pause, kill, clock
//! skew, packet loss, latency), their seeded schedules, and the [`Cluster`] trait with
//! its backends. The backend here is the local one: each node a network namespace on
//! this host ([`local::LocalCluster`]).
//!
//! The pieces:
//! - [`Cluster`]: what can be done to a run's nodes and processes; shared by the
//!   controller and the nemesis as `Arc<dyn Cluster>`.
//! - [`Grudge`]: a partition, as Jepsen writes it.
//! - [`faults::plan`]: a pure, seeded schedule drawn from a weighted
//!   [`faults::FaultMix`] of [`faults::FaultKind`]s (`<action>[-<target>]`);
//!   [`faults::prepare`] readies what must exist before the workload;
//!   [`faults::run_nemesis`] applies the plan and records every fault in the history.
//! - [`clock`]: per-process clocks as files that our agents' injectable clock reads, and
//!   libfaketime's spelling of them for servers; the host clock is never touched.
//! - [`local`]: namespaces, nftables partitions and loss, the latency proxies, process
//!   control, cleanup of crashed runs and the rootless mode.
//!
//! A schedule is a pure function of its seed (this runs anywhere, no root needed):
//!
//! ```
//! use splitbrain_nemesis::faults::{plan, FaultKind, ScheduleConfig};
//! use std::time::Duration;
//! let cfg = ScheduleConfig::new(
//!     42,
//!     vec![FaultKind::PARTITION, FaultKind::KILL],
//!     Duration::from_secs(60),
//!     Duration::from_secs(2),
//! );
//! let nodes: Vec<String> = ["n1", "n2", "n3"].map(String::from).to_vec();
//! let faults = plan(&cfg, &nodes);
//! assert_eq!(faults, plan(&cfg, &nodes));
//! let mix: splitbrain_nemesis::faults::FaultMix = "pause:2,partition-oneway,clock".parse()?;
//! assert_eq!(mix.faults.len(), 5);
//! assert!(faults.iter().all(|f| f.at + f.duration <= cfg.time_limit));
//! # Ok::<(), splitbrain_nemesis::ClusterError>(())
//! ```
//!
//! Bringing a real cluster up needs root (or [`local::enter_user_namespace_if_needed`]):
//!
//! ```no_run
//! use splitbrain_nemesis::{Cluster, Grudge, local::{LocalCluster, LocalConfig}};
//! let cluster = LocalCluster::up(LocalConfig::new("demo", 3))?;
//! let names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
//! cluster.partition(&Grudge::isolate("n1", &names))?;
//! cluster.heal()?;
//! cluster.teardown()?;
//! # Ok::<(), splitbrain_nemesis::ClusterError>(())
//! ```

pub mod clock;
mod cluster;
mod error;
pub mod faults;
mod grudge;
pub mod kube;
pub mod latency_proxy;
pub mod local;
mod nft;
pub mod probe;
mod rng;

pub use cluster::{
    Ability, AgentChannel, ClockControl, ClockReach, Cluster, LatencyControl, Node, NodeKill,
    PacketLoss, ProcessInfo, ProcessKind, ProcessSpec, ProcessState, TeardownReport,
};
pub use error::ClusterError;
pub use grudge::Grudge;
