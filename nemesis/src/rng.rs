//! The seeded random source of schedules and grudges.
//!
//! Only ChaCha8's raw output is used, never a library's sampling helpers: the stream of a
//! ChaCha8 generator is fixed by its specification, whereas range sampling and shuffling
//! algorithms have changed between `rand` versions, and a seed must replay the same
//! schedule for as long as histories are kept.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A SeededRng is a deterministic random source: the same seed gives the same draws.
pub(crate) struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// A generator for this seed.
    pub(crate) fn new(seed: u64) -> SeededRng {
        SeededRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A raw 64-bit draw.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform draw in `0..n` (0 when n is 0), by rejection so that no value is
    /// favoured.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        // The largest multiple of n that fits; draws at or above it are redrawn.
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// A fair coin.
    pub(crate) fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// Shuffles in place (Fisher-Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_of_a_seed_never_changes() {
        // Pinned so that a dependency upgrade that changed the stream would be caught:
        // stored seeds must keep replaying the same schedules.
        let mut rng = SeededRng::new(42);
        let draws: Vec<u64> = (0..3).map(|_| rng.below(1000)).collect();
        let mut again = SeededRng::new(42);
        let again: Vec<u64> = (0..3).map(|_| again.below(1000)).collect();
        assert_eq!(draws, again);
        assert_eq!(draws, PINNED_SEED_42);
    }

    const PINNED_SEED_42: [u64; 3] = [737, 312, 20];

    #[test]
    fn below_stays_in_range_and_shuffle_keeps_every_item() {
        let mut rng = SeededRng::new(7);
        assert!((0..1000).all(|_| rng.below(3) < 3));
        assert_eq!(rng.below(0), 0);
        let mut items: Vec<u32> = (0..10).collect();
        rng.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }
}
