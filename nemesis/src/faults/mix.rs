//! The fault mix: which faults a schedule draws from, and how often each.

use super::{ClockFault, FaultKind, Target};
use crate::ClusterError;
use crate::rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The largest weight accepted; more would only make the others vanish.
const MAX_WEIGHT: u32 = 1000;

/// A WeightedFault is one fault of a mix with its relative weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedFault {
    /// The fault.
    pub kind: FaultKind,
    /// Its weight: a fault of weight 2 is drawn twice as often as one of weight 1.
    pub weight: u32,
}

/// A FaultMix is the faults a schedule draws from, spelled on the command line as
/// `pause:2,partition:1,clock` (a missing weight is 1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultMix {
    /// The faults in the order given; a fault named twice keeps its first place and the
    /// sum of its weights.
    pub faults: Vec<WeightedFault>,
}

impl FaultMix {
    /// A mix where every fault has weight 1.
    pub fn uniform(kinds: &[FaultKind]) -> FaultMix {
        let mut mix = FaultMix::default();
        for &kind in kinds {
            mix.add(kind, 1);
        }
        mix
    }

    /// Returns true when there is nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    fn add(&mut self, kind: FaultKind, weight: u32) {
        match self.faults.iter_mut().find(|w| w.kind == kind) {
            Some(w) => w.weight = w.weight.saturating_add(weight),
            None => self.faults.push(WeightedFault { kind, weight }),
        }
    }

    /// Draws one fault by weight.
    pub(crate) fn pick(&self, rng: &mut SeededRng) -> FaultKind {
        let total: u64 = self.faults.iter().map(|w| u64::from(w.weight)).sum();
        let mut ticket = rng.below(total.max(1));
        for w in &self.faults {
            if ticket < u64::from(w.weight) {
                return w.kind;
            }
            ticket -= u64::from(w.weight);
        }
        self.faults[0].kind
    }
}

impl FromStr for FaultMix {
    type Err = ClusterError;

    /// Parses `name[:weight],...`; `none` or an empty text is the empty mix.
    fn from_str(text: &str) -> Result<FaultMix, ClusterError> {
        let mut mix = FaultMix::default();
        if text.trim() == "none" {
            return Ok(mix);
        }
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, weight) = match item.split_once(':') {
                Some((name, w)) => (name.trim(), parse_weight(item, w.trim())?),
                None => (item, 1),
            };
            if name == "clock" {
                for c in [ClockFault::Bump, ClockFault::Strobe, ClockFault::Drift] {
                    mix.add(FaultKind::Clock(c, Target::Process), weight);
                }
            } else {
                mix.add(name.parse()?, weight);
            }
        }
        Ok(mix)
    }
}

fn parse_weight(item: &str, weight: &str) -> Result<u32, ClusterError> {
    match weight.parse::<u32>() {
        Ok(w) if (1..=MAX_WEIGHT).contains(&w) => Ok(w),
        _ => Err(ClusterError::InvalidConfig {
            field: "nemesis",
            value: item.to_string(),
            reason: format!(
                "weight={weight} must be a whole number from 1 to {MAX_WEIGHT}, as in pause:2"
            ),
        }),
    }
}

impl fmt::Display for FaultMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.faults.is_empty() {
            return f.write_str("none");
        }
        let items: Vec<String> = self
            .faults
            .iter()
            .map(|w| match w.weight {
                1 => w.kind.name(),
                n => format!("{}:{n}", w.kind),
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_default_to_one_add_up_and_print_back() {
        let mix: FaultMix = "pause:2, partition ,pause:3,clock".parse().unwrap();
        assert_eq!(mix.faults[0].kind, FaultKind::PAUSE);
        assert_eq!(mix.faults[0].weight, 5);
        assert_eq!(mix.faults.len(), 5);
        assert_eq!(
            mix.to_string(),
            "pause:5,partition,clock-bump,clock-strobe,clock-drift"
        );
        assert!("none".parse::<FaultMix>().unwrap().is_empty());
    }

    #[test]
    fn a_bad_weight_says_what_a_weight_looks_like() {
        for bad in ["pause:0", "pause:x", "pause:-1", "pause:5000"] {
            let err = bad.parse::<FaultMix>().unwrap_err().to_string();
            assert!(err.contains("as in pause:2"), "{bad}: {err}");
        }
    }

    #[test]
    fn draws_follow_the_weights() {
        let mix: FaultMix = "pause:9,kill:1".parse().unwrap();
        let mut rng = SeededRng::new(5);
        let pauses = (0..1000)
            .filter(|_| mix.pick(&mut rng) == FaultKind::PAUSE)
            .count();
        assert!((850..=950).contains(&pauses), "pauses={pauses}");
    }
}
