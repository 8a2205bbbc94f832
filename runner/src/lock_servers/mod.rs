//! The servers of each lock system: what to start on which node, what the agents need
//! to be told to reach them, and which addresses must answer before the workload starts.
//! What a lock needs is read from its description in splitbrain-workloads
//! ([`LockKind::system`]); this module starts each [`ServerSet`] and hands the agents
//! its addresses: as flags for splitbrain's own clients, as environment variables for a
//! plug-in. A new kind of server is a module here and an arm in [`start_set`],
//! [`required_programs`] and [`preflight_set`].

pub mod etcd;
pub mod external;
pub mod hazelcast;
pub mod kubernetes;
pub mod leader;
mod redis;
mod redlock;
mod sentinel;
mod wait;
mod zookeeper;

use crate::RunError;
use splitbrain_nemesis::Cluster;
use splitbrain_workloads::locks::{Client, LockKind, ServerSet, Token};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// LockServers is what a lock system's start-up produced.
#[derive(Clone, Debug)]
pub struct LockServers {
    /// Flags that tell an agent where the servers are (`--redis 10.77.0.1:6379`, or for
    /// a plug-in `--plugin-env SPLITBRAIN_REDIS=10.77.0.1:6379`).
    pub agent_args: Vec<String>,
    /// Addresses that must accept TCP connections before the workload starts, by name.
    pub ready_addrs: Vec<(String, SocketAddr)>,
}

/// ServerSettings are the run's settings that shape how its servers start.
#[derive(Clone, Copy, Debug)]
pub struct ServerSettings {
    /// Start the servers that libfaketime reaches under it, so that the nemesis's clock
    /// faults reach them too (only then: it costs every clock call a file check).
    pub server_clocks: bool,
    /// The run's lock TTL, for servers whose sessions play the lease's role (Hazelcast's
    /// CP sessions).
    pub ttl: Duration,
}

/// The system programs a set of servers needs, with the Debian package of each.
pub fn required_programs(set: ServerSet) -> &'static [(&'static str, &'static str)] {
    match set {
        ServerSet::Redis | ServerSet::Redlock => &[("redis-server", "redis-server")],
        ServerSet::Etcd | ServerSet::Kubernetes => &[("etcd", "etcd-server")],
        ServerSet::Zookeeper | ServerSet::Hazelcast | ServerSet::HazelcastNoCp => {
            &[("java", "default-jre-headless")]
        }
        ServerSet::RedisSentinel => &[
            ("redis-server", "redis-server"),
            ("redis-sentinel", "redis-sentinel"),
        ],
    }
}

/// The server sets a run of `kind` starts: the lock's own, or for a user's plug-in the
/// ones it asked for.
pub fn server_sets(kind: LockKind, plugin_servers: &[ServerSet]) -> Vec<ServerSet> {
    match kind.system().client {
        Client::UserPlugin => plugin_servers.to_vec(),
        Client::Builtin | Client::Plugin { .. } => kind.system().servers.to_vec(),
    }
}

/// Checks, before anything starts, what the programs on `PATH` cannot tell: settings
/// the lock cannot honour (fencing with a lock that hands out no token), files and
/// builds its servers and client need.
pub fn preflight(
    kind: LockKind,
    plugin_servers: &[ServerSet],
    fencing: bool,
) -> Result<(), RunError> {
    let system = kind.system();
    if let (Token::Without(why), true) = (system.token, fencing) {
        return Err(RunError::Config(format!(
            "lock={} fencing=on: it hands out no fencing token for the resource to check \
             ({why}); run it with --fencing off",
            kind.name()
        )));
    }
    for set in server_sets(kind, plugin_servers) {
        preflight_set(set)?;
    }
    if let Client::Plugin { program } = system.client {
        plugin_program(program)?;
    }
    Ok(())
}

/// What a set of servers needs beyond programs on `PATH`.
fn preflight_set(set: ServerSet) -> Result<(), RunError> {
    match set {
        ServerSet::Zookeeper => require_files("zookeeper", zookeeper::REQUIRED_FILES),
        ServerSet::Kubernetes => kubernetes::require_built().map(drop),
        ServerSet::Hazelcast | ServerSet::HazelcastNoCp => hazelcast::member_program().map(drop),
        ServerSet::Redis | ServerSet::RedisSentinel | ServerSet::Redlock | ServerSet::Etcd => {
            Ok(())
        }
    }
}

/// True for the locks whose servers are a Kubernetes control plane.
pub fn is_kubernetes(kind: LockKind) -> bool {
    kind.system().servers.contains(&ServerSet::Kubernetes)
}

/// A plug-in program `scripts/build-plugins` installs (`<cache>/plugins/bin/<program>`).
pub fn plugin_program(program: &str) -> Result<PathBuf, RunError> {
    crate::build_cache::require_built(
        crate::build_cache::plugins_bin_dir().join(program),
        "scripts/build-plugins",
    )
}

/// Fails on the first of `files` that does not exist, naming its Debian package.
fn require_files(lock: &str, files: &[(&str, &str)]) -> Result<(), RunError> {
    for (file, package) in files {
        if !Path::new(file).is_file() {
            return Err(RunError::Config(format!(
                "lock={lock}: missing file={file}; install the Debian package {package} \
                 (apt-get install {package}, or scripts/install-deps)"
            )));
        }
    }
    Ok(())
}

/// What a run's report should know about a lock system (recorded in run.json as
/// `lock_notes`): where its fencing token comes from, or that there is none, first.
pub fn notes(kind: LockKind) -> Vec<String> {
    kind.system().run_notes()
}

/// Starts the servers of `kind` (for a user's plug-in, `plugin_servers`) on the
/// cluster's nodes and waits until they serve, and says how the agents reach them:
/// flags for splitbrain's own clients; for a plug-in, its command and the same
/// addresses as environment variables.
pub fn start(
    kind: LockKind,
    plugin_servers: &[ServerSet],
    cluster: &dyn Cluster,
    paths: (&Path, &Path),
    settings: ServerSettings,
) -> Result<LockServers, RunError> {
    let system = kind.system();
    let mut out = LockServers {
        agent_args: vec![],
        ready_addrs: vec![],
    };
    for set in server_sets(kind, plugin_servers) {
        // A plug-in's servers run on their true clocks: libfaketime is for the
        // built-in lock of that name.
        let settings = ServerSettings {
            server_clocks: settings.server_clocks && !system.is_plugin(),
            ..settings
        };
        let servers = start_set(set, cluster, paths, settings)?;
        match system.client {
            Client::Builtin => out.agent_args.extend(servers.agent_args),
            Client::Plugin { .. } | Client::UserPlugin => out
                .agent_args
                .extend(external::plugin_env(&servers.agent_args)),
        }
        out.ready_addrs.extend(servers.ready_addrs);
    }
    if let Client::Plugin { program } = system.client {
        let command = plugin_program(program)?;
        out.agent_args.extend([
            "--plugin-command".into(),
            shell_quote(&command.display().to_string()),
        ]);
    }
    Ok(out)
}

/// Starts one set of servers; `paths` is the run directory (logs) and the state
/// directory (data, removed at teardown).
fn start_set(
    set: ServerSet,
    cluster: &dyn Cluster,
    (run_dir, state): (&Path, &Path),
    settings: ServerSettings,
) -> Result<LockServers, RunError> {
    match set {
        ServerSet::Redis => redis::start(cluster, run_dir, state),
        ServerSet::Etcd => etcd::start(cluster, run_dir, state),
        ServerSet::Zookeeper => zookeeper::start(cluster, run_dir, state, settings.server_clocks),
        ServerSet::Redlock => redlock::start(cluster, run_dir, state),
        ServerSet::RedisSentinel => sentinel::start(cluster, run_dir, state),
        ServerSet::Kubernetes => kubernetes::start(cluster, run_dir, state),
        ServerSet::Hazelcast => hazelcast::start(cluster, run_dir, true, settings.ttl),
        ServerSet::HazelcastNoCp => hazelcast::start(cluster, run_dir, false, settings.ttl),
    }
}

/// `text` as one word for `sh -c`: single-quoted, inner quotes escaped.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_path_is_one_shell_word() {
        assert_eq!(shell_quote("/a b/it's"), "'/a b/it'\\''s'");
    }

    #[test]
    fn redlock_with_fencing_is_refused_with_the_flag_to_change() {
        for kind in [LockKind::Redlock, LockKind::Redislock] {
            let err = preflight(kind, &[], true).unwrap_err().to_string();
            assert!(err.contains("no fencing token"), "{err}");
            assert!(err.contains("--fencing off"), "{err}");
            assert!(err.contains(&format!("lock={}", kind.name())), "{err}");
        }
        assert!(preflight(LockKind::Redlock, &[], false).is_ok());
        assert!(preflight(LockKind::Etcd, &[], true).is_ok());
    }

    #[test]
    fn a_missing_server_file_names_the_package_to_install() {
        let err = require_files("zookeeper", &[("/nonexistent/zk.jar", "zookeeper")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("file=/nonexistent/zk.jar"), "{err}");
        assert!(err.contains("apt-get install zookeeper"), "{err}");
    }

    #[test]
    fn every_server_set_names_the_debian_package_of_each_program() {
        use clap::ValueEnum;
        for set in ServerSet::value_variants() {
            assert!(!required_programs(*set).is_empty(), "{set:?}");
        }
        assert!(required_programs(ServerSet::Etcd).contains(&("etcd", "etcd-server")));
    }

    #[test]
    fn a_plugin_lock_starts_its_own_servers_and_a_users_plugin_the_ones_it_named() {
        assert_eq!(
            server_sets(LockKind::Curator, &[]),
            vec![ServerSet::Zookeeper]
        );
        assert_eq!(
            server_sets(LockKind::External, &[ServerSet::Redis, ServerSet::Etcd]),
            vec![ServerSet::Redis, ServerSet::Etcd]
        );
        assert!(is_kubernetes(LockKind::K8sClientgo));
        assert!(!is_kubernetes(LockKind::Etcd));
    }
}
