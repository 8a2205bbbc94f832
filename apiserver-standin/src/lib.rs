//! splitbrain-apiserver-standin is a **stand-in** for the Kubernetes API server, not a
//! Kubernetes API server. No kube-apiserver can be had where splitbrain's local backend
//! runs, so the Kubernetes locks (Lease and ConfigMap leader election, and third-party
//! lease crates) talk, through the same kube-rs client code they use against a real
//! cluster, to this server, which implements exactly the subset they use:
//!
//! - namespaced `coordination.k8s.io/v1` leases and core `v1` configmaps;
//! - get, list, create (POST), update (PUT), patch (JSON merge, strategic merge,
//!   server-side apply with field-ownership conflicts) and delete;
//! - objects stored in etcd, `resourceVersion` = the etcd mod revision of the key;
//! - a create is an etcd transaction on create revision 0 (409 `AlreadyExists`); a write
//!   with a resourceVersion is a transaction on that mod revision (409 `Conflict` when
//!   stale); a missing object is 404 `NotFound`; every error is a `Status` object with
//!   kube-apiserver's reason, code, message and details.
//!
//! Not implemented: watch, label and field selectors, generateName, dry runs,
//! admission, authentication and authorization, other kinds. Plain HTTP only. The
//! conformance tests in `tests/` run against this server and, when `KUBECONFIG` is set,
//! against a real cluster, so the two stay in agreement.
//!
//! ```no_run
//! # async fn f() -> Result<(), splitbrain_apiserver_standin::Error> {
//! use splitbrain_apiserver_standin::{StandinArgs, serve};
//! let args = StandinArgs {
//!     listen: "127.0.0.1:8080".parse().unwrap(),
//!     etcd: vec!["http://127.0.0.1:2379".into()],
//!     request_timeout_ms: 2000,
//!     startup_timeout_ms: 30000,
//! };
//! serve(args).await // runs until the task is dropped
//! # }
//! ```

mod fields;
mod http;
mod object;
mod patch;
mod resource;
mod status;
mod store;

pub use resource::{CONFIGMAPS, LEASES, Resource};
pub use status::ApiError;

use std::net::SocketAddr;
use std::time::Duration;

/// An Error is why the stand-in could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("bad config: {name}={value}: {hint}")]
    Config {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        hint: &'static str,
    },
    /// The etcd client could not be built from the endpoints.
    #[error(
        "cannot use etcd: endpoints={endpoints}: {source} (hint: give URLs such as http://10.77.0.1:2379)"
    )]
    Etcd {
        /// The endpoints, comma-separated.
        endpoints: String,
        /// The client's error.
        #[source]
        source: etcd_client::Error,
    },
    /// etcd did not answer a read within the startup timeout.
    #[error(
        "etcd not ready: endpoints={endpoints} waited_ms={waited_ms}: {last_error} (hint: is etcd running and does it have a quorum?)"
    )]
    EtcdNotReady {
        /// The endpoints, comma-separated.
        endpoints: String,
        /// How long the stand-in waited.
        waited_ms: u128,
        /// The last failure.
        last_error: String,
    },
    /// The listening socket could not be bound or failed.
    #[error("cannot listen: addr={addr}: {source} (hint: is another process using it?)")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// StandinArgs are the stand-in's command line (`splitbrain apiserver-standin ...`).
#[derive(Clone, Debug, clap::Args)]
pub struct StandinArgs {
    /// The address to serve plain HTTP on.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The etcd client URLs, comma-separated or repeated; the local member first.
    #[arg(long, value_delimiter = ',', required = true)]
    pub etcd: Vec<String>,
    /// The bound on each request's etcd work, in milliseconds; past it the request
    /// fails with 504 Timeout (a write may still have happened).
    #[arg(long, default_value_t = 2000)]
    pub request_timeout_ms: u64,
    /// How long to wait for etcd to answer before listening, in milliseconds: the
    /// stand-in accepts connections only once etcd has a quorum, so "accepts TCP" means
    /// "ready", as a readiness probe would.
    #[arg(long, default_value_t = 30000)]
    pub startup_timeout_ms: u64,
}

/// A Standin is a stand-in bound to its address and connected (lazily) to etcd.
pub struct Standin {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    addr: SocketAddr,
}

impl Standin {
    /// Builds the etcd client and binds the listening socket. etcd need not be up yet:
    /// connections are made per request, so the stand-in outlives etcd restarts.
    pub async fn bind(args: &StandinArgs) -> Result<Standin, Error> {
        if args.request_timeout_ms == 0 {
            return Err(Error::Config {
                name: "request-timeout-ms",
                value: "0".into(),
                hint: "give a bound above 0, such as 2000",
            });
        }
        if let Some(bad) = args
            .etcd
            .iter()
            .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return Err(Error::Config {
                name: "etcd",
                value: bad.clone(),
                hint: "give etcd client URLs such as http://10.77.0.1:2379",
            });
        }
        let timeout = Duration::from_millis(args.request_timeout_ms);
        // require_leader: a member cut off from the leader refuses at once instead of
        // hanging, as kube-apiserver configures its etcd client.
        let opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_timeout(timeout)
            .with_keep_alive(Duration::from_secs(1), Duration::from_secs(1))
            .with_require_leader(true);
        let client = etcd_client::Client::connect(&args.etcd, Some(opts))
            .await
            .map_err(|source| Error::Etcd {
                endpoints: args.etcd.join(","),
                source,
            })?;
        wait_for_etcd(&client, args).await?;
        let router = http::router(store::Store::new(client.kv_client(), timeout));
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: args.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: args.listen,
            source,
        })?;
        Ok(Standin {
            listener,
            router,
            addr,
        })
    }

    /// The address it listens on (useful when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the future is dropped.
    pub async fn run(self) -> Result<(), Error> {
        let addr = self.addr;
        axum::serve(self.listener, self.router)
            .await
            .map_err(|source| Error::Listen { addr, source })
    }
}

/// Polls etcd with a linearizable read until it answers or the startup timeout passes.
async fn wait_for_etcd(client: &etcd_client::Client, args: &StandinArgs) -> Result<(), Error> {
    let started = tokio::time::Instant::now();
    let limit = Duration::from_millis(args.startup_timeout_ms);
    let attempt = Duration::from_millis(args.request_timeout_ms);
    loop {
        let mut kv = client.kv_client();
        let last_error = match tokio::time::timeout(attempt, kv.get("/registry/health", None)).await
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", attempt.as_millis()),
        };
        if started.elapsed() >= limit {
            return Err(Error::EtcdNotReady {
                endpoints: args.etcd.join(","),
                waited_ms: started.elapsed().as_millis(),
                last_error,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the stand-in with `args`: what `splitbrain apiserver-standin` does.
pub async fn serve(args: StandinArgs) -> Result<(), Error> {
    let standin = Standin::bind(&args).await?;
    tracing::info!(addr = %standin.addr(), etcd = %args.etcd.join(","), "apiserver stand-in listening");
    standin.run().await
}
