//! Where the test bed's scripts and build outputs live in the repository.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The repository root, found from this crate's location
/// (`<repo>/testbed/ukrun-testbed`), so tests and the demo work from any
/// current directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The cached build output folder (`<repo>/testbed/out`, gitignored) that
/// holds the guest kernel, initrd and image tars between runs.
pub fn out_dir() -> PathBuf {
    root().join("testbed/out")
}

/// A test-bed script by its path under `<repo>/testbed`, checked to exist so
/// a missing script fails with its name instead of a bare ENOENT.
pub fn script(relative: &str) -> Result<PathBuf> {
    let path = root().join("testbed").join(relative);
    if !path.is_file() {
        bail!(
            "test-bed script {} is missing (it belongs to the testbed/ scripts)",
            path.display()
        );
    }
    Ok(path)
}
