//! splitbrain-history is the vocabulary every other splitbrain crate speaks: the [`Op`]
//! of a history (Jepsen's `{index, time, process, type, f, value}`), the
//! [`ResourceEntry`] of the resource's own log, and their JSONL file formats.
//!
//! It depends on serde and little else, so a checker, an importer or a report can use it
//! without pulling in the cluster code.
//!
//! ```
//! use splitbrain_history::{Op, OpType, Process, History};
//! let ops = vec![
//!     Op::new(0, 10, Process::Client(0), OpType::Invoke, "acquire", serde_json::json!("lock")),
//!     Op::new(1, 20, Process::Client(0), OpType::Ok, "acquire", serde_json::json!("lock")),
//! ];
//! let history = History::new(ops);
//! let pairs = history.pairs();
//! assert_eq!(pairs[0].completion, Some(1));
//! ```

mod error;
mod history;
pub mod import;
pub mod jsonl;
mod op;
pub mod recorder;
mod resource;
mod run;

pub use error::ReadError;
pub use history::{History, OpPair};
pub use op::{Op, OpType, Process};
pub use recorder::{OpCounts, OpDraft, Recorder};
pub use resource::{ResourceAction, ResourceEntry};
pub use run::{FaultTally, NodeInfo, RunEnd, RunInfo};
