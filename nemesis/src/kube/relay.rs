//! The controller's connections into node pods, through the API's port-forward (what
//! `kubectl port-forward` does): the controller stays outside the cluster and reaches a
//! pod through the API server and the kubelet, a path no partition inside the pods'
//! network touches (port-forward connects from inside the pod to its loopback, and
//! partitions drop packets by source address from other pods). It works wherever the
//! API does, a kind cluster from its host included, without routes to the pod network.
//!
//! Every connection goes to one port of the pod, [`PROXY_PORT`], where the pod's first
//! process (`splitbrain pod-init`) opens the connection asked for from inside the pod:
//! a probe of a server from node n1 is then subject to n1's partition rules, as on the
//! local backend. Three uses: [`agent_relay`] serves an agent's channel as a Unix socket
//! on this machine, which the controller's agent client connects to as on the local
//! backend; [`open`] is one TCP connection from inside a pod, for the controller's
//! probes of servers; [`Signals`] asks pod-init to pause, resume or kill a process.

use crate::ClusterError;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;

/// The loopback port where each node pod's `splitbrain pod-init` takes the controller's
/// connections: a `connect ADDR TIMEOUT_MS` line, then `ok` or `error WHY`, then the
/// bytes of a connection it opened to ADDR from inside the pod.
pub const PROXY_PORT: u16 = 7199;
/// The longest a request on a kept channel waits for its answer (pod-init itself waits
/// up to 10 s for a stop or a kill to show).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How often [`agent_relay`] asks whether the agent listens yet.
const AGENT_POLL: Duration = Duration::from_millis(100);

/// A connection from inside `pod` to `to`, through the API's port-forward to the pod's
/// proxy, once the proxy has connected.
async fn connect_from(
    pods: &Api<Pod>,
    pod: &str,
    to: SocketAddr,
    timeout: Duration,
) -> Result<(tokio::io::DuplexStream, kube::api::Portforwarder), ClusterError> {
    let line = format!("connect {to} {}", timeout.as_millis().max(1));
    let operation = format!("connect from pod {pod} to {to}");
    ask(pods, pod, PROXY_PORT, &line, &operation).await
}

/// Connections kept open to one port of pods, by pod name, each taking request lines
/// and giving one answer line (`ok` or `error WHY`) per request: opened by the first
/// request to a pod (or by [`KeptChannels::open`]) and kept, so a request costs a line
/// each way where a new port-forward takes tens of milliseconds and an exec more. A
/// channel that broke (its pod was deleted and made again) is opened anew and the
/// request sent again, so requests must be safe to repeat.
pub struct KeptChannels {
    port: u16,
    open: tokio::sync::Mutex<HashMap<String, Channel>>,
}

struct Channel {
    stream: tokio::io::DuplexStream,
    _forwarder: kube::api::Portforwarder,
}

impl KeptChannels {
    /// Channels to `port` of the pods.
    pub fn new(port: u16) -> KeptChannels {
        KeptChannels {
            port,
            open: tokio::sync::Mutex::default(),
        }
    }

    /// Opens (again) the channel to each of `pods_named`, all at once, with
    /// `opening_line` as its first request. A pod whose channel does not open gets one
    /// at its first request.
    pub async fn open(&self, pods: &Api<Pod>, pods_named: &[String], opening_line: &str) {
        let mut asks = tokio::task::JoinSet::new();
        for pod in pods_named {
            let (pods, pod, port) = (pods.clone(), pod.clone(), self.port);
            let line = opening_line.to_string();
            asks.spawn(async move {
                let operation = format!("open a channel to port {port} of pod {pod}");
                let asked = ask(&pods, &pod, port, &line, &operation);
                let asked = tokio::time::timeout(REQUEST_TIMEOUT, asked).await;
                (pod, asked)
            });
        }
        let opened = asks.join_all().await;
        let mut open = self.open.lock().await;
        for (pod, asked) in opened {
            match asked {
                Ok(Ok((stream, forwarder))) => {
                    let channel = Channel {
                        stream,
                        _forwarder: forwarder,
                    };
                    open.insert(pod, channel);
                }
                Ok(Err(e)) => tracing::debug!(%pod, error = %e, "no channel yet"),
                Err(_) => tracing::debug!(%pod, "no channel yet: no answer"),
            }
        }
    }

    /// Sends the request `line` to `pod` and waits for its answer; `operation` names the
    /// request in an error.
    pub async fn ask(
        &self,
        pods: &Api<Pod>,
        pod: &str,
        line: &str,
        operation: &str,
    ) -> Result<(), ClusterError> {
        let failed = |reason: String| ClusterError::Kube {
            operation: operation.to_string(),
            reason,
        };
        let mut open = self.open.lock().await;
        if let Some(channel) = open.get_mut(pod) {
            let asked = tokio::time::timeout(REQUEST_TIMEOUT, async {
                send_line(&mut channel.stream, line).await?;
                read_answer(&mut channel.stream).await
            })
            .await;
            match asked {
                Ok(Ok(answer)) => return interpret(&answer).map_err(failed),
                // Broken or stuck: a new channel below.
                Ok(Err(_)) | Err(_) => drop(open.remove(pod)),
            }
        }
        let asked = ask(pods, pod, self.port, line, operation);
        let (stream, forwarder) = tokio::time::timeout(REQUEST_TIMEOUT, asked)
            .await
            .map_err(|_| failed(format!("no answer within {REQUEST_TIMEOUT:?}")))??;
        let channel = Channel {
            stream,
            _forwarder: forwarder,
        };
        open.insert(pod.to_string(), channel);
        Ok(())
    }
}

/// The controller's signal channels to each pod's pod-init: a pause of the lock's
/// holder must land inside its critical section, which lasts tens of milliseconds.
pub struct Signals(KeptChannels);

impl Default for Signals {
    fn default() -> Signals {
        Signals(KeptChannels::new(PROXY_PORT))
    }
}

impl Signals {
    /// Opens (again) the channel to each of `pods_named` before their first signal:
    /// after a pod is made, so that the first pause lands as fast as the rest.
    pub async fn open(&self, pods: &Api<Pod>, pods_named: &[String]) {
        self.0.open(pods, pods_named, "signals").await;
    }

    /// Signals the group of the process started as `name` in `pod` (`stop`, `cont` or
    /// `kill`, each safe to repeat); pod-init answers once the kernel shows the effect.
    pub async fn send(
        &self,
        pods: &Api<Pod>,
        pod: &str,
        name: &str,
        signal: &str,
    ) -> Result<(), ClusterError> {
        let line = format!("signal {name} {signal}");
        let operation = format!("{signal} {name} in pod {pod}");
        self.0.ask(pods, pod, &line, &operation).await
    }
}

/// Sends `line` to `port` of `pod` through a new port-forward and reads its answer: the
/// stream, past the answer, when it is `ok`, the error it names otherwise.
async fn ask(
    pods: &Api<Pod>,
    pod: &str,
    port: u16,
    line: &str,
    operation: &str,
) -> Result<(tokio::io::DuplexStream, kube::api::Portforwarder), ClusterError> {
    let failed = |reason: String| ClusterError::Kube {
        operation: operation.to_string(),
        reason,
    };
    let mut forwarder = pods
        .portforward(pod, &[port])
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut stream = forwarder.take_stream(port).expect("the port was asked for");
    send_line(&mut stream, line).await.map_err(failed)?;
    let answer = read_answer(&mut stream).await.map_err(failed)?;
    interpret(&answer).map_err(failed)?;
    Ok((stream, forwarder))
}

async fn send_line(stream: &mut tokio::io::DuplexStream, line: &str) -> Result<(), String> {
    stream
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| format!("sending to the pod's proxy: {e}"))
}

/// The proxy's answer line, read byte by byte, so no byte of the connection after it
/// is taken.
async fn read_answer(stream: &mut tokio::io::DuplexStream) -> Result<String, String> {
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte).await {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) if answer.len() < 4096 => answer.push(byte[0]),
            Ok(_) | Err(_) => {
                return Err(
                    "the pod's proxy (splitbrain pod-init) closed without an answer".into(),
                );
            }
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// `ok`, or the reason an `error WHY` answer gives.
fn interpret(answer: &str) -> Result<(), String> {
    match answer.strip_prefix("error ") {
        Some(why) => Err(why.to_string()),
        None if answer == "ok" => Ok(()),
        None => Err(format!("the pod answered {answer:?}")),
    }
}

/// Opens one connection from inside `pod` to `to` and hands it over as a loopback TCP
/// stream of this machine, bridged to the port-forward by a task that ends with the
/// connection.
pub async fn open(
    pods: Api<Pod>,
    pod: String,
    to: SocketAddr,
    timeout: Duration,
) -> Result<std::net::TcpStream, ClusterError> {
    let opened = tokio::time::timeout(timeout * 2, connect_from(&pods, &pod, to, timeout)).await;
    let (mut remote, forwarder) = opened.map_err(|_| {
        ClusterError::io(
            format!("connect from pod {pod} to {to}"),
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

/// Serves `socket` on this machine as the channel to the agent listening on
/// 127.0.0.1:`port` of `pod`: once the agent answers, the socket is bound, and each
/// connection to it becomes a port-forward of its own. Until then connecting fails, as it
/// does to an agent not yet listening on the local backend. The agent is reached on the
/// pod's loopback, which no partition rule touches. The task runs until aborted.
pub fn agent_relay(pods: Api<Pod>, pod: String, port: u16, socket: PathBuf) -> JoinHandle<()> {
    let agent = SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = Duration::from_secs(1);
    tokio::spawn(async move {
        while connect_from(&pods, &pod, agent, timeout).await.is_err() {
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
                match connect_from(&pods, &pod, agent, timeout).await {
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
