//! `splitbrain gen-history`: writes a history of a simulated register (see
//! [`splitbrain_checker::generate`]) as JSON Lines, to a file or to stdout, so the
//! checker's hard cases can be made, shared and benchmarked without files from
//! elsewhere.

use crate::exit::{BadInput, bad_input};
use anyhow::Result;
use clap::{Args, ValueEnum};
use splitbrain_checker::generate::{GenModel, GenOptions, Violation, generate};
use std::io::Write;
use std::path::PathBuf;

/// A GenModelArg is the object simulated, as `--model` spells it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenModelArg {
    /// Reads and writes (check with --model register).
    Register,
    /// Reads, writes and compare-and-sets (check with --model cas-register).
    CasRegister,
    /// Gets and puts on many keys (check with --model kv).
    Kv,
}

/// GenHistoryArgs are `gen-history`'s options.
#[derive(Args, Debug, Clone)]
pub struct GenHistoryArgs {
    /// The object simulated
    #[arg(long, value_enum, default_value_t = GenModelArg::CasRegister)]
    pub model: GenModelArg,
    /// Operations (invocations)
    #[arg(long, default_value_t = 1000)]
    pub ops: usize,
    /// Concurrent clients
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Share of operations that time out (`info`: took effect or not), 0 to 1
    #[arg(long, default_value_t = 0.0)]
    pub info_rate: f64,
    /// Keys (kv only)
    #[arg(long, default_value_t = 1)]
    pub keys: usize,
    /// Seed: the same options and seed write the same history
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Make one read stale, this far into the history (0 to 1): the history is then not
    /// linearizable, and that read is the operation that cannot be linearized
    #[arg(long, value_name = "FRACTION")]
    pub violation_at: Option<f64>,
    /// Write here instead of to stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Generates the history and writes it; prints the stale read's index to stderr.
pub fn run(args: &GenHistoryArgs) -> Result<u8> {
    let options = GenOptions {
        model: match args.model {
            GenModelArg::Register => GenModel::Register,
            GenModelArg::CasRegister => GenModel::CasRegister,
            GenModelArg::Kv => GenModel::Kv,
        },
        ops: args.ops,
        clients: args.clients,
        info_rate: args.info_rate,
        keys: args.keys,
        seed: args.seed,
        violation: args.violation_at.map(|at| Violation { at }),
    };
    let generated = match generate(&options) {
        Ok(g) => g,
        Err(e) => bad_input!("cannot generate the history: {e}"),
    };
    let mut text = Vec::with_capacity(generated.ops.len() * 96);
    for op in &generated.ops {
        serde_json::to_writer(&mut text, op)?;
        text.push(b'\n');
    }
    match &args.out {
        Some(path) => splitbrain_checker::write_atomically(path, &text).map_err(|e| {
            BadInput(format!(
                "cannot write the history: out={}: {e} (give --out a file in a directory \
                 you can write to)",
                path.display()
            ))
        })?,
        None => std::io::stdout().lock().write_all(&text)?,
    }
    if let Some(index) = generated.stale_read {
        eprintln!("gen-history: the stale read is the operation at index={index}");
    }
    Ok(0)
}
