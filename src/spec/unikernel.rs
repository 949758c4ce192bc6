//! What a unikernel bundle asks for, validated: guest kind, monitor (and
//! that the kind runs on it), version, and the kernel/initrd/block image
//! resolved safely inside the rootfs. Every refusal is one line that names
//! the annotation and the value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::annotations::{self, UruncJsonError, UruncValues};
use super::monitor_path::{self, MonitorPathError, Role};
use super::rootfs_path::{resolve_file, RootfsPathError};
use crate::guest::caps::Rootfs;
use crate::guest::version::{Version, VersionError};
use crate::guest::GuestKind;
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
    /// Kernel / unikernel binary, as a host path inside the rootfs.
    pub kernel: PathBuf,
    /// Initrd, as a host path inside the rootfs.
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
    /// Host path inside the rootfs.
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
    #[error("unknown unikernel type {0:?} in {key} (ukrun supports: {supported})", key = annotations::UNIKERNEL_TYPE, supported = GuestKind::all_names())]
    UnknownKind(String),
    /// urunc does not know this monitor either.
    #[error("unknown hypervisor {0:?} in {key} (ukrun supports: {supported})", key = annotations::HYPERVISOR, supported = Monitor::all_names())]
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
    #[error("block mount point {0:?} ({key}) must be an absolute path without spaces", key = annotations::BLK_MNT_POINT)]
    BadMountPoint(String),
    /// Cloud Hypervisor's `--disk` splits its value at commas.
    #[error("block image {0} ({key}) has a comma in its path, which cloud-hypervisor's --disk option cannot carry: rename it in the image, or use another hypervisor", key = annotations::BLOCK)]
    CommaInDiskPath(String),
    /// The command line would break the monitor's argv.
    #[error("command line in {key} contains a control character", key = annotations::CMDLINE)]
    BadCmdline,
    /// A file path in the image is unusable.
    #[error(transparent)]
    Path(#[from] RootfsPathError),
    /// The monitor would open another file than the one resolved.
    #[error(transparent)]
    MonitorPath(#[from] MonitorPathError),
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
    let resolve = |path, what, role| -> Result<PathBuf, UnikernelError> {
        let resolved = resolve_file(rootfs, path, what)?;
        monitor_path::check(monitor, role, &resolved)?;
        Ok(resolved)
    };
    let binary = get(annotations::BINARY).ok_or(UnikernelError::Missing(annotations::BINARY))?;
    let kernel = resolve(binary, "kernel", Role::Kernel)?;
    let initrd = match get(annotations::INITRD) {
        Some(p) => {
            accepts(Rootfs::Initrd, "an initrd", annotations::INITRD)?;
            Some(resolve(p, "initrd", Role::Initrd)?)
        }
        None => None,
    };
    let block = match get(annotations::BLOCK) {
        Some(p) => {
            accepts(Rootfs::Block, "a block device", annotations::BLOCK)?;
            Some(Block {
                path: resolve(p, "block image", Role::Block)?,
                mount_point: get(annotations::BLK_MNT_POINT)
                    .unwrap_or(DEFAULT_BLOCK_MOUNT)
                    .to_owned(),
            })
        }
        None => None,
    };
    if let Some(b) = &block {
        let path = b.path.display().to_string();
        if monitor == Monitor::CloudHypervisor && path.contains(',') {
            return Err(UnikernelError::CommaInDiskPath(path));
        }
        let m = &b.mount_point;
        if !m.starts_with('/') || m.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(UnikernelError::BadMountPoint(m.clone()));
        }
    }
    let cmdline = get(annotations::CMDLINE).unwrap_or_default().to_owned();
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
        assert_eq!(u.kernel, r.0.join("boot/vmlinux"));
        assert_eq!(u.initrd, Some(r.0.join("boot/initrd.img")));
        assert_eq!(u.cmdline, "init=/init");
    }

    #[test]
    fn other_kinds_on_their_monitors() {
        let r = rootfs("kinds");
        std::fs::write(r.0.join("disk.img"), b"d").unwrap();
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
                path: r.0.join("disk.img"),
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
    fn a_comma_in_a_disk_path_is_refused_for_cloud_hypervisor_only() {
        let r = rootfs("comma");
        std::fs::write(r.0.join("disk,1.img"), b"d").unwrap();
        let on = |monitor| values(&[(HYPERVISOR, monitor), (INITRD, ""), (BLOCK, "/disk,1.img")]);
        let e = from_values(&on("cloud-hypervisor"), &r.0).unwrap_err();
        assert!(
            matches!(&e, UnikernelError::CommaInDiskPath(p) if p.ends_with("disk,1.img")),
            "{e}"
        );
        assert!(e.to_string().contains("--disk"), "{e}");
        assert!(
            from_values(&on("qemu"), &r.0).is_ok(),
            "qemu escapes commas (,,)"
        );
    }

    #[test]
    fn a_file_the_monitor_would_read_as_another_is_refused() {
        let r = rootfs("monitor-path");
        std::fs::write(r.0.join("boot/initrd,1.img"), b"i").unwrap();
        let e = from_values(&values(&[(INITRD, "/boot/initrd,1.img")]), &r.0).unwrap_err();
        assert!(matches!(e, UnikernelError::MonitorPath(_)), "{e}");
        assert!(
            e.to_string().contains("-initrd splits multiboot modules"),
            "{e}"
        );
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
        ];
        for (pairs, expected) in cases {
            let e = from_values(&values(pairs), &r.0).unwrap_err().to_string();
            assert!(e.contains(expected), "{pairs:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
