//! `reel`: render, check and inspect video compositions.
//!
//! A thin front over the `reel` library: the arguments become `PlanOptions` and
//! `RenderOptions`, and what the library reports becomes messages and exit codes.
//! Exit codes: 0 success, 2 bad input (composition, assets, arguments), 1 any other failure,
//! 130 cancelled (Ctrl-C, SIGTERM, SIGHUP).

#![warn(missing_docs)]

mod args;
mod batch;
mod commands;
mod input;
mod progress;

use clap::Parser;
use std::process::ExitCode;

/// What a command failed with, and the exit code it maps to.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error from the library.
    Reel(reel::Error),
    /// A bad argument that only the tool knows about (exit 2).
    Usage(String),
    /// Some rows of a batch failed; each was reported already. The worst exit code.
    Reported(u8),
}

impl From<reel::Error> for Failure {
    fn from(e: reel::Error) -> Self {
        Failure::Reel(e)
    }
}

impl Failure {
    /// The process's exit code for this failure.
    pub(crate) fn code(&self) -> u8 {
        match self {
            Failure::Reel(reel::Error::Cancelled) => 130,
            Failure::Reel(e) if e.is_input_error() => 2,
            Failure::Reel(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Reported(code) => *code,
        }
    }
}

fn main() -> ExitCode {
    reel_process::tune_allocator();
    let cli = args::Cli::parse();
    let json = cli.json_messages();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            progress::report_failure(&f, json);
            ExitCode::from(f.code())
        }
    }
}
