//! Readiness of lock servers beyond an open port: a cluster whose members listen but
//! have no leader yet would make the first seconds of a run measure start-up, not the
//! lock. Each server is asked, from inside a node, the question its operators ask
//! (etcd's `/health`, ZooKeeper's `srvr`, Redis's `INFO`), over a plain TCP exchange.

use crate::RunError;
use splitbrain_nemesis::Cluster;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long a lock system gets to become ready after its servers start.
pub const READY_LIMIT: Duration = Duration::from_secs(30);

/// How long one probe waits for a connection and an answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(700);

/// Sends `request` from inside node `from` to `addr` and returns everything the server
/// wrote until it closed the connection (requests are chosen so that it does: HTTP/1.0,
/// ZooKeeper four-letter words, Redis commands followed by QUIT).
pub fn exchange(
    cluster: &dyn Cluster,
    from: &str,
    addr: SocketAddr,
    request: &[u8],
) -> Result<String, String> {
    let mut stream = cluster
        .connect(from, addr, PROBE_TIMEOUT)
        .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request)
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => {}
        // Whatever arrived before a slow close still says what the server thinks.
        Err(e) if !reply.is_empty() => tracing::debug!(error = %e, "probe read ended early"),
        Err(e) => return Err(format!("no answer from {addr}: {e}")),
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Calls `check` every 100 ms until it succeeds or `limit` has passed; the last error
/// is the detail of the `NotReady` error.
pub fn until_ready(
    service: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<(), String>,
) -> Result<(), RunError> {
    let started = Instant::now();
    loop {
        let detail = match check() {
            Ok(()) => {
                tracing::info!(service, ms = started.elapsed().as_millis() as u64, "ready");
                return Ok(());
            }
            Err(e) => e,
        };
        if started.elapsed() > limit {
            return Err(RunError::NotReady {
                service: service.to_string(),
                waited_ms: started.elapsed().as_millis(),
                detail,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Redis command in the inline form, followed by QUIT so the server closes.
pub fn redis_request(command: &str) -> Vec<u8> {
    format!("{command}\r\nQUIT\r\n").into_bytes()
}

/// Runs a one-shot [`ProcessKind::Setup`] program on `node` and waits up to `limit` for
/// it to exit with status 0. A failure names the program and ends with the last lines
/// of its log.
///
/// [`ProcessKind::Setup`]: splitbrain_nemesis::ProcessKind::Setup
pub fn run_setup(
    cluster: &dyn Cluster,
    node: &str,
    spec: splitbrain_nemesis::ProcessSpec,
    limit: Duration,
) -> Result<(), RunError> {
    let (name, log) = (spec.name.clone(), spec.log.clone());
    cluster.spawn(node, spec)?;
    let started = Instant::now();
    let failed = |detail: String| RunError::NotReady {
        service: name.clone(),
        waited_ms: started.elapsed().as_millis(),
        detail: format!("{detail}; its log ends: {}", log_tail(&log)),
    };
    loop {
        let state = cluster
            .processes()
            .into_iter()
            .find(|p| p.name == name)
            .map(|p| p.state);
        match state {
            Some(splitbrain_nemesis::ProcessState::Exited(Some(0))) => return Ok(()),
            Some(s) if !s.is_alive() => return Err(failed(format!("it {s}"))),
            None => return Err(failed("it is not among the run's processes".into())),
            Some(_) if started.elapsed() > limit => {
                let _ = cluster.kill(&name);
                return Err(failed("it was still running".into()));
            }
            Some(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The last few lines of a log file, on one line, for an error message.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    if tail.is_empty() {
        format!("(nothing in {})", path.display())
    } else {
        tail
    }
}
