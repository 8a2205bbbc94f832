//! What a real Kubernetes control plane needs before its first request, made fresh for
//! every run: a throwaway certificate authority and a serving certificate per API
//! server, a service-account signing key, bearer tokens for an admin and for the
//! agents' service account, the kube-apiserver command line, and kubeconfig files that
//! point kubectl or a kube client at one API server.
//!
//! Nothing here talks to a server; [`crate::lock_servers`] starts the processes. The
//! integration tests use the same functions to run kube-apiserver on loopback.
//!
//! The agents authenticate with a static token (`--token-auth-file`) as the user
//! `system:serviceaccount:splitbrain:splitbrain-agent`, which is the name RBAC gives
//! that service account, so the Role and RoleBinding of `manifests/rbac.yaml` decide
//! what they may do, exactly as for a pod running under that account.

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

pub use crate::build_cache::kubernetes_bin_dir;

/// The Kubernetes release whose kube-apiserver and kubectl the runs use; the one
/// `tools/kubernetes/go.mod` pins (a test checks they agree).
pub const KUBERNETES_VERSION: &str = "v1.34.4";
/// The port every API server serves HTTPS on inside its node.
pub const APISERVER_PORT: u16 = 6443;
/// The namespace the agents' service account lives in and may use.
pub const LOCK_NAMESPACE: &str = "splitbrain";
/// The user the agents' token authenticates as: the agents' service account.
pub const AGENT_USER: &str = "system:serviceaccount:splitbrain:splitbrain-agent";
/// The user the admin token authenticates as (in `system:masters`, allowed anything).
pub const ADMIN_USER: &str = "splitbrain-admin";
/// The services' virtual IP range the API servers are told about (nothing routes it).
const SERVICE_CLUSTER_IP_RANGE: &str = "10.96.0.0/16";
/// The first address of that range, which clients in a cluster know the API by.
const SERVICE_CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);
/// The issuer of service-account tokens.
const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// ControlPlaneFiles are the credentials of one control plane, written to one folder.
#[derive(Clone, Debug)]
pub struct ControlPlaneFiles {
    /// The folder they are in.
    pub dir: PathBuf,
    /// The CA certificate, PEM, which every client trusts.
    pub ca_pem: String,
    /// The same certificate, DER.
    pub ca_der: Vec<u8>,
    /// The bearer token of [`ADMIN_USER`].
    pub admin_token: String,
    /// The bearer token of [`AGENT_USER`].
    pub agent_token: String,
}

impl ControlPlaneFiles {
    /// The CA certificate file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The serving certificate of the API server `server`.
    pub fn serving_cert(&self, server: &str) -> PathBuf {
        self.dir.join(format!("apiserver-{server}.crt"))
    }

    /// The serving certificate's private key.
    pub fn serving_key(&self, server: &str) -> PathBuf {
        self.dir.join(format!("apiserver-{server}.key"))
    }

    /// The service-account signing key (private).
    pub fn service_account_key(&self) -> PathBuf {
        self.dir.join("service-account.key")
    }

    /// Its public key, which the API server verifies tokens with.
    pub fn service_account_public_key(&self) -> PathBuf {
        self.dir.join("service-account.pub")
    }

    /// The `--token-auth-file`: one line per token.
    pub fn token_file(&self) -> PathBuf {
        self.dir.join("tokens.csv")
    }
}

/// Writes a fresh CA, a serving certificate for each `(name, address)` server, a
/// service-account key and the token file into `dir` (created if missing).
pub fn write_credentials(
    dir: &Path,
    servers: &[(String, IpAddr)],
) -> io::Result<ControlPlaneFiles> {
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate().map_err(pki_error)?;
    let ca_params = ca_params()?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(pki_error)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let files = ControlPlaneFiles {
        dir: dir.to_path_buf(),
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        admin_token: random_token(),
        agent_token: random_token(),
    };
    write_private(&files.ca_file(), files.ca_pem.as_bytes())?;
    for (name, addr) in servers {
        let key = KeyPair::generate().map_err(pki_error)?;
        let cert = serving_params(*addr)?
            .signed_by(&key, &issuer)
            .map_err(pki_error)?;
        write_private(&files.serving_cert(name), cert.pem().as_bytes())?;
        write_private(&files.serving_key(name), key.serialize_pem().as_bytes())?;
    }
    let sa_key = KeyPair::generate().map_err(pki_error)?;
    write_private(
        &files.service_account_key(),
        sa_key.serialize_pem().as_bytes(),
    )?;
    write_private(
        &files.service_account_public_key(),
        sa_key.public_key_pem().as_bytes(),
    )?;
    write_private(&files.token_file(), token_lines(&files).as_bytes())?;
    Ok(files)
}

fn ca_params() -> io::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_error)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "splitbrain run CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// A serving certificate for an API server at `addr`, also valid for the names and the
/// service IP clients inside a cluster use.
fn serving_params(addr: IpAddr) -> io::Result<CertificateParams> {
    let mut names: Vec<String> = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for ip in [
        addr,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(SERVICE_CLUSTER_IP),
    ] {
        names.push(ip.to_string());
    }
    names.dedup();
    let mut params = CertificateParams::new(names).map_err(pki_error)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

fn pki_error(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("cannot make a certificate: {e}"))
}

/// 32 random hex digits.
fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token file's lines: `token,user,uid,"group,group"`.
fn token_lines(files: &ControlPlaneFiles) -> String {
    format!(
        "{},{ADMIN_USER},splitbrain-admin,\"system:masters\"\n\
         {},{AGENT_USER},splitbrain-agent,\"system:serviceaccounts,system:serviceaccounts:{LOCK_NAMESPACE}\"\n",
        files.admin_token, files.agent_token
    )
}

/// Writes a file only its owner can read: these are keys and tokens.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

/// The kube-apiserver command line for server `name` listening on `listen`, storing its
/// objects in the etcd cluster at `etcd_urls` (its own node's member first).
pub fn apiserver_args(
    files: &ControlPlaneFiles,
    name: &str,
    listen: SocketAddr,
    etcd_urls: &[String],
) -> Vec<String> {
    let path = |p: PathBuf| p.display().to_string();
    let flag = |name: &str, value: String| format!("--{name}={value}");
    vec![
        flag("etcd-servers", etcd_urls.join(",")),
        flag("bind-address", listen.ip().to_string()),
        // A node's namespace has no default route, so the API server cannot guess it.
        flag("advertise-address", listen.ip().to_string()),
        flag("secure-port", listen.port().to_string()),
        flag("tls-cert-file", path(files.serving_cert(name))),
        flag("tls-private-key-file", path(files.serving_key(name))),
        // Only used for certificates it would make itself; keep it inside the run.
        flag("cert-dir", path(files.dir.join(format!("cert-dir-{name}")))),
        flag("token-auth-file", path(files.token_file())),
        flag("authorization-mode", "RBAC".into()),
        flag("service-account-issuer", SERVICE_ACCOUNT_ISSUER.into()),
        flag(
            "service-account-key-file",
            path(files.service_account_public_key()),
        ),
        flag(
            "service-account-signing-key-file",
            path(files.service_account_key()),
        ),
        flag("service-cluster-ip-range", SERVICE_CLUSTER_IP_RANGE.into()),
        flag("profiling", "false".into()),
    ]
}

/// A kubeconfig with one context per `(name, url)` server, all with the same CA and
/// user; the first is current. Contexts default to [`LOCK_NAMESPACE`].
pub fn kubeconfig(servers: &[(String, String)], ca_pem: &str, user: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut clusters = String::new();
    let mut contexts = String::new();
    for (name, url) in servers {
        clusters.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\n"
        ));
        contexts.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: {user}\n    namespace: {LOCK_NAMESPACE}\n"
        ));
    }
    let current = servers.first().map_or("", |(name, _)| name.as_str());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n{contexts}current-context: {current}\n"
    )
}

/// The URL of an API server listening on `addr`.
pub fn apiserver_url(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> (tempfile::TempDir, ControlPlaneFiles) {
        let dir = tempfile::tempdir().unwrap();
        let servers = vec![("n1".to_string(), IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)))];
        let files = write_credentials(dir.path(), &servers).unwrap();
        (dir, files)
    }

    #[test]
    fn every_file_the_api_server_reads_is_written_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, files) = credentials();
        for path in [
            files.ca_file(),
            files.serving_cert("n1"),
            files.serving_key("n1"),
            files.service_account_key(),
            files.service_account_public_key(),
            files.token_file(),
        ] {
            let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert_eq!(meta.permissions().mode() & 0o077, 0, "{path:?} is private");
            assert!(meta.len() > 0, "{path:?} is empty");
        }
        let key = std::fs::read_to_string(files.service_account_key()).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    }

    #[test]
    fn the_token_file_makes_the_agents_the_service_account_rbac_binds() {
        let (_dir, files) = credentials();
        let lines = std::fs::read_to_string(files.token_file()).unwrap();
        let agent = lines
            .lines()
            .find(|l| l.starts_with(&files.agent_token))
            .expect("an agent line");
        assert!(
            agent.contains(",system:serviceaccount:splitbrain:splitbrain-agent,"),
            "{agent}"
        );
        let admin = lines
            .lines()
            .find(|l| l.starts_with(&files.admin_token))
            .expect("an admin line");
        assert!(admin.ends_with("\"system:masters\""), "{admin}");
        assert_ne!(files.admin_token, files.agent_token);
        assert_eq!(files.agent_token.len(), 32);
    }

    #[test]
    fn a_kubeconfig_has_a_context_per_server_and_the_first_is_current() {
        let servers = vec![
            ("n1".to_string(), "https://10.77.0.1:6443".to_string()),
            ("n2".to_string(), "https://10.77.0.2:6443".to_string()),
        ];
        let text = kubeconfig(&servers, "PEM", "agent", "tok");
        assert!(text.contains("current-context: n1\n"), "{text}");
        assert!(text.contains("server: https://10.77.0.2:6443\n"), "{text}");
        assert!(text.contains("token: tok\n"), "{text}");
        assert!(
            text.contains("certificate-authority-data: UEVN\n"),
            "{text}"
        );
        assert_eq!(text.matches("namespace: splitbrain").count(), 2, "{text}");
    }

    #[test]
    fn the_api_server_is_told_where_to_listen_and_what_to_trust() {
        let (_dir, files) = credentials();
        let listen: SocketAddr = "10.77.0.1:6443".parse().unwrap();
        let args = apiserver_args(&files, "n1", listen, &["http://10.77.0.1:2379".into()]);
        for expected in [
            "--etcd-servers=http://10.77.0.1:2379",
            "--advertise-address=10.77.0.1",
            "--secure-port=6443",
            "--authorization-mode=RBAC",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} in {args:?}");
        }
        let cert_dir = args.iter().find(|a| a.starts_with("--cert-dir=")).unwrap();
        assert!(
            cert_dir.contains(&*files.dir.display().to_string()),
            "{cert_dir}"
        );
    }
}
