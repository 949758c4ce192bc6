//! `run`: create + start, then (unless detached) wait for the container and
//! delete it, exiting with its status.

use super::{create, delete, start, CreateArgs, Global, Outcome};

/// Runs a container; other bundles are runc's.
pub(crate) fn run(
    g: &Global,
    args: &CreateArgs,
    detach: bool,
    keep: bool,
) -> Result<Outcome, String> {
    let (outcome, child) = create::create(g, args)?;
    let Some(child) = child else {
        return Ok(outcome);
    };
    if let Err(e) = start::start(g, &args.id) {
        let _ = delete::delete(g, &args.id, true);
        return Err(e);
    }
    if detach {
        return Ok(Outcome::Exit(0));
    }
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for the supervisor: {e}"))?;
    if !keep {
        delete::delete(g, &args.id, true)?;
    }
    Ok(Outcome::Exit(crate::supervisor::vmm_process::exit_code(
        status,
    )))
}
