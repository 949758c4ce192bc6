//! Awaiting the exit of a process that is not the supervisor's child,
//! without polling: a pidfd (`pidfd_open`, Linux 5.3) becomes readable when
//! its process ends, and tokio's `AsyncFd` wakes the event loop then.

use std::io;
use std::os::fd::OwnedFd;

use rustix::process::{pidfd_open, Pid, PidfdFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::state::ProcessRef;

/// What watching a process found when it started.
pub enum Watched {
    /// The process runs; its exit is awaited.
    Running(ExitWatch),
    /// The process had already ended (its pid is free or another process's).
    Gone,
}

/// A running process whose exit the event loop can await.
pub struct ExitWatch(AsyncFd<OwnedFd>);

impl ExitWatch {
    /// Starts watching `process` (inside a tokio runtime). A pidfd names
    /// whatever process had the pid when it was opened: it is `process`
    /// only if `process` (pid and start time) still runs after the open.
    pub fn open(process: ProcessRef) -> io::Result<Watched> {
        let Some(pid) = Pid::from_raw(process.pid) else {
            return Ok(Watched::Gone);
        };
        let fd = match pidfd_open(pid, PidfdFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => return Ok(Watched::Gone),
            Err(e) => return Err(e.into()),
        };
        if !process.is_alive() {
            return Ok(Watched::Gone);
        }
        // SAFETY: the AsyncFd owns the pidfd, which stays open and the same
        // until the AsyncFd drops.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Watched::Running(ExitWatch(fd)))
    }

    /// Resolves once the process has ended. A pidfd stays readable from
    /// then on, so this resolves again at once when awaited again.
    pub async fn exited(&self) {
        if self.0.readable().await.is_err() {
            // Only a runtime shutting down fails this; an exit not seen is
            // no exit.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_that_exits_is_seen_to_exit_and_a_stale_identity_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.1")
            .spawn()
            .unwrap();
        let me = ProcessRef::of(child.id() as i32).unwrap();
        let Watched::Running(watch) = ExitWatch::open(me).unwrap() else {
            panic!("a running child was reported gone");
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.exited())
            .await
            .expect("the pidfd did not report the child's exit");
        child.wait().unwrap();
        assert!(matches!(ExitWatch::open(me).unwrap(), Watched::Gone));
        let reused = ProcessRef {
            start_time: ProcessRef::of(std::process::id() as i32)
                .unwrap()
                .start_time
                + 1,
            pid: std::process::id() as i32,
        };
        assert!(matches!(ExitWatch::open(reused).unwrap(), Watched::Gone));
    }
}
