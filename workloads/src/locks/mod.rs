//! The lock clients under test, one module per lock system, and the CLI's name for each.

pub mod k8s_configmap;
pub mod k8s_elector;
pub mod k8s_elector_lock;
pub mod k8s_lease;
pub mod k8s_lease_manager;
pub mod redis;

pub use self::redis::{RedisLock, RedisLockConfig};

/// A LockKind is a lock system the agent can drive, as the CLI spells it (`--lock redis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum LockKind {
    /// A single Redis: `SET NX PX`, compare-and-delete release, INCR fencing token.
    Redis,
    /// A `coordination.k8s.io/v1` Lease under client-go's leader election; token
    /// `leaseTransitions`.
    #[value(name = "k8s-lease")]
    K8sLease,
    /// A ConfigMap's `control-plane.alpha.kubernetes.io/leader` annotation under
    /// client-go's leader election; token `leaderTransitions`.
    #[value(name = "k8s-configmap")]
    K8sConfigmap,
    /// The third-party crate kube-lease-manager on a Lease, through an adapter; token
    /// `leaseTransitions`. Its shortest lease is 2 s.
    #[value(name = "k8s-lease-manager")]
    K8sLeaseManager,
}

/// KubeAgentArgs are the agent's flags for the `k8s-*` locks.
#[derive(Clone, Debug, clap::Args)]
pub struct KubeAgentArgs {
    /// The Kubernetes API URLs (for the `k8s-*` locks), comma-separated, one per node in
    /// node order: the agent on node nI uses the I-th (wrapping), the API server nearest
    /// to it.
    #[arg(long, value_delimiter = ',')]
    pub kube_api: Vec<String>,
    /// The namespace of the Kubernetes lock objects.
    #[arg(long, default_value = "default")]
    pub kube_namespace: String,
}

impl Default for KubeAgentArgs {
    fn default() -> Self {
        KubeAgentArgs {
            kube_api: vec![],
            kube_namespace: "default".into(),
        }
    }
}

/// Builds the `k8s-*` lock an agent's arguments ask for, judging time by `clock`.
pub(crate) fn kube_lock_for_agent(
    args: &crate::agent::AgentArgs,
    clock: k8s_elector::Clock,
) -> Result<Box<dyn crate::Lock>, crate::Error> {
    let api_url =
        pick_api_url(&args.kube.kube_api, &args.node).ok_or_else(|| crate::Error::Config {
            name: "kube-api",
            value: "(missing)".into(),
            hint: "the k8s locks need --kube-api http://host:port[,...]".into(),
        })?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let cfg = k8s_elector_lock::KubeLockConfig {
        api_url,
        namespace: args.kube.kube_namespace.clone(),
        op_timeout: std::time::Duration::from_millis(args.op_timeout_ms),
        // Node, pid and start time: unique across agents and across restarts.
        holder_prefix: format!("{}-{}-{started}", args.node, std::process::id()),
        clock,
    };
    let lock: Result<Box<dyn crate::Lock>, crate::LockError> = match args.lock {
        LockKind::K8sConfigmap => k8s_configmap::configmap_lock(cfg).map(|l| Box::new(l) as _),
        LockKind::K8sLeaseManager => {
            k8s_lease_manager::LeaseManagerLock::new(cfg).map(|l| Box::new(l) as _)
        }
        _ => k8s_lease::lease_lock(cfg).map(|l| Box::new(l) as _),
    };
    lock.map_err(|source| crate::Error::Lock { source })
}

/// The API URL for a node: the one at the node's number (`n3` -> the third), wrapping,
/// so each agent talks to the API server on its own node when there is one.
pub fn pick_api_url(urls: &[String], node: &str) -> Option<String> {
    if urls.is_empty() {
        return None;
    }
    let number: usize = node
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(1);
    Some(urls[number.saturating_sub(1) % urls.len()].clone())
}
