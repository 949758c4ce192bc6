//! A scratch directory for the fuzz targets that need files (a mounted pod
//! file, an image rootfs), removed when dropped.

use std::path::PathBuf;

/// `<tmp>/ukrun-fuzz-<tag>-<pid>`, empty when made.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Makes the directory afresh.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ukrun-fuzz-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
