//! `start`: asks the supervisor to boot the guest.

use super::{Global, Outcome};
use crate::state::Status;
use crate::supervisor::control;

/// Starts a created unikernel container; other ids are runc's.
pub(crate) fn start(g: &Global, id: &str) -> Result<Outcome, String> {
    if !g.store.owns(id) {
        return Ok(Outcome::Delegate);
    }
    let state = g.store.load(id).map_err(|e| e.to_string())?;
    match state.status() {
        Status::Created => {}
        Status::Running => return Err("cannot start an already running container".into()),
        Status::Stopped => return Err("cannot start a container that has stopped".into()),
        Status::Creating => {
            return Err("cannot start a container that is still being created".into())
        }
    }
    let dir = g.store.dir(id).map_err(|e| e.to_string())?;
    control::request_start(&dir)?;
    Ok(Outcome::Exit(0))
}
