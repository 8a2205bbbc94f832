//! The counter workload: each client slot repeatedly takes the lock, reads the
//! resource's counter, waits (the window a pause can hit), writes the counter plus one
//! and releases. If mutual exclusion ever fails, two holders read the same value and
//! one increment is lost: the resource's log shows it.
//!
//! History vocabulary (the checkers depend on it exactly):
//!
//! | f | invoke value | ok value | token |
//! |---|---|---|---|
//! | `acquire` | key | key | the grant's token (on ok) |
//! | `read` | null | the counter | the guard's token |
//! | `write` | new value | new value | the guard's token |
//! | `release` | key | key | the guard's token |
//!
//! A process whose op ended `info` is retired: the slot continues as process
//! `old + clients` (Jepsen's scheme) and starts over with `acquire`.

mod board;

pub use board::HolderBoard;

use crate::agent::{AgentReply, Command, Outcome};
use crate::driver::{Driver, Halt, SlotConfig};
use crate::generator::{Generator, GeneratorConfig};
use serde_json::{Value, json};
use splitbrain_history::Recorder;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A CounterClientConfig is everything one client slot needs.
#[derive(Clone, Debug)]
pub struct CounterClientConfig {
    /// The slot number, from 0; also its first process number.
    pub slot: usize,
    /// Number of slots in the run (the step between a slot's process numbers).
    pub clients: usize,
    /// The generator seed, shared by all slots.
    pub seed: u64,
    /// Attempts per second over all clients. A wait shorter than a millisecond still
    /// lasts until the timer's next 1 ms tick, so per-slot rates approaching 1000/s are
    /// offered only approximately; a rate far above that means "retry at once".
    pub rate: f64,
    /// The lock key.
    pub key: String,
    /// The lock's time-to-live.
    pub ttl: Duration,
    /// How long the holder waits between its read and its write.
    pub cs_wait: Duration,
    /// The controller's bound on each call to the agent; past it the op is `info`. Make
    /// it longer than twice the agent's `--op-timeout-ms` (acquire and release are a
    /// lock call plus a resource access, each bounded by it), so that the agent's own,
    /// more precise answer arrives first.
    pub op_timeout: Duration,
    /// The agent's Unix socket.
    pub agent_socket: PathBuf,
    /// The node the agent runs on, recorded with every op.
    pub node: String,
    /// The agent's name, as the [`HolderBoard`] and the nemesis know it.
    pub agent_name: String,
    /// See [`SlotConfig::final_notices`].
    pub final_notices: Option<watch::Receiver<bool>>,
}

/// A ClientSummary is what one slot did, for progress and the run's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSummary {
    /// The slot.
    pub slot: usize,
    /// The last process number the slot used.
    pub last_process: u64,
    /// Acquire attempts.
    pub acquires: u64,
    /// Acquires that succeeded.
    pub acquired: u64,
    /// Writes the resource accepted.
    pub writes_ok: u64,
    /// Writes that failed definitely (a fenced resource rejected a stale token).
    pub writes_failed: u64,
    /// Releases that succeeded.
    pub released: u64,
    /// Ops that ended `info` (each retired a process).
    pub infos: u64,
    /// Times the agent connection was re-established.
    pub reconnects: u64,
    /// Why the slot stopped early, if it did (bad config, history not writable).
    pub error: Option<String>,
}

/// A Slot is one client slot's running state.
struct Slot {
    cfg: CounterClientConfig,
    driver: Driver,
    board: Arc<HolderBoard>,
    /// The token of the lock this process believes it holds; `Some(None)` is a grant
    /// without a token.
    held: Option<Option<u64>>,
    summary: ClientSummary,
}

impl CounterClientConfig {
    /// The part of the configuration every workload's slot shares.
    fn slot_config(&self) -> SlotConfig {
        SlotConfig {
            slot: self.slot,
            clients: self.clients,
            seed: self.seed,
            rate: self.rate,
            op_timeout: self.op_timeout,
            agent_socket: self.agent_socket.clone(),
            node: self.node.clone(),
            agent_name: self.agent_name.clone(),
            final_notices: self.final_notices.clone(),
        }
    }
}

/// Drives one client slot until `stop` becomes true, recording every step through
/// `recorder`. An in-flight op at stop time gets up to `op_timeout` to finish, then is
/// recorded as `info`.
pub async fn run_client(
    cfg: CounterClientConfig,
    recorder: Arc<Recorder>,
    board: Arc<HolderBoard>,
    stop: watch::Receiver<bool>,
) -> ClientSummary {
    let mut summary = ClientSummary {
        slot: cfg.slot,
        last_process: cfg.slot as u64,
        ..ClientSummary::default()
    };
    let driver = match Driver::new(cfg.slot_config(), recorder, stop) {
        Ok(driver) => driver,
        Err(Halt::Fatal(e)) => {
            summary.error = Some(e);
            return summary;
        }
        Err(Halt::Stopped) => return summary,
    };
    let mut slot = Slot {
        cfg,
        driver,
        board,
        held: None,
        summary,
    };
    let ran = match slot.run().await {
        Ok(()) | Err(Halt::Stopped) => slot.driver.collect_final_notices().await,
        fatal => fatal,
    };
    if let Err(Halt::Fatal(e)) = ran {
        slot.summary.error = Some(e);
    }
    slot.summary.last_process = slot.driver.process;
    slot.summary.infos = slot.driver.infos;
    slot.summary.reconnects = slot.driver.reconnects;
    slot.summary
}

impl Slot {
    /// Attempts cycles on the generator's schedule until stop.
    async fn run(&mut self) -> Result<(), Halt> {
        let generator = Generator::new(GeneratorConfig {
            clients: self.cfg.clients,
            rate: self.cfg.rate,
            // The controller's stop ends the run; the schedule itself never runs out.
            time_limit: Duration::MAX,
            seed: self.cfg.seed,
        })
        .map_err(|e| Halt::Fatal(e.to_string()))?;
        // Delays run from the start of one attempt to the start of the next, so the
        // offered rate is the configured one as long as cycles are shorter than the
        // delays; a slot that falls behind starts at once and never bursts to catch up.
        let mut last_start = Instant::now();
        for delay in generator.slot(self.cfg.slot) {
            self.driver.connect().await?;
            self.driver.pause_until(last_start + delay).await?;
            last_start = Instant::now();
            self.cycle().await?;
        }
        Ok(())
    }

    /// One attempt: acquire, and if granted read, wait, write, release.
    async fn cycle(&mut self) -> Result<(), Halt> {
        let key = self.cfg.key.clone();
        let ttl_ms = u64::try_from(self.cfg.ttl.as_millis()).unwrap_or(u64::MAX);
        let acquire = Command::Acquire {
            key: key.clone(),
            ttl_ms,
        };
        let reply = self.step(acquire, json!(key)).await?;
        if reply.outcome != Outcome::Ok {
            return Ok(());
        }
        let read = self.step(Command::Read, Value::Null).await?;
        let Some(counter) = read.value.as_i64().filter(|_| read.outcome == Outcome::Ok) else {
            return self.release_if_held().await;
        };
        let wait = self.cfg.cs_wait;
        self.driver.pause_until(Instant::now() + wait).await?;
        let next = counter + 1;
        self.step(Command::Write { value: next }, json!(next))
            .await?;
        self.release_if_held().await
    }

    async fn release_if_held(&mut self) -> Result<(), Halt> {
        if self.held.is_some() {
            self.step(Command::Release, json!(self.cfg.key)).await?;
        }
        Ok(())
    }

    /// Records the invoke, calls the agent, records the completion and updates what
    /// the slot believes it holds. Ops carry the guard's token; an acquire's completion
    /// carries the token it was granted.
    async fn step(&mut self, command: Command, invoke_value: Value) -> Result<AgentReply, Halt> {
        let f = command.f();
        if matches!(command, Command::Release) {
            // From here the controller no longer counts on this agent holding.
            self.board.clear(&self.cfg.agent_name);
        }
        let guard_token = self.held.flatten();
        let reply = self
            .driver
            .exchange(f, command, invoke_value, guard_token, |r| r.value.clone())
            .await?;
        self.after(f, &reply);
        self.driver.check_stop()?;
        Ok(reply)
    }

    /// Updates the slot's belief and counts after a completion; before the stop check,
    /// so the summary agrees with the history.
    fn after(&mut self, f: &str, reply: &AgentReply) {
        match (f, reply.outcome) {
            ("acquire", _) => self.summary.acquires += 1,
            ("write", Outcome::Ok) => self.summary.writes_ok += 1,
            ("write", Outcome::Fail) => self.summary.writes_failed += 1,
            ("release", Outcome::Ok) => self.summary.released += 1,
            _ => {}
        }
        match (f, reply.outcome) {
            // The driver has retired the process; its guard goes with it.
            (_, Outcome::Info) => {
                self.board.clear(&self.cfg.agent_name);
                self.held = None;
            }
            ("acquire", Outcome::Ok) => {
                self.summary.acquired += 1;
                self.held = Some(reply.token);
                self.board.set(&self.cfg.agent_name);
            }
            ("release", _) => self.held = None,
            _ => {}
        }
    }
}
