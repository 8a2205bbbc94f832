//! The recorder: the single place where a live run's history is timestamped, numbered and
//! written.

use crate::jsonl::JsonlWriter;
use crate::{Op, OpType, Process};
use serde_json::Value;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// An OpDraft is an op before the recorder gives it an index and a time.
#[derive(Clone, Debug, PartialEq)]
pub struct OpDraft {
    /// Who performed it.
    pub process: Process,
    /// Invocation or completion.
    pub kind: OpType,
    /// The function.
    pub f: String,
    /// Argument or result.
    pub value: Value,
    /// The node it ran on.
    pub node: Option<String>,
    /// The fencing token it carried or received.
    pub token: Option<u64>,
    /// Why it failed or is indeterminate.
    pub error: Option<String>,
}

impl OpDraft {
    /// A draft with no node, token or error.
    pub fn new(process: Process, kind: OpType, f: impl Into<String>, value: Value) -> OpDraft {
        OpDraft {
            process,
            kind,
            f: f.into(),
            value,
            node: None,
            token: None,
            error: None,
        }
    }

    /// Sets the node.
    pub fn node(mut self, node: impl Into<String>) -> OpDraft {
        self.node = Some(node.into());
        self
    }

    /// Sets the fencing token.
    pub fn token(mut self, token: Option<u64>) -> OpDraft {
        self.token = token;
        self
    }

    /// Sets the error.
    pub fn error(mut self, error: impl Into<String>) -> OpDraft {
        self.error = Some(error.into());
        self
    }
}

/// A Recorder numbers and timestamps ops on the controller's monotonic clock and appends
/// each to `history.jsonl` the moment it is recorded. It is shared by every client task
/// and the nemesis; the lock inside makes index order and time order agree.
pub struct Recorder {
    start: Instant,
    inner: Mutex<RecorderState>,
    counts: [AtomicU64; 4],
    nemesis_invokes: AtomicU64,
}

struct RecorderState {
    next_index: u64,
    writer: Option<JsonlWriter<Op>>,
    /// The latest completion of a nemesis op, for progress lines.
    last_nemesis: Option<Op>,
}

impl Recorder {
    /// A recorder writing to `path`, with time zero now.
    pub fn create(path: &Path) -> io::Result<Recorder> {
        Ok(Self::with_writer(Some(JsonlWriter::create(path)?)))
    }

    /// A recorder that numbers and times ops but writes nothing: the baseline for
    /// measuring what recording costs.
    pub fn unrecorded() -> Recorder {
        Self::with_writer(None)
    }

    fn with_writer(writer: Option<JsonlWriter<Op>>) -> Recorder {
        Recorder {
            start: Instant::now(),
            inner: Mutex::new(RecorderState {
                next_index: 0,
                writer,
                last_nemesis: None,
            }),
            counts: Default::default(),
            nemesis_invokes: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since the recorder was created.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant that is time zero of this history.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records a draft: gives it the next index and the current time, writes it, and
    /// returns the op as written.
    pub fn record(&self, draft: OpDraft) -> io::Result<Op> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let op = Op {
            index: state.next_index,
            time_ns: self.now_ns(),
            process: draft.process,
            kind: draft.kind,
            f: draft.f,
            value: draft.value,
            node: draft.node,
            token: draft.token,
            error: draft.error,
        };
        if let Some(writer) = state.writer.as_mut() {
            writer.append(&op)?;
        }
        state.next_index += 1;
        self.counts[count_slot(op.kind)].fetch_add(1, Ordering::Relaxed);
        if op.process == Process::Nemesis {
            if op.kind == OpType::Invoke {
                self.nemesis_invokes.fetch_add(1, Ordering::Relaxed);
            } else {
                state.last_nemesis = Some(op.clone());
            }
        }
        Ok(op)
    }

    /// The latest completion the nemesis recorded (what it did, to whom, or why not).
    pub fn last_nemesis(&self) -> Option<Op> {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.last_nemesis.clone()
    }

    /// How many ops of each type were recorded so far: (invoke, ok, fail, info).
    pub fn counts(&self) -> OpCounts {
        let get = |k: OpType| self.counts[count_slot(k)].load(Ordering::Relaxed);
        OpCounts {
            invoke: get(OpType::Invoke),
            ok: get(OpType::Ok),
            fail: get(OpType::Fail),
            info: get(OpType::Info),
            nemesis: self.nemesis_invokes.load(Ordering::Relaxed),
        }
    }

    /// Flushes the history to stable storage.
    pub fn sync(&self) -> io::Result<()> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match state.writer.as_mut() {
            Some(w) => w.sync(),
            None => Ok(()),
        }
    }
}

fn count_slot(kind: OpType) -> usize {
    match kind {
        OpType::Invoke => 0,
        OpType::Ok => 1,
        OpType::Fail => 2,
        OpType::Info => 3,
    }
}

/// OpCounts are live totals of recorded ops by type, for progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Invocations.
    pub invoke: u64,
    /// Completions that took effect.
    pub ok: u64,
    /// Definite failures.
    pub fail: u64,
    /// Indeterminate completions.
    pub info: u64,
    /// Nemesis invocations (fault starts and heals), included in the counts above.
    pub nemesis: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recorded_ops_are_numbered_timed_and_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let rec = Recorder::create(&path).unwrap();
        let a = rec
            .record(OpDraft::new(
                Process::Client(0),
                OpType::Invoke,
                "acquire",
                json!("k"),
            ))
            .unwrap();
        let b = rec
            .record(
                OpDraft::new(Process::Client(0), OpType::Ok, "acquire", json!("k"))
                    .token(Some(7))
                    .node("n1"),
            )
            .unwrap();
        assert_eq!((a.index, b.index), (0, 1));
        assert!(b.time_ns >= a.time_ns);
        // Readable without closing or flushing: every op is already with the kernel.
        let on_disk: Vec<Op> = crate::jsonl::read(&path).unwrap().strict().unwrap();
        assert_eq!(on_disk, vec![a, b]);
        assert_eq!(rec.counts().invoke, 1);
        assert_eq!(rec.counts().ok, 1);
        assert_eq!(rec.counts().nemesis, 0);
        rec.record(OpDraft::new(
            Process::Nemesis,
            OpType::Invoke,
            "pause",
            json!({}),
        ))
        .unwrap();
        assert_eq!(rec.counts().nemesis, 1);
    }
}
