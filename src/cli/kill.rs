//! `kill`: signals the supervisor, which turns SIGTERM into a graceful guest
//! shutdown; `--all` also signals the VMM. As with runc, `--all` succeeds on
//! a stopped container (signalling whatever is left of it), while a plain
//! `kill` of one fails "container not running", which the shim matches.

use nix::sys::signal::Signal;

use super::{Global, Outcome};
use crate::state::{ContainerState, Status};

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
    let supervisor = match decide(state.status(), all) {
        Decision::NotRunning => return Err(NOT_RUNNING.into()),
        Decision::Leftovers => {
            signal_vmm(&state, signal);
            return Ok(Outcome::Exit(0));
        }
        Decision::Signal => state.supervisor.ok_or(NOT_RUNNING)?,
    };
    if all {
        signal_vmm(&state, signal);
    }
    supervisor
        .signal(signal)
        .map_err(|e| format!("cannot signal the container: {e}"))?;
    Ok(Outcome::Exit(0))
}

/// Signals the VMM if it is still alive (a gone one is no error).
fn signal_vmm(state: &ContainerState, signal: Signal) {
    if let Some(vmm) = state.vmm {
        let _ = vmm.signal(signal);
    }
}

/// runc's error for a signal to a container that has stopped.
const NOT_RUNNING: &str = "container not running";

/// What `kill` does for a container in a given status.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Signal the supervisor (and, with `--all`, the VMM).
    Signal,
    /// Stopped, `--all`: signal what is left (a VMM that outlived its
    /// supervisor) and succeed, as runc does.
    Leftovers,
    /// Stopped, no `--all`: fail as runc does.
    NotRunning,
}

/// runc's rule: `--all` signals whatever processes remain, even of a
/// stopped container; a single signal needs a live init.
fn decide(status: Status, all: bool) -> Decision {
    match (status, all) {
        (Status::Stopped, true) => Decision::Leftovers,
        (Status::Stopped, false) => Decision::NotRunning,
        _ => Decision::Signal,
    }
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
    fn all_succeeds_on_a_stopped_container_and_a_single_signal_fails() {
        assert_eq!(decide(Status::Stopped, true), Decision::Leftovers);
        assert_eq!(decide(Status::Stopped, false), Decision::NotRunning);
        for status in [Status::Created, Status::Running, Status::Creating] {
            assert_eq!(decide(status, false), Decision::Signal);
            assert_eq!(decide(status, true), Decision::Signal);
        }
    }

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
