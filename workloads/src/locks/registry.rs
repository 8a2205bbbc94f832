//! Every lock system splitbrain can put under test, described once: the servers a run
//! starts for it, the client that drives it (splitbrain's own, or a plug-in program in
//! another language), where its fencing token comes from, and what else a run must know
//! about it. The CLI's `--lock` names are [`LockKind`]'s; everything else about a lock is
//! read from its [`LockSystem`].
//!
//! Adding a lock whose servers splitbrain already starts is a variant of [`LockKind`]
//! and an arm of [`LockKind::system`]; a plug-in lock also needs its folder under
//! `plugins/`. A new kind of server is a [`ServerSet`] variant and a module in the
//! runner's `lock_servers`.

use clap::ValueEnum;

/// A LockKind is a lock system the agent can drive, as the CLI spells it (`--lock redis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum LockKind {
    /// A single Redis: `SET NX PX`, compare-and-delete release, INCR fencing token.
    Redis,
    /// A plug-in: any program speaking splitbrain's JSON-lines lock protocol on its
    /// stdin and stdout (`--plugin-command`; see docs/plugins.md).
    External,
    /// A 3-member etcd cluster: a lease and a create-if-absent transaction; the key's
    /// revision is the fencing token.
    Etcd,
    /// A 3-server ZooKeeper ensemble: the ephemeral-sequential recipe; the znode's czxid
    /// is the fencing token.
    Zookeeper,
    /// Independent Redis primaries, one per node: a majority within the validity time.
    /// Redlock hands out no fencing token.
    Redlock,
    /// The `redis` lock on a Sentinel-managed primary with a replica, following
    /// failovers through three sentinels.
    RedisSentinel,
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
    /// client-go's own leader election (`k8s.io/client-go/tools/leaderelection` with a
    /// LeaseLock) in a Go plug-in; token `leaseTransitions`, read right after it leads.
    #[value(name = "k8s-clientgo")]
    K8sClientgo,
    /// etcd's own `concurrency.Mutex` (Go client v3.5) in a Go plug-in; token the lock
    /// key's create revision.
    EtcdConcurrency,
    /// Go's redsync (Redlock) over the independent Redis primaries; no fencing token.
    Redsync,
    /// Go's bsm/redislock on the single Redis; no fencing token.
    Redislock,
    /// Apache Curator's `InterProcessMutex` (Java) on the ZooKeeper ensemble; token the
    /// lock node's czxid.
    Curator,
    /// Redisson's lock (Java) on the single Redis.
    Redisson,
    /// Hazelcast 5.4's `FencedLock` (Java client) on a 3-member CP group; token the fence.
    Hazelcast,
    /// Hazelcast's `FencedLock` with the CP Subsystem off: the unsafe mode Jepsen found
    /// not exclusive under partitions.
    HazelcastUnsafe,
    /// Python's kazoo `Lock` recipe on the ZooKeeper ensemble; token the lock node's czxid.
    Kazoo,
    /// Python's pottery `Redlock` over the independent Redis primaries; no fencing token.
    Pottery,
    /// Node's `redlock` package over the independent Redis primaries; no fencing token.
    NodeRedlock,
}

/// A ServerSet is one kind of server a run can start for a lock's client, as
/// `--plugin-servers` spells it. Each becomes agent flags for splitbrain's own clients,
/// and environment variables for a plug-in (docs/plugins.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ServerSet {
    /// One Redis on the first node (`SPLITBRAIN_REDIS`).
    Redis,
    /// A Redis primary, a replica and three sentinels (`SPLITBRAIN_SENTINELS`,
    /// `SPLITBRAIN_SENTINEL_MASTER`).
    RedisSentinel,
    /// One independent Redis primary per node (`SPLITBRAIN_REDLOCK`).
    Redlock,
    /// A 3-member etcd cluster (`SPLITBRAIN_ETCD`).
    Etcd,
    /// A 3-server ZooKeeper ensemble (`SPLITBRAIN_ZOOKEEPER`).
    Zookeeper,
    /// A Kubernetes control plane: etcd and a kube-apiserver per node
    /// (`SPLITBRAIN_KUBECONFIG`, `SPLITBRAIN_KUBE_NAMESPACE`).
    Kubernetes,
    /// Three Hazelcast 5.4 members forming a 3-member CP group (`SPLITBRAIN_HAZELCAST`).
    Hazelcast,
    /// Three Hazelcast 5.4 members with the CP Subsystem off (`SPLITBRAIN_HAZELCAST`).
    #[value(name = "hazelcast-no-cp")]
    HazelcastNoCp,
}

/// How the agent drives a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// splitbrain's own client, in the agent.
    Builtin,
    /// A plug-in program that `scripts/build-plugins` installs as
    /// `<cache>/plugins/bin/<program>`, told where its servers are in its environment.
    Plugin {
        /// The launcher's file name.
        program: &'static str,
    },
    /// The user's plug-in: `--plugin-command` with `--plugin-servers`.
    UserPlugin,
}

/// Where a lock's fencing token comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// The lock hands out one with every grant; the text says what it is.
    Handed(&'static str),
    /// The lock hands out none; the text says so in the lock's own terms.
    Without(&'static str),
    /// Whatever the user's plug-in returns with a grant.
    FromPlugin,
}

/// A LockSystem is everything a run needs to know about one lock.
#[derive(Clone, Copy, Debug)]
pub struct LockSystem {
    /// The servers the run starts for it, in start order.
    pub servers: &'static [ServerSet],
    /// What drives it.
    pub client: Client,
    /// Its fencing token.
    pub token: Token,
    /// What else a report's reader should know (recorded in run.json as `lock_notes`
    /// after the token's note).
    pub notes: &'static [&'static str],
    /// Whether the optimistic workload can compare-and-set in its store.
    pub versioned_store: bool,
    /// The default op timeout, as a multiple of the TTL, for a client that needs more
    /// than the usual 5 s to take over an expired lock (client-go).
    pub op_timeout_per_ttl: Option<u64>,
}

impl LockSystem {
    const fn builtin(servers: &'static [ServerSet], token: Token) -> LockSystem {
        LockSystem {
            servers,
            client: Client::Builtin,
            token,
            notes: &[],
            versioned_store: false,
            op_timeout_per_ttl: None,
        }
    }

    const fn plugin(program: &'static str, servers: &'static [ServerSet], token: Token) -> Self {
        LockSystem {
            client: Client::Plugin { program },
            ..LockSystem::builtin(servers, token)
        }
    }

    const fn with_notes(self, notes: &'static [&'static str]) -> LockSystem {
        LockSystem { notes, ..self }
    }

    const fn with_versioned_store(self) -> LockSystem {
        LockSystem {
            versioned_store: true,
            ..self
        }
    }

    /// Whether the lock hands out fencing tokens (a user's plug-in may).
    pub fn has_fencing_token(&self) -> bool {
        !matches!(self.token, Token::Without(_))
    }

    /// Whether the agent drives it through the plug-in protocol.
    pub fn is_plugin(&self) -> bool {
        !matches!(self.client, Client::Builtin)
    }

    /// The notes a run records about the lock: its token first, then the rest.
    pub fn run_notes(&self) -> Vec<String> {
        let token = match self.token {
            Token::Handed(what) => format!("fencing token: {what}"),
            Token::Without(why) => format!("fencing token: none. {why}"),
            Token::FromPlugin => "fencing token: whatever the plug-in returns with a grant".into(),
        };
        std::iter::once(token)
            .chain(self.notes.iter().map(|n| n.to_string()))
            .collect()
    }
}

use ServerSet as S;

const REDLOCK_NO_TOKEN: Token = Token::Without(
    "Redlock hands out no fencing token, so the resource cannot tell a paused holder \
     from the next one",
);
const ZNODE_CZXID: Token =
    Token::Handed("the lock znode's czxid (the id of the transaction that created it)");
const ZOOKEEPER_SESSION: &str = "the hold lasts as long as the ZooKeeper session, whose timeout is the TTL clamped to \
     the ensemble's 2 to 20 ticks (1-10 s)";

impl LockKind {
    /// Every lock, in the CLI's order.
    pub fn all() -> &'static [LockKind] {
        LockKind::value_variants()
    }

    /// The lock's description: the one place that says what each lock is.
    pub fn system(self) -> LockSystem {
        match self {
            LockKind::Redis => LockSystem::builtin(
                &[S::Redis],
                Token::Handed(
                    "an INCR counter in the same Redis, handed out atomically with the grant",
                ),
            )
            .with_versioned_store(),
            // Whether a user's plug-in answers `read` and `cas` is its own business: one
            // that does not refuses them as `unsupported`.
            LockKind::External => LockSystem {
                client: Client::UserPlugin,
                ..LockSystem::builtin(&[], Token::FromPlugin).with_versioned_store()
            },
            LockKind::Etcd => LockSystem::builtin(
                &[S::Etcd],
                Token::Handed("the lock key's revision (etcd's global revision at the grant)"),
            )
            .with_notes(&[
                "etcd raises leases to whole seconds and to its minimum of 2 s, so \
                 a TTL under 2 s holds for 2 s",
            ])
            .with_versioned_store(),
            LockKind::Zookeeper => {
                LockSystem::builtin(&[S::Zookeeper], ZNODE_CZXID).with_notes(&[ZOOKEEPER_SESSION])
            }
            LockKind::Redlock => LockSystem::builtin(&[S::Redlock], REDLOCK_NO_TOKEN),
            LockKind::RedisSentinel => LockSystem::builtin(
                &[S::RedisSentinel],
                Token::Handed(
                    "an INCR counter on the primary, replicated asynchronously: after a \
                     failover the new primary can hand out tokens the old one already gave",
                ),
            ),
            LockKind::K8sLease | LockKind::K8sLeaseManager => LockSystem::builtin(
                &[S::Kubernetes],
                Token::Handed("the Lease's leaseTransitions"),
            )
            .with_versioned_store(),
            LockKind::K8sConfigmap => LockSystem::builtin(
                &[S::Kubernetes],
                Token::Handed("the leader record's leaderTransitions"),
            )
            .with_versioned_store(),
            LockKind::K8sClientgo => LockSystem {
                op_timeout_per_ttl: Some(6),
                ..LockSystem::plugin(
                    "client-go-leaderelection",
                    &[S::Kubernetes],
                    Token::Handed(
                        "the Lease's leaseTransitions, read by the plug-in right after \
                         client-go reports leading (client-go itself exposes no token)",
                    ),
                )
                .with_notes(&[
                    "client-go's own timing: lease duration = TTL, renew deadline \
                     = 2/3 TTL, retry period = 2/15 TTL (its 15 s / 10 s / 2 s)",
                ])
            },
            LockKind::EtcdConcurrency => LockSystem::plugin(
                "etcd-concurrency",
                &[S::Etcd],
                Token::Handed("the lock key's create revision"),
            )
            .with_notes(&[
                "the hold lasts as long as the concurrency.Session's lease, \
                 whole seconds of at least the TTL",
            ]),
            LockKind::Redsync => LockSystem::plugin("redsync", &[S::Redlock], REDLOCK_NO_TOKEN),
            LockKind::Redislock => LockSystem::plugin(
                "redislock",
                &[S::Redis],
                Token::Without(
                    "bsm/redislock's token is the holder id, a string that does not grow with grants",
                ),
            ),
            LockKind::Curator => LockSystem::plugin("curator", &[S::Zookeeper], ZNODE_CZXID)
                .with_notes(&[ZOOKEEPER_SESSION]),
            LockKind::Redisson => LockSystem::plugin(
                "redisson",
                &[S::Redis],
                Token::Handed("the token of Redisson's fenced lock"),
            ),
            LockKind::Hazelcast => LockSystem::plugin(
                "hazelcast",
                &[S::Hazelcast],
                Token::Handed("the FencedLock's fence, from the CP group's Raft log"),
            )
            .with_notes(&[
                "the hold lasts as long as the holder's CP session, whose TTL is \
                 the run's TTL in whole seconds",
            ]),
            LockKind::HazelcastUnsafe => LockSystem::plugin(
                "hazelcast",
                &[S::HazelcastNoCp],
                Token::Handed("the FencedLock's fence in unsafe mode (no Raft behind it)"),
            )
            .with_notes(&[
                "the CP Subsystem is off: FencedLock runs in unsafe mode, kept by \
                 the partition's owner member",
            ]),
            LockKind::Kazoo => LockSystem::plugin("kazoo", &[S::Zookeeper], ZNODE_CZXID)
                .with_notes(&[ZOOKEEPER_SESSION]),
            LockKind::Pottery => LockSystem::plugin("pottery", &[S::Redlock], REDLOCK_NO_TOKEN),
            LockKind::NodeRedlock => {
                LockSystem::plugin("node-redlock", &[S::Redlock], REDLOCK_NO_TOKEN)
            }
        }
    }

    /// The CLI spelling (`redis-sentinel`).
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_else(|| format!("{self:?}").to_lowercase())
    }

    /// Whether the optimistic workload can run on this lock system's store.
    pub fn has_versioned_store(self) -> bool {
        self.system().versioned_store
    }

    /// The lock systems with a versioned store, as `--lock` spells them.
    pub fn versioned_store_names() -> String {
        Self::all()
            .iter()
            .filter(|k| k.has_versioned_store())
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the lock hands out fencing tokens.
    pub fn has_fencing_token(self) -> bool {
        self.system().has_fencing_token()
    }
}

impl ServerSet {
    /// The `--plugin-servers` spelling (`hazelcast-no-cp`).
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_else(|| format!("{self:?}").to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_lock_names_its_program_and_servers() {
        for kind in LockKind::all() {
            let system = kind.system();
            if let Client::Plugin { program } = system.client {
                assert!(!program.is_empty(), "{kind:?}");
                assert!(!system.servers.is_empty(), "{kind:?} needs servers");
            }
        }
    }

    #[test]
    fn only_the_users_plugin_has_no_servers_of_its_own() {
        let without: Vec<LockKind> = LockKind::all()
            .iter()
            .copied()
            .filter(|k| k.system().servers.is_empty())
            .collect();
        assert_eq!(without, vec![LockKind::External]);
    }

    #[test]
    fn the_token_note_comes_first_and_says_none_for_redlock() {
        let notes = LockKind::Redlock.system().run_notes();
        assert!(notes[0].starts_with("fencing token: none."), "{notes:?}");
        assert!(!LockKind::Redlock.has_fencing_token());
        assert!(!LockKind::Pottery.has_fencing_token());
        assert!(LockKind::Etcd.has_fencing_token());
        assert!(LockKind::External.has_fencing_token());
        let etcd = LockKind::Etcd.system().run_notes();
        assert_eq!(etcd.len(), 2, "{etcd:?}");
    }

    #[test]
    fn names_are_the_cli_spellings() {
        assert_eq!(LockKind::RedisSentinel.name(), "redis-sentinel");
        assert_eq!(LockKind::K8sClientgo.name(), "k8s-clientgo");
        assert_eq!(LockKind::HazelcastUnsafe.name(), "hazelcast-unsafe");
        assert_eq!(LockKind::NodeRedlock.name(), "node-redlock");
        assert_eq!(ServerSet::HazelcastNoCp.name(), "hazelcast-no-cp");
        assert_eq!(
            LockKind::versioned_store_names(),
            "redis, external, etcd, k8s-lease, k8s-configmap, k8s-lease-manager"
        );
    }
}
