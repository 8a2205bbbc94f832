//! What the `leader` and `optimistic` client slots share: a connection to the slot's
//! agent kept up with backoff, a stop signal, and steps that record an invoke, call the
//! agent and record the completion. A step that ends `info` retires the process (the
//! slot continues as `process + clients`, Jepsen's scheme).

use crate::agent::{AgentClient, AgentReply, AgentRequest, Command, Outcome};
use serde_json::Value;
use splitbrain_history::{OpDraft, OpType, Process, Recorder};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A SlotConfig is what every client slot needs, whatever its workload.
#[derive(Clone, Debug)]
pub struct SlotConfig {
    /// The slot number, from 0; also its first process number.
    pub slot: usize,
    /// Number of slots in the run (the step between a slot's process numbers).
    pub clients: usize,
    /// The generator seed, shared by all slots.
    pub seed: u64,
    /// Attempts per second over all clients.
    pub rate: f64,
    /// The controller's bound on each call to the agent; past it the op is `info`.
    pub op_timeout: Duration,
    /// The agent's Unix socket.
    pub agent_socket: PathBuf,
    /// The node the agent runs on, recorded with every op.
    pub node: String,
    /// The agent's name, as the nemesis knows it.
    pub agent_name: String,
    /// Turns true once the run is over and the nemesis has healed every fault; the
    /// slot then asks its agent for what the lock client said since the last reply (a
    /// holder resumed at the end learns only then that it lost its lock). None: the
    /// slot ends at stop without asking.
    pub final_notices: Option<watch::Receiver<bool>>,
}

/// A Halt is why a slot stopped early.
#[derive(Debug)]
pub(crate) enum Halt {
    /// `stop` became true.
    Stopped,
    /// The history could not be written or the config is bad.
    Fatal(String),
}

/// A Driver is one slot's connection, process number and recorder.
pub(crate) struct Driver {
    pub(crate) cfg: SlotConfig,
    recorder: Arc<Recorder>,
    stop: watch::Receiver<bool>,
    client: Option<AgentClient>,
    pub(crate) process: u64,
    /// Ops that ended `info`.
    pub(crate) infos: u64,
    /// Connections to the agent made again after one broke.
    pub(crate) reconnects: u64,
}

impl Driver {
    pub(crate) fn new(
        cfg: SlotConfig,
        recorder: Arc<Recorder>,
        stop: watch::Receiver<bool>,
    ) -> Result<Driver, Halt> {
        if cfg.slot >= cfg.clients {
            return Err(Halt::Fatal(format!(
                "bad config: slot={} clients={}: slots are numbered 0..clients",
                cfg.slot, cfg.clients
            )));
        }
        Ok(Driver {
            process: cfg.slot as u64,
            cfg,
            recorder,
            stop,
            client: None,
            infos: 0,
            reconnects: 0,
        })
    }

    pub(crate) fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps until `at`, or less if stop comes first.
    pub(crate) async fn pause_until(&mut self, at: Instant) -> Result<(), Halt> {
        if self.stopped() {
            return Err(Halt::Stopped);
        }
        if at <= Instant::now() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep_until(at) => Ok(()),
            _ = stopped(&mut self.stop) => Err(Halt::Stopped),
        }
    }

    /// Makes sure there is a working connection to the agent (an agent killed by the
    /// nemesis comes back at the same path).
    pub(crate) async fn connect(&mut self) -> Result<(), Halt> {
        if self.client.as_ref().is_some_and(|c| !c.is_broken()) {
            return Ok(());
        }
        let had_one = self.client.take().is_some();
        let mut backoff = Duration::from_millis(10);
        loop {
            match AgentClient::connect(&self.cfg.agent_socket).await {
                Ok(c) => {
                    self.client = Some(c);
                    if had_one {
                        self.reconnects += 1;
                    }
                    return Ok(());
                }
                Err(e) => tracing::debug!(slot = self.cfg.slot, error = %e, "agent not reachable"),
            }
            self.pause_until(Instant::now() + backoff).await?;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Records the invoke of `f` with `invoke_value`, calls the agent, records the
    /// completion (its value from `ok_value` on `ok`, else the invoke's), and retires
    /// the process on `info`; then stops if `stop` became true.
    pub(crate) async fn step(
        &mut self,
        f: &str,
        command: Command,
        invoke_value: Value,
        token: Option<u64>,
        ok_value: impl FnOnce(&AgentReply) -> Value,
    ) -> Result<AgentReply, Halt> {
        let reply = self
            .exchange(f, command, invoke_value, token, ok_value)
            .await?;
        self.check_stop()?;
        Ok(reply)
    }

    /// [`Driver::step`] without the stop check, for a workload that must account for
    /// the completion first (so its summary agrees with the history).
    pub(crate) async fn exchange(
        &mut self,
        f: &str,
        command: Command,
        invoke_value: Value,
        token: Option<u64>,
        ok_value: impl FnOnce(&AgentReply) -> Value,
    ) -> Result<AgentReply, Halt> {
        self.record(self.draft(OpType::Invoke, f, invoke_value.clone(), token))?;
        let reply = self.call(AgentRequest::new(self.process, command)).await;
        self.record_notices(&reply)?;
        let value = match reply.outcome {
            Outcome::Ok => ok_value(&reply),
            Outcome::Fail | Outcome::Info => invoke_value,
        };
        let token = reply.token.or(token);
        let mut done = self.draft(reply.outcome.op_type(), f, value, token);
        done.error = reply.error.clone();
        self.record(done)?;
        if reply.outcome == Outcome::Info {
            self.infos += 1;
            self.process += self.cfg.clients as u64;
        }
        Ok(reply)
    }

    /// Once [`SlotConfig::final_notices`] turns true, asks the agent for the lock
    /// client's notices since its last reply and records them, on the slot's own
    /// connection, so the notices of a reply that came too late are kept too. Bounded
    /// by `op_timeout`; an agent that cannot be reached by then gives none.
    pub(crate) async fn collect_final_notices(&mut self) -> Result<(), Halt> {
        let Some(mut healed) = self.cfg.final_notices.clone() else {
            return Ok(());
        };
        let _ = healed.wait_for(|h| *h).await;
        let timeout = self.cfg.op_timeout;
        let asked = tokio::time::timeout(timeout, self.ask_for_notices(timeout)).await;
        match asked {
            Ok(Some(reply)) if reply.outcome == Outcome::Ok => self.record_notices(&reply),
            Ok(Some(reply)) => {
                tracing::debug!(slot = self.cfg.slot, error = ?reply.error, "no final notices");
                Ok(())
            }
            Ok(None) | Err(_) => {
                tracing::debug!(
                    slot = self.cfg.slot,
                    "agent not reachable for final notices"
                );
                Ok(())
            }
        }
    }

    async fn ask_for_notices(&mut self, timeout: Duration) -> Option<AgentReply> {
        if self.client.as_ref().is_none_or(AgentClient::is_broken) {
            self.client = AgentClient::connect(&self.cfg.agent_socket).await.ok();
        }
        let request = AgentRequest::new(self.process, Command::Notices);
        Some(self.client.as_mut()?.call(request, timeout).await)
    }

    /// Records the lock client's notices that came with `reply`, before its completion:
    /// the agent learned them before it answered. Each is timed when the controller
    /// learns it; `age_ms` says how much earlier the agent did.
    fn record_notices(&self, reply: &AgentReply) -> Result<(), Halt> {
        for notice in &reply.notices {
            let value = serde_json::json!({
                "process": notice.process,
                "holder": notice.holder,
                "detail": notice.detail,
                "age_ms": notice.age_ms,
                "agent_slot": self.cfg.slot,
            });
            let draft = OpDraft::new(Process::Notice, OpType::Info, "lost", value)
                .node(self.cfg.node.clone())
                .token(notice.token);
            self.record(draft)?;
        }
        Ok(())
    }

    /// Stops the slot if `stop` became true.
    pub(crate) fn check_stop(&self) -> Result<(), Halt> {
        if self.stopped() {
            Err(Halt::Stopped)
        } else {
            Ok(())
        }
    }

    /// Calls the agent; if stop comes first, waits up to `op_timeout` more for the
    /// reply and otherwise calls the op `info`.
    async fn call(&mut self, req: AgentRequest) -> AgentReply {
        let timeout = self.cfg.op_timeout;
        let Some(client) = self.client.as_mut() else {
            return AgentReply::info(0, "no agent connection");
        };
        let call = client.call(req, timeout);
        tokio::pin!(call);
        tokio::select! {
            reply = &mut call => reply,
            _ = stopped(&mut self.stop) => {
                match tokio::time::timeout(timeout, &mut call).await {
                    Ok(reply) => reply,
                    Err(_) => AgentReply::info(0, "stopped: no reply within op_timeout"),
                }
            }
        }
    }

    fn draft(&self, kind: OpType, f: &str, value: Value, token: Option<u64>) -> OpDraft {
        OpDraft::new(Process::Client(self.process), kind, f, value)
            .node(self.cfg.node.clone())
            .token(token)
    }

    fn record(&self, draft: OpDraft) -> Result<(), Halt> {
        self.recorder
            .record(draft)
            .map(drop)
            .map_err(|e| Halt::Fatal(format!("cannot write the history: {e}")))
    }
}

/// Resolves once `stop` is true, or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
