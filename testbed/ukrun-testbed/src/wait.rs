//! Bounded polling: every wait in the test bed ends, with the last reason
//! it was still waiting.

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

/// Calls `probe` every `interval` until it returns `Ok(Some(value))` or
/// `limit` runs out. Errors are retried like `None` (a booting guest refuses
/// connections for a while); the last one is reported on timeout.
pub fn poll<T>(
    what: &str,
    limit: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let last = match probe() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("not yet"),
            Err(err) => format!("{err:#}"),
        };
        if start.elapsed() + interval > limit {
            return Err(anyhow!(
                "timed out after {:.1}s ({attempts} attempts) waiting for {what}: {last}",
                start.elapsed().as_secs_f64()
            ));
        }
        sleep(interval);
    }
}

/// Calls `list` every 250 ms until it lists nothing, for at most `limit`
/// (teardown lags behind the call that asked for it); fails with what it
/// last listed, one per line.
pub fn until_none_left(
    what: &str,
    limit: Duration,
    mut list: impl FnMut() -> Result<Vec<String>>,
) -> Result<()> {
    poll(what, limit, Duration::from_millis(250), || {
        let left = list()?;
        if left.is_empty() {
            return Ok(Some(()));
        }
        bail!("left behind:\n  {}", left.join("\n  "))
    })
}
