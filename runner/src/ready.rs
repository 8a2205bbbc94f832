//! Waiting for the services of a run to answer before the workload starts, so the first
//! ops measure the lock and not a server still starting.

use crate::RunError;
use crate::services::Services;
use splitbrain_nemesis::Cluster;
use splitbrain_workloads::agent::AgentClient;
use std::sync::Arc;
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// Waits until the lock server and the resource accept TCP connections from inside the
/// cluster, and every agent accepts the controller on its socket.
pub async fn wait_for_services(
    cluster: Arc<dyn Cluster>,
    services: &Services,
) -> Result<(), RunError> {
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
    Ok(())
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
