//! The servers of a plug-in (`--lock external`): whichever lock systems it asked for with
//! `--plugin-servers`, started as for their built-in clients, their addresses handed to
//! the plug-in in environment variables instead of agent flags.

use super::LockServers;
use crate::RunError;
use splitbrain_nemesis::Cluster;
use splitbrain_workloads::locks::LockKind;
use std::path::Path;

/// Starts the servers of each lock system in `kinds` and turns the flags their clients
/// would get (`--redis 10.77.0.1:6379`) into `--plugin-env SPLITBRAIN_REDIS=...`.
pub fn start(
    kinds: &[LockKind],
    cluster: &dyn Cluster,
    run_dir: &Path,
    state: &Path,
) -> Result<LockServers, RunError> {
    let mut out = LockServers {
        agent_args: vec![],
        ready_addrs: vec![],
    };
    for &kind in kinds {
        if kind == LockKind::External {
            return Err(RunError::Config(
                "plugin-servers=external: a plug-in cannot ask for plug-in servers; \
                 name real lock systems, such as redis"
                    .into(),
            ));
        }
        let servers = super::start(kind, cluster, run_dir, state, false)?;
        out.agent_args.extend(plugin_env(&servers.agent_args));
        out.ready_addrs.extend(servers.ready_addrs);
    }
    Ok(out)
}

/// `["--redis", "a:1"]` becomes `["--plugin-env", "SPLITBRAIN_REDIS=a:1"]`; a flag
/// without a value becomes `SPLITBRAIN_<NAME>=1`.
fn plugin_env(agent_args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < agent_args.len() {
        let Some(flag) = agent_args[i].strip_prefix("--") else {
            i += 1;
            continue;
        };
        let name = format!("SPLITBRAIN_{}", flag.to_uppercase().replace('-', "_"));
        let value = match agent_args.get(i + 1) {
            Some(v) if !v.starts_with("--") => {
                i += 1;
                v.clone()
            }
            _ => "1".into(),
        };
        out.push("--plugin-env".into());
        out.push(format!("{name}={value}"));
        i += 1;
    }
    out
}

/// The system programs the plug-in's servers need.
pub fn required_programs(kinds: &[LockKind]) -> Vec<(&'static str, &'static str)> {
    kinds
        .iter()
        .filter(|k| **k != LockKind::External)
        .flat_map(|k| super::required_programs(*k).iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_flags_become_plugin_environment_variables() {
        let args: Vec<String> = [
            "--redis",
            "10.77.0.1:6379",
            "--etcd-endpoints",
            "a,b",
            "--tls",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            plugin_env(&args),
            vec![
                "--plugin-env",
                "SPLITBRAIN_REDIS=10.77.0.1:6379",
                "--plugin-env",
                "SPLITBRAIN_ETCD_ENDPOINTS=a,b",
                "--plugin-env",
                "SPLITBRAIN_TLS=1",
            ]
        );
    }
}
