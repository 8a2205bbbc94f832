//! Every parser over a large mutated corpus: byte flips, insertions of EDN and JSON
//! punctuation, deletions, duplications and splices of small valid files. Whatever the
//! bytes, a parser returns ops or an error naming a line; it never panics. The number of
//! mutants per format is `SPLITBRAIN_MUTATIONS` (default 4,000), so a long run is one
//! environment variable away.

use super::{Format, parse};
use crate::ReadError;
use std::path::Path;

const SEEDS: [(Format, &str); 5] = [
    (
        Format::Jsonl,
        "{\"index\":0,\"time_ns\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1,2]}\n{\"index\":1,\"time_ns\":5,\"process\":0,\"type\":\"ok\",\"f\":\"cas\",\"value\":false,\"token\":3}\n{\"index\":2,\"time_ns\":6,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":{\"nodes\":[\"n1\"]}}\n",
    ),
    (
        Format::PorcupineJepsen,
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 1   :invoke :cas    [3 0]\nINFO  jepsen.util - 0\t:ok\t:read\t3\nINFO  jepsen.util - 1\t:fail\t:cas\t[3 0]\nINFO  jepsen.util - 2\t:info\t:write\t:timed-out\n",
    ),
    (
        Format::PorcupineKv,
        "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n{:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n{:process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n",
    ),
    (
        Format::JepsenEdn,
        "[{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}\n {:type :ok, :f :write, :value 3, :process 0, :time 20}\n {:type :info, :f :start, :value #{\"n1\" \\a 1/2 7N 1.5e3}, :process :nemesis} ; c\n #_ {:x 1}]\n",
    ),
    (
        Format::JepsenEdn,
        "{:type :invoke, :f :read, :process 1}\n#jepsen.history.Op{:type :ok, :f :read, :value (1 [2 {3 4}]), :process 1, :error \"a\\\"b\\u0041\"}\n",
    ),
];

/// Bytes that steer parsers into their interesting states.
const PUNCTUATION: &[u8] = b"[]{}()\":#\\\n\t ,;_-+./0123456789aeNMu\xc3\xa9\xff";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => bytes.insert(at, PUNCTUATION[rng.below(PUNCTUATION.len())]),
            2 => {
                let end = (at + rng.below(8)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(16)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() + 1);
                bytes.splice(to..to, copy);
            }
            4 => {
                let from = rng.below(other.len());
                let end = (from + rng.below(32)).min(other.len());
                bytes.splice(at..at, other[from..end].iter().copied());
            }
            _ => bytes.truncate(at),
        }
    }
}

fn mutants() -> usize {
    std::env::var("SPLITBRAIN_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4_000)
}

#[test]
fn the_seeds_parse_cleanly() {
    for (format, text) in SEEDS {
        let ops = parse(Path::new("seed"), text.as_bytes(), format)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(ops.len() >= 2, "{format}");
    }
}

#[test]
fn mutated_files_never_panic_any_parser() {
    let mut rng = Rng(0x5eed);
    let (mut parsed, mut rejected) = (0usize, 0usize);
    for round in 0..mutants() {
        let (format, text) = SEEDS[round % SEEDS.len()];
        let other = SEEDS[rng.below(SEEDS.len())].1.as_bytes();
        let mut bytes = text.as_bytes().to_vec();
        mutate(&mut rng, &mut bytes, other);
        // The same bytes through every format: a parser must survive any input.
        for f in Format::ALL {
            match parse(Path::new("m"), &bytes, f) {
                Ok(_) => parsed += 1,
                Err(ReadError::BadLine { line, .. }) => {
                    assert!(line >= 1, "lines are 1-based");
                    rejected += 1;
                }
                Err(other) => panic!("unexpected error kind: {other}"),
            }
        }
        let _ = format;
    }
    assert!(
        parsed > 0 && rejected > 0,
        "parsed={parsed} rejected={rejected}"
    );
}
