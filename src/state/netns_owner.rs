//! Which container wired its guest into a pod network namespace, by the
//! namespace's inode: one small file per namespace under `<root>/.ukrun/@netns/`
//! (`@` cannot start a container id, so it never clashes with one). When a
//! supervisor is killed, its network steps stay in the pod netns until its
//! container is deleted, which kubelet may do long after it created the
//! next container of the pod; the next container finds its predecessor
//! here, in one lookup (no scan over the node's containers or interfaces),
//! and undoes what it left.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The owners' directory of one `--root`.
#[derive(Clone, Debug)]
pub struct NetnsOwners {
    dir: PathBuf,
}

/// The inode of the network namespace at `path` (a bind mount or
/// `/proc/…/ns/net`): what identifies a namespace while it exists.
pub fn netns_inode(path: &Path) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.ino())
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

    /// The container recorded for the namespace, if any.
    pub fn owner(&self, inode: u64) -> Option<String> {
        let id = std::fs::read_to_string(self.file(inode)).ok()?;
        (!id.is_empty()).then_some(id)
    }

    /// Records `id` for the namespace (atomically: temporary file, rename).
    pub fn set(&self, inode: u64, id: &str) -> io::Result<()> {
        match self.write(inode, id) {
            // The last release removed the directory meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.write(inode, id),
            done => done,
        }
    }

    fn write(&self, inode: u64, id: &str) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{inode}.{}", std::process::id()));
        std::fs::File::create(&tmp)?.write_all(id.as_bytes())?;
        std::fs::rename(&tmp, self.file(inode))
    }

    /// Forgets the namespace if `id` is its recorded owner (a successor's
    /// record stays); the directory goes with its last record.
    pub fn release(&self, inode: u64, id: &str) {
        if self.owner(inode).as_deref() == Some(id) {
            let _ = std::fs::remove_file(self.file(inode));
            let _ = std::fs::remove_dir(&self.dir);
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
        owners.set(7, "g1").unwrap();
        assert_eq!(owners.owner(7).as_deref(), Some("g1"));
        owners.set(7, "g2").unwrap();
        owners.release(7, "g1");
        assert_eq!(
            owners.owner(7).as_deref(),
            Some("g2"),
            "g1's delete keeps g2's record"
        );
        owners.release(7, "g2");
        assert_eq!(owners.owner(7), None);
        assert!(!dir.join("@netns").exists(), "nothing left");
        owners.set(8, "g3").unwrap();
        owners.release(8, "g3");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn a_namespace_is_known_by_its_inode() {
        let own = netns_inode(Path::new("/proc/self/ns/net")).unwrap();
        assert_eq!(
            own,
            netns_inode(Path::new("/proc/thread-self/ns/net")).unwrap()
        );
    }
}
