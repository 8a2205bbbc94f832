//! splitbrain-cluster-probe: a small driver of the local backend, for tests and for
//! trying the backend by hand.
//!
//! ```text
//! splitbrain-cluster-probe listen PORT
//!     accept connections forever, greeting each with "ok\n"
//! splitbrain-cluster-probe hold RUN_ID NODES
//!     bring a cluster up, start a sleeper and a listener in it, print one JSON line
//!     describing it, then wait forever (a test kills it to simulate a crashed controller)
//! splitbrain-cluster-probe selftest RUN_ID NODES
//!     (rootless if not root) bring a cluster up, check reachability before, during and
//!     after a partition, tear down, print a JSON report; exit 0 only if all held
//! ```

use splitbrain_nemesis::local::{LocalCluster, LocalConfig, enter_user_namespace_if_needed};
use splitbrain_nemesis::probe::reachability;
use splitbrain_nemesis::{Cluster, ClusterError, Grudge, ProcessKind, ProcessSpec};
use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The port probe listeners use.
const PORT: u16 = 7000;
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["listen", port] => listen(port),
        ["hold", run_id, nodes] => parse_nodes(nodes).and_then(|n| hold(run_id, n)),
        ["selftest", run_id, nodes] => parse_nodes(nodes).and_then(|n| selftest(run_id, n)),
        _ => Err("usage: splitbrain-cluster-probe listen PORT | hold RUN_ID NODES | selftest RUN_ID NODES".to_string()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("splitbrain-cluster-probe: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_nodes(text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("nodes={text} is not a number"))
}

fn listen(port: &str) -> Result<ExitCode, String> {
    let listener = TcpListener::bind(("0.0.0.0", port.parse::<u16>().map_err(|e| e.to_string())?))
        .map_err(|e| format!("cannot listen on port={port}: {e}"))?;
    for stream in listener.incoming().flatten() {
        let mut stream = stream;
        let _ = stream.write_all(b"ok\n");
    }
    Ok(ExitCode::SUCCESS)
}

fn spec(
    name: &str,
    kind: ProcessKind,
    program: &str,
    args: &[&str],
    cluster: &LocalCluster,
) -> ProcessSpec {
    ProcessSpec {
        name: name.to_string(),
        kind,
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        log: cluster.state_dir().join(format!("{name}.log")),
    }
}

fn hold(run_id: &str, nodes: usize) -> Result<ExitCode, String> {
    if let Some(code) = enter_user_namespace_if_needed().map_err(|e| e.to_string())? {
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let cluster = LocalCluster::up(LocalConfig::new(run_id, nodes)).map_err(|e| e.to_string())?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let me = me.to_string_lossy();
    cluster
        .spawn(
            "n1",
            spec(
                "sleeper",
                ProcessKind::LockServer,
                "sleep",
                &["1000"],
                &cluster,
            ),
        )
        .and_then(|()| {
            cluster.spawn(
                "resource",
                spec(
                    "resource",
                    ProcessKind::Resource,
                    &me,
                    &["listen", "7000"],
                    &cluster,
                ),
            )
        })
        .map_err(|e| e.to_string())?;
    let line = serde_json::json!({
        "ready": true,
        "namespaces": cluster.namespaces(),
        "state_dir": cluster.state_dir(),
        "processes": cluster.processes(),
    });
    println!("{line}");
    let _ = std::io::stdout().flush();
    // Wait to be killed; a crashed controller never tears down.
    loop {
        std::thread::park();
    }
}

fn selftest(run_id: &str, nodes: usize) -> Result<ExitCode, String> {
    if let Some(code) = enter_user_namespace_if_needed().map_err(|e| e.to_string())? {
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let report = run_selftest(run_id, nodes).map_err(|e| e.to_string())?;
    println!("{report}");
    let passed = report["passed"].as_bool() == Some(true);
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_selftest(run_id: &str, nodes: usize) -> Result<serde_json::Value, ClusterError> {
    let started = Instant::now();
    let cluster = LocalCluster::up(LocalConfig::new(run_id, nodes))?;
    let up_ms = started.elapsed().as_millis();
    let me = std::env::current_exe().map_err(|e| ClusterError::Io {
        context: "current_exe".into(),
        source: e,
    })?;
    let me = me.to_string_lossy().into_owned();
    for node in cluster.nodes().to_vec() {
        let name = format!("listener-{}", node.name);
        cluster.spawn(
            &node.name,
            spec(
                &name,
                ProcessKind::Agent,
                &me,
                &["listen", "7000"],
                &cluster,
            ),
        )?;
    }
    wait_for_listeners(&cluster);
    let all = cluster.nodes().to_vec();
    let before = reachability(&cluster, &all, PORT, PROBE_TIMEOUT);
    let names: Vec<String> = all.iter().map(|n| n.name.clone()).collect();
    let grudge = Grudge::isolate("n1", &names);
    cluster.partition(&grudge)?;
    let during = reachability(&cluster, &all, PORT, PROBE_TIMEOUT);
    cluster.heal()?;
    let after = reachability(&cluster, &all, PORT, PROBE_TIMEOUT);
    let partition_exact = during.iter().all(|((a, b), ok)| *ok != grudge.cuts(a, b));
    let passed = before.values().all(|ok| *ok) && partition_exact && after.values().all(|ok| *ok);
    let teardown = cluster.teardown()?;
    Ok(serde_json::json!({
        "passed": passed,
        "euid": nix::unistd::geteuid().as_raw(),
        // The initial namespace maps every uid; a rootless run maps only its own.
        "uid_map": std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default().trim(),
        "up_ms": up_ms,
        "reachable_before": before.values().filter(|ok| **ok).count(),
        "reachable_during": during.values().filter(|ok| **ok).count(),
        "reachable_after": after.values().filter(|ok| **ok).count(),
        "pairs": before.len(),
        "partition_exact": partition_exact,
        "teardown": teardown,
    }))
}

/// Listeners take a moment to bind; probing too early would count a pair unreachable.
fn wait_for_listeners(cluster: &LocalCluster) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let nodes = cluster.nodes().to_vec();
    while Instant::now() < deadline {
        if reachability(cluster, &nodes, PORT, PROBE_TIMEOUT)
            .values()
            .all(|ok| *ok)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
