//! Support for the Kubernetes tests: a real control plane on loopback (Debian's etcd
//! and the kube-apiserver `scripts/install-deps` builds, with credentials made by
//! splitbrain's own `kube_control_plane`, and the namespace and RBAC of `manifests/` applied
//! with kubectl), stopped on drop.

#![allow(dead_code)]

use splitbrain_runner::kube_control_plane::{
    ADMIN_USER, AGENT_USER, LOCK_NAMESPACE, apiserver_args, apiserver_url, kubeconfig,
    kubernetes_bin_dir, write_credentials,
};
use splitbrain_workloads::locks::k8s_elector::{Clock, Clocks};
use splitbrain_workloads::locks::k8s_elector_lock::{KubeLockConfig, kube_client, load_kubeconfig};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// How long the control plane gets to become ready.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// An Api is a running etcd and kube-apiserver; both stop when it is dropped.
pub struct Api {
    etcd: Child,
    apiserver: Child,
    dir: tempfile::TempDir,
    /// The agents' view: the service account `manifests/rbac.yaml` grants.
    pub agent: kube::Config,
    /// An admin (`system:masters`).
    pub admin: kube::Config,
    /// The admin kubeconfig file, for kubectl.
    pub admin_kubeconfig: PathBuf,
    /// The agents' kubeconfig file, for plug-ins.
    pub agent_kubeconfig: PathBuf,
    /// The namespace the agents may use.
    pub namespace: String,
}

impl Api {
    /// Stops etcd with SIGSTOP: requests reach the API server and hang there.
    pub fn pause_etcd(&self) {
        signal(&self.etcd, "-STOP");
    }

    /// Lets a stopped etcd run again.
    pub fn resume_etcd(&self) {
        signal(&self.etcd, "-CONT");
    }

    /// A kube client with the agents' rights.
    pub fn agent_client(&self) -> kube::Client {
        kube_client(&self.agent, Duration::from_secs(5)).expect("a kube client")
    }

    /// A kube client with every right.
    pub fn admin_client(&self) -> kube::Client {
        kube_client(&self.admin, Duration::from_secs(5)).expect("a kube client")
    }

    /// Runs the built kubectl as the admin; returns its stdout, failing the test with
    /// its stderr when it exits non-zero.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new(built("kubectl"))
            .arg(format!("--kubeconfig={}", self.admin_kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("kubectl-cache").display()
            ))
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The API server's log so far, for failure messages.
    pub fn apiserver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("apiserver.log")).unwrap_or_default()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        for child in [&mut self.apiserver, &mut self.etcd] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {}", child.id());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral loopback port")
}

/// A program `scripts/install-deps` builds; fails the test naming the script when it
/// is missing.
pub fn built(program: &str) -> PathBuf {
    let path = kubernetes_bin_dir().join(program);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-deps (it builds kube-apiserver and kubectl)",
        path.display()
    );
    path
}

fn log_file(dir: &Path, name: &str) -> Stdio {
    std::fs::File::create(dir.join(name))
        .map(Stdio::from)
        .expect("a log file")
}

fn start_etcd(dir: &Path) -> (Child, String) {
    let (client, peer) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let etcd = Command::new("etcd")
        .args(["--name", "t", "--data-dir"])
        .arg(dir.join("etcd-data"))
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
        .stderr(log_file(dir, "etcd.log"))
        .spawn()
        .expect("etcd runs (apt-get install etcd-server, or scripts/install-deps)");
    (etcd, url)
}

/// Starts etcd and kube-apiserver, waits until the API server is ready, and applies
/// `manifests/rbac.yaml` with kubectl.
pub async fn start() -> Api {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (etcd, etcd_url) = start_etcd(dir.path());
    let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), free_port());
    let files = write_credentials(&dir.path().join("pki"), &[("api".into(), listen.ip())])
        .expect("control-plane credentials");
    let apiserver = Command::new(built("kube-apiserver"))
        .args(apiserver_args(&files, "api", listen, &[etcd_url]))
        .stdout(Stdio::null())
        .stderr(log_file(dir.path(), "apiserver.log"))
        .spawn()
        .expect("kube-apiserver runs");
    let servers = [("api".to_string(), apiserver_url(listen))];
    let write = |name: &str, user: &str, token: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, kubeconfig(&servers, &files.ca_pem, user, token))
            .expect("a kubeconfig");
        path
    };
    let admin_kubeconfig = write("admin.kubeconfig", ADMIN_USER, &files.admin_token);
    let agent_kubeconfig = write("agent.kubeconfig", AGENT_USER, &files.agent_token);
    let mut api = Api {
        etcd,
        apiserver,
        admin: load_kubeconfig(&admin_kubeconfig)
            .await
            .expect("admin kubeconfig"),
        agent: load_kubeconfig(&agent_kubeconfig)
            .await
            .expect("agent kubeconfig"),
        admin_kubeconfig,
        agent_kubeconfig,
        namespace: LOCK_NAMESPACE.into(),
        dir,
    };
    wait_ready(&mut api).await;
    let manifests = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests");
    api.kubectl(&[
        "apply",
        &format!("--filename={manifests}/namespace.yaml"),
        &format!("--filename={manifests}/rbac.yaml"),
    ]);
    api
}

async fn wait_ready(api: &mut Api) {
    let client = api.admin_client();
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = api.apiserver.try_wait() {
            panic!("kube-apiserver exited ({status}):\n{}", api.apiserver_log());
        }
        let request = http::Request::get("/readyz").body(vec![]).unwrap();
        let last = match client.request_text(request).await {
            Ok(text) if text.trim() == "ok" => return,
            Ok(text) => text,
            Err(e) => e.to_string(),
        };
        assert!(
            started.elapsed() < READY_LIMIT,
            "kube-apiserver not ready within {READY_LIMIT:?}: {last}\n{}",
            api.apiserver_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
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

/// A lock client configuration for `api` (as the agents' service account) with its
/// own holder prefix and clock.
pub fn config(api: &Api, holder: &str, clock: Clock, op_timeout: Duration) -> KubeLockConfig {
    let clocks = Clocks::single(clock);
    KubeLockConfig {
        api: api.agent.clone(),
        namespace: api.namespace.clone(),
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
