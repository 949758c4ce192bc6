//! Opens a file named by an image (kernel, initrd, block image, the image's
//! own DNS files) inside the container's rootfs, as a descriptor. The kernel
//! resolves the name with the rootfs as `/` (`openat2` with
//! `RESOLVE_IN_ROOT`: absolute symlinks are re-rooted, `..` stops at the
//! rootfs), refuses `/proc` magic links and mount crossings, and ukrun checks
//! the file it got, not the name: nothing can point ukrun at a host file,
//! and nothing can swap the file between the check and its use.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use crate::limits::excerpt;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// Why an in-rootfs path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RootfsPathError {
    /// The path is empty or relative.
    #[error("{what} path {} must be absolute inside the rootfs", excerpt(.path))]
    NotAbsolute {
        /// Which file (e.g. "kernel").
        what: &'static str,
        /// The path as given.
        path: String,
    },
    /// The path uses `..`.
    #[error("{what} path {} contains `..` and could escape the rootfs", excerpt(.path))]
    DotDot {
        /// Which file.
        what: &'static str,
        /// The path as given.
        path: String,
    },
    /// Nothing at the resolved location.
    #[error("{what} {} is missing from the rootfs", excerpt(.path))]
    Missing {
        /// Which file.
        what: &'static str,
        /// The path as given.
        path: String,
    },
    /// The resolved location is not a regular file.
    #[error("{what} {} is not a regular file", excerpt(.path))]
    NotAFile {
        /// Which file.
        what: &'static str,
        /// The path as given.
        path: String,
    },
    /// Symlinks loop or nest too deeply.
    #[error("{what} {}: too many levels of symbolic links", excerpt(.path))]
    Loop {
        /// Which file.
        what: &'static str,
        /// The path as given.
        path: String,
    },
    /// The path leaves the rootfs's filesystem (a mount point inside it).
    #[error("{what} {path:?} crosses a mount point inside the rootfs")]
    CrossesMount {
        /// Which file.
        what: &'static str,
        /// The path as given.
        path: String,
    },
    /// The confined VMM, an unprivileged user, could not open it.
    #[error("{what} {path:?} (mode {mode:04o}) must be {need} by all users: the VMM runs as an unprivileged user (chmod o+{bits} in the image)", need = if *.write { "readable and writable" } else { "readable" }, bits = if *.write { "rw" } else { "r" })]
    NotOpenToVmm {
        /// Which file.
        what: &'static str,
        /// The path as given.
        path: String,
        /// Its permission bits.
        mode: u32,
        /// Whether the VMM writes it.
        write: bool,
    },
    /// Any other failure to open it.
    #[error("cannot open {what} {path:?}: {errno}")]
    Open {
        /// Which file.
        what: &'static str,
        /// The path as given.
        path: String,
        /// The error.
        errno: Errno,
    },
}

/// How a file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write (a guest's block image).
    ReadWrite,
}

/// Opens `path` (absolute, as seen inside the guest image) under `rootfs`
/// and checks that it is a regular file.
pub fn open_file(
    rootfs: &Path,
    path: &str,
    what: &'static str,
    access: Access,
) -> Result<File, RootfsPathError> {
    let err_path = || path.to_owned();
    if !path.starts_with('/') {
        return Err(RootfsPathError::NotAbsolute {
            what,
            path: err_path(),
        });
    }
    if Path::new(path)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(RootfsPathError::DotDot {
            what,
            path: err_path(),
        });
    }
    let opened = open_in_root(rootfs, path, access).map_err(|errno| match errno {
        Errno::ENOENT | Errno::ENOTDIR => RootfsPathError::Missing {
            what,
            path: err_path(),
        },
        Errno::ELOOP => RootfsPathError::Loop {
            what,
            path: err_path(),
        },
        Errno::EXDEV => RootfsPathError::CrossesMount {
            what,
            path: err_path(),
        },
        Errno::EISDIR => RootfsPathError::NotAFile {
            what,
            path: err_path(),
        },
        errno => RootfsPathError::Open {
            what,
            path: err_path(),
            errno,
        },
    })?;
    let file = File::from(opened);
    let meta = file.metadata().map_err(|e| RootfsPathError::Open {
        what,
        path: err_path(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    })?;
    if !meta.is_file() {
        return Err(RootfsPathError::NotAFile {
            what,
            path: err_path(),
        });
    }
    Ok(file)
}

/// Like [`open_file`], and also checks that an unprivileged user (the
/// confined VMM, which opens the file again through `/proc/self/fd`) may
/// open it the same way.
pub fn open_for_vmm(
    rootfs: &Path,
    path: &str,
    what: &'static str,
    access: Access,
) -> Result<File, RootfsPathError> {
    let file = open_file(rootfs, path, what, access)?;
    let mode = file
        .metadata()
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0);
    let write = access == Access::ReadWrite;
    let needed = if write { 0o006 } else { 0o004 };
    if mode & needed != needed {
        return Err(RootfsPathError::NotOpenToVmm {
            what,
            path: path.to_owned(),
            mode,
            write,
        });
    }
    Ok(file)
}

/// The kernel's in-root resolution: no magic links, no mount crossing,
/// never blocking on a FIFO or a device.
fn open_in_root(rootfs: &Path, path: &str, access: Access) -> Result<OwnedFd, Errno> {
    let root = File::open(rootfs).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    let mode = match access {
        Access::Read => OFlag::O_RDONLY,
        Access::ReadWrite => OFlag::O_RDWR,
    };
    let how = OpenHow::new()
        .flags(mode | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .mode(Mode::empty())
        .resolve(
            ResolveFlag::RESOLVE_IN_ROOT
                | ResolveFlag::RESOLVE_NO_MAGICLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
    let fd = openat2(root.as_raw_fd(), path.trim_start_matches('/'), how)?;
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_rootfs::{TempRootfs, KERNEL};
    use std::io::Read;
    use std::os::unix::fs::symlink;

    fn rootfs(tag: &str) -> TempRootfs {
        TempRootfs::new(&format!("rp-{tag}"))
    }

    fn contents(mut file: File) -> Vec<u8> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    }

    fn open(r: &TempRootfs, path: &str) -> Result<File, RootfsPathError> {
        open_file(&r.0, path, "kernel", Access::Read)
    }

    #[test]
    fn plain_file_opens() {
        let r = rootfs("plain");
        assert_eq!(contents(open(&r, "/boot/vmlinux").unwrap()), KERNEL);
    }

    #[test]
    fn dot_dot_and_relative_are_refused() {
        let r = rootfs("dotdot");
        let e = open(&r, "/boot/../../etc/passwd").unwrap_err();
        assert!(matches!(e, RootfsPathError::DotDot { .. }));
        assert!(e.to_string().contains("`..`"));
        let e = open(&r, "boot/vmlinux").unwrap_err();
        assert!(matches!(e, RootfsPathError::NotAbsolute { .. }));
        assert!(matches!(
            open(&r, "").unwrap_err(),
            RootfsPathError::NotAbsolute { .. }
        ));
    }

    #[test]
    fn absolute_symlink_out_stays_inside() {
        let r = rootfs("abs");
        symlink("/etc/passwd", r.0.join("boot/evil")).unwrap();
        let e = open(&r, "/boot/evil").unwrap_err();
        assert!(matches!(e, RootfsPathError::Missing { .. }), "{e}");
        symlink("/boot/vmlinux", r.0.join("boot/good")).unwrap();
        assert_eq!(contents(open(&r, "/boot/good").unwrap()), KERNEL);
    }

    #[test]
    fn relative_symlink_dot_dot_is_clamped_at_root() {
        let r = rootfs("rel");
        symlink("../../../../etc/passwd", r.0.join("boot/up")).unwrap();
        assert!(matches!(
            open(&r, "/boot/up").unwrap_err(),
            RootfsPathError::Missing { .. }
        ));
        symlink("../boot/vmlinux", r.0.join("boot/side")).unwrap();
        assert_eq!(contents(open(&r, "/boot/side").unwrap()), KERNEL);
    }

    #[test]
    fn magic_links_are_refused() {
        let r = rootfs("magic");
        symlink("/proc/self/root/etc/passwd", r.0.join("boot/magic")).unwrap();
        assert!(open(&r, "/boot/magic").is_err());
    }

    #[test]
    fn loops_directories_fifos_and_missing_files_are_reported() {
        let r = rootfs("loop");
        symlink("/boot/b", r.0.join("boot/a")).unwrap();
        symlink("/boot/a", r.0.join("boot/b")).unwrap();
        assert!(matches!(
            open(&r, "/boot/a").unwrap_err(),
            RootfsPathError::Loop { .. }
        ));
        assert!(matches!(
            open(&r, "/boot").unwrap_err(),
            RootfsPathError::NotAFile { .. }
        ));
        nix::unistd::mkfifo(&r.0.join("boot/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        assert!(matches!(
            open(&r, "/boot/fifo").unwrap_err(),
            RootfsPathError::NotAFile { .. }
        ));
        let e = open_file(&r.0, "/boot/missing.img", "initrd", Access::Read).unwrap_err();
        assert_eq!(
            e.to_string(),
            "initrd \"/boot/missing.img\" is missing from the rootfs"
        );
    }

    #[test]
    fn the_vmm_needs_the_file_open_to_all_users() {
        let r = rootfs("mode");
        let kernel = r.0.join("boot/vmlinux");
        std::fs::set_permissions(&kernel, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = open_for_vmm(&r.0, "/boot/vmlinux", "kernel", Access::Read).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kernel \"/boot/vmlinux\" (mode 0600) must be readable by all users: the VMM runs as an unprivileged user (chmod o+r in the image)"
        );
        std::fs::set_permissions(&kernel, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(open_for_vmm(&r.0, "/boot/vmlinux", "kernel", Access::Read).is_ok());
        let e = open_for_vmm(&r.0, "/boot/vmlinux", "block image", Access::ReadWrite).unwrap_err();
        assert!(e.to_string().contains("readable and writable"), "{e}");
    }
}
