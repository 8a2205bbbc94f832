//! splitbrain-checker reads a history (and the resource's log) and decides whether what
//! happened was allowed: mutual exclusion, resource safety, fencing and linearizability.
//! Every checker returns a [`CheckerResult`]: a verdict, a one-line summary and the
//! evidence a report can draw.
//!
//! Two processes that both believed they held `lock` from 20 to 50 ns: without fencing,
//! that is a violation.
//!
//! ```
//! use serde_json::json;
//! use splitbrain_checker::{Validity, exclusive};
//! use splitbrain_history::{History, Op, OpType, Process};
//!
//! let op = |i, t, p, kind, f: &str| Op::new(i, t, Process::Client(p), kind, f, json!("lock"));
//! let history = History::new(vec![
//!     op(0, 0, 1, OpType::Invoke, "acquire"),
//!     op(1, 10, 1, OpType::Ok, "acquire"),
//!     op(2, 15, 2, OpType::Invoke, "acquire"),
//!     op(3, 20, 2, OpType::Ok, "acquire"),
//!     op(4, 50, 1, OpType::Invoke, "release"),
//!     op(5, 60, 2, OpType::Invoke, "release"),
//! ]);
//! let result = exclusive::check(&history, false);
//! assert_eq!(result.valid, Validity::Invalid);
//! assert_eq!(result.evidence[0].op_indexes, vec![1, 4, 3, 5]);
//! ```
//!
//! On a stored run, [`check_run_dir`] reads `run.json`, `history.jsonl` and
//! `resource.jsonl`, runs every checker and writes `results.json`.

pub mod availability;
mod error;
pub mod exclusive;
pub mod fault_windows;
pub mod faults;
pub mod fencing;
pub mod generate;
pub mod linear;
pub mod memory;
pub mod models;
pub mod mutex;
pub mod resource_safety;
pub mod run_dir;
pub mod run_end;
pub mod split_brain;
pub mod stats;
mod verdict;
pub mod wellformed;

pub use error::CheckError;
pub use run_dir::{
    RunData, check_run, check_run_dir, load_run_dir, write_atomically, write_results,
};
pub use verdict::{CheckerResult, Evidence, Results, Validity};
