//! Awaiting the exit of a process that is not the caller's child, without
//! polling: a pidfd (`pidfd_open`, Linux 5.3) becomes readable when its
//! process ends; tokio's `AsyncFd` wakes the supervisor's event loop then,
//! and poll(2) wakes `delete`, which waits for the processes it killed.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

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
    /// Starts watching `process` (inside a tokio runtime).
    pub fn open(process: ProcessRef) -> io::Result<Watched> {
        let Some(fd) = pidfd_of(process)? else {
            return Ok(Watched::Gone);
        };
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

/// A pidfd of `process`, `None` when it has ended. A pidfd names whatever
/// process had the pid when it was opened: it is `process` only if
/// `process` (pid and start time) still runs after the open.
fn pidfd_of(process: ProcessRef) -> io::Result<Option<OwnedFd>> {
    let Some(pid) = Pid::from_raw(process.pid) else {
        return Ok(None);
    };
    let fd = match pidfd_open(pid, PidfdFlags::NONBLOCK) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(process.is_alive().then_some(fd))
}

/// Blocks until `process` has ended or `timeout` has passed; whether it
/// ended.
pub fn wait_ended(process: ProcessRef, timeout: Duration) -> io::Result<bool> {
    let Some(fd) = pidfd_of(process)? else {
        return Ok(true);
    };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd, valid for the call.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            1 => return Ok(true),
            0 => return Ok(false),
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
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

    #[test]
    fn a_blocking_wait_sees_an_exit_and_times_out_on_a_running_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let it = ProcessRef::of(child.id() as i32).unwrap();
        assert!(!wait_ended(it, Duration::from_millis(50)).unwrap());
        child.kill().unwrap();
        assert!(wait_ended(it, Duration::from_secs(10)).unwrap());
        child.wait().unwrap();
        assert!(wait_ended(it, Duration::ZERO).unwrap());
    }
}
