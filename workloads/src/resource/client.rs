//! The agent's client of the resource: one connection, one request at a time, replaced
//! after any timeout or I/O error so a late reply is never read as the next one's.

use super::{ResourceReply, ResourceRequest};
use crate::lock::Certainty;
use serde_json::Value;
use splitbrain_history::ResourceAction;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

/// A ResourceError is why an access to the resource did not succeed, classified like a
/// [`crate::LockError`]: the agent turns it into a `fail` or an `info` reply.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The resource refused the access, for example a stale fencing token (definite).
    #[error("{message}")]
    Refused {
        /// The resource's reason.
        message: String,
    },
    /// No connection could be made, so nothing was sent (definite).
    #[error("resource unreachable: addr={addr}: {message}")]
    Connect {
        /// The resource's address.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// No reply within the timeout (indeterminate).
    #[error("resource timeout: op={op} after_ms={after_ms}")]
    Timeout {
        /// The access.
        op: String,
        /// How long the client waited.
        after_ms: u64,
    },
    /// The connection broke or the reply made no sense after the request was sent
    /// (indeterminate).
    #[error("resource connection lost: op={op}: {message}")]
    Lost {
        /// The access.
        op: String,
        /// What went wrong.
        message: String,
    },
}

impl ResourceError {
    /// Whether the access might have been applied.
    pub fn certainty(&self) -> Certainty {
        match self {
            ResourceError::Refused { .. } | ResourceError::Connect { .. } => Certainty::Definite,
            ResourceError::Timeout { .. } | ResourceError::Lost { .. } => Certainty::Indeterminate,
        }
    }
}

struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// A ResourceClient talks to the resource at one address; each access, connecting
/// included, is bounded by one timeout.
pub struct ResourceClient {
    addr: String,
    timeout: Duration,
    conn: Option<Conn>,
}

impl ResourceClient {
    /// A client of the resource at `addr` (`host:port`); connects on first use.
    pub fn new(addr: impl Into<String>, timeout: Duration) -> ResourceClient {
        ResourceClient {
            addr: addr.into(),
            timeout,
            conn: None,
        }
    }

    /// Announces the start of a critical section.
    pub async fn enter(&mut self, process: u64, token: Option<u64>) -> Result<(), ResourceError> {
        self.request(ResourceAction::Enter, process, token, Value::Null)
            .await
            .map(drop)
    }

    /// Reads the counter.
    pub async fn read(&mut self, process: u64, token: Option<u64>) -> Result<i64, ResourceError> {
        let v = self
            .request(ResourceAction::Read, process, token, Value::Null)
            .await?;
        v.as_i64().ok_or_else(|| ResourceError::Lost {
            op: "read".into(),
            message: format!("reply value={v} is not an integer"),
        })
    }

    /// Writes the counter; a fenced resource refuses a stale token.
    pub async fn write(
        &mut self,
        process: u64,
        token: Option<u64>,
        value: i64,
    ) -> Result<(), ResourceError> {
        self.request(ResourceAction::Write, process, token, value.into())
            .await
            .map(drop)
    }

    /// Announces the end of a critical section.
    pub async fn exit(&mut self, process: u64, token: Option<u64>) -> Result<(), ResourceError> {
        self.request(ResourceAction::Exit, process, token, Value::Null)
            .await
            .map(drop)
    }

    async fn request(
        &mut self,
        op: ResourceAction,
        process: u64,
        token: Option<u64>,
        value: Value,
    ) -> Result<Value, ResourceError> {
        let name = format!("{op:?}").to_lowercase();
        let req = ResourceRequest {
            op,
            process,
            token,
            value,
        };
        let deadline = Instant::now() + self.timeout;
        self.ensure_connected(deadline).await?;
        let after_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let conn = self.conn.as_mut().expect("connected above");
        let outcome = tokio::time::timeout_at(deadline, exchange(conn, &req)).await;
        let reply = match outcome {
            Ok(Ok(reply)) => reply,
            Ok(Err(message)) => {
                self.conn = None;
                return Err(ResourceError::Lost { op: name, message });
            }
            Err(_) => {
                self.conn = None;
                return Err(ResourceError::Timeout { op: name, after_ms });
            }
        };
        if reply.ok {
            Ok(reply.value)
        } else {
            Err(ResourceError::Refused {
                message: reply.error.unwrap_or_else(|| "refused".into()),
            })
        }
    }

    /// Connects if there is no connection, by `deadline`; failing is definite.
    async fn ensure_connected(&mut self, deadline: Instant) -> Result<(), ResourceError> {
        if self.conn.is_some() {
            return Ok(());
        }
        let connect = TcpStream::connect(&self.addr);
        let stream = match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(self.connect_error(e.to_string())),
            Err(_) => return Err(self.connect_error("connect timed out".into())),
        };
        let _ = stream.set_nodelay(true);
        let (read, writer) = stream.into_split();
        self.conn = Some(Conn {
            reader: BufReader::new(read),
            writer,
        });
        Ok(())
    }

    fn connect_error(&self, message: String) -> ResourceError {
        ResourceError::Connect {
            addr: self.addr.clone(),
            message,
        }
    }
}

/// Sends one request line and reads one reply line.
async fn exchange(conn: &mut Conn, req: &ResourceRequest) -> Result<ResourceReply, String> {
    let mut line = serde_json::to_vec(req).map_err(|e| e.to_string())?;
    line.push(b'\n');
    conn.writer
        .write_all(&line)
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    let n = conn
        .reader
        .read_line(&mut reply)
        .await
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("the resource closed the connection".into());
    }
    serde_json::from_str(&reply).map_err(|e| format!("bad reply {reply:?}: {e}"))
}
