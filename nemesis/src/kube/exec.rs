//! Commands run inside a node pod through the API's exec (what `kubectl exec` does), with
//! their output collected and their status checked.

use super::pods::CONTAINER;
use crate::ClusterError;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::AsyncReadExt;

/// Runs `command` in `pod` and returns its stdout; a failure status is an error with
/// the command's stderr.
pub async fn run(
    pods: &Api<Pod>,
    pod: &str,
    command: Vec<String>,
) -> Result<Vec<u8>, ClusterError> {
    let shown = format!("{pod}: {}", command.join(" "));
    let params = AttachParams::default()
        .container(CONTAINER)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut attached = pods
        .exec(pod, command, &params)
        .await
        .map_err(|e| ClusterError::Kube {
            operation: format!("exec in {shown}"),
            reason: e.to_string(),
        })?;
    let mut stdout = attached.stdout().expect("exec asked for stdout");
    let mut stderr = attached.stderr().expect("exec asked for stderr");
    let status = attached.take_status().expect("the status is taken once");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (read_out, read_err) =
        tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
    read_out
        .and(read_err)
        .map_err(|e| ClusterError::io(format!("reading the output of {shown}"), e))?;
    let status = status.await;
    let _ = attached.join().await;
    match status {
        Some(s) if s.status.as_deref() == Some("Success") => Ok(out),
        other => Err(ClusterError::Command {
            command: shown,
            status: other
                .and_then(|s| s.message)
                .unwrap_or_else(|| "no status".into()),
            stderr: String::from_utf8_lossy(&err).trim().to_string(),
        }),
    }
}

/// The command that runs the nftables script `script` in a pod (as an argument, so no
/// stdin is needed).
pub fn nft_command(script: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        "printf '%s' \"$1\" | nft -f -".into(),
        "nft-script".into(),
        script.into(),
    ]
}
