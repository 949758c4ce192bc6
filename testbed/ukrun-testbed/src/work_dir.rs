//! A test's working directory in the system temp directory, removed with
//! everything in it when dropped (also when the test fails).

use std::path::{Path, PathBuf};

/// `ukrun-it-TAG-PID` in the temp directory; removed on drop.
pub struct WorkDir(PathBuf);

impl WorkDir {
    /// Names the directory for `tag` (its owners create what they need in it).
    pub fn new(tag: &str) -> Self {
        WorkDir(std::env::temp_dir().join(format!("ukrun-it-{tag}-{}", std::process::id())))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_removes_the_directory_and_its_contents() {
        let work = WorkDir::new("work-dir-test");
        let path = work.path().to_path_buf();
        std::fs::create_dir_all(path.join("rt/root")).unwrap();
        std::fs::write(path.join("rt/log.json"), "{}").unwrap();
        drop(work);
        assert!(!path.exists(), "{} is left", path.display());
    }
}
