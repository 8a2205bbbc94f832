//! The optimistic workload: each client slot reads a counter, thinks for a while, and
//! writes it back plus one with a version precondition (compare-and-set), no lock involved. The history is one
//! of a compare-and-set register, checked for linearizability with the `cas-register`
//! model (initial value 0).
//!
//! History vocabulary:
//!
//! | f | invoke value | ok value |
//! |---|---|---|
//! | `read` | null | the counter |
//! | `cas` | `[from, to]` | `[from, to]` when it swapped, `false` when the counter no longer held `from` |
//!
//! A process whose op ended `info` is retired (the slot continues as `process +
//! clients`). Where the counter lives and how the precondition is enforced is the lock
//! system's business: see [`store`].

pub mod etcd;
pub mod kube;
pub mod store;

pub use etcd::EtcdVersionedStore;
pub use kube::KubeVersionedStore;
pub use store::{RedisVersionedStore, VersionedStore};

use crate::agent::{Command, Outcome};
use crate::driver::{Driver, Halt, SlotConfig};
use crate::generator::{Generator, GeneratorConfig};
use serde_json::{Value, json};
use splitbrain_history::Recorder;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The key of the counter the optimistic workload swaps.
pub const COUNTER_KEY: &str = "splitbrain-counter";

/// The value the counter starts from (a key never written reads as 0): the
/// linearizability checker's initial state.
pub const INITIAL: i64 = 0;

/// An OptimisticSummary is what one slot did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptimisticSummary {
    /// The slot.
    pub slot: usize,
    /// Reads that returned a value.
    pub reads: u64,
    /// Compare-and-sets that swapped.
    pub swapped: u64,
    /// Compare-and-sets that found another value.
    pub conflicts: u64,
    /// Ops that ended `info`.
    pub infos: u64,
    /// Why the slot stopped early, if it did.
    pub error: Option<String>,
}

/// An OptimisticConfig is what one slot of the optimistic workload needs.
#[derive(Clone, Debug)]
pub struct OptimisticConfig {
    /// The slot, its agent and its pacing.
    pub slot: SlotConfig,
    /// The pause between the read and the compare-and-set: the window in which other
    /// slots' swaps make this one's precondition stale.
    pub think: Duration,
}

/// Drives one slot of the optimistic workload until `stop` becomes true.
pub async fn run_client(
    cfg: OptimisticConfig,
    recorder: Arc<Recorder>,
    stop: watch::Receiver<bool>,
) -> OptimisticSummary {
    let mut summary = OptimisticSummary {
        slot: cfg.slot.slot,
        ..OptimisticSummary::default()
    };
    match Driver::new(cfg.slot, recorder, stop) {
        Ok(mut driver) => {
            let ran = match drive(&mut driver, cfg.think, &mut summary).await {
                Ok(()) | Err(Halt::Stopped) => driver.collect_final_notices().await,
                fatal => fatal,
            };
            if let Err(Halt::Fatal(e)) = ran {
                summary.error = Some(e);
            }
            summary.infos = driver.infos;
        }
        Err(Halt::Fatal(e)) => summary.error = Some(e),
        Err(Halt::Stopped) => {}
    }
    summary
}

async fn drive(
    driver: &mut Driver,
    think: Duration,
    summary: &mut OptimisticSummary,
) -> Result<(), Halt> {
    let generator = Generator::new(GeneratorConfig {
        clients: driver.cfg.clients,
        rate: driver.cfg.rate,
        time_limit: Duration::MAX,
        seed: driver.cfg.seed,
    })
    .map_err(|e| Halt::Fatal(e.to_string()))?;
    let mut last_start = Instant::now();
    for delay in generator.slot(driver.cfg.slot) {
        driver.connect().await?;
        driver.pause_until(last_start + delay).await?;
        last_start = Instant::now();
        read_modify_write(driver, think, summary).await?;
    }
    Ok(())
}

/// One attempt: read the counter, then swap it for its successor.
async fn read_modify_write(
    driver: &mut Driver,
    think: Duration,
    summary: &mut OptimisticSummary,
) -> Result<(), Halt> {
    let read = Command::CasRead {
        key: COUNTER_KEY.into(),
    };
    let reply = driver
        .step("read", read, Value::Null, None, |r| r.value.clone())
        .await?;
    let Some(from) = reply
        .value
        .as_i64()
        .filter(|_| reply.outcome == Outcome::Ok)
    else {
        return Ok(());
    };
    summary.reads += 1;
    driver.pause_until(Instant::now() + think).await?;
    let to = from + 1;
    let cas = Command::Cas {
        key: COUNTER_KEY.into(),
        from,
        to,
    };
    let reply = driver
        .step("cas", cas, json!([from, to]), None, |r| {
            if r.value == Value::Bool(true) {
                json!([from, to])
            } else {
                Value::Bool(false)
            }
        })
        .await?;
    match (reply.outcome, &reply.value) {
        (Outcome::Ok, Value::Bool(true)) => summary.swapped += 1,
        (Outcome::Ok, _) => summary.conflicts += 1,
        _ => {}
    }
    Ok(())
}
