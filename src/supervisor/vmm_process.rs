//! Runs the VMM as the supervisor's child: the tap descriptor passed at the
//! number its command expects (qemu), the container's stdio as its console,
//! and death with the supervisor
//! (PR_SET_PDEATHSIG), so a SIGKILLed supervisor leaves no VMM behind.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitStatus;

/// Why the VMM could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The binary is missing.
    #[error("{0} not found: install it or set its path in ukrun's config file")]
    NotFound(String),
    /// exec failed otherwise.
    #[error("cannot start {binary}: {source}")]
    Exec {
        /// Binary.
        binary: String,
        /// OS error.
        source: std::io::Error,
    },
}

/// Spawns `binary argv`, with the tap descriptor at the given number when
/// the monitor takes it that way.
pub fn spawn(
    binary: &Path,
    argv: &[String],
    tap: Option<(&OwnedFd, i32)>,
) -> Result<tokio::process::Child, SpawnError> {
    let tap = tap.map(|(fd, number)| (fd.as_raw_fd(), number));
    let parent = std::process::id() as i32;
    let mut cmd = std::process::Command::new(binary);
    cmd.args(argv);
    // SAFETY: only async-signal-safe calls (dup2, fcntl, prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if let Some((fd, number)) = tap {
                pass_fd(fd, number)?;
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
    tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| {
            let name = binary.display().to_string();
            if source.kind() == std::io::ErrorKind::NotFound {
                SpawnError::NotFound(name)
            } else {
                SpawnError::Exec {
                    binary: name,
                    source,
                }
            }
        })
}

/// In a child between fork and exec: makes `fd` available as `target`
/// across exec (dup2 clears close-on-exec; when they are the same number,
/// clear the flag by hand). Async-signal-safe.
pub fn pass_fd(fd: i32, target: i32) -> std::io::Result<()> {
    // SAFETY: plain fd syscalls on descriptors this process owns.
    let rc = unsafe {
        if fd == target {
            let flags = libc::fcntl(target, libc::F_GETFD);
            libc::fcntl(target, libc::F_SETFD, flags & !libc::FD_CLOEXEC)
        } else {
            libc::dup2(fd, target)
        }
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The shell-style exit code of a finished process (128 + signal if killed).
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }
}
