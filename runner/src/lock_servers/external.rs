//! How a plug-in learns where its servers are: the flags splitbrain's own client of
//! each server set would get (`--redis 10.77.0.1:6379`) become environment variables
//! (`SPLITBRAIN_REDIS=10.77.0.1:6379`) that the agent passes to the plug-in.

/// `["--redis", "a:1"]` becomes `["--plugin-env", "SPLITBRAIN_REDIS=a:1"]`; a flag
/// without a value becomes `SPLITBRAIN_<NAME>=1`.
pub fn plugin_env(agent_args: &[String]) -> Vec<String> {
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
