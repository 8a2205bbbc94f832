//! Measures how many lock cycles per second the counter workload drives through real
//! agents, a real redis-server and the resource on loopback, with and without recording.
//!
//! ```text
//! cargo run --release -p splitbrain-workloads --example throughput -- --clients 10 --secs 5 --keys 1
//! ```
//!
//! A cycle is one acquire-ok ... release-ok pair; `ops/s` counts every recorded op
//! (invokes and completions), including refused acquires.

use clap::Parser;
use splitbrain_history::Recorder;
use splitbrain_workloads::Fencing;
use splitbrain_workloads::agent::{AgentArgs, AgentServer};
use splitbrain_workloads::counter::{ClientSummary, CounterClientConfig, HolderBoard, run_client};
use splitbrain_workloads::locks::LockKind;
use splitbrain_workloads::resource::{ResourceArgs, ResourceServer};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Options of the measurement.
#[derive(Parser, Debug)]
struct Opts {
    /// Client slots (one agent each).
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Lock keys; slot i uses key i mod keys. The resource has one counter, so with
    /// more than one key only the throughput figures mean anything.
    #[arg(long, default_value_t = 1)]
    keys: usize,
    /// Attempts per second over all clients; the default is far above what the system
    /// can do, so slots retry at once.
    #[arg(long, default_value_t = 1e7)]
    rate: f64,
    /// Fencing on or off.
    #[arg(long, value_enum, default_value_t = Fencing::On)]
    fencing: Fencing,
    /// Wait inside the critical section, in milliseconds.
    #[arg(long, default_value_t = 0)]
    cs_wait_ms: u64,
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(dir: &Path) -> (Redis, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let redis = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .map(Redis)
        .expect("redis-server is installed");
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..250 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return (redis, addr);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start on {addr}");
}

#[tokio::main]
async fn main() {
    let opts = Opts::parse();
    for recorded in [true, false] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (rate, summaries) = measure(&opts, dir.path(), recorded).await;
        let cycles: u64 = summaries.iter().map(|s| s.released).sum();
        let acquires: u64 = summaries.iter().map(|s| s.acquires).sum();
        let infos: u64 = summaries.iter().map(|s| s.infos).sum();
        println!(
            "{:10} clients={} keys={} fencing={:?} cs_wait_ms={}: {:.0} cycles/s, {:.0} acquire attempts/s, {:.0} ops/s, info={infos}",
            if recorded { "recorded" } else { "unrecorded" },
            opts.clients,
            opts.keys,
            opts.fencing,
            opts.cs_wait_ms,
            cycles as f64 / opts.secs,
            acquires as f64 / opts.secs,
            rate,
        );
    }
}

/// Runs the workload for `opts.secs` and returns ops/s and the slots' summaries.
async fn measure(opts: &Opts, dir: &Path, recorded: bool) -> (f64, Vec<ClientSummary>) {
    let (_redis, redis_addr) = start_redis(dir);
    let resource = ResourceServer::bind(&ResourceArgs {
        listen: "127.0.0.1:0".into(),
        log: dir.join("resource.jsonl"),
        fencing: opts.fencing,
    })
    .await
    .expect("bind the resource");
    let resource_addr = resource.local_addr().to_string();
    let mut tasks = vec![tokio::spawn(async move { drop(resource.run().await) })];
    for slot in 0..opts.clients {
        let server = AgentServer::bind(&AgentArgs {
            socket: Some(dir.join(format!("agent-{slot}.sock"))),
            listen: None,
            node: format!("n{slot}"),
            lock: LockKind::Redis,
            redis: Some(redis_addr.clone()),
            endpoints: Default::default(),
            kube: Default::default(),
            resource: resource_addr.clone(),
            fencing: opts.fencing,
            op_timeout_ms: 1000,
            plugin: Default::default(),
            optimistic_unsafe: false,
        })
        .await
        .expect("bind an agent");
        tasks.push(tokio::spawn(async move { drop(server.run().await) }));
    }
    let recorder = Arc::new(if recorded {
        Recorder::create(&dir.join("history.jsonl")).expect("create the history")
    } else {
        Recorder::unrecorded()
    });
    let board = Arc::new(HolderBoard::new());
    let (stop_tx, stop) = watch::channel(false);
    let started = Instant::now();
    let clients: Vec<_> = (0..opts.clients)
        .map(|slot| {
            let cfg = CounterClientConfig {
                slot,
                clients: opts.clients,
                seed: 1,
                rate: opts.rate,
                key: format!("lock-{}", slot % opts.keys.max(1)),
                ttl: Duration::from_secs(5),
                cs_wait: Duration::from_millis(opts.cs_wait_ms),
                op_timeout: Duration::from_secs(3),
                agent_socket: dir.join(format!("agent-{slot}.sock")),
                node: format!("n{slot}"),
                agent_name: format!("agent-{slot}"),
                final_notices: None,
            };
            tokio::spawn(run_client(
                cfg,
                Arc::clone(&recorder),
                Arc::clone(&board),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(opts.secs)).await;
    stop_tx.send(true).expect("clients listen");
    let mut summaries = Vec::new();
    for c in clients {
        summaries.push(c.await.expect("client ran"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        t.abort();
    }
    if let Ok(path) = std::env::var("THROUGHPUT_KEEP") {
        let _ = std::fs::copy(dir.join("history.jsonl"), path);
    }
    let counts = recorder.counts();
    let ops = counts.invoke + counts.ok + counts.fail + counts.info;
    (ops as f64 / elapsed, summaries)
}
