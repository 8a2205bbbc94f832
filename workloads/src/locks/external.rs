//! The `external` lock: a lock client written in any language, run as a child process
//! of the agent and spoken to in JSON lines over its stdin and stdout (the approach of
//! Maelstrom, which runs user binaries the same way).
//!
//! # Protocol
//!
//! The agent starts the plug-in with `sh -c "exec COMMAND"` in the directory the run was
//! started from (`exec`, so that killing the plug-in kills the program and not just a
//! shell above it: COMMAND must start with the program, `env FOO=1 prog` rather than
//! `FOO=1 prog`), with these environment variables:
//!
//! | variable | meaning |
//! |---|---|
//! | `SPLITBRAIN_NODE` | the node the agent runs on (`n2`) |
//! | `SPLITBRAIN_FENCING` | `on` when the run wants fencing tokens, else `off` |
//! | `SPLITBRAIN_OP_TIMEOUT_MS` | the agent's bound on each request |
//! | `SPLITBRAIN_REDIS`, ... | one per lock system started for the plug-in (`--plugin-servers redis`): `host:port[,host:port...]` |
//!
//! Then it writes one request per line to the plug-in's stdin and reads one reply per
//! line from its stdout; the reply carries the request's `id`. One request is in flight
//! at a time. Stderr is copied to the agent's log.
//!
//! ```text
//! -> {"id":1,"op":"acquire","key":"splitbrain-lock","ttl_ms":1000,"holder":"n2-4711-1"}
//! <- {"id":1,"ok":true,"token":42}
//! -> {"id":2,"op":"renew","key":"splitbrain-lock","ttl_ms":1000,"holder":"n2-4711-1","token":42}
//! <- {"id":2,"ok":false,"definite":true,"error":"unsupported"}
//! -> {"id":3,"op":"release","key":"splitbrain-lock","holder":"n2-4711-1","token":42}
//! <- {"id":3,"ok":true}
//! -> {"id":4,"op":"acquire","key":"splitbrain-lock","ttl_ms":1000,"holder":"n2-4711-2"}
//! <- {"id":4,"ok":false,"definite":true,"error":"held"}
//! ```
//!
//! - `holder` is unique per acquire; the plug-in stores it as the lock's owner so that a
//!   release or renew can check it still owns the lock.
//! - `token` in an `acquire` reply is the fencing token (a number that grows with every
//!   grant), or absent/`null` for a lock without fencing.
//! - A refusal says whether it is **definite** (the operation certainly did not take
//!   effect: history `fail`) or not (`"definite":false` or absent: it may have taken
//!   effect, history `info`). Definite error names the agent understands: `held` (someone
//!   else holds the lock), `not-holder` (release/renew found another owner or none),
//!   `unsupported` (the plug-in has no such op); any other definite error is recorded as
//!   a rejection with the plug-in's text. A refusal may carry a `detail` string, kept
//!   in the history's error beside the error name.
//! - `ready` (no fields) is asked once before the workload starts, with a bound of its
//!   own: a plug-in whose client connects in the background answers it once the client
//!   can take requests; one without it answers `unsupported` at once, as for any op it
//!   does not know.
//! - Notices: the agent sets `SPLITBRAIN_EVENTS=lost`, and the plug-in may then write,
//!   unprompted and at any time, a line without an `id` saying its client learned on its
//!   own that a grant is lost:
//!   `{"event":"lost","key":"splitbrain-lock","holder":"n2-4711-1","token":42,"detail":"session expired"}`.
//!   A reader task takes every line off the plug-in's stdout as it arrives, so a notice
//!   is timed when it was written, not when the next request goes out. Lines with an
//!   `event` the agent does not know are logged and skipped.
//!
//! # Misbehaving plug-ins
//!
//! A reply that is not JSON, lacks `id` or `ok`, or carries another request's `id`, and a
//! plug-in that exits or does not answer within the agent's bound, end the op as `info`
//! (the request may have been carried out) with an error naming the plug-in's command and
//! what it wrote. The agent then kills that plug-in and starts a fresh one for the next
//! request; a plug-in that exited between requests is restarted before the next one is
//! sent. Guards live in the agent (holder and token travel with every request), so a
//! restarted plug-in needs no state from the old one.

use crate::lock::{Guard, Lock, LockError, LockFuture, LockNotice};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Mutex, mpsc};

/// The longest reply line read; a plug-in writing more without a newline is broken, and
/// reading on would only grow memory until the timeout.
const MAX_LINE: u64 = 1 << 20;

/// The longest stretch of a bad reply quoted in an error.
const QUOTE_LIMIT: usize = 200;

/// An ExternalLockConfig is how to start and bound a plug-in.
#[derive(Clone, Debug)]
pub struct ExternalLockConfig {
    /// The command line, run with `sh -c "exec COMMAND"`.
    pub command: String,
    /// The working directory of the plug-in (relative paths in the command resolve
    /// against it); None keeps the agent's.
    pub dir: Option<PathBuf>,
    /// Extra environment variables (`SPLITBRAIN_REDIS=10.77.0.1:6379`, ...).
    pub env: Vec<(String, String)>,
    /// The bound on each request; past it the op is `info` and the plug-in restarted.
    pub op_timeout: Duration,
    /// The start of every holder id; unique per agent run.
    pub holder_prefix: String,
}

/// The environment variable that tells a plug-in which notices the agent takes.
pub const EVENTS_ENV: &str = "SPLITBRAIN_EVENTS";

/// A running plug-in process: its stdin, and the reply lines its stdout reader passes on
/// (notices go straight to the lock's notice list).
struct Plugin {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::UnboundedReceiver<Result<String, Broken>>,
    pid: u32,
}

/// Notices read from plug-ins and not yet taken, shared with the reader tasks.
type NoticeList = Arc<std::sync::Mutex<Vec<LockNotice>>>;

/// An ExternalLock is a [`Lock`] whose operations are carried out by a plug-in process
/// speaking the JSON-lines protocol of this module. Clones share the plug-in, so the
/// same process can serve as the optimistic workload's store ([`PluginStore`]).
#[derive(Clone)]
pub struct ExternalLock {
    shared: Arc<Shared>,
}

/// What every clone of an [`ExternalLock`] shares.
pub struct Shared {
    cfg: ExternalLockConfig,
    plugin: Mutex<Option<Plugin>>,
    next_id: AtomicU64,
    next_holder: AtomicU64,
    /// Plug-in processes started so far, for logs and tests.
    starts: AtomicU64,
    notices: NoticeList,
}

impl std::ops::Deref for ExternalLock {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl ExternalLock {
    /// A lock that starts its plug-in on first use.
    pub fn new(cfg: ExternalLockConfig) -> Result<ExternalLock, LockError> {
        if cfg.command.trim().is_empty() {
            return Err(LockError::Rejected {
                message: "plugin command is empty: give --plugin-command \"python3 lock.py\""
                    .into(),
            });
        }
        Ok(ExternalLock {
            shared: Arc::new(Shared {
                cfg,
                plugin: Mutex::new(None),
                next_id: AtomicU64::new(1),
                next_holder: AtomicU64::new(1),
                starts: AtomicU64::new(0),
                notices: NoticeList::default(),
            }),
        })
    }

    /// How many plug-in processes have been started (1 for a well-behaved plug-in).
    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed)
    }

    fn label(&self, pid: Option<u32>) -> String {
        match pid {
            Some(pid) => format!("plugin={:?} pid={pid}", self.cfg.command),
            None => format!("plugin={:?}", self.cfg.command),
        }
    }

    fn spawn(&self) -> Result<Plugin, LockError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("exec {}", self.cfg.command))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .env(
                "SPLITBRAIN_OP_TIMEOUT_MS",
                self.cfg.op_timeout.as_millis().to_string(),
            )
            .env(EVENTS_ENV, "lost");
        for (k, v) in &self.cfg.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cfg.dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|e| LockError::Connect {
            addr: self.label(None),
            message: format!("cannot start the plug-in: {e} (hint: is the command right?)"),
        })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let pid = child.id().unwrap_or(0);
        let (tx, replies) = mpsc::unbounded_channel();
        tokio::spawn(read_stdout(stdout, tx, Arc::clone(&self.notices), pid));
        let n = self.starts.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(command = %self.cfg.command, pid, starts = n, "plug-in started");
        Ok(Plugin {
            child,
            stdin,
            replies,
            pid,
        })
    }

    /// Sends one request and returns the reply's fields; every failure is classified.
    async fn call(&self, op: &str, fields: Map<String, Value>) -> Result<Reply, LockError> {
        self.call_within(op, fields, self.cfg.op_timeout).await
    }

    /// [`ExternalLock::call`] with its own bound instead of the op timeout.
    async fn call_within(
        &self,
        op: &str,
        mut fields: Map<String, Value>,
        bound: Duration,
    ) -> Result<Reply, LockError> {
        let mut slot = self.plugin.lock().await;
        // A plug-in that exited since the last request never saw this one: start anew.
        if let Some(p) = slot.as_mut()
            && let Ok(Some(status)) = p.child.try_wait()
        {
            tracing::warn!(pid = p.pid, %status, "plug-in exited between requests; restarting");
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(self.spawn()?);
        }
        let plugin = slot.as_mut().expect("just started");
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        fields.insert("id".into(), id.into());
        fields.insert("op".into(), op.into());
        let pid = plugin.pid;
        let result = tokio::time::timeout(bound, exchange(plugin, &fields)).await;
        let answer = match result {
            Err(_) => Err(LockError::Timeout {
                op: op.into(),
                after_ms: u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
            }),
            Ok(Err(Broken::NotSent(e))) => Err(LockError::Connect {
                addr: self.label(Some(pid)),
                message: format!("the plug-in does not read its stdin: {e}"),
            }),
            Ok(Err(Broken::Closed)) => {
                let status = exit_status(plugin).await;
                Err(self.unknown(
                    op,
                    pid,
                    format!("the plug-in exited mid-request ({status})"),
                ))
            }
            Ok(Err(Broken::TooLong(start))) => Err(self.unknown(
                op,
                pid,
                format!(
                    "wrote garbage: a line longer than {MAX_LINE} bytes, starting {}",
                    quote(&start)
                ),
            )),
            Ok(Err(Broken::Read(e))) => {
                Err(self.unknown(op, pid, format!("cannot read the plug-in's stdout: {e}")))
            }
            Ok(Ok(line)) => self.parse(op, pid, id, &line),
        };
        match answer {
            Ok(Answer::Granted(reply)) => Ok(reply),
            Ok(Answer::Refused(refusal)) => Err(refusal.into_error(op, &fields)),
            Err(e) => {
                // After a broken exchange the plug-in's state is unknown: replace it now,
                // so the new one starts up while no request waits for it.
                tracing::warn!(pid, error = %e, "replacing the plug-in");
                *slot = None;
                *slot = self.spawn().ok();
                Err(e)
            }
        }
    }

    fn unknown(&self, op: &str, pid: u32, what: String) -> LockError {
        LockError::Unknown {
            op: op.into(),
            message: format!("{}: {what}", self.label(Some(pid))),
            source: None,
        }
    }

    /// Reads one reply line: a grant or a well-formed refusal, or (Err) a reply that
    /// breaks the protocol, as an indeterminate error quoting it.
    fn parse(&self, op: &str, pid: u32, id: u64, line: &str) -> Result<Answer, LockError> {
        let quoted = quote(line);
        let garbage =
            |why: String| self.unknown(op, pid, format!("wrote garbage: line={quoted}: {why}"));
        let value: Value = serde_json::from_str(line).map_err(|e| garbage(e.to_string()))?;
        let Some(obj) = value.as_object() else {
            return Err(garbage("not an object".into()));
        };
        let got = obj.get("id").and_then(Value::as_u64);
        if got != Some(id) {
            let got = got.map_or_else(|| "(none)".to_string(), |g| g.to_string());
            return Err(self.unknown(
                op,
                pid,
                format!("answered with a wrong id: expected={id} got={got} line={quoted}"),
            ));
        }
        let Some(ok) = obj.get("ok").and_then(Value::as_bool) else {
            return Err(garbage("no boolean \"ok\"".into()));
        };
        if ok {
            let token = obj.get("token").and_then(Value::as_u64);
            let value = obj.get("value").cloned().unwrap_or(Value::Null);
            return Ok(Answer::Granted(Reply { token, value }));
        }
        Ok(Answer::Refused(Refusal {
            definite: obj.get("definite").and_then(Value::as_bool) == Some(true),
            error: obj
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("(no error given)")
                .to_string(),
            detail: obj
                .get("detail")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(|d| d.chars().take(QUOTE_LIMIT).collect()),
        }))
    }

    async fn acquire_inner(&self, key: &str, ttl: Duration) -> Result<Guard, LockError> {
        let n = self.next_holder.fetch_add(1, Ordering::Relaxed);
        let holder = format!("{}-{n}", self.cfg.holder_prefix);
        let fields = object(json!({"key": key, "ttl_ms": millis(ttl), "holder": holder}));
        let reply = self.call("acquire", fields).await?;
        Ok(Guard {
            key: key.into(),
            holder_id: holder,
            token: reply.token,
        })
    }

    async fn guarded(
        &self,
        op: &str,
        guard: &Guard,
        ttl: Option<Duration>,
    ) -> Result<(), LockError> {
        let mut fields = object(json!({"key": guard.key, "holder": guard.holder_id}));
        if let Some(t) = guard.token {
            fields.insert("token".into(), t.into());
        }
        if let Some(ttl) = ttl {
            fields.insert("ttl_ms".into(), millis(ttl).into());
        }
        self.call(op, fields).await.map(drop)
    }
}

/// A Reply is what a successful plug-in reply carried.
struct Reply {
    token: Option<u64>,
    /// The result of a `read` (a number) or a `cas` (whether it swapped).
    value: Value,
}

/// An Answer is a well-formed reply: the plug-in keeps running after either.
enum Answer {
    /// `"ok":true`.
    Granted(Reply),
    /// `"ok":false`.
    Refused(Refusal),
}

/// A Refusal is a well-formed `"ok":false` reply.
struct Refusal {
    definite: bool,
    error: String,
    /// The plug-in's own words on why, kept beside the error.
    detail: Option<String>,
}

impl Refusal {
    /// The lock error this refusal of `op` (sent with `fields`) stands for.
    fn into_error(self, op: &str, fields: &Map<String, Value>) -> LockError {
        let detail = self.detail.clone();
        let error = self.classify(op, fields);
        match detail {
            // The same certainty, with the plug-in's words after the agent's.
            Some(detail) if !matches!(error, LockError::Unknown { .. }) => LockError::Rejected {
                message: format!("{error} (plugin: {detail})"),
            },
            Some(detail) => LockError::Unknown {
                op: op.into(),
                message: format!("plugin reported: {} ({detail})", self.error),
                source: None,
            },
            None => error,
        }
    }

    /// The error the refusal's name stands for.
    fn classify(&self, op: &str, fields: &Map<String, Value>) -> LockError {
        let field = |name: &str| {
            fields
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if !self.definite {
            return LockError::Unknown {
                op: op.into(),
                message: format!("plugin reported: {}", self.error),
                source: None,
            };
        }
        match self.error.as_str() {
            "held" => LockError::Held { key: field("key") },
            "not-holder" => LockError::NotHolder {
                key: field("key"),
                holder_id: field("holder"),
            },
            "unsupported" => LockError::Unsupported {
                lock: "external".into(),
                op: op.into(),
            },
            _ => LockError::Rejected {
                message: format!("plugin refused: {}", self.error),
            },
        }
    }
}

/// Why an exchange broke before a reply line arrived.
enum Broken {
    /// The request could not be written: the plug-in is gone and never saw it.
    NotSent(std::io::Error),
    /// Stdout closed before a full line.
    Closed,
    /// Reading stdout failed.
    Read(std::io::Error),
    /// A line longer than [`MAX_LINE`]; its start.
    TooLong(String),
}

async fn exchange(plugin: &mut Plugin, fields: &Map<String, Value>) -> Result<String, Broken> {
    let mut line = serde_json::to_vec(fields).expect("a JSON object serializes");
    line.push(b'\n');
    plugin
        .stdin
        .write_all(&line)
        .await
        .map_err(Broken::NotSent)?;
    plugin.stdin.flush().await.map_err(Broken::NotSent)?;
    plugin.replies.recv().await.unwrap_or(Err(Broken::Closed))
}

/// Reads the plug-in's stdout until it closes or breaks the protocol: notices go to
/// `notices` as they arrive, every other non-blank line (a reply) to `replies`, and a
/// broken stream ends the task with its error.
async fn read_stdout(
    mut stdout: BufReader<ChildStdout>,
    replies: mpsc::UnboundedSender<Result<String, Broken>>,
    notices: NoticeList,
    pid: u32,
) {
    loop {
        let line = match read_line(&mut stdout).await {
            Ok(line) => line,
            Err(broken) => {
                let _ = replies.send(Err(broken));
                return;
            }
        };
        // Blank lines are tolerated: some languages' print adds one.
        if line.is_empty() {
            continue;
        }
        match parse_notice(&line) {
            Some(Ok(notice)) => {
                tracing::info!(pid, holder = %notice.holder, detail = %notice.detail, "plug-in notice: lost");
                notices
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(notice);
            }
            Some(Err(why)) => {
                tracing::warn!(pid, line = %quote(&line), why, "plug-in notice skipped")
            }
            None => {
                if replies.send(Ok(line)).is_err() {
                    return;
                }
            }
        }
    }
}

/// One line of at most [`MAX_LINE`] bytes, without its line ending.
async fn read_line(stdout: &mut BufReader<ChildStdout>) -> Result<String, Broken> {
    let mut line = String::new();
    let n = stdout
        .take(MAX_LINE)
        .read_line(&mut line)
        .await
        .map_err(Broken::Read)?;
    if n as u64 == MAX_LINE && !line.ends_with('\n') {
        return Err(Broken::TooLong(line));
    }
    if n == 0 || !line.ends_with('\n') {
        return Err(Broken::Closed);
    }
    Ok(line.trim_end().to_string())
}

/// A notice line (an object with `event` and no `id`): the notice, or why it is
/// skipped; None for any other line, which must be a reply.
fn parse_notice(line: &str) -> Option<Result<LockNotice, String>> {
    let value: Value = serde_json::from_str(line).ok()?;
    let obj = value.as_object()?;
    if obj.contains_key("id") {
        return None;
    }
    let event = obj.get("event")?;
    if event.as_str() != Some("lost") {
        return Some(Err(format!("unknown event {event}")));
    }
    let Some(holder) = obj.get("holder").and_then(Value::as_str) else {
        return Some(Err("a lost notice needs the grant's \"holder\"".into()));
    };
    Some(Ok(LockNotice {
        holder: holder.to_string(),
        token: obj.get("token").and_then(Value::as_u64),
        detail: obj
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("(no detail given)")
            .chars()
            .take(QUOTE_LIMIT)
            .collect(),
        received: Instant::now(),
    }))
}

/// The exit status of a plug-in whose stdout closed, waiting briefly for it to exit.
async fn exit_status(plugin: &mut Plugin) -> String {
    match tokio::time::timeout(Duration::from_millis(200), plugin.child.wait()).await {
        Ok(Ok(status)) => format!("status={status}"),
        Ok(Err(e)) => format!("status=unknown: {e}"),
        Err(_) => "it closed its stdout but is still running".into(),
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `line` as a JSON string, cut to [`QUOTE_LIMIT`] characters.
fn quote(line: &str) -> String {
    let cut: String = line.chars().take(QUOTE_LIMIT).collect();
    let more = if cut.len() < line.len() { "..." } else { "" };
    format!("{cut:?}{more}")
}

/// A reply's `value` as `want` (what the op must return), or an indeterminate error
/// quoting what came instead: a plug-in that answers `ok` with no usable value broke
/// the protocol, and the op may have taken effect.
fn reply_value<T>(
    op: &str,
    reply: &Reply,
    want: &str,
    get: impl Fn(&Value) -> Option<T>,
) -> Result<T, LockError> {
    get(&reply.value).ok_or_else(|| LockError::Unknown {
        op: op.into(),
        message: format!(
            "the plug-in answered ok with value={} (want {want})",
            reply.value
        ),
        source: None,
    })
}

/// The optimistic workload's store in the plug-in: `read` and `cas` requests, optional
/// per plug-in (one without them answers `unsupported`, a definite refusal).
impl crate::optimistic::VersionedStore for ExternalLock {
    fn name(&self) -> &str {
        "external"
    }

    fn read<'a>(&'a self, key: &'a str) -> LockFuture<'a, i64> {
        Box::pin(async move {
            let reply = self.call("read", object(json!({ "key": key }))).await?;
            reply_value("read", &reply, "a number", Value::as_i64)
        })
    }

    fn cas<'a>(&'a self, key: &'a str, from: i64, to: i64) -> LockFuture<'a, bool> {
        Box::pin(async move {
            let fields = object(json!({ "key": key, "from": from, "to": to }));
            let reply = self.call("cas", fields).await?;
            reply_value("cas", &reply, "true or false", Value::as_bool)
        })
    }
}

impl Lock for ExternalLock {
    fn name(&self) -> &str {
        "external"
    }

    fn acquire<'a>(&'a self, key: &'a str, ttl: Duration) -> LockFuture<'a, Guard> {
        Box::pin(self.acquire_inner(key, ttl))
    }

    fn release<'a>(&'a self, guard: &'a Guard) -> LockFuture<'a, ()> {
        Box::pin(self.guarded("release", guard, None))
    }

    fn renew<'a>(&'a self, guard: &'a Guard, ttl: Duration) -> LockFuture<'a, ()> {
        Box::pin(self.guarded("renew", guard, Some(ttl)))
    }

    fn prepare(&self) -> LockFuture<'_, ()> {
        Box::pin(async {
            let mut slot = self.plugin.lock().await;
            if slot.is_none() {
                *slot = Some(self.spawn()?);
            }
            Ok(())
        })
    }

    /// Asks the plug-in `ready`; one that has no such op (`unsupported`) is ready.
    fn ready(&self, within: Duration) -> LockFuture<'_, ()> {
        Box::pin(async move {
            match self.call_within("ready", Map::new(), within).await {
                Ok(_) | Err(LockError::Unsupported { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn take_notices(&self) -> Vec<LockNotice> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests;
