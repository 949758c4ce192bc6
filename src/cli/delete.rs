//! `delete`: ends the container's processes if asked, then removes every
//! trace: network steps, cgroups, state.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{Global, Outcome};
use crate::state::{ProcessRef, Status};
use crate::supervisor::{exit_watch, teardown};

/// How long delete waits for killed processes to disappear.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Deletes a unikernel container; other ids are runc's.
pub(crate) fn delete(g: &Global, id: &str, force: bool) -> Result<Outcome, String> {
    if !g.store.owns(id) {
        return Ok(Outcome::Delegate);
    }
    let state = g.store.load(id).map_err(|e| e.to_string())?;
    let status = state.status();
    if status == Status::Running && !force {
        return Err(format!(
            "cannot delete container {id} that is not stopped: {}",
            status.as_str()
        ));
    }
    let processes: Vec<ProcessRef> = state.supervisor.into_iter().chain(state.vmm).collect();
    for p in &processes {
        let _ = p.signal(Signal::SIGKILL);
    }
    wait_gone(&processes)?;
    teardown::teardown(&g.store, &state, &g.logger);
    g.store.remove(id).map_err(|e| e.to_string())?;
    Ok(Outcome::Exit(0))
}

/// Waits (woken by each exit, see [`exit_watch`]) until `processes` have
/// ended, for [`EXIT_WAIT`] at most.
fn wait_gone(processes: &[ProcessRef]) -> Result<(), String> {
    let deadline = Instant::now() + EXIT_WAIT;
    for p in processes {
        let left = deadline.saturating_duration_since(Instant::now());
        match exit_watch::wait_ended(*p, left) {
            Ok(true) => {}
            Ok(false) => return Err("the container's processes did not exit after SIGKILL".into()),
            Err(e) => return Err(format!("cannot wait for the container's processes: {e}")),
        }
    }
    Ok(())
}
