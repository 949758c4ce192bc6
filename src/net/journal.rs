//! Applies a plan's steps so that a kill at any moment leaves a record that
//! undoes exactly what was changed: each step is recorded with what it will
//! replace (a sysctl's value, a tx queue length) and the record saved
//! before the step changes anything.

use std::os::fd::OwnedFd;

use rtnetlink::Handle;

use super::apply;
use super::steps::NetStep;

/// Where the applied steps are recorded (a container's state).
pub trait Journal {
    /// The steps recorded so far.
    fn steps(&mut self) -> &mut Vec<NetStep>;
    /// Persists the record.
    fn save(&mut self) -> Result<(), String>;
}

/// Observes, records, saves and applies each of `steps` in order; returns
/// the tap's descriptor. Stops at the first failure: what was applied
/// stays recorded for undo, the failed step (which changed nothing) does
/// not.
pub async fn apply_all(
    handle: &Handle,
    steps: Vec<NetStep>,
    journal: &mut impl Journal,
) -> Result<Option<OwnedFd>, String> {
    let mut tap = None;
    for mut step in steps {
        apply::observe(handle, &mut step)
            .await
            .map_err(|e| e.to_string())?;
        journal.steps().push(step.clone());
        journal.save()?;
        match apply::apply(handle, &step).await {
            Ok(fd) => tap = tap.or(fd),
            Err(e) => {
                // It changed nothing: undoing it would remove what it found.
                journal.steps().pop();
                journal.save()?;
                return Err(e.to_string());
            }
        }
    }
    Ok(tap)
}
