//! Support for the Kubernetes lock tests: a real etcd on loopback (temp data dir,
//! ephemeral ports) with the API stand-in in front of it, both stopped on drop.

#![allow(dead_code)]

use splitbrain_apiserver_standin::{Standin, StandinArgs};
use splitbrain_workloads::locks::k8s_elector::{Clock, Clocks};
use splitbrain_workloads::locks::k8s_elector_lock::KubeLockConfig;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// An Api is a running etcd and stand-in; both stop when it is dropped.
pub struct Api {
    etcd: Child,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
    /// The stand-in's URL.
    pub url: String,
}

impl Api {
    /// Stops etcd with SIGSTOP: requests reach the stand-in and hang there.
    pub fn pause_etcd(&self) {
        self.signal_etcd("-STOP");
    }

    /// Lets a stopped etcd run again.
    pub fn resume_etcd(&self) {
        self.signal_etcd("-CONT");
    }

    fn signal_etcd(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.etcd.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} etcd");
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.abort();
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral loopback port")
}

/// Starts etcd and the stand-in; returns once the stand-in listens (so etcd answers).
pub async fn start() -> Api {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (client, peer) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let etcd = Command::new("etcd")
        .args(["--name", "t", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("t={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd runs (apt-get install etcd-server)");
    let args = StandinArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        etcd: vec![url],
        request_timeout_ms: 2000,
        startup_timeout_ms: 20000,
    };
    let standin = Standin::bind(&args).await;
    let standin = match standin {
        Ok(s) => s,
        Err(e) => panic!("the stand-in starts: {e}"),
    };
    let url = format!("http://{}", standin.addr());
    let server = tokio::spawn(async move {
        let _ = standin.run().await;
    });
    Api {
        etcd,
        _dir: dir,
        server,
        url,
    }
}

/// A ManualClock is the system clock plus an offset a test moves.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap();
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// The clock as a lock client takes it.
    pub fn clock(&self) -> Clock {
        let offset = Arc::clone(&self.0);
        Arc::new(move || {
            let ms = offset.load(Ordering::SeqCst);
            let now = SystemTime::now();
            if ms >= 0 {
                now + Duration::from_millis(ms.unsigned_abs())
            } else {
                now - Duration::from_millis(ms.unsigned_abs())
            }
        })
    }
}

/// A lock client configuration for `api` with its own holder prefix and clock.
pub fn config(api: &Api, holder: &str, clock: Clock, op_timeout: Duration) -> KubeLockConfig {
    let clocks = Clocks::single(clock);
    KubeLockConfig {
        api_url: api.url.clone(),
        namespace: "default".into(),
        op_timeout,
        holder_prefix: holder.into(),
        clocks,
    }
}

/// Waits until `f` is true or `limit` passes.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}
