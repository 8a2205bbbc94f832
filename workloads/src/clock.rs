//! The injectable clock: the local time our agents and lock clients read for every
//! lease decision, which the nemesis can skew per process without touching the host's
//! clock.
//!
//! A process's clock is the true time transformed by a [`ClockControl`] that the
//! nemesis writes to a file (the local backend names it in `SPLITBRAIN_CLOCK_FILE`).
//! The control describes the clock as a function of the true time with absolute
//! anchors, so the reader needs no timer: a drift accumulates and a strobe flips by
//! itself, and the file only changes when a fault starts or ends. The clock re-reads
//! the file at most every [`REREAD`]; a missing file is the true time, a malformed one
//! leaves the last good control in force.
//!
//! Why a file rather than a command on the agent's socket: it reaches the agent while
//! the controller's socket is busy with an op, it outlives an agent restart (a killed
//! and restarted agent comes back with the same skew, as a machine's clock would), and
//! the same file scheme serves processes that are not ours.
//!
//! ```
//! use splitbrain_workloads::clock::{Clock, ClockControl};
//! let behind = ClockControl { offset_ms: -3000, ..ClockControl::default() };
//! let clock = Clock::fixed(behind);
//! let skew = clock.now_unix_ms() - Clock::system().now_unix_ms();
//! assert!((-3100.0..-2900.0).contains(&skew));
//! ```

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable that names a process's clock control file.
pub const CLOCK_FILE_ENV: &str = "SPLITBRAIN_CLOCK_FILE";

/// How often, at most, the control file is read again.
pub const REREAD: Duration = Duration::from_millis(2);

/// A StrobeControl is a clock flipping between no offset and `delta_ms`, each position
/// lasting `period_ms`, from `start_unix_ms` until `end_unix_ms` (true Unix time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrobeControl {
    /// The offset of the flipped position, in milliseconds.
    pub delta_ms: i64,
    /// How long each position lasts, in milliseconds.
    pub period_ms: u64,
    /// When the flipping starts.
    pub start_unix_ms: u64,
    /// When it stops.
    pub end_unix_ms: u64,
}

/// A ClockControl is a clock as a function of the true time `t` (Unix milliseconds):
/// `t + offset_ms + (rate - 1) * (t - anchor_unix_ms)` from the anchor on, plus
/// `delta_ms` in the odd periods of a strobe. This is the file format the nemesis
/// writes (splitbrain-nemesis' `clock::ClockSetting`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockControl {
    /// A constant offset in milliseconds; negative is behind the true time.
    pub offset_ms: i64,
    /// Local seconds per true second, from the anchor on.
    pub rate: f64,
    /// Where the rate starts to count, true Unix milliseconds.
    #[serde(default)]
    pub anchor_unix_ms: u64,
    /// A strobe, if one is in force.
    #[serde(default)]
    pub strobe: Option<StrobeControl>,
}

impl Default for ClockControl {
    /// The true time.
    fn default() -> ClockControl {
        ClockControl {
            offset_ms: 0,
            rate: 1.0,
            anchor_unix_ms: 0,
            strobe: None,
        }
    }
}

impl ClockControl {
    /// The local time, in Unix milliseconds, when the true time is `true_ms`.
    pub fn local_ms(&self, true_ms: f64) -> f64 {
        let since_anchor = (true_ms - self.anchor_unix_ms as f64).max(0.0);
        let mut local = true_ms + self.offset_ms as f64 + (self.rate - 1.0) * since_anchor;
        if let Some(s) = self.strobe {
            let (start, end) = (s.start_unix_ms as f64, s.end_unix_ms as f64);
            if true_ms >= start && true_ms < end {
                let phase = ((true_ms - start) / s.period_ms.max(1) as f64) as u64;
                if phase % 2 == 1 {
                    local += s.delta_ms as f64;
                }
            }
        }
        local
    }

    /// The local rate now: how many local milliseconds pass per true millisecond
    /// (ignoring jumps), never below a thousandth so a waiter always wakes.
    fn pace(&self) -> f64 {
        if self.rate.is_finite() {
            self.rate.max(0.001)
        } else {
            1.0
        }
    }
}

/// A Clock is the local time of one process: the true time unless a control file says
/// otherwise.
#[derive(Debug)]
pub struct Clock {
    file: Option<PathBuf>,
    cache: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    control: ClockControl,
    read_at: Option<Instant>,
}

impl Clock {
    /// The true time, never skewed.
    pub fn system() -> Clock {
        Clock::with(None, ClockControl::default())
    }

    /// A clock fixed to one control, for tests.
    pub fn fixed(control: ClockControl) -> Clock {
        Clock::with(None, control)
    }

    /// A clock that follows the control file at `path`.
    pub fn from_file(path: impl Into<PathBuf>) -> Clock {
        Clock::with(Some(path.into()), ClockControl::default())
    }

    /// A clock that follows the file named by `SPLITBRAIN_CLOCK_FILE`, or the true time
    /// when it is not set.
    pub fn from_env() -> Clock {
        match std::env::var_os(CLOCK_FILE_ENV) {
            Some(path) if !path.is_empty() => Clock::from_file(PathBuf::from(path)),
            _ => Clock::system(),
        }
    }

    fn with(file: Option<PathBuf>, control: ClockControl) -> Clock {
        Clock {
            file,
            cache: Mutex::new(Cache {
                control,
                read_at: None,
            }),
        }
    }

    /// The control file this clock follows, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The control in force, re-reading the file when the last read is older than
    /// [`REREAD`].
    pub fn control(&self) -> ClockControl {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.file else {
            return cache.control;
        };
        if cache.read_at.is_some_and(|t| t.elapsed() < REREAD) {
            return cache.control;
        }
        cache.read_at = Some(Instant::now());
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<ClockControl>(&bytes) {
                Ok(control) => cache.control = control,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "malformed clock file; keeping the last clock");
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                cache.control = ClockControl::default();
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read clock file"),
        }
        cache.control
    }

    /// The local time now, in Unix milliseconds.
    pub fn now_unix_ms(&self) -> f64 {
        self.control().local_ms(true_unix_ms())
    }

    /// Sleeps until the local clock has advanced by `d`: a slow clock sleeps longer, a
    /// fast one shorter, and a jump ends or stretches the wait, as a timer on a skewed
    /// machine would.
    pub async fn sleep(&self, d: Duration) {
        let until = self.now_unix_ms() + d.as_secs_f64() * 1000.0;
        loop {
            let left_ms = until - self.now_unix_ms();
            if left_ms <= 0.0 {
                return;
            }
            // Short steps, so a jump or a new rate is noticed within a few ms.
            let step = (left_ms / self.control().pace()).clamp(0.5, 20.0);
            tokio::time::sleep(Duration::from_secs_f64(step / 1000.0)).await;
        }
    }
}

/// The true time now, in Unix milliseconds.
fn true_unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drift_counts_from_its_anchor_and_a_strobe_flips_every_period() {
        let drift = ClockControl {
            rate: 2.0,
            anchor_unix_ms: 1000,
            ..ClockControl::default()
        };
        assert_eq!(drift.local_ms(500.0), 500.0);
        assert_eq!(drift.local_ms(3000.0), 5000.0);
        let strobe = ClockControl {
            strobe: Some(StrobeControl {
                delta_ms: -100,
                period_ms: 10,
                start_unix_ms: 0,
                end_unix_ms: 40,
            }),
            ..ClockControl::default()
        };
        let seen: Vec<f64> = [5.0, 15.0, 25.0, 35.0, 45.0]
            .map(|t| strobe.local_ms(t) - t)
            .to_vec();
        assert_eq!(seen, vec![0.0, -100.0, 0.0, -100.0, 0.0]);
    }

    #[test]
    fn the_clock_follows_its_file_and_a_missing_file_is_the_true_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.json");
        let clock = Clock::from_file(&path);
        let skew = |c: &Clock| c.now_unix_ms() - true_unix_ms();
        assert!(skew(&clock).abs() < 50.0);
        std::fs::write(
            &path,
            r#"{"offset_ms":60000,"rate":1.0,"anchor_unix_ms":0}"#,
        )
        .unwrap();
        std::thread::sleep(REREAD * 2);
        assert!(
            (59_900.0..60_100.0).contains(&skew(&clock)),
            "{}",
            skew(&clock)
        );
        std::fs::write(&path, "{not json").unwrap();
        std::thread::sleep(REREAD * 2);
        assert!(
            skew(&clock) > 59_000.0,
            "a malformed file keeps the last clock"
        );
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(REREAD * 2);
        assert!(skew(&clock).abs() < 50.0);
    }

    #[tokio::test]
    async fn a_sleep_on_a_fast_clock_ends_early_in_true_time() {
        let fast = Clock::fixed(ClockControl {
            rate: 4.0,
            anchor_unix_ms: 0,
            ..ClockControl::default()
        });
        let start = Instant::now();
        fast.sleep(Duration::from_millis(400)).await;
        let took = start.elapsed();
        assert!(took < Duration::from_millis(250), "took {took:?}");
        assert!(took >= Duration::from_millis(90), "took {took:?}");
    }
}
