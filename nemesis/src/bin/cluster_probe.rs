//! splitbrain-cluster-probe: a small driver of the local backend, for tests and for
//! trying the backend by hand.
//!
//! ```text
//! splitbrain-cluster-probe listen PORT
//!     accept connections forever, greeting each with "ok\n"
//! splitbrain-cluster-probe hold RUN_ID NODES
//!     (rootless if not root) bring a cluster up, start a sleeper and a listener in it,
//!     print one JSON line describing it, then wait: SIGINT tears down and exits 0,
//!     SIGKILL simulates a crashed controller
//! splitbrain-cluster-probe bench RUN_ID NODES
//!     time up (with a Redis per node answering), spawn, partition, heal and teardown
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The port probe listeners use.
const PORT: u16 = 7000;
// Generous: a busy 2-core machine must not turn a slow answer into a "cut" pair.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["listen", port] => listen(port),
        ["hold", run_id, nodes] => parse_nodes(nodes).and_then(|n| hold(run_id, n)),
        ["selftest", run_id, nodes] => parse_nodes(nodes).and_then(|n| selftest(run_id, n)),
        ["bench", run_id, nodes] => parse_nodes(nodes).and_then(|n| bench(run_id, n)),
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
    handle_sigint()?;
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
    // Wait for SIGINT (then tear down, as a controller should) or to be killed (then
    // nothing is torn down, as with a crashed controller).
    while !INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = cluster.teardown().map_err(|e| e.to_string())?;
    println!("{}", serde_json::json!({ "torn_down": report }));
    Ok(ExitCode::SUCCESS)
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn handle_sigint() -> Result<(), String> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_sigint),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGINT, &action) }
        .map(|_| ())
        .map_err(|e| format!("cannot handle SIGINT: {e}"))
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

fn bench(run_id: &str, nodes: usize) -> Result<ExitCode, String> {
    let report = run_bench(run_id, nodes).map_err(|e| e.to_string())?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn run_bench(run_id: &str, nodes: usize) -> Result<serde_json::Value, ClusterError> {
    splitbrain_nemesis::local::require_programs(&[("redis-server", "redis-server")])?;
    let t = Instant::now();
    let cluster = LocalCluster::up(LocalConfig::new(run_id, nodes))?;
    let up = t.elapsed();
    for node in cluster.nodes().to_vec() {
        let addr = node.addr.to_string();
        let args = [
            "--bind",
            &addr,
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ];
        let name = format!("redis-{}", node.name);
        cluster.spawn(
            &node.name,
            spec(
                &name,
                ProcessKind::LockServer,
                "redis-server",
                &args,
                &cluster,
            ),
        )?;
    }
    let targets: Vec<_> = cluster
        .nodes()
        .iter()
        .map(|n| (n.addr, 6379).into())
        .collect();
    while !targets.iter().all(|to| redis_pings(&cluster, to)) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let ready = t.elapsed();
    let spawn_exit = time_spawns(&cluster, 20)?;
    let ip_exec = time_ip_netns_exec(&cluster, 20)?;
    let names: Vec<String> = cluster.nodes().iter().map(|n| n.name.clone()).collect();
    let t_part = Instant::now();
    cluster.partition(&Grudge::halves(&names, true))?;
    let partition = t_part.elapsed();
    let t_heal = Instant::now();
    cluster.heal()?;
    let heal = t_heal.elapsed();
    let t_down = Instant::now();
    cluster.teardown()?;
    let down = t_down.elapsed();
    Ok(serde_json::json!({
        "nodes": nodes,
        "up_ms": ms(up),
        "up_with_redis_answering_ms": ms(ready),
        "spawn_to_exit_setns_ms": ms(spawn_exit),
        "spawn_to_exit_ip_netns_exec_ms": ms(ip_exec),
        "partition_ms": ms(partition),
        "heal_ms": ms(heal),
        "teardown_ms": ms(down),
    }))
}

fn redis_pings(cluster: &LocalCluster, to: &std::net::SocketAddr) -> bool {
    use std::io::Read;
    let Ok(mut stream) = cluster.connect(RESOURCE, *to, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

const RESOURCE: &str = splitbrain_nemesis::local::RESOURCE_NODE;

/// Mean time from spawning `true` in a node (setns before exec) to seeing it exit.
fn time_spawns(cluster: &LocalCluster, count: usize) -> Result<Duration, ClusterError> {
    let t = Instant::now();
    for i in 0..count {
        let name = format!("bench-{i}");
        cluster.spawn("n1", spec(&name, ProcessKind::Agent, "true", &[], cluster))?;
        while cluster
            .processes()
            .iter()
            .any(|p| p.name == name && p.state.is_alive())
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(t.elapsed() / count as u32)
}

/// Mean time of `ip netns exec NS true`, the alternative to setns before exec.
fn time_ip_netns_exec(cluster: &LocalCluster, count: usize) -> Result<Duration, ClusterError> {
    let ns = cluster.namespace_of("n1")?;
    let t = Instant::now();
    for _ in 0..count {
        std::process::Command::new("ip")
            .args(["netns", "exec", &ns, "true"])
            .status()
            .map_err(|e| ClusterError::Io {
                context: "ip netns exec".into(),
                source: e,
            })?;
    }
    Ok(t.elapsed() / count as u32)
}
