//! Running the test bed's shell scripts with their output kept in a log
//! file, so a failure shows the script's last words instead of a bare exit
//! status.

use std::ffi::OsStr;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::repo;

/// How many trailing log lines a script failure quotes.
const TAIL_LINES: usize = 30;

/// Runs `testbed/<relative> args…` with stdout and stderr appended to
/// `log`; fails with the tail of the log when the script fails.
pub fn run(relative: &str, args: &[&Path], log: &Path) -> Result<()> {
    run_with_env(relative, args, &[], log)
}

/// Like [`run`], with the variables `env` set for the script (the
/// scripts' documented switches, e.g. how `node.sh up` is told the pod
/// network, whatever the caller's environment says).
pub fn run_with_env(
    relative: &str,
    args: &[&Path],
    env: &[(&str, &OsStr)],
    log: &Path,
) -> Result<()> {
    let script = repo::script(relative)?;
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let status = Command::new("bash")
        .arg(&script)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo::root())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("starting {}", script.display()))?;
    if !status.success() {
        bail!(
            "{} failed ({status}); last lines of {}:\n{}",
            script.display(),
            log.display(),
            tail(log)
        );
    }
    Ok(())
}

/// The last `TAIL_LINES` (30) lines of a text file (empty if unreadable).
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}
