//! The `splitbrain` command line: a thin layer over the library crates. It parses
//! arguments, maps outcomes to Jepsen's exit codes (0 valid, 1 invalid, 2 unknown) and
//! its own (253 machine not set up, 254 bad input, 255 internal error; see [`exit`]), and
//! hosts the hidden subcommands that run on the nodes (the agent and the resource).

mod check_file;
mod cli;
mod exit;
mod gen_history;
#[cfg(test)]
mod malformed_input;
mod node_daemon;
mod pod;
mod suite;

use clap::Parser;
use std::process::ExitCode;

/// Counts the heap in use, so `check --memory-limit` bounds the whole process.
#[global_allocator]
static ALLOCATOR: splitbrain_checker::memory::CountingAllocator =
    splitbrain_checker::memory::CountingAllocator;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::EXIT_BAD_INPUT
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // A panic is splitbrain's own bug, whatever the input: it exits 255 like any other
    // internal error (the default hook has printed where it happened), not 101.
    match std::panic::catch_unwind(|| cli::dispatch(args)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprintln!("splitbrain: error: {}", describe(&e));
            ExitCode::from(exit::exit_code_for(&e))
        }
        Err(_) => {
            eprintln!("splitbrain: internal error (a bug in splitbrain; please report it)");
            ExitCode::from(exit::EXIT_INTERNAL)
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message
/// before it already contains (library errors carry their cause in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}
