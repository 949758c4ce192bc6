//! A throw-away rootfs for unit tests: `/boot/vmlinux` (with an ELF magic
//! number) and `/boot/initrd.img` in a temporary directory removed on drop.

use std::path::PathBuf;

/// The test kernel's bytes: an ELF magic number, as unikernels have.
pub const KERNEL: &[u8] = b"\x7fELF-test-kernel";

/// Temporary rootfs directory.
pub struct TempRootfs(pub PathBuf);

impl TempRootfs {
    /// Creates a fresh rootfs named after `tag` and this process.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ukrun-rootfs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("boot")).unwrap();
        std::fs::write(dir.join("boot/vmlinux"), KERNEL).unwrap();
        std::fs::write(dir.join("boot/initrd.img"), b"i").unwrap();
        Self(dir)
    }
}

impl Drop for TempRootfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
