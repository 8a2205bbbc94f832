//! The controller's client of one agent.

use super::protocol::{AgentNotice, AgentReply, AgentRequest};
use crate::Error;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// An AgentClient is the controller's connection to one agent's Unix socket. It never
/// fails a call: a timeout or a broken connection is an `info` reply, because the agent
/// may have executed the request. After a broken connection [`AgentClient::is_broken`]
/// is true and the caller should [`AgentClient::connect`] again.
pub struct AgentClient {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    broken: bool,
    /// Bytes of a reply line read so far; kept across calls because a timeout can cut
    /// a read short in the middle of a line.
    pending: String,
    /// Whether the current request was handed over whole; a timeout before that leaves
    /// half a line on the socket, which breaks the connection.
    sent: bool,
    /// Notices that came with late replies (to requests that had timed out), and when
    /// each late reply was read: they travel with the next reply that is returned, so a
    /// paused holder's notice is not dropped with its timed-out reply.
    carried: Vec<(AgentNotice, std::time::Instant)>,
}

impl AgentClient {
    /// Connects to the agent listening on `path`.
    pub async fn connect(path: &Path) -> Result<AgentClient, Error> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| Error::Connect {
                addr: path.display().to_string(),
                source,
            })?;
        let (read, writer) = stream.into_split();
        Ok(AgentClient {
            path: path.to_path_buf(),
            reader: BufReader::new(read),
            writer,
            next_id: 1,
            broken: false,
            pending: String::new(),
            sent: false,
            carried: Vec::new(),
        })
    }

    /// The agent's socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once the connection has broken; every later call is an `info` at once.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Sends `req` (numbered by this client: its `id` is replaced) and waits up to
    /// `timeout` for the reply. A timeout or a broken connection gives an `info` reply.
    /// A timed-out request's late reply is skipped by id when it arrives.
    pub async fn call(&mut self, mut req: AgentRequest, timeout: Duration) -> AgentReply {
        req.id = self.next_id;
        self.next_id += 1;
        if self.broken {
            return AgentReply::info(req.id, "agent connection broken: reconnect first");
        }
        match tokio::time::timeout(timeout, self.exchange(&req)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(message)) => {
                self.broken = true;
                AgentReply::info(
                    req.id,
                    format!(
                        "agent connection lost: socket={}: {message}",
                        self.path.display()
                    ),
                )
            }
            Err(_) => {
                if !self.sent {
                    self.broken = true;
                }
                AgentReply::info(
                    req.id,
                    format!("agent timeout: after_ms={}", timeout.as_millis()),
                )
            }
        }
    }

    /// `reply` with the carried notices first, each one's age grown by the time since
    /// its late reply was read.
    fn with_carried_notices(&mut self, mut reply: AgentReply) -> AgentReply {
        if self.carried.is_empty() {
            return reply;
        }
        let mut notices: Vec<AgentNotice> = self
            .carried
            .drain(..)
            .map(|(mut n, read_at)| {
                let waited = u64::try_from(read_at.elapsed().as_millis()).unwrap_or(0);
                n.age_ms = n.age_ms.saturating_add(waited);
                n
            })
            .collect();
        notices.append(&mut reply.notices);
        reply.notices = notices;
        reply
    }

    async fn exchange(&mut self, req: &AgentRequest) -> Result<AgentReply, String> {
        let mut line = serde_json::to_vec(req).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.sent = false;
        self.writer
            .write_all(&line)
            .await
            .map_err(|e| e.to_string())?;
        self.sent = true;
        loop {
            let n = self
                .reader
                .read_line(&mut self.pending)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the agent closed the connection".into());
            }
            if !self.pending.ends_with('\n') {
                continue;
            }
            let text = std::mem::take(&mut self.pending);
            let reply: AgentReply =
                serde_json::from_str(&text).map_err(|e| format!("bad reply {text:?}: {e}"))?;
            // Replies to requests that timed out earlier arrive first; skip them, but
            // keep what the lock client said in them.
            if reply.id == req.id {
                return Ok(self.with_carried_notices(reply));
            }
            let read_at = std::time::Instant::now();
            self.carried
                .extend(reply.notices.into_iter().map(|n| (n, read_at)));
        }
    }
}
