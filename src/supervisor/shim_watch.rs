//! Noticing that the container's shim is gone. The supervisor is the
//! container's init as containerd's runc shim sees it, and the shim is
//! what would run `ukrun delete` after the container exits. When the shim
//! itself dies (a `kill -9`, the OOM killer), containerd 2.x never runs
//! `ukrun delete` for the container: nothing would kill the VMM, undo the
//! network in the pod netns, remove the cgroups or the state. So the
//! supervisor watches its shim and, once it is gone, ends the guest and
//! cleans up after itself.
//!
//! `create` records the shim (its parent, when that parent is a containerd
//! shim) with its start time; the supervisor then awaits the shim's exit
//! through a pidfd ([`ExitWatch`]): an event, not a poll. A `create` run by
//! anything else (a shell, a test) records no shim, and its container
//! outlives its caller as a runc container does.

use crate::log::Logger;
use crate::state::ProcessRef;
use crate::supervisor::exit_watch::{ExitWatch, Watched};

/// The command name (`/proc/PID/comm`, at most 15 bytes) of containerd's
/// shims (`containerd-shim-runc-v2` and the others, truncated).
const SHIM_COMM: &str = "containerd-shim";

/// Whether a process named `comm` (`/proc/PID/comm`) is a containerd shim.
fn is_shim(comm: &str) -> bool {
    comm.trim_end().starts_with(SHIM_COMM)
}

/// The calling process's parent when it is a containerd shim (`None` when
/// it is not, or when the parent changed while it was read: the shim died
/// and the caller was reparented).
pub fn shim_of_caller() -> Option<ProcessRef> {
    let parent = nix::unistd::getppid().as_raw();
    let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).ok()?;
    let shim = ProcessRef::of(parent).filter(|_| is_shim(&comm))?;
    (nix::unistd::getppid().as_raw() == parent).then_some(shim)
}

/// The supervisor's watch on its shim.
pub struct ShimWatch {
    shim: Option<ProcessRef>,
    watched: Option<Watched>,
}

impl ShimWatch {
    /// Watches `shim` as `create` recorded it (nothing when it recorded
    /// none, or when the kernel has no pidfds; both logged).
    pub fn open(shim: Option<ProcessRef>, logger: &Logger) -> ShimWatch {
        let watched = match shim.map(ExitWatch::open) {
            None => {
                logger.debug("no containerd shim started this container: its exit is not watched");
                None
            }
            Some(Ok(watched)) => Some(watched),
            Some(Err(e)) => {
                logger.error(&format!(
                    "cannot watch the shim's exit ({e}): if the shim dies, `ukrun delete` must clean this container up"
                ));
                None
            }
        };
        ShimWatch { shim, watched }
    }

    /// Resolves once the shim is gone (never when none is watched).
    pub async fn gone(&self) {
        match &self.watched {
            Some(Watched::Running(watch)) => watch.exited().await,
            Some(Watched::Gone) => {}
            None => std::future::pending().await,
        }
    }

    /// Whether a watched shim is gone by now.
    pub fn is_gone(&self) -> bool {
        self.watched.is_some() && self.shim.is_some_and(|shim| !shim.is_alive())
    }

    /// The shim's pid, for messages.
    pub fn pid(&self) -> Option<i32> {
        self.shim.map(|shim| shim.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_containerd_shims_count() {
        assert!(is_shim("containerd-shim\n"));
        assert!(!is_shim("containerd\n"));
        assert!(!is_shim("bash\n"));
    }

    #[test]
    fn a_test_process_is_no_shim() {
        assert_eq!(shim_of_caller(), None);
    }
}
