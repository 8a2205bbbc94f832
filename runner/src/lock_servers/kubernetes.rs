//! The servers of the Kubernetes locks on the local backend: a real control plane. A
//! 3-member etcd cluster on the first three nodes (fewer if the run has fewer) and a
//! kube-apiserver (built by `scripts/build-kubernetes`) on every node, each talking to
//! etcd with its own node's member first, serving HTTPS with a certificate from the
//! run's own CA (see [`crate::kube_control_plane`]).
//!
//! Agents use the API server on their own node, so a partition cuts an agent off the
//! API exactly as it cuts that API server off etcd's majority. Every API server and
//! etcd member is a lock server: the nemesis pauses, kills and restarts them like any
//! other. Before the workload, `kubectl apply -f manifests/rbac.yaml` runs for real on
//! the resource node, and the agents' token is the service account it grants.

use super::LockServers;
use super::etcd::{ETCD_CLIENT_PORT, EtcdCluster};
use super::wait::{READY_LIMIT, run_setup, until_ready};
use crate::RunError;
use crate::kube_control_plane::{
    ADMIN_USER, AGENT_USER, APISERVER_PORT, ControlPlaneFiles, LOCK_NAMESPACE, apiserver_args,
    apiserver_url, kubeconfig, kubernetes_bin_dir, write_credentials,
};
use splitbrain_nemesis::{Cluster, Node, ProcessKind, ProcessSpec};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The admin kubeconfig a run keeps in its directory while it lives.
pub const ADMIN_KUBECONFIG: &str = "kubeconfig";

/// The namespace of the lock objects and the RBAC the agents run under, applied to
/// every Kubernetes run in this order.
const MANIFESTS: [(&str, &str); 2] = [
    (
        "namespace.yaml",
        include_str!("../../../manifests/namespace.yaml"),
    ),
    ("rbac.yaml", include_str!("../../../manifests/rbac.yaml")),
];

/// How long one readiness probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The built Kubernetes programs a run needs, each checked before anything starts.
pub fn require_built() -> Result<(), RunError> {
    for program in ["kube-apiserver", "kubectl"] {
        built_program(program)?;
    }
    Ok(())
}

fn built_program(program: &str) -> Result<PathBuf, RunError> {
    crate::build_cache::require_built(
        kubernetes_bin_dir().join(program),
        "scripts/build-kubernetes",
    )
}

/// Starts etcd and the API servers, waits until every API server is ready, applies the
/// RBAC, and tells agents where their API servers are.
pub fn start(cluster: &dyn Cluster, run_dir: &Path, state: &Path) -> Result<LockServers, RunError> {
    let apiserver = built_program("kube-apiserver")?;
    let kubectl = built_program("kubectl")?;
    let nodes = cluster.nodes().to_vec();
    let dir = state.join("kubernetes");
    let servers: Vec<(String, IpAddr)> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.addr.into()))
        .collect();
    let files = write_credentials(&dir, &servers).map_err(RunError::io(&dir))?;
    let etcd = super::etcd::start_cluster(cluster, run_dir, state)?;
    let mut ready_addrs = Vec::with_capacity(nodes.len());
    for node in &nodes {
        let name = format!("apiserver-{}", node.name);
        let listen = SocketAddr::new(node.addr.into(), APISERVER_PORT);
        cluster.spawn(
            &node.name,
            ProcessSpec {
                name: name.clone(),
                kind: ProcessKind::LockServer,
                program: apiserver.clone(),
                args: apiserver_args(&files, &node.name, listen, &etcd_endpoints(&etcd, node)),
                env: vec![],
                log: run_dir.join(format!("logs/{name}.log")),
            },
        )?;
        ready_addrs.push((name, listen));
    }
    let agent_kubeconfigs = write_kubeconfigs(&files, &ready_addrs, run_dir)?;
    wait_ready(cluster, &files, &ready_addrs)?;
    apply_rbac(cluster, &files, &kubectl, run_dir)?;
    let paths: Vec<String> = agent_kubeconfigs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    Ok(LockServers {
        agent_args: vec![
            "--kubeconfig".into(),
            paths.join(","),
            "--kube-namespace".into(),
            LOCK_NAMESPACE.into(),
        ],
        ready_addrs,
    })
}

/// One agent kubeconfig per API server (in the state directory, gone at teardown), and
/// the admin kubeconfig with a context per node in the run directory.
fn write_kubeconfigs(
    files: &ControlPlaneFiles,
    apiservers: &[(String, SocketAddr)],
    run_dir: &Path,
) -> Result<Vec<PathBuf>, RunError> {
    let contexts: Vec<(String, String)> = apiservers
        .iter()
        .map(|(name, addr)| (node_of(name).to_string(), apiserver_url(*addr)))
        .collect();
    let mut agent_paths = Vec::with_capacity(contexts.len());
    for context in &contexts {
        let path = files.dir.join(format!("agent-{}.kubeconfig", context.0));
        let text = kubeconfig(
            std::slice::from_ref(context),
            &files.ca_pem,
            AGENT_USER,
            &files.agent_token,
        );
        std::fs::write(&path, text).map_err(RunError::io(&path))?;
        agent_paths.push(path);
    }
    let admin = kubeconfig(&contexts, &files.ca_pem, ADMIN_USER, &files.admin_token);
    let admin_path = files.dir.join("admin.kubeconfig");
    std::fs::write(&admin_path, &admin).map_err(RunError::io(&admin_path))?;
    let kept = run_dir.join(ADMIN_KUBECONFIG);
    std::fs::write(&kept, &admin).map_err(RunError::io(&kept))?;
    Ok(agent_paths)
}

/// `apiserver-n2` -> `n2`.
fn node_of(process: &str) -> &str {
    process.strip_prefix("apiserver-").unwrap_or(process)
}

/// Removes the admin kubeconfig from a finished run's directory: its token died with
/// the run's API servers.
pub fn forget_admin_kubeconfig(run_dir: &Path) {
    let path = run_dir.join(ADMIN_KUBECONFIG);
    if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove the admin kubeconfig");
    }
}

/// Waits until every API server answers `/readyz` with 200: storage (etcd) reachable,
/// RBAC's bootstrap roles in place, every post-start hook done.
fn wait_ready(
    cluster: &dyn Cluster,
    files: &ControlPlaneFiles,
    apiservers: &[(String, SocketAddr)],
) -> Result<(), RunError> {
    until_ready("kube-apiserver", READY_LIMIT, || {
        for (name, addr) in apiservers {
            let stream = cluster
                .connect(node_of(name), *addr, PROBE_TIMEOUT)
                .map_err(|e| format!("{name}: {e}"))?;
            let reply = https_get(
                stream,
                addr.ip(),
                &files.ca_der,
                &files.admin_token,
                "/readyz",
            )
            .map_err(|e| format!("{name}: {e}"))?;
            if !reply.starts_with("HTTP/1.1 200") && !reply.starts_with("HTTP/1.0 200") {
                let status = reply.lines().next().unwrap_or_default();
                return Err(format!("{name}: /readyz answered {status}"));
            }
        }
        Ok(())
    })
}

/// `kubectl apply -f manifests/namespace.yaml -f manifests/rbac.yaml` as the admin,
/// from the resource node (which no partition touches), against the first API server.
fn apply_rbac(
    cluster: &dyn Cluster,
    files: &ControlPlaneFiles,
    kubectl: &Path,
    run_dir: &Path,
) -> Result<(), RunError> {
    let path = |p: PathBuf| p.display().to_string();
    let mut filenames = Vec::with_capacity(MANIFESTS.len());
    for (name, text) in MANIFESTS {
        let file = files.dir.join(name);
        std::fs::write(&file, text).map_err(RunError::io(&file))?;
        filenames.push(format!("--filename={}", path(file)));
    }
    let spec = ProcessSpec {
        name: "kubectl-apply-rbac".into(),
        kind: ProcessKind::Setup,
        program: kubectl.to_path_buf(),
        args: vec![
            format!("--kubeconfig={}", path(files.dir.join("admin.kubeconfig"))),
            // kubectl's discovery cache would otherwise go to ~/.kube.
            format!("--cache-dir={}", path(files.dir.join("kubectl-cache"))),
            "apply".into(),
        ]
        .into_iter()
        .chain(filenames)
        .collect(),
        env: vec![],
        log: run_dir.join("logs/kubectl-apply-rbac.log"),
    };
    run_setup(cluster, &cluster.resource_node().name, spec, READY_LIMIT)
}

/// One HTTPS GET over `stream` to the server at `server`, trusting only the run's CA
/// and sending `token`; returns the raw reply (status line, headers, body).
fn https_get(
    stream: TcpStream,
    server: IpAddr,
    ca_der: &[u8],
    token: &str,
    path: &str,
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der.to_vec()))
        .map_err(|e| format!("the run's CA: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS config: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::IpAddress(server.into());
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| format!("TLS: {e}"))?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    match tls.read_to_end(&mut reply) {
        Ok(_) => {}
        // A server closing without TLS's close_notify still said everything.
        Err(_) if !reply.is_empty() => {}
        Err(e) => return Err(format!("no answer: {e}")),
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// The members' client URLs, `node`'s own member first when it has one.
fn etcd_endpoints(etcd: &EtcdCluster, node: &Node) -> Vec<String> {
    let mut urls: Vec<String> = etcd
        .client_addrs
        .iter()
        .map(|a| format!("http://{a}"))
        .collect();
    let own = SocketAddr::new(node.addr.into(), ETCD_CLIENT_PORT);
    if let Some(i) = etcd.client_addrs.iter().position(|a| *a == own) {
        urls.swap(0, i);
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn node(i: u8) -> Node {
        Node {
            name: format!("n{i}"),
            addr: Ipv4Addr::new(10, 77, 0, i),
        }
    }

    #[test]
    fn an_api_server_talks_to_its_own_etcd_member_first() {
        let members = EtcdCluster {
            processes: vec![],
            client_addrs: [node(1), node(2), node(3)]
                .iter()
                .map(|n| SocketAddr::new(n.addr.into(), ETCD_CLIENT_PORT))
                .collect(),
        };
        let urls = etcd_endpoints(&members, &node(2));
        assert_eq!(urls[0], "http://10.77.0.2:2379");
        assert_eq!(urls.len(), 3);
        // A node without a member keeps the members' order.
        assert_eq!(
            etcd_endpoints(&members, &node(5))[0],
            "http://10.77.0.1:2379"
        );
    }

    #[test]
    fn the_manifests_applied_create_the_namespace_then_grant_the_agents_user() {
        let account = AGENT_USER.rsplit(':').next().unwrap();
        let namespace = AGENT_USER.split(':').nth(2).unwrap();
        let [(_, first), (_, rbac)] = MANIFESTS;
        assert!(first.contains("kind: Namespace") && first.contains(namespace));
        assert!(rbac.contains(&format!("name: {account}")));
        assert!(rbac.contains(&format!("namespace: {namespace}")));
    }
}
