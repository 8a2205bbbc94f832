//! Lowe's cache of visited (linearized set, state) configurations, and the bitset it
//! is keyed by.
//!
//! The search reaches the same configuration by many orders; the cache makes it explore
//! each only once. The linearized set's hash is a Zobrist hash (XOR of one fixed random
//! word per operation), updated in O(1) as operations are linearized and undone.
//!
//! A set is stored exactly but compactly: operations are numbered in invocation order,
//! so a set is nearly always "everything below some point, a few operations in a short
//! window, nothing above it". The cache keeps only the window, between the first word of
//! the bitset that is not all ones and the last word that is not all zeros. An entry of a
//! 20,000-operation partition takes a few words instead of 313, which keeps the memory of
//! a long lock history linear in the search rather than quadratic.
//!
//! Records (hash, window shape, state, and the window itself when it is one word) live in
//! chunks, longer windows in a word arena, and the table holds only record numbers, so
//! growing never copies what is stored and a lookup usually touches one record.
//!
//! Memory stays bounded: past `max_bytes` the cache stops growing. That is sound because
//! the cache only prunes (a configuration not remembered is explored again); the time
//! budget then decides when to give up. When the whole process reaches its memory limit
//! (`--memory-limit`), the search drops the cache altogether and goes on without it.

use hashbrown::HashTable;
use std::hash::{Hash, Hasher};

/// A Bitset is the set of operations linearized so far, with its Zobrist hash and the
/// bounds of its window.
pub(crate) struct Bitset {
    words: Vec<u64>,
    keys: Vec<u64>,
    pub(crate) hash: u64,
    /// The first word that is not all ones (`words.len()` when every word is).
    low: usize,
    /// One past the last word that is not zero (0 when every word is).
    high: usize,
}

impl Bitset {
    /// An empty set over `n` operations.
    pub(crate) fn new(n: usize) -> Bitset {
        Bitset {
            words: vec![0; n.div_ceil(64).max(1)],
            keys: (0..n as u64).map(splitmix64).collect(),
            hash: 0,
            low: 0,
            high: 0,
        }
    }

    /// Adds or removes operation `i`.
    #[inline]
    pub(crate) fn flip(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] ^= 1 << (i % 64);
        self.hash ^= self.keys[i];
        let word = self.words[w];
        if word == u64::MAX {
            while self.low < self.words.len() && self.words[self.low] == u64::MAX {
                self.low += 1;
            }
        } else if w < self.low {
            self.low = w;
        }
        if word != 0 {
            self.high = self.high.max(w + 1);
        } else {
            while self.high > 0 && self.words[self.high - 1] == 0 {
                self.high -= 1;
            }
        }
    }

    /// The canonical window: where it starts and its words (empty when the set is
    /// "everything below `low`").
    #[inline]
    fn window(&self) -> (usize, &[u64]) {
        let end = self.high.max(self.low);
        (self.low, &self.words[self.low..end])
    }
}

/// One fixed, well-mixed word per operation (SplitMix64 of its number), so runs are
/// reproducible.
fn splitmix64(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Records are stored in chunks of this many; long windows in chunks of up to
/// `WORDS_CHUNK` words.
const CHUNK_SHIFT: usize = 12;
const CHUNK: usize = 1 << CHUNK_SHIFT;
const WORDS_CHUNK: usize = 1 << 16;

/// A Record is one remembered configuration. A window of at most one word (the common
/// case) is kept in `window` itself; a longer one is in the word arena at chunk
/// `window >> 32`, offset `window & u32::MAX`.
struct Record<S> {
    hash: u64,
    /// `low << 32 | window length in words`.
    shape: u64,
    window: u64,
    state: S,
}

/// A Cache remembers the configurations the search has already explored.
pub(crate) struct Cache<S> {
    table: HashTable<u32>,
    records: Vec<Vec<Record<S>>>,
    words: Vec<Vec<u64>>,
    len: usize,
    word_count: usize,
    /// Bytes of the record and word chunks allocated so far.
    arena_bytes: usize,
    max_bytes: usize,
    /// Set once an insert was refused for lack of room.
    pub(crate) full: bool,
}

/// Compares two windows without a call to `memcmp`: they are a few words long.
#[inline]
fn same_words(a: &[u64], b: &[u64]) -> bool {
    let mut diff = 0;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

impl<S: Clone + Eq + Hash> Cache<S> {
    /// An empty cache that grows to at most `max_bytes`.
    pub(crate) fn new(max_bytes: usize) -> Cache<S> {
        Cache {
            table: HashTable::with_capacity(1024),
            records: Vec::new(),
            words: Vec::new(),
            len: 0,
            word_count: 0,
            arena_bytes: 0,
            max_bytes,
            full: false,
        }
    }

    /// Forgets every configuration and remembers no more: the process reached its
    /// memory limit. Sound for the same reason the size bound is.
    pub(crate) fn drop_entries(&mut self) {
        *self = Cache::new(0);
        self.full = true;
    }

    /// The number of configurations remembered.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bytes the cache holds (states' own heap data not counted).
    pub(crate) fn bytes(&self) -> usize {
        self.arena_bytes + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    #[inline]
    fn record(&self, i: u32) -> &Record<S> {
        &self.records[i as usize >> CHUNK_SHIFT][i as usize & (CHUNK - 1)]
    }

    /// Whether record `r` holds `window`.
    #[inline]
    fn holds(&self, r: &Record<S>, window: &[u64]) -> bool {
        match window {
            [] => true,
            [w] => r.window == *w,
            _ => {
                let (chunk, offset) =
                    ((r.window >> 32) as usize, (r.window & 0xFFFF_FFFF) as usize);
                same_words(&self.words[chunk][offset..offset + window.len()], window)
            }
        }
    }

    /// Remembers (set, state); returns false when it was already there. When the cache is
    /// full, a configuration not found is reported new without being stored.
    #[inline]
    pub(crate) fn insert(&mut self, set: &Bitset, state: &S) -> bool {
        let hash = set.hash ^ state_hash(state);
        let (low, window) = set.window();
        let shape = ((low as u64) << 32) | window.len() as u64;
        let found = self.table.find(hash, |&i| {
            let r = self.record(i);
            r.hash == hash && r.shape == shape && self.holds(r, window) && r.state == *state
        });
        if found.is_some() {
            return false;
        }
        let long = if window.len() > 1 { window.len() } else { 0 };
        if !self.make_room(long) {
            self.full = true;
            return true;
        }
        let stored = match window {
            [] => 0,
            [w] => *w,
            _ => {
                let chunk = self.words.len() - 1;
                let words = &mut self.words[chunk];
                let at = ((chunk as u64) << 32) | words.len() as u64;
                words.extend_from_slice(window);
                self.word_count += window.len();
                at
            }
        };
        let index = self.len as u32;
        let last = self.records.len() - 1;
        self.records[last].push(Record {
            hash,
            shape,
            window: stored,
            state: state.clone(),
        });
        self.len += 1;
        let records = &self.records;
        self.table.insert_unique(hash, index, |&i| {
            records[i as usize >> CHUNK_SHIFT][i as usize & (CHUNK - 1)].hash
        });
        true
    }

    /// Makes sure one more record, and a long window of `words` words, fit within the
    /// budget.
    fn make_room(&mut self, words: usize) -> bool {
        let needs_words = words > 0
            && self
                .words
                .last()
                .is_none_or(|c| c.len() + words > c.capacity());
        let needs_records = self.len.is_multiple_of(CHUNK);
        // Word chunks start small and double, so a small partition's cache stays small.
        let chunk_words = words.max(self.word_count.clamp(1024, WORDS_CHUNK));
        let record_chunk = CHUNK * std::mem::size_of::<Record<S>>();
        let mut grown = self.bytes();
        if needs_words {
            grown += chunk_words * 8;
        }
        if needs_records {
            grown += record_chunk;
        }
        if grown > self.max_bytes {
            return false;
        }
        if needs_words {
            self.words.push(Vec::with_capacity(chunk_words));
            self.arena_bytes += chunk_words * 8;
        }
        if needs_records {
            self.records.push(Vec::with_capacity(CHUNK));
            self.arena_bytes += record_chunk;
        }
        true
    }
}

/// FxHash of a state: fast, and good enough mixed with the Zobrist hash.
#[inline]
fn state_hash<S: Hash>(state: &S) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    state.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_canonical_whatever_the_order_of_flips() {
        let mut a = Bitset::new(300);
        let mut b = Bitset::new(300);
        for i in 0..130 {
            a.flip(i);
        }
        a.flip(200);
        b.flip(200);
        for i in (0..130).rev() {
            b.flip(i);
        }
        assert_eq!(a.window(), b.window());
        assert_eq!(a.window().0, 2);
        assert_eq!(a.hash, b.hash);
        a.flip(200);
        assert_eq!(a.window(), (2, &[0b11][..]));
        a.flip(128);
        a.flip(129);
        assert_eq!(a.window(), (2, &[][..]));
        a.flip(128);
        a.flip(129);
        a.flip(5);
        assert_eq!(a.window().0, 0);
        assert_eq!(a.window().1.len(), 3);
    }

    #[test]
    fn the_cache_tells_sets_and_states_apart() {
        let mut cache: Cache<u32> = Cache::new(1 << 20);
        let mut set = Bitset::new(200);
        assert!(cache.insert(&set, &0));
        assert!(!cache.insert(&set, &0));
        assert!(cache.insert(&set, &1));
        set.flip(150);
        assert!(cache.insert(&set, &0));
        set.flip(3);
        assert!(cache.insert(&set, &0));
        assert!(!cache.insert(&set, &0));
        assert_eq!(cache.len(), 4);
        let mut tiny: Cache<u32> = Cache::new(0);
        assert!(tiny.insert(&set, &0) && tiny.insert(&set, &0) && tiny.full);
    }
}
