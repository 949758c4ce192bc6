//! The entry point the benchmarks share: they run only under `cargo bench`
//! (which passes `--bench`; `cargo test --benches` runs them without, and
//! they need root and minutes), print their error and exit non-zero. Also
//! their sampling loop: one warm-up, then sides taking turns.

use std::process::ExitCode;

use anyhow::Result;

use crate::interrupt;

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

/// Runs `measure(side, round)` for every side in turn, for round 0 (a
/// warm-up, not kept) and rounds 1 to `iters`, checking for a signal (see
/// [`interrupt`]) before each and saying on stderr as `<name>: …` when a
/// round is done. Returns the kept samples, one vector per side; stops at
/// the first error.
pub fn interleaved<S, T>(
    name: &str,
    sides: &[S],
    iters: usize,
    mut measure: impl FnMut(&S, usize) -> Result<T>,
) -> Result<Vec<Vec<T>>> {
    let mut samples: Vec<Vec<T>> = sides.iter().map(|_| Vec::new()).collect();
    for round in 0..=iters {
        for (side, kept) in sides.iter().zip(samples.iter_mut()) {
            interrupt::check()?;
            let sample = measure(side, round)?;
            if round > 0 {
                kept.push(sample);
            }
        }
        let label = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("{round}/{iters}")
        };
        eprintln!("{name}: {label} done");
    }
    Ok(samples)
}
