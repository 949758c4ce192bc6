//! The running VMM as the supervisor sees it: its pid, signals to it, and
//! an exit status the event loop can wait for. The supervisor forks the
//! VMM itself (see [`super::vmm_process`]), so this is the small part of
//! tokio's `Child` it needs, built on SIGCHLD and `waitpid` of this one pid
//! (no other child of the supervisor is reaped here).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

/// A running VMM, killed (SIGKILL) if it is dropped before it was reaped.
pub struct VmmChild {
    pid: Pid,
    /// SIGCHLD deliveries, listened to since before the VMM could exit.
    exits: tokio::signal::unix::Signal,
    /// Its status once reaped.
    status: Option<ExitStatus>,
}

/// SIGCHLD deliveries: made before the child is let go, so that no exit
/// can fall between a `waitpid` that found it running and the wait.
pub fn child_exits() -> std::io::Result<tokio::signal::unix::Signal> {
    signal(SignalKind::child())
}

impl VmmChild {
    /// The child `pid`, whose exits `exits` (from [`child_exits`]) reports.
    pub(super) fn new(pid: Pid, exits: tokio::signal::unix::Signal) -> Self {
        Self {
            pid,
            exits,
            status: None,
        }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Sends it `sig`, unless it was reaped (its pid may be another's).
    pub fn signal(&self, sig: Signal) {
        if self.status.is_none() {
            let _ = kill(self.pid, sig);
        }
    }

    /// Waits until it exits and reaps it; cancel-safe.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            self.status = reap(self.pid, libc::WNOHANG)?;
            if self.status.is_none() && self.exits.recv().await.is_none() {
                return Err(std::io::Error::other(
                    "the event loop stopped delivering SIGCHLD",
                ));
            }
        }
    }
}

impl Drop for VmmChild {
    /// Does not block: a monitor stuck in the kernel must not hold the
    /// supervisor's exit; a child not yet reaped goes to the subreaper.
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = reap(self.pid, libc::WNOHANG);
        }
    }
}

/// `waitpid(pid, flags)`: the status of a child that ended, `None` while it
/// runs (with `WNOHANG`). The supervisor's own parent (`create`, `run`)
/// waits for it with this too.
pub(super) fn reap(pid: Pid, flags: libc::c_int) -> std::io::Result<Option<ExitStatus>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes only to `status`.
        let rc = unsafe { libc::waitpid(pid.as_raw(), &mut status, flags) };
        if rc == pid.as_raw() {
            return Ok(Some(ExitStatus::from_raw(status)));
        }
        if rc == 0 {
            return Ok(None);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
