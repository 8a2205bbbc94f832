//! splitbrain-runner is the controller: it brings a cluster up, starts the lock servers,
//! the resource and the agents, drives the workload and the nemesis, records the history,
//! and tears everything down whatever happens.
//!
//! The controller runs outside the cluster's network namespaces and reaches its agents
//! through Unix sockets, so no partition ever cuts it off; its monotonic clock is the one
//! clock of the history.

pub mod build_cache;
mod config;
mod error;
pub mod interrupt;
pub mod kube_control_plane;
pub mod lock_servers;
mod progress;
mod ready;
mod run;
pub mod run_dir;
pub mod services;

pub use config::{Backend, KubeBackend, NemesisOptions, PluginSpec, RunConfig, WorkloadName};
pub use error::RunError;
pub use progress::Progress;
pub use run::{RunOutcome, check_config, default_op_timeout_ms, run};
pub use splitbrain_workloads::locks::{LockKind, ServerSet};
