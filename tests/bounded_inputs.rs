//! Hostile image values refused by `ukrun create` before anything is set
//! up: each refusal is one short log line and leaves nothing under
//! `--root`. The refusals come before the pod netns is joined, so these
//! bundles name a netns that does not exist and the guest files are stubs.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Result;
use ukrun_testbed::stub_guest::StubGuest;

/// A stub guest bundle named `bundle_name` for this build's ukrun.
fn stub(tag: &str, bundle_name: &OsStr) -> Result<StubGuest> {
    StubGuest::new(Path::new(env!("CARGO_BIN_EXE_ukrun")), tag, bundle_name)
}

/// The kernel follows the link inside the rootfs (ukrun never holds the
/// target's name), so create gets as far as the pod netns, which these
/// bundles lack: a clean one-line failure there, not a panic.
#[test]
fn a_kernel_symlink_to_a_non_utf8_name_is_followed_and_fails_only_at_the_absent_netns() -> Result<()>
{
    let stub = stub("sym", OsStr::new("bundle"))?;
    let boot = stub.bundle.dir.join("rootfs/boot");
    let odd = OsStr::from_bytes(b"vmlinux-\xff\xfe");
    std::fs::rename(boot.join("vmlinux"), boot.join(odd))?;
    std::os::unix::fs::symlink(Path::new("/boot").join(odd), boot.join("vmlinux"))?;
    stub.refused("ukrun-bounded-inputs-absent")
}

#[test]
fn a_bundle_directory_with_a_non_utf8_name_is_refused_and_leaves_nothing() -> Result<()> {
    let stub = stub("dir", OsStr::from_bytes(b"bundle-\xff"))?;
    stub.refused("is not UTF-8")
}

#[test]
fn a_one_megabyte_cmdline_is_refused_at_create_and_leaves_nothing() -> Result<()> {
    let stub = stub("cmd", OsStr::new("bundle"))?;
    stub.bundle.edit(|c| {
        c["annotations"]["com.urunc.unikernel.cmdline"] = "x".repeat(1 << 20).into();
    })?;
    stub.refused("annotation \"com.urunc.unikernel.cmdline\" is 1048576 bytes")
}

/// A Unikraft bundle made from the stub: no initrd, `binary` the stub
/// kernel (not an ELF file), plus `extra` annotations.
fn unikraft(stub: &StubGuest, extra: &[(&str, &str)]) -> Result<()> {
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
    let stub = stub("notelf", OsStr::new("bundle"))?;
    unikraft(&stub, &[])?;
    stub.refused(
        "kernel \"/boot/vmlinux\" (com.urunc.unikernel.binary) is not an ELF file, which a unikraft guest must be",
    )
}

#[test]
fn a_unikraft_version_that_is_not_a_version_is_refused_at_create_and_leaves_nothing() -> Result<()>
{
    let stub = stub("version", OsStr::new("bundle"))?;
    unikraft(&stub, &[("com.urunc.unikernel.unikernelVersion", "0.16.x")])?;
    stub.refused(
        "com.urunc.unikernel.unikernelVersion \"0.16.x\" is not a version (expected e.g. 0.16.1)",
    )
}
