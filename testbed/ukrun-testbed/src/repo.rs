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

/// A folder of prebuilt test inputs: where the environment variable `env`
/// points, else `../shared/<name>` beside the repository. It counts as
/// there when `marker` (a path inside it) exists; otherwise the answer is
/// `None` with one line on stderr saying what is missing (`what`) and how
/// to get it (`how`), or, in CI (`CI` set), that line as the error.
pub fn shared_dir(
    env: &str,
    name: &str,
    marker: &str,
    what: &str,
    how: &str,
) -> Result<Option<PathBuf>> {
    let dir = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared").join(name));
    if dir.join(marker).exists() {
        return Ok(Some(dir));
    }
    let missing = format!(
        "{what} not found at {} (set {env} to its folder; {how})",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        bail!("{missing}");
    }
    eprintln!("not run: {missing}");
    Ok(None)
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
