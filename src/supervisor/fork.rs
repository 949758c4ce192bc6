//! Starts the supervisor as a fork of `create`, not a new ukrun: the
//! process already holds the configuration and the checked bundle, and a
//! second ukrun start (exec, dynamic linking, parsing everything again)
//! was a tenth of a container's create+start. `create` is single-threaded
//! (checked), so the child may do anything a fresh process may.
//!
//! The child behaves as if it had been exec'd: it drops the descriptors
//! `create` opened close-on-exec, runs in a session of its own, never
//! returns into `create`'s code (not even by a panic), and names itself
//! `ukrun GLOBAL-FLAGS __supervise ID` in `ps` (the state root shows which
//! shim's container it is), as runc's init is `runc init`.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::{run, Context, SUPERVISE_VERB};

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
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(ExitStatus::from_raw(code << 8)),
                Ok(WaitStatus::Signaled(_, signal, _)) => {
                    return Ok(ExitStatus::from_raw(signal as i32))
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Forks the supervisor of container `id` with the caller's stdio; returns
/// it and the pipe on which it reports readiness (see [`super::wait_ready`]).
/// `global_args` are the global flags its command line shows.
pub fn spawn(
    ctx: &Context,
    global_args: &[OsString],
    id: &str,
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
                become_supervisor(ctx, global_args, id, write)
            }))
            .unwrap_or(101);
            std::process::exit(code)
        }
    }
}

/// In the child: what an exec would have done, then the supervisor.
fn become_supervisor(ctx: &Context, global_args: &[OsString], id: &str, sync: OwnedFd) -> i32 {
    let _ = nix::unistd::setsid();
    close_on_exec_descriptors(sync.as_raw_fd());
    if let Err(e) = set_title(global_args, id) {
        ctx.logger.debug(&format!(
            "the supervisor keeps create's command line in ps: {e}"
        ));
    }
    run(ctx, id, File::from(sync))
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

/// The supervisor's command line as `ps` shows it, NUL-separated.
fn title(program: &OsString, global_args: &[OsString], id: &str) -> Vec<u8> {
    nul_terminated(
        std::iter::once(program.as_bytes())
            .chain(global_args.iter().map(|a| a.as_bytes()))
            .chain([SUPERVISE_VERB.as_bytes(), id.as_bytes()]),
    )
}

/// `words`, each followed by a NUL, as the kernel lays out arguments.
fn nul_terminated<'w>(words: impl IntoIterator<Item = &'w [u8]>) -> Vec<u8> {
    let mut text = Vec::new();
    for word in words {
        text.extend_from_slice(word);
        text.push(0);
    }
    text
}

/// Rewrites this process's argument strings in place (where the kernel
/// reads /proc/PID/cmdline from) to `ukrun GLOBAL-FLAGS __supervise ID`,
/// padded with NULs, after checking that they are where and what the kernel says: the
/// portable setproctitle, needing no capability. Fails, changing nothing,
/// when the title does not fit (`create`'s own arguments are longer as
/// the shim passes them).
fn set_title(global_args: &[OsString], id: &str) -> std::io::Result<()> {
    let (start, end) = argument_area(&std::fs::read_to_string("/proc/self/stat")?)
        .ok_or_else(|| std::io::Error::other("/proc/self/stat has no argument area"))?;
    let args: Vec<OsString> = std::env::args_os().collect();
    let original = nul_terminated(args.iter().map(|a| a.as_bytes()));
    let program = args.first().cloned().unwrap_or_else(|| "ukrun".into());
    let text = title(&program, global_args, id);
    if end.checked_sub(start) != Some(original.len()) || text.len() > original.len() {
        return Err(std::io::Error::other(
            "the title does not fit the argument area",
        ));
    }
    // SAFETY: [start, end) is this process's argument area (the kernel
    // says so, and its length matches the arguments); it is mapped
    // writable at the top of the main stack and nothing else uses it.
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, original.len()) };
    if area != original.as_slice() {
        return Err(std::io::Error::other(
            "the argument area does not hold the arguments",
        ));
    }
    area[..text.len()].copy_from_slice(&text);
    area[text.len()..].fill(0);
    Ok(())
}

/// `arg_start` and `arg_end` of a /proc/PID/stat line (fields 48 and 49,
/// counted after the command name, which may hold spaces and parentheses).
fn argument_area(stat: &str) -> Option<(usize, usize)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(45);
    let start = fields.next()?.parse().ok()?;
    let end = fields.next()?.parse().ok()?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_the_program_its_global_flags_the_verb_and_the_id() {
        assert_eq!(
            title(
                &"/usr/local/bin/ukrun".into(),
                &["--root".into(), "/run/r".into()],
                "c1"
            ),
            b"/usr/local/bin/ukrun\0--root\0/run/r\0__supervise\0c1\0"
        );
    }

    #[test]
    fn the_argument_area_is_read_after_the_command_name() {
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[48 - 3] = "1000".into();
        fields[49 - 3] = "1200".into();
        let stat = format!("77 (a) b (c)) {}", fields.join(" "));
        assert_eq!(argument_area(&stat), Some((1000, 1200)));
        assert_eq!(argument_area("77 (truncated"), None);
        assert_eq!(argument_area("77 (a) S 1 2"), None);
    }

    #[test]
    fn this_process_argument_area_holds_its_arguments() {
        let (start, end) =
            argument_area(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        let length: usize = std::env::args_os().map(|a| a.len() + 1).sum();
        assert_eq!(end - start, length);
    }
}
