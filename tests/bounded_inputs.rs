//! Hostile image values refused by `ukrun create` before anything is set
//! up: each refusal is one short log line and leaves nothing under
//! `--root`. The refusals come before the pod netns is joined, so these
//! bundles name a netns that does not exist and the guest files are stubs.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use ukrun_testbed::bundle::Bundle;
use ukrun_testbed::runtime::Runtime;

/// Longest error line a refusal may log (values are quoted by a short prefix).
const MAX_ERROR_LINE: usize = 400;

/// A runtime and a stub guest bundle in a private work folder, removed on drop.
struct Stub {
    runtime: Runtime,
    bundle: Bundle,
    work: PathBuf,
}

impl Stub {
    /// A Linux guest bundle named `bundle_name` whose kernel and initrd are stubs.
    fn new(tag: &str, bundle_name: &OsStr) -> Result<Self> {
        let work = std::env::temp_dir().join(format!("ukrun-bi-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        let guest = work.join("guest");
        std::fs::create_dir_all(&guest)?;
        std::fs::write(guest.join("vmlinux"), b"kernel")?;
        std::fs::write(guest.join("initrd.img"), b"initrd")?;
        let runtime = Runtime::new(Path::new(env!("CARGO_BIN_EXE_ukrun")), &work.join("rt"))?;
        let netns = Path::new("/run/netns/ukrun-bounded-inputs-absent");
        let bundle = Bundle::linux_guest(&work.join(bundle_name), &guest, netns)?;
        Ok(Stub {
            runtime,
            bundle,
            work,
        })
    }

    /// Runs `create`, and checks that it failed with one short line
    /// containing `expect` and left no state.
    fn refused(&self, expect: &str) -> Result<()> {
        let out = self.runtime.create(&self.bundle.dir, "bad")?;
        let error = self.runtime.last_error();
        let console = std::fs::read_to_string(self.runtime.console_path("bad"))?;
        let left = self.runtime.leftover_state();
        let mut problems = Vec::new();
        if out.status.success() {
            problems.push("create succeeded".to_owned());
        }
        if !error.contains(expect) {
            problems.push(format!("expected {expect:?} in the error"));
        }
        if error.contains('\n') || error.len() > MAX_ERROR_LINE {
            problems.push(format!(
                "error is not one short line ({} bytes)",
                error.len()
            ));
        }
        if !left.is_empty() {
            problems.push(format!("state left under --root: {left:?}"));
        }
        ensure!(
            problems.is_empty(),
            "{}\nerror: {:?}\nconsole: {console:?}",
            problems.join("; "),
            error.chars().take(200).collect::<String>()
        );
        Ok(())
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// The kernel follows the link inside the rootfs (ukrun never holds the
/// target's name), so create gets as far as the pod netns, which these
/// bundles lack: a clean one-line failure there, not a panic.
#[test]
fn a_kernel_symlink_to_a_non_utf8_name_is_followed_and_fails_only_at_the_absent_netns() -> Result<()>
{
    let stub = Stub::new("sym", OsStr::new("bundle"))?;
    let boot = stub.bundle.dir.join("rootfs/boot");
    let odd = OsStr::from_bytes(b"vmlinux-\xff\xfe");
    std::fs::rename(boot.join("vmlinux"), boot.join(odd))?;
    std::os::unix::fs::symlink(Path::new("/boot").join(odd), boot.join("vmlinux"))?;
    stub.refused("ukrun-bounded-inputs-absent")
}

#[test]
fn a_bundle_directory_with_a_non_utf8_name_is_refused_and_leaves_nothing() -> Result<()> {
    let stub = Stub::new("dir", OsStr::from_bytes(b"bundle-\xff"))?;
    stub.refused("is not UTF-8")
}

#[test]
fn a_one_megabyte_cmdline_is_refused_at_create_and_leaves_nothing() -> Result<()> {
    let stub = Stub::new("cmd", OsStr::new("bundle"))?;
    stub.bundle.edit(|c| {
        c["annotations"]["com.urunc.unikernel.cmdline"] = "x".repeat(1 << 20).into();
    })?;
    stub.refused("annotation \"com.urunc.unikernel.cmdline\" is 1048576 bytes")
}

/// A Unikraft bundle made from the stub: no initrd, `binary` the stub
/// kernel (not an ELF file), plus `extra` annotations.
fn unikraft(stub: &Stub, extra: &[(&str, &str)]) -> Result<()> {
    stub.bundle.edit(|c| {
        let a = &mut c["annotations"];
        a["com.urunc.unikernel.unikernelType"] = "unikraft".into();
        a["com.urunc.unikernel.initrd"] = "".into();
        for (key, value) in extra {
            a[*key] = (*value).into();
        }
    })
}

#[test]
fn a_unikraft_kernel_that_is_not_elf_is_refused_at_create_and_leaves_nothing() -> Result<()> {
    let stub = Stub::new("notelf", OsStr::new("bundle"))?;
    unikraft(&stub, &[])?;
    stub.refused(
        "kernel \"/boot/vmlinux\" (com.urunc.unikernel.binary) is not an ELF file, which a unikraft guest must be",
    )
}

#[test]
fn a_unikraft_version_that_is_not_a_version_is_refused_at_create_and_leaves_nothing() -> Result<()>
{
    let stub = Stub::new("version", OsStr::new("bundle"))?;
    unikraft(&stub, &[("com.urunc.unikernel.unikernelVersion", "0.16.x")])?;
    stub.refused(
        "com.urunc.unikernel.unikernelVersion \"0.16.x\" is not a version (expected e.g. 0.16.1)",
    )
}
