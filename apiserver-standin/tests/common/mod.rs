//! Test support: a real etcd on loopback (temp data dir, ephemeral ports) and the
//! stand-in in front of it, or a real cluster from KUBECONFIG.

#![allow(dead_code)]

use kube::Client;
use splitbrain_apiserver_standin::{Standin, StandinArgs};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An Etcd is a single-member etcd process, killed and reaped when dropped.
pub struct Etcd {
    child: Child,
    _dir: tempfile::TempDir,
    /// The client URL.
    pub url: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral loopback port")
}

impl Etcd {
    /// Starts etcd and waits until it accepts TCP connections.
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
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
        let etcd = Etcd {
            child,
            _dir: dir,
            url,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
            assert!(Instant::now() < deadline, "etcd did not listen within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        etcd
    }
}

/// A Target is what a test talks to: a client, and what keeps the servers alive.
pub struct Target {
    /// A kube-rs client of the target.
    pub client: Client,
    /// The namespace to use.
    pub namespace: String,
    /// The stand-in's base URL, when the target is the stand-in.
    pub base_url: Option<String>,
    _etcd: Option<Etcd>,
    _server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(s) = &self._server {
            s.abort();
        }
    }
}

/// The stand-in over a fresh etcd, served on an ephemeral loopback port.
pub async fn standin() -> Target {
    let etcd = Etcd::start();
    let args = StandinArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        etcd: vec![etcd.url.clone()],
        request_timeout_ms: 5000,
        startup_timeout_ms: 20000,
    };
    let standin = Standin::bind(&args).await.expect("the stand-in binds");
    let base_url = format!("http://{}", standin.addr());
    let server = tokio::spawn(async move {
        let _ = standin.run().await;
    });
    let mut config = kube::Config::new(base_url.parse().unwrap());
    config.default_retry = false;
    let client = Client::try_from(config).expect("a kube client for the stand-in");
    Target {
        client,
        namespace: "default".into(),
        base_url: Some(base_url),
        _etcd: Some(etcd),
        _server: Some(server),
    }
}

/// The cluster KUBECONFIG names.
pub async fn cluster() -> Target {
    let client = Client::try_default()
        .await
        .expect("a client from KUBECONFIG (is it set and valid?)");
    Target {
        client,
        namespace: std::env::var("SPLITBRAIN_TEST_NAMESPACE").unwrap_or_else(|_| "default".into()),
        base_url: None,
        _etcd: None,
        _server: None,
    }
}

/// A name no earlier run used, so real-cluster runs do not collide.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}
