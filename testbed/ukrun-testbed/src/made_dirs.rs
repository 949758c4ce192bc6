//! Host folders a test may cause to be created outside its own state (a
//! shim's default root under `/run/containerd`), removed again when the
//! test is over if they were not there before and are empty by then.

use std::path::{Path, PathBuf};

/// The folders of a list that were missing when it was made; removed on
/// drop, deepest first, each only while empty (what someone else put
/// there since stays).
pub struct MadeDirs(Vec<PathBuf>);

impl MadeDirs {
    /// Notes which of `dirs` (outermost first) do not exist now.
    pub fn note(dirs: &[&Path]) -> MadeDirs {
        MadeDirs(
            dirs.iter()
                .filter(|dir| !dir.exists())
                .map(|dir| dir.to_path_buf())
                .collect(),
        )
    }
}

impl Drop for MadeDirs {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_was_missing_and_is_empty() {
        let base = std::env::temp_dir().join(format!("ukrun-made-dirs-{}", std::process::id()));
        let (a, b, c) = (base.join("a"), base.join("a/b"), base.join("a/b/c"));
        std::fs::create_dir_all(&base).unwrap();
        {
            let _made = MadeDirs::note(&[&base, &a, &b, &c]);
            std::fs::create_dir_all(&c).unwrap();
            std::fs::write(b.join("kept"), "").unwrap();
        }
        assert!(base.is_dir() && b.join("kept").is_file() && !c.exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
