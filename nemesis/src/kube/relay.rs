//! The controller's connections into node pods, through the API's port-forward (what
//! `kubectl port-forward` does): the controller stays outside the cluster and reaches a
//! pod's ports through the API server and the kubelet, a path no partition inside the
//! pods' network touches (port-forward connects from inside the pod to its loopback, and
//! partitions drop packets by source address from other pods). It works wherever the
//! API does, a kind cluster from its host included, without routes to the pod network.
//!
//! Two uses: [`agent_relay`] serves an agent's channel as a Unix socket on this machine,
//! which the controller's agent client connects to as on the local backend; [`open`] is
//! one TCP connection to a pod's port, for the controller's probes of servers.

use crate::ClusterError;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;

/// How long a port-forward's error stream gets to say the port refused: the kubelet's
/// runtime dials the port as soon as the stream opens, so a refusal comes at once.
const REFUSAL_WINDOW: Duration = Duration::from_millis(150);
/// How often [`agent_relay`] asks whether the agent listens yet.
const AGENT_POLL: Duration = Duration::from_millis(100);

/// A port-forward stream to `port` of `pod`, once the pod's end is connected.
async fn forward(
    pods: &Api<Pod>,
    pod: &str,
    port: u16,
) -> Result<(tokio::io::DuplexStream, kube::api::Portforwarder), ClusterError> {
    let refused = |reason: String| ClusterError::Kube {
        operation: format!("port-forward to {pod}:{port}"),
        reason,
    };
    let mut forwarder = pods
        .portforward(pod, &[port])
        .await
        .map_err(|e| refused(e.to_string()))?;
    let stream = forwarder.take_stream(port).expect("the port was asked for");
    let error = forwarder.take_error(port).expect("the port was asked for");
    if let Ok(Some(message)) = tokio::time::timeout(REFUSAL_WINDOW, error).await {
        return Err(refused(message));
    }
    Ok((stream, forwarder))
}

/// Opens one connection to `port` of `pod` and hands it over as a loopback TCP stream of
/// this machine, bridged to the port-forward by a task that ends with the connection.
pub async fn open(
    pods: Api<Pod>,
    pod: String,
    port: u16,
    timeout: Duration,
) -> Result<std::net::TcpStream, ClusterError> {
    let (mut remote, forwarder) = tokio::time::timeout(timeout, forward(&pods, &pod, port))
        .await
        .map_err(|_| {
            ClusterError::io(
                format!("port-forward to {pod}:{port}"),
                std::io::Error::from(std::io::ErrorKind::TimedOut),
            )
        })??;
    let io = |e| ClusterError::io("a loopback socket for a port-forward", e);
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let client = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    let (mut local, _) = listener.accept().await.map_err(io)?;
    tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
        drop(forwarder);
    });
    let client = client.into_std().map_err(io)?;
    client.set_nonblocking(false).map_err(io)?;
    Ok(client)
}

/// Serves `socket` on this machine as the channel to the agent listening on `port` of
/// `pod`: once the agent answers, the socket is bound, and each connection to it becomes
/// a port-forward of its own. Until then connecting fails, as it does to an agent not
/// yet listening on the local backend. The task runs until aborted.
pub fn agent_relay(pods: Api<Pod>, pod: String, port: u16, socket: PathBuf) -> JoinHandle<()> {
    tokio::spawn(async move {
        while forward(&pods, &pod, port).await.is_err() {
            tokio::time::sleep(AGENT_POLL).await;
        }
        let _ = std::fs::remove_file(&socket);
        let listener = match UnixListener::bind(&socket) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(socket = %socket.display(), error = %e, "cannot bind the agent relay");
                return;
            }
        };
        loop {
            let Ok((mut local, _)) = listener.accept().await else {
                continue;
            };
            let (pods, pod) = (pods.clone(), pod.clone());
            tokio::spawn(async move {
                match forward(&pods, &pod, port).await {
                    Ok((mut remote, forwarder)) => {
                        let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
                        drop(forwarder);
                    }
                    // The agent is down (killed, its pod gone): the controller sees a
                    // closed connection, as it would from a dead agent.
                    Err(e) => tracing::debug!(error = %e, "agent relay: no agent"),
                }
            });
        }
    })
}
