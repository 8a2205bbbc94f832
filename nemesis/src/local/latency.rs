//! Added latency on the local backend: the proxies of [`crate::latency_proxy`], one per
//! node, each a thread of the controller inside its node's namespace; they end with the
//! cluster (or with the controller: nothing outlives a crashed run but the rules, which
//! die with the namespaces).

use super::firewall::nft_in;
use super::netns::{NsHandle, ns_name};
use super::programs::finish_all;
use crate::latency_proxy::{redirect_script, serve};
use crate::{ClusterError, Node};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The loopback port the proxy listens on inside every node.
pub(crate) const PROXY_PORT: u16 = 7199;

/// A LatencyProxies is the proxies of a run and their shared delay.
pub(crate) struct LatencyProxies {
    delay_ms: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl LatencyProxies {
    /// Starts a proxy in every node and then installs the redirect rules.
    pub(crate) fn start(run_id: &str, nodes: &[Node]) -> Result<LatencyProxies, ClusterError> {
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let mut proxies = LatencyProxies {
            delay_ms: delay_ms.clone(),
            stop,
            threads: Vec::new(),
        };
        for node in nodes {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let handle = NsHandle::open(&ns_name(run_id, &node.name))?;
            let delay = delay_ms.clone();
            let stopped = stopped.clone();
            let name = node.name.clone();
            let thread = std::thread::Builder::new()
                .name(format!("latency-{name}"))
                .spawn(move || proxy_thread(handle, delay, stopped, ready_tx))
                .map_err(|e| ClusterError::io("cannot start a latency proxy thread", e))?;
            proxies.threads.push(thread);
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(ClusterError::io(format!("latency proxy on node={name}"), e));
                }
                Err(_) => {
                    return Err(ClusterError::io(
                        format!("latency proxy on node={name} ended before it listened"),
                        std::io::Error::other("proxy thread ended"),
                    ));
                }
            }
        }
        let mut running = Vec::new();
        for node in nodes {
            running.push(nft_in(
                run_id,
                &node.name,
                &redirect_script(node, nodes, PROXY_PORT),
            )?);
        }
        finish_all(running)?;
        Ok(proxies)
    }

    /// Sets the delay added to each direction of every proxied connection.
    pub(crate) fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Stops every proxy and waits for its thread; their connections close.
    pub(crate) fn stop(mut self) {
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn proxy_thread(
    handle: NsHandle,
    delay_ms: Arc<AtomicU64>,
    stopped: watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<std::io::Result<()>>,
) {
    let setup = handle.enter().and_then(|()| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    });
    let runtime = match setup {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    drop(handle);
    runtime.block_on(async move {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, PROXY_PORT));
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        serve(listener, delay_ms, stopped).await;
    });
}
