//! A throw-away rootfs for unit tests: `/boot/vmlinux` and
//! `/boot/initrd.img` in a temporary directory removed on drop.

use std::path::PathBuf;

/// Temporary rootfs directory.
pub struct TempRootfs(pub PathBuf);

impl TempRootfs {
    /// Creates a fresh rootfs named after `tag` and this process.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ukrun-rootfs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("boot")).unwrap();
        std::fs::write(dir.join("boot/vmlinux"), b"k").unwrap();
        std::fs::write(dir.join("boot/initrd.img"), b"i").unwrap();
        Self(dir)
    }
}

impl Drop for TempRootfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
