//! Starts the supervisor as a fork of `create`, not a new ukrun: the
//! process already holds the configuration and the checked bundle, and a
//! second ukrun start (exec, dynamic linking, parsing everything again)
//! was a tenth of a container's create+start. `create` is single-threaded
//! (checked), so the child may do anything a fresh process may.
//!
//! The child behaves as if it had been exec'd: it drops the descriptors
//! `create` opened close-on-exec, runs in a session of its own, never
//! returns into `create`'s code (not even by a panic), and names itself
//! `ukrun GLOBAL-FLAGS __supervise ID` in `ps` (see [`super::title`]).

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::ExitStatus;

use nix::sys::signal::{kill, Signal};
use nix::unistd::{fork, ForkResult, Pid};

use super::title::{ArgumentArea, HELD_VMM_VERB, SUPERVISE_VERB};
use super::vmm_child::reap;
use super::{run, Context, Handoff};

/// The forked supervisor, as its parent (`create`, `run`) sees it.
pub struct SupervisorChild {
    pid: Pid,
}

impl SupervisorChild {
    /// Its process id (the container's init pid, as runc's pid file holds).
    pub fn id(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Ends it at once.
    pub fn kill(&self) {
        let _ = kill(self.pid, Signal::SIGKILL);
    }

    /// Waits until it exits.
    pub fn wait(&self) -> std::io::Result<ExitStatus> {
        reap(self.pid, 0)?.ok_or_else(|| std::io::Error::other("waitpid returned no status"))
    }
}

/// Forks the supervisor of the container `handoff` holds, with the
/// caller's stdio; returns it and the pipe on which it reports readiness
/// (see [`super::wait_ready`]).
/// `global_args` are the global flags its command line shows.
pub fn spawn(
    ctx: &Context,
    global_args: &[OsString],
    handoff: Handoff,
) -> std::io::Result<(SupervisorChild, File)> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(std::io::Error::other(format!(
            "ukrun create runs {threads} threads and cannot fork its supervisor safely"
        )));
    }
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    // SAFETY: the process is single-threaded (checked above), so the child
    // may allocate and take locks; it never returns from this function.
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        ForkResult::Parent { child } => {
            drop(write);
            Ok((SupervisorChild { pid: child }, File::from(read)))
        }
        ForkResult::Child => {
            drop(read);
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                become_supervisor(ctx, global_args, handoff, write)
            }))
            .unwrap_or(101);
            std::process::exit(code)
        }
    }
}

/// In the child: what an exec would have done, then the supervisor.
fn become_supervisor(
    ctx: &Context,
    global_args: &[OsString],
    handoff: Handoff,
    sync: OwnedFd,
) -> i32 {
    let id = handoff.state.id.clone();
    let _ = nix::unistd::setsid();
    close_on_exec_descriptors(sync.as_raw_fd());
    let titles = ArgumentArea::of_this_process().and_then(|area| {
        Ok((
            area.title(global_args, SUPERVISE_VERB, &id)?,
            area.title(global_args, HELD_VMM_VERB, &id)?,
        ))
    });
    let held_vmm_title = match titles {
        Ok((own, held_vmm)) => {
            // SAFETY: made in this process.
            unsafe { own.show() };
            Some(held_vmm)
        }
        Err(e) => {
            ctx.logger.debug(&format!(
                "the supervisor keeps create's command line in ps: {e}"
            ));
            None
        }
    };
    run(ctx, handoff, File::from(sync), held_vmm_title)
}

/// The number of threads of this process.
fn thread_count() -> std::io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Closes the descriptors that an exec would close (close-on-exec ones),
/// except `keep`.
fn close_on_exec_descriptors(keep: RawFd) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && *fd != keep)
        .collect();
    for fd in fds {
        // SAFETY: plain descriptor syscalls; the directory's own descriptor
        // is closed already (EBADF is harmless).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC != 0 {
                libc::close(fd);
            }
        }
    }
}
