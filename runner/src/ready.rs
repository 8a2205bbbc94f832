//! Waiting for the services of a run to answer before the workload starts, so the first
//! ops measure the lock and not a server or a lock client still starting.

use crate::RunError;
use crate::services::Services;
use splitbrain_nemesis::Cluster;
use splitbrain_workloads::agent::{AgentClient, AgentReply, AgentRequest, Command, Outcome};
use std::sync::Arc;
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);
/// How long each agent's lock client may take to say it is ready, once its agent
/// answers: a library that connects in the background (a Hazelcast client) needs
/// seconds.
const CLIENT_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Waits until the lock server and the resource accept TCP connections from inside the
/// cluster, every agent accepts the controller on its socket, and every agent's lock
/// client says it is ready. Returns a line for each client that did not say so: the
/// run goes on, its first ops then meet the client still starting.
pub async fn wait_for_services(
    cluster: Arc<dyn Cluster>,
    services: &Services,
) -> Result<Vec<String>, RunError> {
    let started = Instant::now();
    let first_node = cluster.nodes()[0].name.clone();
    let resource = ("resource".to_string(), services.resource_addr);
    for (service, addr) in services.lock.ready_addrs.iter().chain([&resource]) {
        let addr = *addr;
        let from = first_node.clone();
        poll(service, started, || {
            let cluster = cluster.clone();
            let from = from.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    cluster.connect(&from, addr, Duration::from_millis(500))
                })
                .await
                .map_err(|e| e.to_string())?
                .map(drop)
                .map_err(|e| e.to_string())
            }
        })
        .await?;
    }
    for agent in &services.agents {
        poll(&agent.name, started, || async {
            AgentClient::connect(&agent.socket)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await?;
    }
    Ok(lock_clients_ready(services).await)
}

/// Asks every agent at once whether its lock client is ready; the lines of those that
/// did not say so.
async fn lock_clients_ready(services: &Services) -> Vec<String> {
    let mut asks = tokio::task::JoinSet::new();
    for agent in &services.agents {
        let (name, socket) = (agent.name.clone(), agent.socket.clone());
        asks.spawn(async move {
            let within_ms = u64::try_from(CLIENT_READY_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
            let request = AgentRequest::new(0, Command::Ready { within_ms });
            let reply = match AgentClient::connect(&socket).await {
                Ok(mut client) => {
                    client
                        .call(request, CLIENT_READY_TIMEOUT + Duration::from_secs(1))
                        .await
                }
                Err(e) => AgentReply::info(0, e.to_string()),
            };
            (reply.outcome != Outcome::Ok).then(|| {
                format!(
                    "{name}: its lock client did not say it is ready ({}); the workload starts anyway",
                    reply.error.unwrap_or_default()
                )
            })
        });
    }
    let mut not_ready: Vec<String> = asks.join_all().await.into_iter().flatten().collect();
    not_ready.sort();
    not_ready
}

async fn poll<F, Fut>(service: &str, started: Instant, mut attempt: F) -> Result<(), RunError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    loop {
        let last_error = match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if started.elapsed() > READY_TIMEOUT {
            return Err(RunError::NotReady {
                service: service.to_string(),
                waited_ms: started.elapsed().as_millis(),
                detail: last_error,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
