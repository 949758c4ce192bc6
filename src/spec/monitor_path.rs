//! Which resolved image files reach a monitor under their own name. A
//! monitor given another name than the validated path opens another file,
//! which the image can make a symlink to any host file, so such a path is
//! refused at create:
//! - every argv and config file is text: a path that is not UTF-8 would
//!   be rendered as another name;
//! - qemu reads `-initrd` of a multiboot kernel as a module list split at
//!   commas, each module's file name ending at its first space
//!   (hw/i386/multiboot.c);
//! - Cloud Hypervisor's option parser drops double quotes, pairs brackets
//!   and trims blanks in `--disk path=` (its commas are refused by
//!   `UnikernelError::CommaInDiskPath`);
//! - the Solo5 tenders read `--block:NAME=%s`, which ends at whitespace.

use std::path::Path;

use crate::names::Named;
use crate::vmm::Monitor;

/// What a file is to the monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The kernel or unikernel binary.
    Kernel,
    /// The initrd.
    Initrd,
    /// The block image.
    Block,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Kernel => "kernel",
            Role::Initrd => "initrd",
            Role::Block => "block image",
        }
    }
}

/// A path the monitor would read as another file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{role} path {path:?} cannot be passed to {monitor} as it is: {reason}; rename it in the image", role = .role.name(), monitor = .monitor.name())]
pub struct MonitorPathError {
    /// The file's role.
    pub role: Role,
    /// The resolved path.
    pub path: String,
    /// The monitor.
    pub monitor: Monitor,
    /// How the monitor would alter it.
    pub reason: &'static str,
}

/// Checks that `monitor` opens `path` itself as its `role`.
pub fn check(monitor: Monitor, role: Role, path: &Path) -> Result<(), MonitorPathError> {
    let fail = |reason| MonitorPathError {
        role,
        path: path.display().to_string(),
        monitor,
        reason,
    };
    let Some(text) = path.to_str() else {
        return Err(fail("it is not UTF-8"));
    };
    match (monitor, role) {
        (Monitor::Qemu, Role::Initrd) if text.contains([',', ' ']) => Err(fail(
            "-initrd splits multiboot modules at commas and ends a file name at a space",
        )),
        (Monitor::CloudHypervisor, Role::Block)
            if text.contains(['"', '[', ']']) || text.trim() != text =>
        {
            Err(fail("--disk drops quotes, pairs brackets and trims blanks"))
        }
        (Monitor::Hvt | Monitor::Spt, Role::Block)
            if text.contains([' ', '\t', '\n', '\x0b', '\x0c', '\r']) =>
        {
            Err(fail("--block: ends its path at whitespace"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    fn refused(monitor: Monitor, role: Role, path: &str) -> bool {
        check(monitor, role, Path::new(path)).is_err()
    }

    #[test]
    fn a_name_that_is_not_utf8_is_refused_everywhere() {
        let path = Path::new(OsStr::from_bytes(b"/r/\x80"));
        for (monitor, _) in Monitor::TABLE {
            let e = check(*monitor, Role::Kernel, path).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "kernel path \"/r/\u{fffd}\" cannot be passed to {} as it is: it is not UTF-8; rename it in the image",
                    monitor.name()
                )
            );
        }
    }

    #[test]
    fn each_monitor_refuses_what_its_parser_alters_and_nothing_else() {
        assert!(refused(Monitor::Qemu, Role::Initrd, "/r/a,/etc/shadow"));
        assert!(refused(Monitor::Qemu, Role::Initrd, "/r/a b"));
        assert!(
            !refused(Monitor::Qemu, Role::Block, "/r/a,b c"),
            "-drive escapes commas"
        );
        assert!(!refused(Monitor::Qemu, Role::Kernel, "/r/a,b c"));
        for bad in ["/r/\"a\"", "/r/a[", "/r/a]", "/r/a ", "/r/a\u{a0}"] {
            assert!(
                refused(Monitor::CloudHypervisor, Role::Block, bad),
                "{bad:?}"
            );
        }
        assert!(!refused(Monitor::CloudHypervisor, Role::Block, "/r/a b=c"));
        assert!(!refused(
            Monitor::CloudHypervisor,
            Role::Kernel,
            "/r/\"a\" "
        ));
        for monitor in [Monitor::Hvt, Monitor::Spt] {
            assert!(refused(monitor, Role::Block, "/r/disk img"));
            assert!(refused(monitor, Role::Block, "/r/disk\timg"));
            assert!(!refused(monitor, Role::Block, "/r/disk,\"img\"="));
            assert!(!refused(monitor, Role::Kernel, "/r/a b"));
        }
        assert!(!refused(Monitor::Firecracker, Role::Block, "/r/a ,\"[]"));
    }
}
