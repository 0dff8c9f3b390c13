//! The `refunds` binary: parse the command line, load settings, run.

use clap::Parser;

// See Cargo.toml: small allocations dominate a request's allocator time.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // Crash drills only: `FAILPOINTS=name=action;…` arms the named failpoints.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    refunds::cli::run(refunds::cli::Cli::parse())
}
