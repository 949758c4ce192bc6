//! `kill`: signals the supervisor, which turns SIGTERM into a graceful guest
//! shutdown; `--all` also signals the VMM.

use nix::sys::signal::Signal;

use super::{Global, Outcome};
use crate::state::Status;

/// Sends `signal` (default SIGTERM) to a unikernel container; other ids are runc's.
pub(crate) fn kill(
    g: &Global,
    id: &str,
    signal: Option<&str>,
    all: bool,
) -> Result<Outcome, String> {
    if !g.store.owns(id) {
        return Ok(Outcome::Delegate);
    }
    let signal = parse_signal(signal.unwrap_or("SIGTERM"))?;
    let state = g.store.load(id).map_err(|e| e.to_string())?;
    if state.status() == Status::Stopped {
        return Err("container not running".into());
    }
    let supervisor = state.supervisor.ok_or("container not running")?;
    if all {
        if let Some(vmm) = state.vmm {
            let _ = vmm.signal(signal);
        }
    }
    supervisor
        .signal(signal)
        .map_err(|e| format!("cannot signal the container: {e}"))?;
    Ok(Outcome::Exit(0))
}

/// Parses `9`, `KILL` or `SIGKILL`.
pub(crate) fn parse_signal(text: &str) -> Result<Signal, String> {
    let bad = || format!("unknown signal {text:?}");
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("9"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("15"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("KILL"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("sigterm"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("SIGUSR1"), Ok(Signal::SIGUSR1));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("99").is_err());
        assert_eq!(parse_signal("NOPE"), Err("unknown signal \"NOPE\"".into()));
    }
}
