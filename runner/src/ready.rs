//! Waiting for the services of a run to answer before the workload starts, so the first
//! ops measure the lock and not a server still starting.

use crate::RunError;
use crate::services::Services;
use splitbrain_nemesis::Cluster;
use splitbrain_workloads::agent::AgentClient;
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Waits until every agent answers a ping that reaches its lock server and the resource.
pub async fn wait_for_services(_cluster: &dyn Cluster, services: &Services) -> Result<(), RunError> {
    let started = Instant::now();
    for agent in &services.agents {
        let mut last_error = String::from("no answer yet");
        loop {
            match AgentClient::connect(&agent.socket).await {
                Ok(client) => match client.ping(Duration::from_secs(2)).await {
                    Ok(()) => break,
                    Err(e) => last_error = e.to_string(),
                },
                Err(e) => last_error = e.to_string(),
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(RunError::NotReady {
                    service: agent.name.clone(),
                    waited_ms: started.elapsed().as_millis(),
                    detail: last_error,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}
