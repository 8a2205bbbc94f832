//! Lowe's cache of visited (linearized set, state) configurations, and the bitset it
//! is keyed by.
//!
//! The search reaches the same configuration by many orders; the cache makes it explore
//! each only once. Entries live in one flat arena (states in a `Vec`, bitsets in one
//! `Vec<u64>`), and the table holds only indexes, so an insert allocates nothing most of
//! the time. The linearized set's hash is a Zobrist hash (XOR of one random word per
//! operation), updated in O(1) as operations are linearized and undone.
//!
//! Memory stays bounded: past `max_bytes` the cache stops growing. That is sound because
//! the cache only prunes (a configuration not remembered is explored again); the time
//! budget then decides when to give up.

use hashbrown::HashTable;
use std::hash::{Hash, Hasher};

/// A Bitset is the set of operations linearized so far, with its Zobrist hash.
pub(crate) struct Bitset {
    pub(crate) words: Vec<u64>,
    keys: Vec<u64>,
    pub(crate) hash: u64,
}

impl Bitset {
    /// An empty set over `n` operations.
    pub(crate) fn new(n: usize) -> Bitset {
        Bitset {
            words: vec![0; n.div_ceil(64).max(1)],
            keys: (0..n as u64).map(splitmix64).collect(),
            hash: 0,
        }
    }

    /// Adds or removes operation `i`.
    #[inline]
    pub(crate) fn flip(&mut self, i: usize) {
        self.words[i / 64] ^= 1 << (i % 64);
        self.hash ^= self.keys[i];
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

/// Entries are stored in chunks of this many, so growing the cache never copies it.
const CHUNK_SHIFT: usize = 12;
const CHUNK: usize = 1 << CHUNK_SHIFT;

/// A Cache remembers the configurations the search has already explored. Entry `i`
/// keeps its hash and bitset in `words` (one chunk of `stride` words each) and its state
/// in `states`; the table holds only entry numbers.
pub(crate) struct Cache<S> {
    table: HashTable<u32>,
    words: Vec<Vec<u64>>,
    states: Vec<Vec<S>>,
    stride: usize,
    len: usize,
    max_bytes: usize,
    /// Set once an insert was refused for lack of room.
    pub(crate) full: bool,
}

/// Compares two bitsets without a call to `memcmp`: they are a few words long.
#[inline]
fn same_words(a: &[u64], b: &[u64]) -> bool {
    let mut diff = 0;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

impl<S: Clone + Eq + Hash> Cache<S> {
    /// An empty cache for bitsets of `words` words that grows to at most `max_bytes`.
    pub(crate) fn new(words: usize, max_bytes: usize) -> Cache<S> {
        Cache {
            table: HashTable::with_capacity(1024),
            words: Vec::new(),
            states: Vec::new(),
            stride: words + 1,
            len: 0,
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
        let chunks = self.words.len();
        chunks * CHUNK * (self.stride * 8 + std::mem::size_of::<S>())
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    /// Remembers (set, state); returns false when it was already there. When the cache is
    /// full, a configuration not found is reported new without being stored.
    #[inline]
    pub(crate) fn insert(&mut self, set: &Bitset, state: &S) -> bool {
        let hash = set.hash ^ state_hash(state);
        let stride = self.stride;
        let (words, states) = (&self.words, &self.states);
        let found = self.table.find(hash, |&i| {
            let (chunk, slot) = (i as usize >> CHUNK_SHIFT, i as usize & (CHUNK - 1));
            let stored = &words[chunk][slot * stride..(slot + 1) * stride];
            stored[0] == hash
                && same_words(&stored[1..], &set.words)
                && states[chunk][slot] == *state
        });
        if found.is_some() {
            return false;
        }
        if self.len.is_multiple_of(CHUNK) {
            let grown = self.bytes() + CHUNK * (stride * 8 + std::mem::size_of::<S>());
            if grown > self.max_bytes {
                self.full = true;
                return true;
            }
            self.words.push(Vec::with_capacity(CHUNK * stride));
            self.states.push(Vec::with_capacity(CHUNK));
        }
        let index = self.len as u32;
        let (Some(words), Some(states)) = (self.words.last_mut(), self.states.last_mut()) else {
            unreachable!("a chunk was pushed above");
        };
        words.push(hash);
        words.extend_from_slice(&set.words);
        states.push(state.clone());
        self.len += 1;
        let all = &self.words;
        self.table.insert_unique(hash, index, |&i| {
            let (chunk, slot) = (i as usize >> CHUNK_SHIFT, i as usize & (CHUNK - 1));
            all[chunk][slot * stride]
        });
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
