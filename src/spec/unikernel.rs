//! What a unikernel bundle asks for, validated: guest kind, monitor, and the
//! kernel/initrd resolved safely inside the rootfs. Every refusal is one line
//! that names the annotation and the value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::annotations::{self, UruncJsonError, UruncValues};
use super::rootfs_path::{resolve_file, RootfsPathError};
use crate::guest::GuestKind;
use crate::names::Named;
use crate::vmm::Monitor;

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
    /// The image's command line for the guest.
    pub cmdline: String,
    /// Framework version, when the image says.
    pub version: Option<String>,
}

/// Why a bundle's unikernel request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnikernelError {
    /// A required annotation is absent.
    #[error("annotation {0} is missing (set it on the image or in its urunc.json)")]
    Missing(&'static str),
    /// urunc does not know this guest kind either.
    #[error("unknown unikernel type {0:?} in {key} (ukrun supports: {supported})", key = annotations::UNIKERNEL_TYPE, supported = GuestKind::supported_names())]
    UnknownKind(String),
    /// A kind urunc knows that ukrun cannot boot yet.
    #[error("unikernel type {0:?} is not supported by ukrun yet (supported: {supported})", supported = GuestKind::supported_names())]
    UnsupportedKind(String),
    /// urunc does not know this monitor either.
    #[error("unknown hypervisor {0:?} in {key} (ukrun supports: {supported})", key = annotations::HYPERVISOR, supported = Monitor::supported_names())]
    UnknownMonitor(String),
    /// A monitor urunc knows that ukrun cannot run yet.
    #[error("hypervisor {0:?} is not supported by ukrun yet (supported: {supported})", supported = Monitor::supported_names())]
    UnsupportedMonitor(String),
    /// Block devices are not wired yet.
    #[error("block device {0:?} ({key}) is not supported by ukrun yet", key = annotations::BLOCK)]
    BlockUnsupported(String),
    /// The command line would break the monitor's argv.
    #[error("command line in {key} contains a control character", key = annotations::CMDLINE)]
    BadCmdline,
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
    if !kind.is_supported() {
        return Err(UnikernelError::UnsupportedKind(kind_name.into()));
    }
    let monitor_name =
        get(annotations::HYPERVISOR).ok_or(UnikernelError::Missing(annotations::HYPERVISOR))?;
    let monitor = Monitor::parse(monitor_name)
        .ok_or_else(|| UnikernelError::UnknownMonitor(monitor_name.into()))?;
    if !monitor.is_supported() {
        return Err(UnikernelError::UnsupportedMonitor(monitor_name.into()));
    }
    if let Some(block) = get(annotations::BLOCK) {
        return Err(UnikernelError::BlockUnsupported(block.into()));
    }
    if get(annotations::USE_DM_BLOCK) == Some("true") {
        return Err(UnikernelError::BlockUnsupported(
            "device-mapper rootfs".into(),
        ));
    }
    let binary = get(annotations::BINARY).ok_or(UnikernelError::Missing(annotations::BINARY))?;
    let kernel = resolve_file(rootfs, binary, "kernel")?;
    let initrd = get(annotations::INITRD)
        .map(|p| resolve_file(rootfs, p, "initrd"))
        .transpose()?;
    let cmdline = get(annotations::CMDLINE).unwrap_or_default().to_owned();
    if cmdline.chars().any(char::is_control) {
        return Err(UnikernelError::BadCmdline);
    }
    Ok(Unikernel {
        kind,
        monitor,
        kernel,
        initrd,
        cmdline,
        version: get(annotations::UNIKERNEL_VERSION).map(str::to_owned),
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
                &[(HYPERVISOR, "firecracker")],
                "hypervisor \"firecracker\" is not supported by ukrun yet",
            ),
            (
                &[(UNIKERNEL_TYPE, "plan9")],
                "unknown unikernel type \"plan9\"",
            ),
            (
                &[(UNIKERNEL_TYPE, "unikraft")],
                "unikernel type \"unikraft\" is not supported by ukrun yet",
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
            (&[(BLOCK, "/disk.img")], "block device \"/disk.img\""),
            (&[(CMDLINE, "a\nb")], "control character"),
        ];
        for (pairs, expected) in cases {
            let e = from_values(&values(pairs), &r.0).unwrap_err().to_string();
            assert!(e.contains(expected), "{pairs:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
