//! The `refunds` binary: parse the command line, load settings, run.

use clap::Parser;

fn main() -> std::process::ExitCode {
    refunds::cli::run(refunds::cli::Cli::parse())
}
