//! The leader workload: each client slot is a candidate that runs for leader with the
//! lock under test. Winning the lock starts a term; the leader works on the resource
//! (reads the counter, works on it for a while, writes it plus one, with its fencing
//! token when fencing is on),
//! renews the lock between pieces of work where the lock can renew, and steps down
//! (releases) after a few pieces of work, so terms change hands often. A leader stops
//! acting once half the TTL has passed since its last acquire or renew was invoked, so a
//! correct lock never lets two leaders act at once.
//!
//! History vocabulary (the split-brain checker depends on it):
//!
//! | f | invoke value | ok value | token |
//! |---|---|---|---|
//! | `acquire` | key | key | the grant's token |
//! | `read` | null | the counter | the term's token |
//! | `lead` | `{"leader": agent, "term": n, "counter": v}` | same | the term's token |
//! | `renew` | key | key | the term's token |
//! | `release` | key | key | the term's token |
//!
//! `term` counts the slot's terms from 1; with `leader` it names the term uniquely.

use crate::agent::{Command, Outcome};
use crate::counter::HolderBoard;
use crate::driver::{Driver, Halt, SlotConfig};
use crate::generator::{Generator, GeneratorConfig};
use serde_json::{Value, json};
use splitbrain_history::Recorder;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Pieces of work a leader does before it steps down.
pub const WORK_PER_TERM: u32 = 4;

/// A LeaderConfig is what one candidate slot needs.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// The slot, its agent and its pacing.
    pub slot: SlotConfig,
    /// The lock key all candidates run for.
    pub key: String,
    /// The lock's time-to-live.
    pub ttl: Duration,
    /// The pause between two pieces of a leader's work.
    pub work_interval: Duration,
}

/// A LeaderSummary is what one candidate did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderSummary {
    /// The slot.
    pub slot: usize,
    /// Terms won.
    pub terms: u64,
    /// Pieces of work the resource accepted.
    pub work_done: u64,
    /// Renewals that succeeded.
    pub renewals: u64,
    /// Ops that ended `info`.
    pub infos: u64,
    /// Why the slot stopped early, if it did.
    pub error: Option<String>,
}

/// Drives one candidate until `stop` becomes true; `board` tells the nemesis who leads.
pub async fn run_client(
    cfg: LeaderConfig,
    recorder: Arc<Recorder>,
    board: Arc<HolderBoard>,
    stop: watch::Receiver<bool>,
) -> LeaderSummary {
    let mut candidate = Candidate {
        summary: LeaderSummary {
            slot: cfg.slot.slot,
            ..LeaderSummary::default()
        },
        driver: match Driver::new(cfg.slot.clone(), recorder, stop) {
            Ok(d) => d,
            Err(Halt::Fatal(e)) => {
                return LeaderSummary {
                    error: Some(e),
                    ..LeaderSummary::default()
                };
            }
            Err(Halt::Stopped) => return LeaderSummary::default(),
        },
        cfg,
        board,
        can_renew: true,
    };
    let ran = candidate.run().await;
    candidate.board.clear(&candidate.cfg.slot.agent_name);
    let ran = match ran {
        Ok(()) | Err(Halt::Stopped) => candidate.driver.collect_final_notices().await,
        fatal => fatal,
    };
    if let Err(Halt::Fatal(e)) = ran {
        candidate.summary.error = Some(e);
    }
    candidate.summary.infos = candidate.driver.infos;
    candidate.summary
}

struct Candidate {
    cfg: LeaderConfig,
    driver: Driver,
    board: Arc<HolderBoard>,
    /// False once the lock said it cannot renew.
    can_renew: bool,
    summary: LeaderSummary,
}

/// Where a term stands.
struct Term {
    n: u64,
    token: Option<u64>,
    /// The leader stops acting at this instant unless a renewal moves it.
    act_until: Instant,
}

impl Candidate {
    async fn run(&mut self) -> Result<(), Halt> {
        let generator = Generator::new(GeneratorConfig {
            clients: self.cfg.slot.clients,
            rate: self.cfg.slot.rate,
            time_limit: Duration::MAX,
            seed: self.cfg.slot.seed,
        })
        .map_err(|e| Halt::Fatal(e.to_string()))?;
        let mut last_start = Instant::now();
        for delay in generator.slot(self.cfg.slot.slot) {
            self.driver.connect().await?;
            self.driver.pause_until(last_start + delay).await?;
            last_start = Instant::now();
            self.campaign().await?;
        }
        Ok(())
    }

    fn key(&self) -> Value {
        json!(self.cfg.key)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.cfg.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// One run for leader: acquire; if won, work and renew for a term, then step down.
    async fn campaign(&mut self) -> Result<(), Halt> {
        let process = self.driver.process;
        let invoked = Instant::now();
        let acquire = Command::Acquire {
            key: self.cfg.key.clone(),
            ttl_ms: self.ttl_ms(),
        };
        let reply = self
            .driver
            .step("acquire", acquire, self.key(), None, |r| r.value.clone())
            .await?;
        if reply.outcome != Outcome::Ok {
            return Ok(());
        }
        self.board.set(&self.cfg.slot.agent_name);
        self.summary.terms += 1;
        let mut term = Term {
            n: self.summary.terms,
            token: reply.token,
            act_until: invoked + self.cfg.ttl / 2,
        };
        for piece in 0..WORK_PER_TERM {
            if piece > 0 && !self.renew(&mut term).await? {
                break;
            }
            if Instant::now() + self.cfg.work_interval >= term.act_until
                || !self.work(&term).await?
                || self.driver.process != process
            {
                break;
            }
        }
        if self.driver.process == process {
            self.board.clear(&self.cfg.slot.agent_name);
            self.driver
                .step("release", Command::Release, self.key(), term.token, |r| {
                    r.value.clone()
                })
                .await?;
        } else {
            self.board.clear(&self.cfg.slot.agent_name);
        }
        Ok(())
    }

    /// Extends the term where the lock can renew; false ends the term.
    async fn renew(&mut self, term: &mut Term) -> Result<bool, Halt> {
        if !self.can_renew {
            return Ok(true);
        }
        let invoked = Instant::now();
        let cmd = Command::Renew {
            ttl_ms: self.ttl_ms(),
        };
        let reply = self
            .driver
            .step("renew", cmd, self.key(), term.token, |r| r.value.clone())
            .await?;
        match reply.outcome {
            Outcome::Ok => {
                self.summary.renewals += 1;
                term.act_until = invoked + self.cfg.ttl / 2;
                Ok(true)
            }
            Outcome::Fail
                if reply
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("unsupported")) =>
            {
                self.can_renew = false;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// One piece of leader work: read the counter, work on it for `work_interval`, write
    /// it plus one. False ends the term (the resource refused, or the op's outcome is
    /// unknown). The work between the read and the write is the window a pause of the
    /// leader falls into: the leader checked its lease before, not after.
    async fn work(&mut self, term: &Term) -> Result<bool, Halt> {
        let read = self
            .driver
            .step("read", Command::Read, Value::Null, term.token, |r| {
                r.value.clone()
            })
            .await?;
        let Some(counter) = read.value.as_i64().filter(|_| read.outcome == Outcome::Ok) else {
            return Ok(false);
        };
        let at = Instant::now() + self.cfg.work_interval;
        self.driver.pause_until(at).await?;
        let value = json!({
            "leader": self.cfg.slot.agent_name,
            "term": term.n,
            "counter": counter + 1,
        });
        let cmd = Command::Write { value: counter + 1 };
        let done = self
            .driver
            .step("lead", cmd, value.clone(), term.token, move |_| value)
            .await?;
        if done.outcome == Outcome::Ok {
            self.summary.work_done += 1;
        }
        Ok(done.outcome == Outcome::Ok)
    }
}
