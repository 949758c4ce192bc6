//! The test bed's images: their references, and building them into the
//! cached `testbed/out` (`images/build.sh` builds the guest kernel and
//! initrd first, into `testbed/out/guest`).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

use crate::cri::ContainerSpec;
use crate::{repo, script, unikraft};

/// The pod sandbox ("pause") image that node.sh configures.
pub const PAUSE: &str = "localhost/ukrun/pause:latest";
/// An ordinary busybox image for sidecars.
pub const BUSYBOX: &str = "localhost/ukrun/busybox:latest";
/// The Linux microVM guest: rootfs with /boot/vmlinux, /boot/initrd.img and
/// a urunc.json that marks it as a unikernel image.
pub const LINUX_GUEST: &str = "localhost/ukrun/linux-guest:latest";

/// Unikraft 0.16.3 `nettest` (the HTTP probe on port 8080), described by its
/// `/urunc.json` with an empty `cmdline`: the form Kubernetes nodes use.
pub const UNIKRAFT_NETTEST: &str = "localhost/ukrun/unikraft-nettest:latest";
/// Unikraft 0.16.3 `helloworld` (prints, then powers off), by `/urunc.json`.
pub const UNIKRAFT_HELLOWORLD: &str = "localhost/ukrun/unikraft-helloworld:latest";
/// `nettest` with no `/urunc.json`: the container's `com.urunc.unikernel.*`
/// annotations alone describe it (urunc's annotation form).
pub const UNIKRAFT_BARE: &str = "localhost/ukrun/unikraft-bare:latest";
/// Where the Unikraft kernels are inside those images.
pub const UNIKRAFT_NETTEST_PATH: &str = "/unikernel/nettest";

/// A [`BUSYBOX`] container named `name` whose httpd serves `page` (one
/// line, no single quotes) as `/` on every address of the pod, port `port`.
pub fn busybox_httpd(name: &str, port: u16, page: &str) -> ContainerSpec {
    let script = format!(
        "mkdir -p /www && echo '{page}' >/www/index.html && exec httpd -f -p {port} -h /www"
    );
    ContainerSpec::new(name, BUSYBOX).command(&["sh", "-c", &script])
}

/// The images every node imports, and the Unikraft ones when their kernels
/// are there (see [`unikraft::images`]).
pub fn expected(with_unikraft: bool) -> Vec<&'static str> {
    let mut all = vec![PAUSE, BUSYBOX, LINUX_GUEST];
    if with_unikraft {
        all.extend([UNIKRAFT_NETTEST, UNIKRAFT_HELLOWORLD, UNIKRAFT_BARE]);
    }
    all
}

/// The cached images: their folder, and whether the Unikraft images are
/// among them.
#[derive(Clone, Debug)]
pub struct Built {
    /// The folder of the image tars (what `node.sh up` imports).
    pub dir: PathBuf,
    /// Whether the Unikraft kernels were found and packaged.
    pub unikraft: bool,
}

/// Builds (or refreshes from cache) the guest and the image tars into
/// `testbed/out` and returns that folder for `node.sh up`; the Unikraft
/// images are built when their kernels are found (outside CI, their
/// absence is one line on stderr; in CI, an error).
///
/// A file lock on `testbed/out/.build.lock` serialises builds between the
/// test binary and the demo running at the same time; within one process
/// the build runs once.
pub fn build() -> Result<Built> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    if let Some(built) = BUILT.get() {
        return Ok(built.clone());
    }
    let unikraft = unikraft::images()?;
    let out = repo::out_dir();
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let lock = File::create(out.join(".build.lock"))?;
    let _guard = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .context("locking testbed/out")?;
    let log = out.join("build.log");
    File::create(&log).with_context(|| format!("truncating {}", log.display()))?;
    let env: Vec<(&str, &OsStr)> = unikraft
        .iter()
        .map(|dir| ("UKRUN_UNIKRAFT_IMAGES", dir.as_os_str()))
        .collect();
    script::run_with_env("images/build.sh", &[&out], &env, &log)?;
    let built = Built {
        dir: out,
        unikraft: unikraft.is_some(),
    };
    Ok(BUILT.get_or_init(|| built).clone())
}
