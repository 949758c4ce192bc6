//! Ctrl-C for long benchmarks: SIGINT, SIGTERM and SIGHUP only set a flag
//! that the benchmark checks between steps, so its Drop guards clean up
//! before it exits. (Children started in their own process group do not see
//! the terminal's SIGINT.)

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

/// Set by the signal handler.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP.
pub fn install() -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(sig, &action) }.context("cannot install a signal handler")?;
    }
    Ok(())
}

/// An error once a signal arrived, so `?` unwinds through the guards.
pub fn check() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; cleaning up");
    }
    Ok(())
}
