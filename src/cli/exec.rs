//! `exec` and every other runc command: runc's job, except on a unikernel
//! container, where they fail at once with a clear reason (never a hang).

use std::ffi::OsString;

use super::{Global, Outcome};

/// The error `exec` gives for a unikernel container.
pub(crate) const EXEC_UNSUPPORTED: &str = "exec is not supported for unikernel containers: the guest has no process the runtime can enter";

/// `exec`: refused for unikernel containers, runc's otherwise.
pub(crate) fn exec(g: &Global, args: &[OsString]) -> Result<Outcome, String> {
    match owned_id(g, args) {
        Some(_) => Err(EXEC_UNSUPPORTED.into()),
        None => Ok(Outcome::Delegate),
    }
}

/// Commands ukrun does not implement (pause, update, …).
pub(crate) fn other(g: &Global, args: &[OsString]) -> Result<Outcome, String> {
    let verb = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    match owned_id(g, &args[1.min(args.len())..]) {
        Some(id) => Err(format!(
            "{verb} is not supported for unikernel containers (container {id})"
        )),
        None => Ok(Outcome::Delegate),
    }
}

/// The first non-flag argument that names one of ukrun's containers.
fn owned_id(g: &Global, args: &[OsString]) -> Option<String> {
    args.iter()
        .filter_map(|a| a.to_str())
        .filter(|a| !a.starts_with('-'))
        .find(|a| g.store.owns(a))
        .map(str::to_owned)
}
