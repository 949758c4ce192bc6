//! Runs the VMM as the supervisor's child, inside its cell (see
//! [`crate::jail`]), in two steps so that `start` pays only for the exec,
//! as runc's init waits on its exec fifo: [`hold`] forks the child as soon
//! as the VMM's start is prepared, and the child enters its cell (its
//! descriptors at the numbers its command expects, its cgroup, mounts,
//! user, seccomp filters) and waits; [`HeldVmm::release`] lets it exec the
//! monitor. The container's stdio is the VMM's console, its environment is
//! empty (the monitor needs none, and the supervisor's is not the guest's),
//! and it dies with the supervisor (PR_SET_PDEATHSIG, set by the cell), so
//! a SIGKILLed supervisor leaves no VMM behind, held or running.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitStatus;

use nix::sys::signal::{kill, pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use super::vmm_child::{child_exits, reap, VmmChild};
use crate::jail::fds::ABOVE_HANDED;

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
    /// The child could not enter its cell.
    #[error("cannot enter the VMM's cell: {0}")]
    Cell(std::io::Error),
    /// The child could not be made, or not be followed.
    #[error("cannot fork the VMM: {0}")]
    Fork(std::io::Error),
    /// An argument or the path holds a NUL byte.
    #[error("the VMM's command holds a NUL byte")]
    Nul,
}

/// The step of the held child that failed, as it reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    /// Entering the cell.
    Cell = 1,
    /// Waiting for the release.
    Wait = 2,
    /// The exec.
    Exec = 3,
}

/// A failure report: the step, then the errno (native byte order); one
/// write, well under the pipe's atomic size.
type Report = [u8; 5];

fn report(step: Step, errno: i32) -> Report {
    let e = errno.to_ne_bytes();
    [step as u8, e[0], e[1], e[2], e[3]]
}

/// The error a child's report stands for (`None` when it is not one).
fn read_report(bytes: &[u8], binary: &str) -> Option<SpawnError> {
    let (&step, errno) = bytes.split_first()?;
    let errno = i32::from_ne_bytes(errno.try_into().ok()?);
    let source = std::io::Error::from_raw_os_error(errno);
    Some(match step {
        s if s == Step::Cell as u8 => SpawnError::Cell(source),
        s if s == Step::Wait as u8 => SpawnError::Fork(source),
        s if s == Step::Exec as u8 && errno == libc::ENOENT => {
            SpawnError::NotFound(binary.to_owned())
        }
        s if s == Step::Exec as u8 => SpawnError::Exec {
            binary: binary.to_owned(),
            source,
        },
        _ => return None,
    })
}

/// The held child, killed and reaped unless it was released.
struct Held {
    pid: Pid,
}

impl Drop for Held {
    fn drop(&mut self) {
        // It is ukrun's own code (not yet the monitor), waiting or failed:
        // it ends at once, and its user id is free once it is reaped.
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = reap(self.pid, 0);
    }
}

/// A VMM forked into its cell, waiting for [`HeldVmm::release`]; dropping it
/// ends the child.
pub struct HeldVmm {
    child: Held,
    /// Written once to release the child; closed unwritten, it makes the
    /// child exit.
    go: OwnedFd,
    /// Closed by the child's exec; carries a [`Report`] when a step failed.
    reports: OwnedFd,
    binary: String,
}

/// What the child needs, made before the fork (the child must not allocate).
struct Exec {
    path: CString,
    /// NUL-terminated strings; `pointers` points into them.
    _args: Vec<CString>,
    pointers: Vec<*const libc::c_char>,
}

impl Exec {
    fn new(binary: &Path, argv: &[String]) -> Result<Self, SpawnError> {
        let c = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| SpawnError::Nul);
        let path = c(binary.as_os_str())?;
        let args = std::iter::once(Ok(path.clone()))
            .chain(argv.iter().map(|a| c(OsStr::new(a))))
            .collect::<Result<Vec<_>, _>>()?;
        let pointers = args
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        Ok(Self {
            path,
            _args: args,
            pointers,
        })
    }
}

/// A close-on-exec pipe whose ends are numbered from [`ABOVE_HANDED`] up,
/// clear of the numbers the cell gives the handed descriptors.
fn pipe_above_handed() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((above_handed(read)?, above_handed(write)?))
}

fn above_handed(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor this function owns.
    let moved = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, ABOVE_HANDED) };
    if moved < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `moved` is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

/// Forks the VMM's process: it runs `pre_exec` (entering the cell), then
/// waits for [`HeldVmm::release`] and execs `binary argv`.
///
/// # Safety
/// `pre_exec` runs in the child of a process that may have other threads:
/// it may make system calls only (no allocation, no lock), as std's
/// `pre_exec`. Call on the supervisor's main thread: the child's death
/// signal follows the thread that forked it.
pub unsafe fn hold(
    binary: &Path,
    argv: &[String],
    pre_exec: impl FnOnce() -> std::io::Result<()>,
) -> Result<HeldVmm, SpawnError> {
    let exec = Exec::new(binary, argv)?;
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let (go_read, go) = pipe_above_handed().map_err(SpawnError::Fork)?;
    let (reports, report_write) = pipe_above_handed().map_err(SpawnError::Fork)?;
    // Signals stay blocked across the fork, so none runs one of the
    // supervisor's handlers in the child before it has reset them.
    let mut previous = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut previous),
    )
    .map_err(|e| SpawnError::Fork(e.into()))?;
    let pid = libc::fork();
    if pid == 0 {
        child(
            pre_exec,
            go_read.as_raw_fd(),
            report_write.as_raw_fd(),
            &exec,
            &envp,
        );
    }
    let forked = std::io::Error::last_os_error();
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
    if pid < 0 {
        return Err(SpawnError::Fork(forked));
    }
    Ok(HeldVmm {
        child: Held {
            pid: Pid::from_raw(pid),
        },
        go,
        reports,
        binary: binary.display().to_string(),
    })
}

/// The child: resets the signals the supervisor handles or ignores, enters
/// the cell, waits for its release and execs; reports the step that failed
/// and exits otherwise.
unsafe fn child(
    pre_exec: impl FnOnce() -> std::io::Result<()>,
    go: RawFd,
    reports: RawFd,
    exec: &Exec,
    envp: &[*const libc::c_char; 1],
) -> ! {
    // Through the system call: the C library refuses the signals it keeps
    // for itself (32 and 33), which a runtime above may have set to
    // ignored. An all-zero kernel sigaction is SIG_DFL, no flags and an
    // empty mask, whatever the architecture's layout.
    let default = [0u64; 4];
    for sig in 1..=64 {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            default.as_ptr(),
            std::ptr::null::<u64>(),
            8,
        );
    }
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    if let Err(e) = pre_exec() {
        fail(reports, Step::Cell, e.raw_os_error().unwrap_or(libc::EIO));
    }
    let mut byte = 0u8;
    loop {
        match libc::read(go, (&raw mut byte).cast(), 1) {
            1 => break,
            // Dropped without a release: nothing to report.
            0 => libc::_exit(0),
            _ if errno() == libc::EINTR => {}
            _ => fail(reports, Step::Wait, errno()),
        }
    }
    libc::execve(exec.path.as_ptr(), exec.pointers.as_ptr(), envp.as_ptr());
    fail(reports, Step::Exec, errno())
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

unsafe fn fail(reports: RawFd, step: Step, errno: i32) -> ! {
    let bytes = report(step, errno);
    libc::write(reports, bytes.as_ptr().cast(), bytes.len());
    libc::_exit(127)
}

impl HeldVmm {
    /// The held child's process id.
    pub fn id(&self) -> u32 {
        self.child.pid.as_raw() as u32
    }

    /// Lets the child exec the monitor; returns once it has, or with why it
    /// could not (the child is then reaped).
    pub async fn release(self) -> Result<VmmChild, SpawnError> {
        let exits = child_exits().map_err(SpawnError::Fork)?;
        let HeldVmm {
            child,
            go,
            reports,
            binary,
        } = self;
        // A child that already failed has closed its end (EPIPE): its
        // report says why.
        let _ = nix::unistd::write(&go, b"g");
        drop(go);
        let mut bytes = Vec::new();
        tokio::net::unix::pipe::Receiver::from_owned_fd(reports)
            .map_err(SpawnError::Fork)?
            .read_to_end(&mut bytes)
            .await
            .map_err(SpawnError::Fork)?;
        if bytes.is_empty() {
            let pid = child.pid;
            std::mem::forget(child);
            return Ok(VmmChild::new(pid, exits));
        }
        Err(read_report(&bytes, &binary).unwrap_or_else(|| {
            SpawnError::Fork(std::io::Error::other(format!(
                "the VMM's process sent an unreadable report {bytes:?}"
            )))
        }))
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

    #[test]
    fn reports_name_the_failed_step() {
        let read = |step, errno| read_report(&report(step, errno), "qemu").map(|e| e.to_string());
        assert_eq!(
            read(Step::Exec, libc::ENOENT).as_deref(),
            Some("qemu not found: install it or set its path in ukrun's config file")
        );
        assert!(read(Step::Exec, libc::EACCES)
            .is_some_and(|e| e.starts_with("cannot start qemu: Permission denied")));
        assert!(
            read(Step::Cell, libc::EPERM).is_some_and(
                |e| e.starts_with("cannot enter the VMM's cell: Operation not permitted")
            )
        );
        assert!(read(Step::Wait, libc::EBADF).is_some_and(|e| e.starts_with("cannot fork")));
        assert!(read_report(&[9, 0, 0, 0, 0], "qemu").is_none());
        assert!(read_report(&[3, 0], "qemu").is_none());
        assert!(read_report(&[], "qemu").is_none());
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Holds `sh -c script` with a `pre_exec` that does nothing.
    fn hold_sh(script: &str) -> HeldVmm {
        let argv = ["-c".to_owned(), script.to_owned()];
        // SAFETY: the closure makes no call at all.
        unsafe { hold(Path::new("/bin/sh"), &argv, || Ok(())) }.unwrap()
    }

    fn reaped(pid: u32) -> bool {
        !Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_held_child_execs_only_when_released() {
        block_on(async {
            let held = hold_sh("exit 7");
            let exe = std::fs::read_link(format!("/proc/{}/exe", held.id())).unwrap();
            assert_eq!(exe, std::env::current_exe().unwrap());
            let mut child = held.release().await.unwrap();
            assert_eq!(exit_code(child.wait().await.unwrap()), 7);
            assert!(reaped(child.id()));
        });
    }

    #[test]
    fn the_monitor_starts_with_no_environment_and_default_signals() {
        // The test process ignores SIGPIPE, as every Rust program does
        // (and signal 32 when cargo runs it).
        let script = r#"test "$(wc -c < /proc/$$/environ)" -eq 0 || exit 2
            grep -q '^SigIgn:[[:space:]]*0*$' /proc/$$/status || exit 3
            grep -q '^SigBlk:[[:space:]]*0*$' /proc/$$/status || exit 4"#;
        block_on(async {
            let mut child = hold_sh(script).release().await.unwrap();
            assert_eq!(exit_code(child.wait().await.unwrap()), 0);
        });
    }

    #[test]
    fn a_held_child_that_is_dropped_is_reaped() {
        let held = hold_sh("exit 0");
        let pid = held.id();
        drop(held);
        assert!(reaped(pid));
    }

    #[test]
    fn a_failed_cell_is_reported_at_release_and_the_child_reaped() {
        // SAFETY: the closure makes no call.
        let held = unsafe {
            hold(Path::new("/bin/true"), &[], || {
                Err(std::io::Error::from_raw_os_error(libc::EPERM))
            })
        }
        .unwrap();
        let pid = held.id();
        let err = block_on(held.release()).err().unwrap();
        assert!(matches!(&err, SpawnError::Cell(e) if e.raw_os_error() == Some(libc::EPERM)));
        assert!(reaped(pid));
    }

    #[test]
    fn a_missing_monitor_is_reported_at_release() {
        // SAFETY: the closure makes no call.
        let held = unsafe { hold(Path::new("/nonexistent/qemu"), &[], || Ok(())) }.unwrap();
        let err = block_on(held.release()).err().unwrap();
        assert!(matches!(err, SpawnError::NotFound(ref b) if b == "/nonexistent/qemu"));
    }

    #[test]
    fn a_killed_monitor_exits_with_137() {
        block_on(async {
            let mut child = hold_sh("exec sleep 30").release().await.unwrap();
            child.signal(Signal::SIGKILL);
            assert_eq!(exit_code(child.wait().await.unwrap()), 137);
        });
    }

    #[test]
    fn a_nul_in_the_command_is_refused_before_the_fork() {
        let argv = ["a\0b".to_owned()];
        // SAFETY: the closure makes no call.
        let held = unsafe { hold(Path::new("/bin/true"), &argv, || Ok(())) };
        assert!(matches!(held, Err(SpawnError::Nul)));
    }
}
