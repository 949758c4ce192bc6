//! Which container wired its guest into a pod network namespace, by the
//! namespace's inode: one small file per namespace under `<root>/.ukrun/@netns/`
//! (`@` cannot start a container id, so it never clashes with one). When a
//! supervisor is killed, its network steps stay in the pod netns until its
//! container is deleted, which kubelet may do long after it created the
//! next container of the pod; the next container finds its predecessor
//! here, in one lookup (no scan over the node's containers or interfaces),
//! and undoes what it left.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::netns_lock::NetnsLock;

/// The owners' directory of one `--root`.
#[derive(Clone, Debug)]
pub struct NetnsOwners {
    dir: PathBuf,
}

impl NetnsOwners {
    /// The owners recorded under the store's base directory.
    pub fn new(base: &Path) -> Self {
        Self {
            dir: base.join("@netns"),
        }
    }

    fn file(&self, inode: u64) -> PathBuf {
        self.dir.join(inode.to_string())
    }

    /// Locks the namespace (see [`NetnsLock`]); waits for its holder.
    pub fn lock(&self, inode: u64) -> io::Result<NetnsLock> {
        NetnsLock::acquire(&self.dir, inode)
    }

    /// The container recorded for the namespace, if any.
    pub fn owner(&self, inode: u64) -> Option<String> {
        let id = std::fs::read_to_string(self.file(inode)).ok()?;
        (!id.is_empty()).then_some(id)
    }

    /// Records `id` for the namespace (atomically: temporary file, rename),
    /// under the namespace's lock (whose file keeps the directory).
    pub fn set(&self, inode: u64, id: &str, _held: &NetnsLock) -> io::Result<()> {
        let tmp = self.dir.join(format!(".{inode}.{}", std::process::id()));
        std::fs::File::create(&tmp)?.write_all(id.as_bytes())?;
        std::fs::rename(&tmp, self.file(inode))
    }

    /// Forgets the namespace if `id` is its recorded owner (a successor's
    /// record stays), under the namespace's lock; the directory goes with
    /// the lock's file when the lock is released.
    pub fn release(&self, inode: u64, id: &str, _held: &NetnsLock) {
        if self.owner(inode).as_deref() == Some(id) {
            let _ = std::fs::remove_file(self.file(inode));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successor_takes_over_and_the_predecessor_cannot_release_it() {
        let dir = std::env::temp_dir().join(format!("ukrun-owners-{}", std::process::id()));
        let owners = NetnsOwners::new(&dir);
        assert_eq!(owners.owner(7), None);
        {
            let lock = owners.lock(7).unwrap();
            owners.set(7, "g1", &lock).unwrap();
            assert_eq!(owners.owner(7).as_deref(), Some("g1"));
            owners.set(7, "g2", &lock).unwrap();
            owners.release(7, "g1", &lock);
            assert_eq!(
                owners.owner(7).as_deref(),
                Some("g2"),
                "g1's delete keeps g2's record"
            );
        }
        let lock = owners.lock(7).unwrap();
        owners.release(7, "g2", &lock);
        assert_eq!(owners.owner(7), None);
        drop(lock);
        assert!(!dir.join("@netns").exists(), "nothing left");
        std::fs::remove_dir(&dir).unwrap();
    }
}
