//! The resource server: one task per connection, one mutex for the whole state, so
//! accesses are applied and logged strictly one at a time.

use super::{ResourceReply, ResourceRequest};
use crate::{Error, Fencing};
use serde_json::Value;
use splitbrain_history::jsonl::JsonlWriter;
use splitbrain_history::{ResourceAction, ResourceEntry};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// ResourceArgs are the resource server's command line (`splitbrain resource ...`).
#[derive(Clone, Debug, clap::Args)]
pub struct ResourceArgs {
    /// Address to listen on, `host:port` (port 0 picks a free one).
    #[arg(long)]
    pub listen: String,
    /// Where to append the access log (`resource.jsonl`); created or truncated.
    #[arg(long)]
    pub log: PathBuf,
    /// Reject writes whose token is below the highest accepted one.
    #[arg(long, value_enum, default_value_t = Fencing::Off)]
    pub fencing: Fencing,
}

/// The counter, the fencing high-water mark and the log: everything one access touches.
struct State {
    seq: u64,
    counter: i64,
    max_token: Option<u64>,
    fenced: bool,
    log: JsonlWriter<ResourceEntry>,
    log_path: PathBuf,
}

/// A ResourceServer is a bound resource, ready to serve; binding first lets a caller
/// learn the port before serving.
pub struct ResourceServer {
    listener: TcpListener,
    state: Arc<Mutex<State>>,
}

impl ResourceServer {
    /// Binds the listening socket and creates the log.
    pub async fn bind(args: &ResourceArgs) -> Result<ResourceServer, Error> {
        let log = JsonlWriter::create(&args.log).map_err(|source| Error::File {
            path: args.log.clone(),
            source,
        })?;
        let listener = TcpListener::bind(&args.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: args.listen.clone(),
                source,
            })?;
        let state = State {
            seq: 0,
            counter: 0,
            max_token: None,
            fenced: args.fencing.is_on(),
            log,
            log_path: args.log.clone(),
        };
        Ok(ResourceServer {
            listener,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves connections until the task is dropped or the log cannot be written.
    /// Connection tasks are owned by this future, so dropping it closes them all.
    pub async fn run(self) -> Result<(), Error> {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    // A failed accept (out of descriptors, a reset) concerns one
                    // client; the server carries on.
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(stream, Arc::clone(&self.state)));
                }
                Some(done) = conns.join_next(), if !conns.is_empty() => {
                    if let Ok(Err(e)) = done {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// Runs the resource server with `args` until it fails: what `splitbrain resource` does.
pub async fn serve(args: ResourceArgs) -> Result<(), Error> {
    let server = ResourceServer::bind(&args).await?;
    tracing::info!(addr = %server.local_addr(), log = %args.log.display(), "resource listening");
    server.run().await
}

/// Answers one connection's requests in order. Only a log write failure is an error:
/// without its log the resource is no ground truth, so it must stop.
async fn serve_connection(stream: TcpStream, state: Arc<Mutex<State>>) -> Result<(), Error> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<ResourceRequest>(&line) {
            Ok(req) => apply(&state, &req)?,
            Err(e) => ResourceReply {
                ok: false,
                value: Value::Null,
                error: Some(format!(
                    "bad request: {e} (expected {{\"op\":\"read\",\"process\":N}})"
                )),
            },
        };
        let mut out = serde_json::to_vec(&reply).expect("a reply always serializes");
        out.push(b'\n');
        if write.write_all(&out).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Applies one access and logs it, under the state lock so order is the log's order.
fn apply(state: &Mutex<State>, req: &ResourceRequest) -> Result<ResourceReply, Error> {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let mut entry = ResourceEntry {
        seq: s.seq,
        process: req.process,
        token: req.token,
        op: req.op,
        value: Value::Null,
        accepted: None,
        max_token: None,
    };
    let mut reply = ResourceReply {
        ok: true,
        value: Value::Null,
        error: None,
    };
    match req.op {
        ResourceAction::Enter | ResourceAction::Exit => {}
        ResourceAction::Read => {
            entry.value = s.counter.into();
            reply.value = s.counter.into();
        }
        ResourceAction::Write => write(&mut s, req, &mut entry, &mut reply),
    }
    if s.fenced {
        entry.max_token = s.max_token;
        // Every accepted access raises the high-water mark, not only writes. With
        // writes alone, a read-modify-write still loses updates under fencing: A reads,
        // B (newer token) reads, A writes, B writes: every write's token is the
        // highest so far, yet A's increment is gone. Raising the mark on B's `enter`
        // makes A's late write a rejected stale write instead.
        if reply.ok {
            s.max_token = s.max_token.max(req.token);
        }
    }
    s.log.append(&entry).map_err(|source| Error::File {
        path: s.log_path.clone(),
        source,
    })?;
    s.seq += 1;
    Ok(reply)
}

/// A write: in fenced mode, refused if its token is below the high-water mark.
fn write(
    s: &mut State,
    req: &ResourceRequest,
    entry: &mut ResourceEntry,
    reply: &mut ResourceReply,
) {
    entry.value = req.value.clone();
    let Some(value) = req.value.as_i64() else {
        entry.accepted = Some(false);
        reply.ok = false;
        reply.error = Some(format!("bad write: value={} is not an integer", req.value));
        return;
    };
    if s.fenced {
        let refusal = match (req.token, s.max_token) {
            (None, _) => Some("missing token: the resource is fenced".to_string()),
            (Some(t), Some(max)) if t < max => {
                Some(format!("stale token rejected: token={t} max={max}"))
            }
            _ => None,
        };
        if let Some(error) = refusal {
            entry.accepted = Some(false);
            reply.ok = false;
            reply.error = Some(error);
            return;
        }
    }
    entry.accepted = Some(true);
    s.counter = value;
    reply.value = value.into();
}
