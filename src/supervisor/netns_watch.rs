//! Noticing that the pod's network namespace is gone under a running guest.
//! The supervisor and the VMM keep the namespace itself alive, but once the
//! path the container was given no longer names it, the pod sandbox is gone
//! (its pause process died, or its bind mount was removed) and nothing of
//! the pod can reach the guest: the supervisor ends the guest and exits, so
//! the container is reported exited and `delete` cleans up.
//!
//! Two events say the path may have changed, and the path is checked again
//! on each (no polling): the exit of the process a `/proc/PID/ns/net` path
//! names (containerd 1.6 gives app containers the pause process's), seen
//! through a pidfd; and a change of the mount table (a bind mount under
//! `/var/run/netns` or containerd's state), which the kernel reports as
//! priority readiness on `/proc/self/mountinfo`.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::state::ProcessRef;
use crate::supervisor::exit_watch::{ExitWatch, Watched};

/// The file whose priority readiness reports mount table changes.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The pid in a `/proc/PID/ns/net` path (`None` for any other path).
fn holder_pid(path: &Path) -> Option<i32> {
    let rest = path.strip_prefix("/proc").ok()?;
    let mut parts = rest.components().map(|c| c.as_os_str().to_str());
    let pid = parts.next()??.parse().ok()?;
    (parts.next()? == Some("ns") && parts.next()? == Some("net") && parts.next().is_none())
        .then_some(pid)
}

/// Whether `path` still names the namespace of inode `inode`. The
/// supervisor lives in that namespace, so its inode cannot be given to
/// another one meanwhile.
fn names(path: &Path, inode: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.ino() == inode)
}

/// The supervisor's watch on its pod netns path.
pub struct NetnsWatch {
    path: PathBuf,
    inode: u64,
    mounts: AsyncFd<File>,
    holder: Option<Watched>,
}

impl NetnsWatch {
    /// Watches `path`, which names the namespace of inode `inode` (the
    /// caller's); inside a tokio runtime.
    pub fn open(path: &Path, inode: u64) -> io::Result<NetnsWatch> {
        let mountinfo = File::open(MOUNTINFO)?;
        // SAFETY: the AsyncFd owns the file, which stays open and the same
        // until the AsyncFd drops.
        let mounts = unsafe { AsyncFd::register_with_interest(mountinfo, Interest::PRIORITY) }?;
        let holder = match holder_pid(path).map(ProcessRef::of) {
            Some(Some(process)) => Some(ExitWatch::open(process)?),
            Some(None) => Some(Watched::Gone),
            None => None,
        };
        Ok(NetnsWatch {
            path: path.to_path_buf(),
            inode,
            mounts,
            holder,
        })
    }

    /// The watched path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves once the path no longer names the namespace (for a
    /// `/proc/PID/ns/net` path: once its process has ended, even if its
    /// pid went to another process of the pod meanwhile).
    pub async fn gone(&self) {
        loop {
            if !names(&self.path, self.inode) {
                return;
            }
            tokio::select! {
                () = self.holder_exited() => return,
                ready = self.mounts.ready(Interest::PRIORITY) => match ready {
                    Ok(mut guard) => guard.clear_ready(),
                    Err(_) => std::future::pending().await,
                },
            }
        }
    }

    /// Resolves when the `/proc/PID/ns/net` path's process has ended
    /// (never for another kind of path).
    async fn holder_exited(&self) {
        match &self.holder {
            Some(Watched::Running(watch)) => watch.exited().await,
            Some(Watched::Gone) => {}
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_proc_net_namespace_path_has_a_holder() {
        assert_eq!(holder_pid(Path::new("/proc/42/ns/net")), Some(42));
        assert_eq!(holder_pid(Path::new("/proc/42/ns/ipc")), None);
        assert_eq!(holder_pid(Path::new("/proc/self/ns/net")), None);
        assert_eq!(holder_pid(Path::new("/proc/42/ns/net/x")), None);
        assert_eq!(holder_pid(Path::new("/var/run/netns/cni-1")), None);
    }

    #[test]
    fn a_path_names_its_namespace_until_it_is_gone() {
        let here = Path::new("/proc/self/ns/net");
        let inode = std::fs::metadata(here).unwrap().ino();
        assert!(names(here, inode));
        assert!(!names(here, inode + 1));
        assert!(!names(Path::new("/proc/0/ns/net"), inode));
    }
}
