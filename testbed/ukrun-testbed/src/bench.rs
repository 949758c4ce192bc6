//! The entry point the benchmarks share: they run only under `cargo bench`
//! (which passes `--bench`; `cargo test --benches` runs them without, and
//! they need root and minutes), print their error and exit non-zero.

use std::process::ExitCode;

use anyhow::Result;

/// Runs `run` when invoked by `cargo bench`; prints `<name>: skipped`
/// otherwise and `<name>: error: …` when it fails.
pub fn main(name: &str, run: impl FnOnce() -> Result<()>) -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        println!("{name}: skipped (run it with `cargo bench --bench {name}`)");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
