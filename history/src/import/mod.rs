//! Importers: histories recorded by other tools, read into our [`Op`]s so that every
//! checker can use them.
//!
//! | format | what it is |
//! |---|---|
//! | [`Format::Jsonl`] | our own `history.jsonl` |
//! | [`Format::PorcupineJepsen`] | porcupine's Jepsen etcd logs (`INFO  jepsen.util - 3 :ok :read 4`) |
//! | [`Format::PorcupineKv`] | porcupine's kv test data, one EDN map per line |
//! | [`Format::JepsenEdn`] | Jepsen's and Knossos's `history.edn`: a vector of op maps, or one map per line |
//!
//! Formats without timestamps get the position of each record as its time, so the order
//! of the file is the real-time order. Every error names the file and line and says
//! what was expected.

pub mod edn;
mod jepsen;
#[cfg(test)]
mod mutation_tests;
mod porcupine;

use crate::{Op, ReadError};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A Format is a history file format the importers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Our JSONL (`history.jsonl`).
    Jsonl,
    /// porcupine's Jepsen etcd log format.
    PorcupineJepsen,
    /// porcupine's kv format: `{:process 0, :type :invoke, :f :get, :key "1", :value nil}`.
    PorcupineKv,
    /// Jepsen's `history.edn`.
    JepsenEdn,
}

impl Format {
    /// Every format, as `--format` lists them.
    pub const ALL: [Format; 4] = [
        Format::Jsonl,
        Format::PorcupineJepsen,
        Format::PorcupineKv,
        Format::JepsenEdn,
    ];

    /// The name `--format` uses.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::PorcupineJepsen => "porcupine-jepsen",
            Format::PorcupineKv => "porcupine-kv",
            Format::JepsenEdn => "jepsen-edn",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            format!("unknown format: format={s:?} (expected jsonl, porcupine-jepsen, porcupine-kv or jepsen-edn)")
        })
    }
}

/// Reads a history file in `format`.
pub fn read(path: &Path, format: Format) -> Result<Vec<Op>, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &bytes, format)
}

/// Parses history bytes in `format`; `path` is used only in messages. A JSONL history
/// whose last line was cut off (its writer was killed) keeps the lines before it: the
/// operation that line would have completed stays open, which checkers treat as
/// indeterminate.
pub fn parse(path: &Path, bytes: &[u8], format: Format) -> Result<Vec<Op>, ReadError> {
    if format == Format::Jsonl {
        return Ok(crate::jsonl::parse::<Op>(path, bytes)?.items);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        bad_line(
            path,
            line,
            format!("not UTF-8 text: {e} (expected a {format} text file)"),
        )
    })?;
    match format {
        Format::PorcupineJepsen => porcupine::parse_jepsen_log(path, text),
        Format::PorcupineKv => porcupine::parse_kv(path, text),
        Format::JepsenEdn => jepsen::parse_history_edn(path, text),
        Format::Jsonl => unreachable!("handled above"),
    }
}

pub(crate) fn bad_line(path: &Path, line: usize, message: String) -> ReadError {
    ReadError::BadLine {
        path: path.to_path_buf(),
        line,
        message,
    }
}
