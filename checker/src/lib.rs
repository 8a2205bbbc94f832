//! splitbrain-checker reads a history (and the resource's log) and decides whether what
//! happened was allowed: mutual exclusion, resource safety, fencing and linearizability.
//! Every checker returns a [`CheckerResult`]: a verdict, a one-line summary and the
//! evidence a report can draw.

pub mod linear;
pub mod models;
mod verdict;

pub use verdict::{CheckerResult, Evidence, Results, Validity};
