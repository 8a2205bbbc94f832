//! splitbrain-checker reads a history (and the resource's log) and decides whether what
//! happened was allowed: mutual exclusion, resource safety, fencing and linearizability.
//! Every checker returns a [`CheckerResult`]: a verdict, a one-line summary and the
//! evidence a report can draw.
//!
//! ```no_run
//! let results = splitbrain_checker::check_run_dir(std::path::Path::new("runs/latest"))?;
//! println!("valid: {:?}", results.valid);
//! # Ok::<(), splitbrain_checker::CheckError>(())
//! ```

mod error;
pub mod exclusive;
pub mod resource_safety;
pub mod run_dir;
mod verdict;
pub mod wellformed;

pub use error::CheckError;
pub use run_dir::{
    RunData, check_run, check_run_dir, load_run_dir, write_atomically, write_results,
};
pub use verdict::{CheckerResult, Evidence, Results, Validity};
