//! The test bed's images: their references, and building them into the
//! cached `testbed/out` (`images/build.sh` builds the guest kernel and
//! initrd first, into `testbed/out/guest`).

use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

use crate::{repo, script};

/// The pod sandbox ("pause") image that node.sh configures.
pub const PAUSE: &str = "localhost/ukrun/pause:latest";
/// An ordinary busybox image for sidecars.
pub const BUSYBOX: &str = "localhost/ukrun/busybox:latest";
/// The Linux microVM guest: rootfs with /boot/vmlinux, /boot/initrd.img and
/// a urunc.json that marks it as a unikernel image.
pub const LINUX_GUEST: &str = "localhost/ukrun/linux-guest:latest";

/// Builds (or refreshes from cache) the guest and the image tars into
/// `testbed/out` and returns that folder for `node.sh up`.
///
/// A file lock on `testbed/out/.build.lock` serialises builds between the
/// test binary and the demo running at the same time; within one process
/// the build runs once.
pub fn build() -> Result<PathBuf> {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    if let Some(out) = BUILT.get() {
        return Ok(out.clone());
    }
    let out = repo::out_dir();
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let lock = File::create(out.join(".build.lock"))?;
    let _guard = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .context("locking testbed/out")?;
    let log = out.join("build.log");
    File::create(&log).with_context(|| format!("truncating {}", log.display()))?;
    script::run("images/build.sh", &[&out], &log)?;
    Ok(BUILT.get_or_init(|| out).clone())
}
