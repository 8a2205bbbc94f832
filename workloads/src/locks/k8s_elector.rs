//! client-go's leader-election algorithm (`tools/leaderelection`), over any store of a
//! leader record: a Lease (`k8s-lease`) or a ConfigMap annotation (`k8s-configmap`).
//!
//! What makes it client-go's and not a generic TTL lock:
//! - expiry is judged by the **local** time at which this elector last saw the record
//!   change (`observedTime`), plus the holder's `leaseDurationSeconds`, never by the
//!   `renewTime` written in the record, so clocks are never compared across machines;
//!   that local time is the monotonic one (see [`Clocks`]): a contender whose clock
//!   runs fast takes over early, one whose wall clock steps does not;
//! - every write carries the `resourceVersion` of the object last read or written, so
//!   of two electors racing for an expired record exactly one update wins (409 for the
//!   other);
//! - `leaderTransitions` is incremented on every change of holder, and kept on renewals
//!   and on release (which clears the holder and sets a 1 s duration, as
//!   `ReleaseOnCancel` does).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// A Clock is where a lock client takes "now" from: a function, so the agent can hand
/// in a clock a clock-skew fault shifts, slows or speeds up.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The real wall clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// Clocks are the two clocks client-go reads through `k8s.io/utils/clock`. Go's
/// `time.Now()` carries a monotonic reading, and `observedTime.Add(d).After(now)`
/// compares those, so a real client-go judges expiry by the **monotonic** clock (a
/// step of the wall clock does not move it; a clock running fast or slow does), while
/// the times it writes into the record (`acquireTime`, `renewTime`) are **wall** time.
#[derive(Clone)]
pub struct Clocks {
    /// The wall clock: the record's times.
    pub wall: Clock,
    /// The monotonic clock: `observedTime` and expiry. Its epoch is arbitrary.
    pub monotonic: Clock,
}

impl Clocks {
    /// The host's clocks.
    pub fn system() -> Clocks {
        let start = std::time::Instant::now();
        let base = SystemTime::now();
        Clocks {
            wall: system_clock(),
            monotonic: Arc::new(move || base + start.elapsed()),
        }
    }

    /// One clock for both, for tests that move time by hand.
    pub fn single(clock: Clock) -> Clocks {
        Clocks {
            wall: Arc::clone(&clock),
            monotonic: clock,
        }
    }
}

/// A LeaderRecord is client-go's `LeaderElectionRecord`: who leads, for how long a
/// silence means it has gone, and how many times the leader changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderRecord {
    /// The holder; empty when nobody holds it.
    pub holder_identity: String,
    /// How long, in whole seconds, others wait after the last change they saw.
    pub lease_duration_seconds: i32,
    /// When the current holder acquired it, by its own clock.
    pub acquire_time: Option<SystemTime>,
    /// When the current holder last renewed it, by its own clock.
    pub renew_time: Option<SystemTime>,
    /// How many times the holder changed: the fencing token.
    pub leader_transitions: i32,
}

/// A StoreErrorKind says what a store call's failure means for the algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The object changed since it was read (409 Conflict) or already exists (409
    /// AlreadyExists): the write did not happen.
    Conflict,
    /// The object does not exist (404).
    NotFound,
    /// The server refused the request before doing anything (another 4xx, or no
    /// connection could be made).
    Refused,
    /// No answer in time: a write may or may not have happened.
    Timeout,
    /// Any other failure after the request may have been sent (5xx, a reset).
    Unknown,
}

/// A StoreError is a failed store call, classified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What it means.
    pub kind: StoreErrorKind,
    /// The detail, key=value style.
    pub message: String,
}

impl StoreError {
    /// True when a failed write may still have taken effect.
    pub fn may_have_applied(&self) -> bool {
        matches!(self.kind, StoreErrorKind::Timeout | StoreErrorKind::Unknown)
    }
}

/// A StoreFuture is what a [`RecordStore`] call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A RecordStore is client-go's `resourcelock.Interface`: one object holding the leader
/// record. It remembers the object it last read or wrote, and `update` writes with that
/// object's resourceVersion (so an update before any get or create is refused).
pub trait RecordStore: Send + Sync {
    /// The object, for messages: `leases/default/lock`.
    fn describe(&self) -> String;
    /// The record and its raw encoding, or None when the object does not exist.
    fn get(&self) -> StoreFuture<'_, Option<(LeaderRecord, Vec<u8>)>>;
    /// Creates the object with `record` (a Conflict if it exists).
    fn create<'a>(&'a self, record: &'a LeaderRecord) -> StoreFuture<'a, ()>;
    /// Writes `record` over the object last seen (a Conflict if it changed since).
    fn update<'a>(&'a self, record: &'a LeaderRecord) -> StoreFuture<'a, ()>;
}

/// An Attempt is the outcome of one `tryAcquireOrRenew`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// This identity leads; the record's `leaderTransitions`.
    Leader(i32),
    /// Someone else leads or the write lost a race: certainly not leading.
    NotLeader,
    /// A write's outcome is unknown: this identity may lead.
    Unknown(StoreError),
    /// The record could not be read, so nothing was written: certainly not leading,
    /// and nothing learned about who is.
    Unreadable(StoreError),
}

/// What the elector last saw: the record, its raw bytes, and when (by its clock) it last
/// saw them change.
#[derive(Default)]
struct Observed {
    record: LeaderRecord,
    raw: Vec<u8>,
    time: Option<SystemTime>,
}

/// An Elector runs client-go's algorithm for any number of identities, one after the
/// other, over one record store; what it has observed is shared by all of them, as it
/// would be by one process.
pub struct Elector {
    store: Box<dyn RecordStore>,
    clocks: Clocks,
    observed: Mutex<Observed>,
}

impl Elector {
    /// An elector over `store`, judging time by `clocks`.
    pub fn new(store: Box<dyn RecordStore>, clocks: Clocks) -> Elector {
        Elector {
            store,
            clocks,
            observed: Mutex::new(Observed::default()),
        }
    }

    /// The store's description.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    fn observed(&self) -> std::sync::MutexGuard<'_, Observed> {
        // A poisoned lock only means a panic elsewhere; the data is still a record.
        self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last observed record.
    pub fn observed_record(&self) -> LeaderRecord {
        self.observed().record.clone()
    }

    /// client-go's `IsLeader`: the last observed record names `identity`.
    pub fn is_leader(&self, identity: &str) -> bool {
        !identity.is_empty() && self.observed().record.holder_identity == identity
    }

    /// client-go's `isLeaseValid`: the observed record's duration has not yet passed
    /// since this elector saw it change, by the monotonic clock.
    fn is_lease_valid(&self, now: SystemTime) -> bool {
        let o = self.observed();
        let secs = u64::try_from(o.record.lease_duration_seconds).unwrap_or(0);
        match o.time {
            Some(t) => t + Duration::from_secs(secs) > now,
            None => false,
        }
    }

    fn set_observed(&self, record: LeaderRecord) {
        let now = (self.clocks.monotonic)();
        let mut o = self.observed();
        o.record = record;
        o.time = Some(now);
    }

    /// One `tryAcquireOrRenew` for `identity` with `lease_duration` (whole seconds,
    /// at least 1), every store call bounded by `deadline`.
    pub async fn try_acquire_or_renew(
        &self,
        identity: &str,
        lease_duration: Duration,
        deadline: Instant,
    ) -> Attempt {
        let now = (self.clocks.wall)();
        let elapsed_now = (self.clocks.monotonic)();
        let seconds = i32::try_from(lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
        let mut record = LeaderRecord {
            holder_identity: identity.to_string(),
            lease_duration_seconds: seconds,
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: 0,
        };
        let mut unknown = None;
        // 1. The leader's fast path: update the record last seen, optimistically.
        if self.is_leader(identity) && self.is_lease_valid(elapsed_now) {
            let old = self.observed_record();
            record.acquire_time = old.acquire_time;
            record.leader_transitions = old.leader_transitions;
            match bounded(deadline, self.store.update(&record)).await {
                Ok(()) => {
                    self.set_observed(record.clone());
                    return Attempt::Leader(record.leader_transitions);
                }
                Err(e) if e.may_have_applied() => unknown = Some(e),
                Err(_) => {}
            }
        }
        let outcome = self
            .slow_path(identity, elapsed_now, record, deadline)
            .await;
        match (outcome, unknown) {
            (Attempt::NotLeader | Attempt::Unreadable(_), Some(e)) => Attempt::Unknown(e),
            (outcome, _) => outcome,
        }
    }

    /// Steps 2 to 4: get or create the record, check holder and expiry (at the
    /// monotonic time `elapsed_now`), update.
    async fn slow_path(
        &self,
        identity: &str,
        elapsed_now: SystemTime,
        mut record: LeaderRecord,
        deadline: Instant,
    ) -> Attempt {
        let (old, raw) = match bounded(deadline, self.store.get()).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                return match bounded(deadline, self.store.create(&record)).await {
                    Ok(()) => {
                        self.set_observed(record.clone());
                        Attempt::Leader(record.leader_transitions)
                    }
                    Err(e) if e.may_have_applied() => Attempt::Unknown(e),
                    Err(_) => Attempt::NotLeader,
                };
            }
            // A failed read changed nothing.
            Err(e) => return Attempt::Unreadable(e),
        };
        // 3. observedTime moves only when the record changed.
        if self.observed().raw != raw {
            self.set_observed(old.clone());
            self.observed().raw = raw;
        }
        if !old.holder_identity.is_empty()
            && self.is_lease_valid(elapsed_now)
            && !self.is_leader(identity)
        {
            return Attempt::NotLeader;
        }
        // 4. Keep acquireTime and the count on a renewal; count a change of holder.
        if self.is_leader(identity) {
            record.acquire_time = old.acquire_time;
            record.leader_transitions = old.leader_transitions;
        } else {
            record.leader_transitions = old.leader_transitions.saturating_add(1);
        }
        match bounded(deadline, self.store.update(&record)).await {
            Ok(()) => {
                self.set_observed(record.clone());
                Attempt::Leader(record.leader_transitions)
            }
            Err(e) if e.may_have_applied() => Attempt::Unknown(e),
            Err(_) => Attempt::NotLeader,
        }
    }

    /// client-go's `release` (ReleaseOnCancel): if `identity` leads by the last observed
    /// record, write a record with no holder, a 1 s duration and the same transitions.
    /// Ok(false) when it did not lead by what was observed.
    pub async fn release(&self, identity: &str, deadline: Instant) -> Result<bool, StoreError> {
        if !self.is_leader(identity) {
            return Ok(false);
        }
        let now = (self.clocks.wall)();
        let record = LeaderRecord {
            holder_identity: String::new(),
            lease_duration_seconds: 1,
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: self.observed_record().leader_transitions,
        };
        bounded(deadline, self.store.update(&record)).await?;
        self.set_observed(record);
        Ok(true)
    }
}

/// A store call bounded by `deadline`; past it the call is a Timeout.
async fn bounded<T>(deadline: Instant, call: StoreFuture<'_, T>) -> Result<T, StoreError> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(result) => result,
        Err(_) => Err(StoreError {
            kind: StoreErrorKind::Timeout,
            message: "no answer before the deadline".into(),
        }),
    }
}
