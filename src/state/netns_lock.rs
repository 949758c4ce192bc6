//! One ukrun process at a time in a pod network namespace: a supervisor
//! holds the namespace's lock from take-over through wiring, and every undo
//! there (failed create, take-over, supervisor exit, delete) holds it too,
//! so none of them reads the owner record, a rule or a sysctl while another
//! is changing it. The lock is a flock on `<root>/.ukrun/@netns/<inode>.lock`:
//! the kernel drops it with its holder, so a killed process never leaves a
//! namespace locked. A reused inode makes two namespaces share a lock, which
//! only serialises them. The holder removes the file (and the directory,
//! once empty) as it releases the lock; a process that waited on the removed
//! file starts over on the path's new one.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// How often acquiring starts over because the holder removed the file
/// meanwhile, before giving up (each start over means another process
/// held and released the lock: this bounds a pathological churn, not a wait).
const ATTEMPTS: usize = 1000;

/// An exclusive lock on one pod network namespace, released when dropped.
#[derive(Debug)]
pub struct NetnsLock {
    /// Unlocked (and closed) after `drop` removed the path.
    _file: Flock<File>,
    path: PathBuf,
}

impl NetnsLock {
    /// Waits for and takes the lock of namespace `inode` in `dir`.
    pub(super) fn acquire(dir: &Path, inode: u64) -> io::Result<Self> {
        let path = dir.join(format!("{inode}.lock"));
        for _ in 0..ATTEMPTS {
            match std::fs::create_dir_all(dir) {
                // The last holder removed the directory between mkdir's
                // "exists" and the check that it is one.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                made => made?,
            }
            let file = match OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
            {
                // The last holder removed the directory meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                opened => opened?,
            };
            let locked = Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, errno)| io::Error::from(errno))?;
            // The holder before may have removed the file after it was opened.
            let current = std::fs::metadata(&path).map(|m| m.ino()).ok();
            if current == Some(locked.metadata()?.ino()) {
                return Ok(Self {
                    _file: locked,
                    path,
                });
            }
        }
        Err(io::Error::other(format!(
            "{} kept being replaced",
            path.display()
        )))
    }
}

impl Drop for NetnsLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::state::netns_owner::NetnsOwners;

    #[test]
    fn holders_never_overlap_and_the_last_one_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("ukrun-netns-lock-{}", std::process::id()));
        let owners = NetnsOwners::new(&dir);
        let inside = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        let _lock = owners.lock(42).unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "one holder");
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(!dir.join("@netns").exists(), "nothing left");
        std::fs::remove_dir(&dir).unwrap();
    }
}
