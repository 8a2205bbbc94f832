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

struct Entry<S> {
    hash: u64,
    state: S,
}

/// A Cache remembers the configurations the search has already explored.
pub(crate) struct Cache<S> {
    table: HashTable<u32>,
    entries: Vec<Entry<S>>,
    bits: Vec<u64>,
    words: usize,
    max_bytes: usize,
    /// Set once an insert was refused for lack of room.
    pub(crate) full: bool,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    /// An empty cache for bitsets of `words` words that grows to at most `max_bytes`.
    pub(crate) fn new(words: usize, max_bytes: usize) -> Cache<S> {
        Cache {
            table: HashTable::new(),
            entries: Vec::new(),
            bits: Vec::new(),
            words,
            max_bytes,
            full: false,
        }
    }

    /// Bytes one entry takes: the state, its bitset and its table slot.
    fn entry_bytes(&self) -> usize {
        std::mem::size_of::<Entry<S>>() + self.words * 8 + std::mem::size_of::<u32>() + 1
    }

    /// The number of configurations remembered.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The bytes the cache holds (states' own heap data not counted).
    pub(crate) fn bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry<S>>()
            + self.bits.capacity() * 8
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    /// Remembers (set, state); returns false when it was already there. When the cache is
    /// full, a configuration not found is reported new without being stored.
    pub(crate) fn insert(&mut self, set: &Bitset, state: &S) -> bool {
        let hash = set.hash ^ state_hash(state);
        let words = self.words;
        let (entries, bits) = (&self.entries, &self.bits);
        let found = self.table.find(hash, |&i| {
            let e = &entries[i as usize];
            let start = i as usize * words;
            e.hash == hash && bits[start..start + words] == set.words[..] && e.state == *state
        });
        if found.is_some() {
            return false;
        }
        if self.bytes() + self.entry_bytes() > self.max_bytes {
            self.full = true;
            return true;
        }
        let index = self.entries.len() as u32;
        self.entries.push(Entry {
            hash,
            state: state.clone(),
        });
        self.bits.extend_from_slice(&set.words);
        let entries = &self.entries;
        self.table
            .insert_unique(hash, index, |&i| entries[i as usize].hash);
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
