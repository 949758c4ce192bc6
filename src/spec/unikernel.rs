//! What a unikernel bundle asks for, validated: guest kind, monitor (and
//! that the kind runs on it), version, and the kernel/initrd/block image
//! opened inside the rootfs (and open to the confined VMM). The paths are
//! kept as the image names them: the supervisor opens them again the same
//! way when the VMM starts and hands the VMM descriptors. Every refusal is
//! one line that names the annotation and the value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::annotations::{self, AnnotationError, UruncJsonError, UruncValues};
use super::rootfs_path::{open_for_vmm, Access, RootfsPathError};
use crate::guest::caps::Rootfs;
use crate::guest::version::{Version, VersionError};
use crate::guest::GuestKind;
use crate::limits::{self, excerpt, TooLong};
use crate::names::Named;
use crate::vmm::Monitor;

/// Where the guest mounts a block image when the image does not say.
const DEFAULT_BLOCK_MOUNT: &str = "/";

/// A validated unikernel request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unikernel {
    /// Guest framework.
    pub kind: GuestKind,
    /// Monitor that runs it.
    pub monitor: Monitor,
    /// Kernel / unikernel binary, as the image names it (inside the rootfs).
    pub kernel: PathBuf,
    /// Initrd, as the image names it.
    pub initrd: Option<PathBuf>,
    /// Block image for the guest.
    #[serde(default)]
    pub block: Option<Block>,
    /// The image's command line for the guest.
    pub cmdline: String,
    /// Framework version, when the image says (it parses).
    pub version: Option<String>,
}

/// A block image the monitor attaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Path as the image names it (inside the rootfs).
    pub path: PathBuf,
    /// Where the guest mounts it (`com.urunc.unikernel.blkMntPoint`).
    pub mount_point: String,
}

/// Why a bundle's unikernel request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnikernelError {
    /// A required annotation is absent.
    #[error("annotation {0} is missing (set it on the image or in its urunc.json)")]
    Missing(&'static str),
    /// urunc does not know this guest kind either.
    #[error("unknown unikernel type {} in {key} (ukrun supports: {supported})", excerpt(.0), key = annotations::UNIKERNEL_TYPE, supported = GuestKind::all_names())]
    UnknownKind(String),
    /// urunc does not know this monitor either.
    #[error("unknown hypervisor {} in {key} (ukrun supports: {supported})", excerpt(.0), key = annotations::HYPERVISOR, supported = Monitor::all_names())]
    UnknownMonitor(String),
    /// The kind does not run on the monitor.
    #[error("unikernel type {kind:?} does not run on hypervisor {monitor:?} ({kind} runs on: {supported})", kind = .kind.name(), monitor = .monitor.name(), supported = .kind.monitor_names())]
    Unsupported {
        /// Guest kind.
        kind: GuestKind,
        /// Monitor.
        monitor: Monitor,
    },
    /// The kind cannot take this kind of root filesystem.
    #[error("unikernel type {kind:?} cannot use {what} ({key})", kind = .kind.name())]
    Rootfs {
        /// Guest kind.
        kind: GuestKind,
        /// What was asked for.
        what: &'static str,
        /// The annotation that asked.
        key: &'static str,
    },
    /// Device-mapper root filesystems are not wired yet.
    #[error("{key}=true (the container's rootfs as a device-mapper block device) is not supported by ukrun yet", key = annotations::USE_DM_BLOCK)]
    DmBlockUnsupported,
    /// The version does not parse.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// The block mount point could break the guest's configuration.
    #[error("block mount point {} ({key}) must be an absolute path without spaces", excerpt(.0), key = annotations::BLK_MNT_POINT)]
    BadMountPoint(String),
    /// The command line would break the monitor's argv.
    #[error("command line in {key} contains a control character", key = annotations::CMDLINE)]
    BadCmdline,
    /// A value is over its cap.
    #[error(transparent)]
    TooLong(#[from] TooLong),
    /// The annotations are over their caps.
    #[error(transparent)]
    Annotations(#[from] AnnotationError),
    /// A unikernel binary that is not an ELF file (every unikernel kind's
    /// monitor loads an ELF: qemu's multiboot and PVH loaders, Solo5's
    /// tenders, Firecracker; only a Linux kernel may also be a bzImage).
    #[error("kernel {path} ({key}) is not an ELF file, which a {kind} guest must be", kind = .kind.name(), key = annotations::BINARY)]
    NotElf {
        /// Guest kind.
        kind: GuestKind,
        /// The path, quoted short.
        path: String,
    },
    /// A file path in the image is unusable.
    #[error(transparent)]
    Path(#[from] RootfsPathError),
    /// urunc.json is unusable.
    #[error(transparent)]
    UruncJson(#[from] UruncJsonError),
}

/// Validates urunc's values for a bundle whose rootfs is `rootfs`.
pub fn from_values(values: &UruncValues, rootfs: &Path) -> Result<Unikernel, UnikernelError> {
    let get = |key: &str| {
        values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let kind_name = get(annotations::UNIKERNEL_TYPE)
        .ok_or(UnikernelError::Missing(annotations::UNIKERNEL_TYPE))?;
    let kind =
        GuestKind::parse(kind_name).ok_or_else(|| UnikernelError::UnknownKind(kind_name.into()))?;
    let monitor_name =
        get(annotations::HYPERVISOR).ok_or(UnikernelError::Missing(annotations::HYPERVISOR))?;
    let monitor = Monitor::parse(monitor_name)
        .ok_or_else(|| UnikernelError::UnknownMonitor(monitor_name.into()))?;
    if !kind.runs_on(monitor) {
        return Err(UnikernelError::Unsupported { kind, monitor });
    }
    let version = get(annotations::UNIKERNEL_VERSION);
    if let Some(v) = version {
        Version::parse(v)?;
    }
    if get(annotations::USE_DM_BLOCK) == Some("true") {
        return Err(UnikernelError::DmBlockUnsupported);
    }
    let accepts = |rootfs_kind, what, key| {
        if kind.caps().rootfs.contains(&rootfs_kind) {
            Ok(())
        } else {
            Err(UnikernelError::Rootfs { kind, what, key })
        }
    };
    let binary = get(annotations::BINARY).ok_or(UnikernelError::Missing(annotations::BINARY))?;
    let kernel_file = open_vmm_file(rootfs, binary, "kernel", Access::Read, monitor)?;
    if kind != GuestKind::Linux && !is_elf(kernel_file) {
        return Err(UnikernelError::NotElf {
            kind,
            path: excerpt(binary).to_string(),
        });
    }
    let kernel = PathBuf::from(binary);
    let initrd = match get(annotations::INITRD) {
        Some(p) => {
            accepts(Rootfs::Initrd, "an initrd", annotations::INITRD)?;
            Some(open_image_file(rootfs, p, "initrd", Access::Read, monitor)?)
        }
        None => None,
    };
    let block = match get(annotations::BLOCK) {
        Some(p) => {
            accepts(Rootfs::Block, "a block device", annotations::BLOCK)?;
            Some(Block {
                path: open_image_file(rootfs, p, "block image", Access::ReadWrite, monitor)?,
                mount_point: get(annotations::BLK_MNT_POINT)
                    .unwrap_or(DEFAULT_BLOCK_MOUNT)
                    .to_owned(),
            })
        }
        None => None,
    };
    if let Some(b) = &block {
        let m = &b.mount_point;
        if !m.starts_with('/') || m.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(UnikernelError::BadMountPoint(m.clone()));
        }
    }
    let cmdline = get(annotations::CMDLINE).unwrap_or_default().to_owned();
    limits::check_len(
        annotations::CMDLINE,
        &cmdline,
        limits::cmdline_bytes(monitor),
    )?;
    if cmdline.chars().any(char::is_control) {
        return Err(UnikernelError::BadCmdline);
    }
    Ok(Unikernel {
        kind,
        monitor,
        kernel,
        initrd,
        block,
        cmdline,
        version: version.map(str::to_owned),
    })
}

/// Checks that the image's file opens inside the rootfs the way the
/// supervisor will open it for the VMM, and keeps its in-image path.
fn open_image_file(
    rootfs: &Path,
    path: &str,
    what: &'static str,
    access: Access,
    monitor: Monitor,
) -> Result<PathBuf, RootfsPathError> {
    open_vmm_file(rootfs, path, what, access, monitor)?;
    Ok(PathBuf::from(path))
}

/// Whether `file` starts with the ELF magic number.
fn is_elf(mut file: std::fs::File) -> bool {
    let mut magic = [0u8; 4];
    std::io::Read::read_exact(&mut file, &mut magic).is_ok() && magic == *b"\x7fELF"
}

/// Opens an image file for `monitor`. qemu takes a block image as a passed
/// descriptor (`/dev/fdset`), so only its kernel and initrd, which it opens
/// again through `/proc/self/fd`, must be open to an unprivileged user;
/// other monitors open every file again.
pub fn open_vmm_file(
    rootfs: &Path,
    path: &str,
    what: &'static str,
    access: Access,
    monitor: Monitor,
) -> Result<std::fs::File, RootfsPathError> {
    if monitor == Monitor::Qemu && access == Access::ReadWrite {
        super::rootfs_path::open_file(rootfs, path, what, access)
    } else {
        open_for_vmm(rootfs, path, what, access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::annotations::*;
    use crate::spec::test_rootfs::TempRootfs;

    fn rootfs(tag: &str) -> TempRootfs {
        TempRootfs::new(&format!("uk-{tag}"))
    }

    fn values(pairs: &[(&str, &str)]) -> UruncValues {
        let mut v: UruncValues = [
            (UNIKERNEL_TYPE, "linux"),
            (HYPERVISOR, "qemu"),
            (BINARY, "/boot/vmlinux"),
            (INITRD, "/boot/initrd.img"),
            (CMDLINE, "init=/init"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, val) in pairs {
            v.insert(k.to_string(), val.to_string());
        }
        v
    }

    #[test]
    fn valid_linux_on_qemu() {
        let r = rootfs("ok");
        let u = from_values(&values(&[]), &r.0).unwrap();
        assert_eq!(u.kind, GuestKind::Linux);
        assert_eq!(u.monitor, Monitor::Qemu);
        assert_eq!(u.kernel, PathBuf::from("/boot/vmlinux"));
        assert_eq!(u.initrd, Some(PathBuf::from("/boot/initrd.img")));
        assert_eq!(u.cmdline, "init=/init");
    }

    #[test]
    fn other_kinds_on_their_monitors() {
        use std::os::unix::fs::PermissionsExt;
        let r = rootfs("kinds");
        std::fs::write(r.0.join("disk.img"), b"d").unwrap();
        let open_to_all = std::fs::Permissions::from_mode(0o666);
        std::fs::set_permissions(r.0.join("disk.img"), open_to_all).unwrap();
        let u = from_values(&values(&[(HYPERVISOR, "firecracker")]), &r.0).unwrap();
        assert_eq!(u.monitor, Monitor::Firecracker);
        let mirage = [
            (UNIKERNEL_TYPE, "mirage"),
            (HYPERVISOR, "hvt"),
            (INITRD, ""),
            (BLOCK, "/disk.img"),
            (BLK_MNT_POINT, "/data"),
            (UNIKERNEL_VERSION, "v4.5.0"),
        ];
        let u = from_values(&values(&mirage), &r.0).unwrap();
        assert_eq!((u.kind, u.monitor), (GuestKind::Mirage, Monitor::Hvt));
        assert_eq!(
            u.block,
            Some(Block {
                path: PathBuf::from("/disk.img"),
                mount_point: "/data".into()
            })
        );
        assert_eq!(u.version.as_deref(), Some("v4.5.0"));
        let rumprun = [
            (UNIKERNEL_TYPE, "rumprun"),
            (HYPERVISOR, "spt"),
            (INITRD, ""),
            (BLOCK, "/disk.img"),
        ];
        let u = from_values(&values(&rumprun), &r.0).unwrap();
        assert_eq!(u.block.unwrap().mount_point, "/");
    }

    #[test]
    fn a_block_image_is_opened_read_write_and_other_monitors_need_it_open_to_all() {
        use std::os::unix::fs::PermissionsExt;
        let r = rootfs("blockmode");
        let disk = r.0.join("disk.img");
        std::fs::write(&disk, b"d").unwrap();
        std::fs::set_permissions(&disk, std::fs::Permissions::from_mode(0o644)).unwrap();
        let on = |kind, monitor| {
            values(&[
                (UNIKERNEL_TYPE, kind),
                (HYPERVISOR, monitor),
                (INITRD, ""),
                (BLOCK, "/disk.img"),
            ])
        };
        assert!(from_values(&on("linux", "qemu"), &r.0).is_ok());
        let e = from_values(&on("linux", "firecracker"), &r.0).unwrap_err();
        assert!(e.to_string().contains("readable and writable"), "{e}");
        std::fs::set_permissions(&disk, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(from_values(&on("linux", "firecracker"), &r.0).is_ok());
    }

    #[test]
    fn empty_initrd_means_none() {
        let r = rootfs("noinitrd");
        let u = from_values(&values(&[(INITRD, "")]), &r.0).unwrap();
        assert_eq!(u.initrd, None);
    }

    #[test]
    fn each_bad_value_is_a_one_line_reason() {
        let r = rootfs("bad");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[(HYPERVISOR, "bogus")], "unknown hypervisor \"bogus\""),
            (
                &[(HYPERVISOR, "hvt")],
                "unikernel type \"linux\" does not run on hypervisor \"hvt\" (linux runs on: qemu, firecracker, cloud-hypervisor)",
            ),
            (
                &[(UNIKERNEL_TYPE, "plan9")],
                "unknown unikernel type \"plan9\"",
            ),
            (
                &[(UNIKERNEL_TYPE, "rumprun")],
                "unikernel type \"rumprun\" does not run on hypervisor \"qemu\" (rumprun runs on: hvt, spt)",
            ),
            (
                &[(UNIKERNEL_TYPE, "unikraft"), (UNIKERNEL_VERSION, "latest")],
                "com.urunc.unikernel.unikernelVersion \"latest\" is not a version",
            ),
            (
                &[(UNIKERNEL_TYPE, "unikraft"), (BLOCK, "/boot/initrd.img")],
                "unikernel type \"unikraft\" cannot use a block device (com.urunc.unikernel.block)",
            ),
            (
                &[(UNIKERNEL_TYPE, "mewz")],
                "unikernel type \"mewz\" cannot use an initrd (com.urunc.unikernel.initrd)",
            ),
            (
                &[(BLOCK, "/boot/initrd.img"), (BLK_MNT_POINT, "data dir")],
                "block mount point \"data dir\" (com.urunc.unikernel.blkMntPoint) must be an absolute path",
            ),
            (
                &[(USE_DM_BLOCK, "true")],
                "com.urunc.unikernel.useDMBlock=true (the container's rootfs as a device-mapper block device) is not supported",
            ),
            (
                &[(UNIKERNEL_TYPE, "")],
                "annotation com.urunc.unikernel.unikernelType is missing",
            ),
            (&[(BINARY, "/boot/../../etc/passwd")], "contains `..`"),
            (
                &[(INITRD, "/boot/missing.img")],
                "initrd \"/boot/missing.img\" is missing from the rootfs",
            ),
            (
                &[(BLOCK, "/disk.img")],
                "block image \"/disk.img\" is missing from the rootfs",
            ),
            (&[(CMDLINE, "a\nb")], "control character"),
            (
                &[
                    (UNIKERNEL_TYPE, "unikraft"),
                    (INITRD, ""),
                    (BINARY, "/boot/initrd.img"),
                ],
                "kernel \"/boot/initrd.img\" (com.urunc.unikernel.binary) is not an ELF file, which a unikraft guest must be",
            ),
            (
                &[(CMDLINE, &"x".repeat(2048))],
                "com.urunc.unikernel.cmdline is 2048 bytes, more than the cap of 2047 bytes (it starts with \"xxx",
            ),
        ];
        for (pairs, expected) in cases {
            let e = from_values(&values(pairs), &r.0).unwrap_err().to_string();
            assert!(e.contains(expected), "{pairs:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn command_line_caps_follow_the_monitor() {
        let r = rootfs("cmdcap");
        let at = |monitor, len| {
            let v = values(&[
                (UNIKERNEL_TYPE, "mirage"),
                (HYPERVISOR, monitor),
                (INITRD, ""),
                (CMDLINE, &"x".repeat(len)),
            ]);
            from_values(&v, &r.0).map(|_| ())
        };
        assert_eq!(at("qemu", 2047), Ok(()));
        assert!(matches!(at("qemu", 2048), Err(UnikernelError::TooLong(_))));
        assert_eq!(at("hvt", 8191), Ok(()));
        assert!(matches!(at("spt", 8192), Err(UnikernelError::TooLong(_))));
    }

    #[test]
    fn hostile_values_are_quoted_by_a_short_prefix() {
        let r = rootfs("hostile");
        let long = "z".repeat(60_000);
        for key in [UNIKERNEL_TYPE, HYPERVISOR, CMDLINE, BINARY, BLK_MNT_POINT] {
            let v = values(&[(key, &long), (BLOCK, "/boot/initrd.img"), (INITRD, "")]);
            let e = from_values(&v, &r.0).unwrap_err().to_string();
            assert!(e.len() < 300, "{key}: {} bytes: {e}", e.len());
        }
    }
}
