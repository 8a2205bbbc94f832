//! The `splitbrain` command line: a thin layer over the library crates. It parses
//! arguments, maps outcomes to Jepsen's exit codes (0 valid, 1 invalid, 2 unknown,
//! 254 bad arguments, 255 internal error) and hosts the hidden subcommands that run on
//! the nodes (the agent and the resource).

mod check_file;
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() {
                cli::EXIT_BAD_ARGS
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli::dispatch(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("splitbrain: error: {}", describe(&e));
            ExitCode::from(cli::exit_code_for(&e))
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
