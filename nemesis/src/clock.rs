//! Clock faults without touching the host's clock: what the nemesis writes for each
//! process it skews.
//!
//! Every process a [`crate::local::LocalCluster`] starts gets two files in the run's
//! state directory, named in its environment:
//! - `SPLITBRAIN_CLOCK_FILE=<state>/clocks/<process>.json`: a [`ClockSetting`], read by
//!   the injectable clock of our own agents (splitbrain-workloads' `clock` module), which
//!   every lease decision of our lock clients reads;
//! - `FAKETIME_TIMESTAMP_FILE=<state>/clocks/<process>.faketime`: the same setting in
//!   libfaketime's syntax, for servers started under libfaketime (`LD_PRELOAD`, see
//!   [`crate::local::faketime_env`]).
//!
//! A setting describes the clock as a function of the true time, with absolute anchors,
//! so a reader needs no timer of its own: a strobe flips by itself, a drift accumulates
//! by itself, and a process that reads the file late still computes the right time.
//! The JSON file is the contract between this crate and the clock's reader.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable naming a process's clock control file.
pub const CLOCK_FILE_ENV: &str = "SPLITBRAIN_CLOCK_FILE";

/// A StrobeSetting is a clock flipping between no offset and `delta_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrobeSetting {
    /// The offset of the flipped position, in milliseconds.
    pub delta_ms: i64,
    /// How long each position lasts, in milliseconds (at least 1).
    pub period_ms: u64,
    /// When the flipping starts, in true Unix milliseconds.
    pub start_unix_ms: u64,
    /// When it stops (the clock is back at no strobe offset), in true Unix milliseconds.
    pub end_unix_ms: u64,
}

/// A ClockSetting is the clock of one process as a function of the true time `t` (Unix
/// milliseconds): `t + offset_ms + (rate - 1) * (t - anchor_unix_ms)` once `t` passes the
/// anchor, plus `delta_ms` during the odd periods of a strobe.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockSetting {
    /// A constant offset, in milliseconds (negative: behind the true time).
    pub offset_ms: i64,
    /// Local seconds per true second, from the anchor on.
    pub rate: f64,
    /// Where the rate starts to count, in true Unix milliseconds.
    pub anchor_unix_ms: u64,
    /// A strobe in force, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strobe: Option<StrobeSetting>,
}

impl Default for ClockSetting {
    fn default() -> ClockSetting {
        ClockSetting::true_time()
    }
}

impl ClockSetting {
    /// The true time: no offset, no drift, no strobe.
    pub fn true_time() -> ClockSetting {
        ClockSetting {
            offset_ms: 0,
            rate: 1.0,
            anchor_unix_ms: 0,
            strobe: None,
        }
    }

    /// Returns true when the setting is the true time.
    pub fn is_true_time(&self) -> bool {
        self.offset_ms == 0 && self.rate == 1.0 && self.strobe.is_none()
    }

    /// How far ahead of the true time (negative: behind) this clock reads at true time
    /// `unix_ms`, in milliseconds.
    pub fn offset_at(&self, unix_ms: u64) -> f64 {
        let since_anchor = unix_ms.saturating_sub(self.anchor_unix_ms) as f64;
        let mut offset = self.offset_ms as f64 + (self.rate - 1.0) * since_anchor;
        let active = self
            .strobe
            .filter(|s| (s.start_unix_ms..s.end_unix_ms).contains(&unix_ms));
        if let Some(s) = active {
            let phase = (unix_ms - s.start_unix_ms) / s.period_ms.max(1);
            if phase % 2 == 1 {
                offset += s.delta_ms as f64;
            }
        }
        offset
    }

    /// The setting in libfaketime's timestamp-file syntax: `+1.500` (an offset in
    /// seconds), with ` x0.50` for a rate. libfaketime counts a rate from the process's
    /// start, not from the anchor, and has no strobe: a strobe is written as its flipped
    /// offset, and a drift makes the clock of a long-running server jump at first.
    pub fn faketime_spec(&self) -> String {
        let offset = self.offset_ms + self.strobe.map_or(0, |s| s.delta_ms);
        let mut spec = format!("{:+.3}", offset as f64 / 1000.0);
        if self.rate != 1.0 {
            spec.push_str(&format!(" x{:.2}", self.rate));
        }
        spec
    }
}

/// The true time now, in Unix milliseconds.
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drift_accumulates_from_its_anchor_and_an_offset_is_constant() {
        let drift = ClockSetting {
            offset_ms: 0,
            rate: 0.5,
            anchor_unix_ms: 10_000,
            strobe: None,
        };
        assert_eq!(drift.offset_at(10_000), 0.0);
        assert_eq!(drift.offset_at(12_000), -1000.0);
        let bump = ClockSetting {
            offset_ms: -3000,
            ..ClockSetting::true_time()
        };
        assert_eq!(bump.offset_at(1), -3000.0);
        assert_eq!(bump.offset_at(1_000_000), -3000.0);
        assert_eq!(bump.faketime_spec(), "-3.000");
        assert_eq!(drift.faketime_spec(), "+0.000 x0.50");
    }

    #[test]
    fn a_strobe_flips_every_period_and_stops_at_its_end() {
        let s = ClockSetting {
            strobe: Some(StrobeSetting {
                delta_ms: 200,
                period_ms: 10,
                start_unix_ms: 100,
                end_unix_ms: 140,
            }),
            ..ClockSetting::true_time()
        };
        let offsets: Vec<f64> = [100, 109, 110, 125, 135, 140]
            .map(|t| s.offset_at(t))
            .to_vec();
        assert_eq!(offsets, vec![0.0, 0.0, 200.0, 0.0, 200.0, 0.0]);
        assert!(ClockSetting::true_time().is_true_time() && !s.is_true_time());
    }
}
