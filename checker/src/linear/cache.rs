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
//! Entries live in chunked arenas (windows in `u64` chunks, states in `Vec` chunks) and the
//! table holds only entry numbers, so growing never copies what is stored.
//!
//! Memory stays bounded: past `max_bytes` the cache stops growing. That is sound because
//! the cache only prunes (a configuration not remembered is explored again); the time
//! budget then decides when to give up.

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

/// States are stored in chunks of this many; windows in chunks of `WORDS_CHUNK` words.
const CHUNK_SHIFT: usize = 12;
const CHUNK: usize = 1 << CHUNK_SHIFT;
const WORDS_CHUNK: usize = 1 << 16;

/// Where entry `i`'s record is: chunk and offset of `[hash, low << 32 | len, window...]`.
#[derive(Clone, Copy)]
struct Loc {
    chunk: u32,
    offset: u32,
}

/// A Cache remembers the configurations the search has already explored.
pub(crate) struct Cache<S> {
    table: HashTable<u32>,
    locs: Vec<Loc>,
    words: Vec<Vec<u64>>,
    states: Vec<Vec<S>>,
    len: usize,
    word_count: usize,
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
            locs: Vec::new(),
            words: Vec::new(),
            states: Vec::new(),
            len: 0,
            word_count: 0,
            max_bytes,
            full: false,
        }
    }

    /// The number of configurations remembered.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bytes the cache holds (states' own heap data not counted).
    pub(crate) fn bytes(&self) -> usize {
        self.words.len() * WORDS_CHUNK * 8
            + self.states.len() * CHUNK * std::mem::size_of::<S>()
            + self.locs.capacity() * std::mem::size_of::<Loc>()
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    fn record(&self, i: u32) -> &[u64] {
        let loc = self.locs[i as usize];
        let chunk = &self.words[loc.chunk as usize];
        let start = loc.offset as usize;
        let len = (chunk[start + 1] & u64::from(u32::MAX)) as usize;
        &chunk[start..start + 2 + len]
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
            r[0] == hash
                && r[1] == shape
                && same_words(&r[2..], window)
                && self.states[i as usize >> CHUNK_SHIFT][i as usize & (CHUNK - 1)] == *state
        });
        if found.is_some() {
            return false;
        }
        if !self.make_room(2 + window.len()) {
            self.full = true;
            return true;
        }
        let index = self.len as u32;
        let chunk = self.words.len() - 1;
        let words = &mut self.words[chunk];
        self.locs.push(Loc {
            chunk: chunk as u32,
            offset: words.len() as u32,
        });
        words.push(hash);
        words.push(shape);
        words.extend_from_slice(window);
        self.word_count += 2 + window.len();
        if self.len.is_multiple_of(CHUNK) {
            self.states.push(Vec::with_capacity(CHUNK));
        }
        let last = self.states.len() - 1;
        self.states[last].push(state.clone());
        self.len += 1;
        let (locs, all) = (&self.locs, &self.words);
        self.table.insert_unique(hash, index, |&i| {
            let loc = locs[i as usize];
            all[loc.chunk as usize][loc.offset as usize]
        });
        true
    }

    /// Makes sure a record of `words` words and one more state fit, within the budget.
    fn make_room(&mut self, words: usize) -> bool {
        let needs_words = self
            .words
            .last()
            .is_none_or(|c| c.len() + words > c.capacity());
        let needs_states = self.len.is_multiple_of(CHUNK);
        let mut grown = self.bytes();
        if needs_words {
            grown += words.max(WORDS_CHUNK) * 8;
        }
        if needs_states {
            grown += CHUNK * std::mem::size_of::<S>();
        }
        if grown > self.max_bytes {
            return false;
        }
        if needs_words {
            self.words.push(Vec::with_capacity(words.max(WORDS_CHUNK)));
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
