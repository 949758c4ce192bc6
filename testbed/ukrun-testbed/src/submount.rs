//! A folder on the node with a tmpfs mounted inside it: the host side of
//! a mount whose submounts a read-only bind mount leaves writable unless
//! it is recursive.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::work_dir::WorkDir;

/// The submount's name inside the folder.
pub const SUBMOUNT: &str = "sub";

/// `WorkDir` `tag` with a tmpfs at [`SUBMOUNT`]; on drop the tmpfs is
/// unmounted and the folder removed (also when a test fails).
pub struct FolderWithSubmount {
    // Field order: the tmpfs goes before its folder.
    submount: Submount,
    work: WorkDir,
}

/// A mounted tmpfs, detached on drop.
struct Submount(PathBuf);

impl FolderWithSubmount {
    /// Creates the folder and mounts a small tmpfs inside it.
    pub fn create(tag: &str) -> Result<FolderWithSubmount> {
        let work = WorkDir::new(tag);
        let target = work.path().join(SUBMOUNT);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m"),
        )
        .with_context(|| format!("mounting a tmpfs at {}", target.display()))?;
        Ok(FolderWithSubmount {
            submount: Submount(target),
            work,
        })
    }

    /// The folder (the bind mount's host path).
    pub fn path(&self) -> &Path {
        self.work.path()
    }

    /// The tmpfs inside it.
    pub fn submount(&self) -> &Path {
        &self.submount.0
    }
}

impl Drop for Submount {
    fn drop(&mut self) {
        if let Err(err) = umount2(&self.0, MntFlags::MNT_DETACH) {
            eprintln!("unmounting {}: {err}", self.0.display());
        }
    }
}
