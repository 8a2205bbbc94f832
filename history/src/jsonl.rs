//! JSON Lines files: one record per line, appended and flushed as it happens, so a
//! writer killed at any moment leaves every complete line readable.

use crate::ReadError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A JsonlWriter appends records to a file, one line each, handing every line to the
/// kernel with a single `write` as soon as it is recorded. Nothing is buffered in the
/// process, so a SIGKILL loses at most the line being written.
pub struct JsonlWriter<T> {
    file: File,
    line: Vec<u8>,
    _record: PhantomData<fn(&T)>,
}

impl<T: Serialize> JsonlWriter<T> {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        Ok(JsonlWriter {
            file,
            line: Vec::with_capacity(256),
            _record: PhantomData,
        })
    }

    /// Appends one record as one line.
    pub fn append(&mut self, record: &T) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.file.write_all(&self.line)
    }

    /// Forces the written lines to stable storage.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Records is what a JSONL file held: the complete records, and the line number of a
/// truncated last line if the writer was cut off while writing it.
#[derive(Debug)]
pub struct Records<T> {
    /// The file the records came from.
    pub path: PathBuf,
    /// Every complete record, in file order.
    pub items: Vec<T>,
    /// 1-based number of a last line that was cut off mid-record, if any.
    pub truncated_line: Option<usize>,
}

impl<T> Records<T> {
    /// Turns a truncated last line into an error, for callers that need the whole file.
    pub fn strict(self) -> Result<Vec<T>, ReadError> {
        match self.truncated_line {
            Some(line) => Err(ReadError::TruncatedLastLine {
                path: self.path,
                line,
                line_count: line - 1,
            }),
            None => Ok(self.items),
        }
    }
}

/// Reads a JSONL file of `T`. Blank lines are skipped. A bad line anywhere is an error
/// naming its line and what was expected, except a last line that has no newline and
/// does not parse: that is reported in [`Records::truncated_line`], since a killed writer
/// leaves exactly that.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Records<T>, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &bytes)
}

/// Parses JSONL bytes as [`read`] does; `path` is used only in messages.
pub fn parse<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<Records<T>, ReadError> {
    let mut items = Vec::new();
    let ends_with_newline = bytes.last().is_none_or(|&b| b == b'\n');
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let last = lines.len().saturating_sub(1);
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<T>(raw) {
            Ok(item) => items.push(item),
            Err(_) if i == last && !ends_with_newline => {
                return Ok(Records {
                    path: path.to_path_buf(),
                    items,
                    truncated_line: Some(line_no),
                });
            }
            Err(e) => {
                return Err(ReadError::BadLine {
                    path: path.to_path_buf(),
                    line: line_no,
                    message: describe(&e, raw),
                });
            }
        }
    }
    Ok(Records {
        path: path.to_path_buf(),
        items,
        truncated_line: None,
    })
}

fn describe(e: &serde_json::Error, raw: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(raw).chars().take(120).collect();
    format!("{e} (expected one JSON object per line; line starts {shown:?})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, OpType, Process};
    use serde_json::json;

    fn sample(index: u64) -> Op {
        Op::new(
            index,
            index * 10,
            Process::Client(3),
            OpType::Invoke,
            "acquire",
            json!("lock"),
        )
    }

    #[test]
    fn written_ops_read_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut w = JsonlWriter::create(&path).unwrap();
        let mut nemesis = sample(2);
        nemesis.process = Process::Nemesis;
        nemesis.error = Some("timeout".into());
        let ops = vec![sample(0), sample(1), nemesis];
        for op in &ops {
            w.append(op).unwrap();
        }
        let back: Vec<Op> = read(&path).unwrap().strict().unwrap();
        assert_eq!(back, ops);
    }

    #[test]
    fn truncated_last_line_is_reported_as_truncated() {
        let text = b"{\"index\":0,\"time_ns\":0,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n{\"index\":1,\"ti";
        let records: Records<Op> = parse(Path::new("h.jsonl"), text).unwrap();
        assert_eq!(records.items.len(), 1);
        assert_eq!(records.truncated_line, Some(2));
        let err = records.strict().unwrap_err().to_string();
        assert!(err.contains("h.jsonl:2: truncated last line"), "{err}");
    }

    #[test]
    fn bad_line_names_its_number_and_what_was_expected() {
        let text = b"{\"index\":0,\"time_ns\":0,\"process\":1,\"type\":\"ok\",\"f\":\"read\"}\n{\"index\":1,\"time_ns\":0,\"process\":1,\"type\":\"maybe\",\"f\":\"read\"}\n";
        let err = parse::<Op>(Path::new("h.jsonl"), text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("h.jsonl:2:"), "{err}");
        assert!(err.contains("maybe"), "{err}");
    }

    #[test]
    fn negative_process_is_rejected_with_its_value() {
        let text = b"{\"index\":0,\"time_ns\":0,\"process\":-4,\"type\":\"ok\",\"f\":\"read\"}\n";
        let err = parse::<Op>(Path::new("h.jsonl"), text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("process=-4 is negative"), "{err}");
    }

    #[test]
    fn garbage_never_panics() {
        for text in [&b"\xff\xfe\n"[..], b"[]\n", b"null", b"{}\n{}", b"\n\n\n"] {
            let _ = parse::<Op>(Path::new("x"), text);
        }
    }
}
