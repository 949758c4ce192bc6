//! Resolves a path named by an image (kernel, initrd) inside the container's
//! rootfs the way a chroot would: `..` in the name is refused, and symlinks
//! are followed with the rootfs as `/`, so nothing can point ukrun at a host
//! file.

use crate::limits::excerpt;
use std::path::{Component, Path, PathBuf};

/// Most symlinks followed while resolving one path (as Linux's ELOOP limit).
const MAX_SYMLINKS: usize = 40;

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
}

/// Resolves `path` (absolute, as seen inside the guest image) under `rootfs`
/// and checks that it names a regular file.
pub fn resolve_file(
    rootfs: &Path,
    path: &str,
    what: &'static str,
) -> Result<PathBuf, RootfsPathError> {
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
    let resolved =
        resolve_in_root(rootfs, Path::new(path)).ok_or_else(|| RootfsPathError::Loop {
            what,
            path: err_path(),
        })?;
    match std::fs::metadata(&resolved) {
        Ok(m) if m.is_file() => Ok(resolved),
        Ok(_) => Err(RootfsPathError::NotAFile {
            what,
            path: err_path(),
        }),
        Err(_) => Err(RootfsPathError::Missing {
            what,
            path: err_path(),
        }),
    }
}

/// Walks `path` component by component under `root`, re-rooting absolute
/// symlink targets and clamping `..` at `root`. `None` on a symlink loop.
fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut pending: Vec<std::ffi::OsString> = components_reversed(path);
    let mut current: Vec<std::ffi::OsString> = Vec::new();
    let mut followed = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            current.pop();
            continue;
        }
        let candidate = join(root, &current).join(&name);
        match std::fs::read_link(&candidate) {
            Ok(target) => {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return None;
                }
                if target.is_absolute() {
                    current.clear();
                }
                pending.extend(components_reversed(&target));
            }
            Err(_) => current.push(name),
        }
    }
    Some(join(root, &current))
}

/// The normal and `..` components of `path`, last first (a stack to pop).
fn components_reversed(path: &Path) -> Vec<std::ffi::OsString> {
    let mut parts: Vec<std::ffi::OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    parts.reverse();
    parts
}

fn join(root: &Path, parts: &[std::ffi::OsString]) -> PathBuf {
    parts.iter().fold(root.to_path_buf(), |acc, p| acc.join(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_rootfs::TempRootfs;
    use std::os::unix::fs::symlink;

    fn rootfs(tag: &str) -> TempRootfs {
        TempRootfs::new(&format!("rp-{tag}"))
    }

    #[test]
    fn plain_file_resolves() {
        let r = rootfs("plain");
        assert_eq!(
            resolve_file(&r.0, "/boot/vmlinux", "kernel").unwrap(),
            r.0.join("boot/vmlinux")
        );
    }

    #[test]
    fn dot_dot_and_relative_are_refused() {
        let r = rootfs("dotdot");
        let e = resolve_file(&r.0, "/boot/../../etc/passwd", "kernel").unwrap_err();
        assert!(matches!(e, RootfsPathError::DotDot { .. }));
        assert!(e.to_string().contains("`..`"));
        let e = resolve_file(&r.0, "boot/vmlinux", "kernel").unwrap_err();
        assert!(matches!(e, RootfsPathError::NotAbsolute { .. }));
        assert!(matches!(
            resolve_file(&r.0, "", "kernel").unwrap_err(),
            RootfsPathError::NotAbsolute { .. }
        ));
    }

    #[test]
    fn absolute_symlink_out_stays_inside() {
        let r = rootfs("abs");
        symlink("/etc/passwd", r.0.join("boot/evil")).unwrap();
        let e = resolve_file(&r.0, "/boot/evil", "kernel").unwrap_err();
        assert!(matches!(e, RootfsPathError::Missing { .. }), "{e}");
        symlink("/boot/vmlinux", r.0.join("boot/good")).unwrap();
        assert_eq!(
            resolve_file(&r.0, "/boot/good", "kernel").unwrap(),
            r.0.join("boot/vmlinux")
        );
    }

    #[test]
    fn relative_symlink_dot_dot_is_clamped_at_root() {
        let r = rootfs("rel");
        symlink("../../../../etc/passwd", r.0.join("boot/up")).unwrap();
        assert!(matches!(
            resolve_file(&r.0, "/boot/up", "kernel").unwrap_err(),
            RootfsPathError::Missing { .. }
        ));
        symlink("../boot/vmlinux", r.0.join("boot/side")).unwrap();
        assert_eq!(
            resolve_file(&r.0, "/boot/side", "kernel").unwrap(),
            r.0.join("boot/vmlinux")
        );
    }

    #[test]
    fn loops_directories_and_missing_files_are_reported() {
        let r = rootfs("loop");
        symlink("/boot/b", r.0.join("boot/a")).unwrap();
        symlink("/boot/a", r.0.join("boot/b")).unwrap();
        assert!(matches!(
            resolve_file(&r.0, "/boot/a", "kernel").unwrap_err(),
            RootfsPathError::Loop { .. }
        ));
        assert!(matches!(
            resolve_file(&r.0, "/boot", "kernel").unwrap_err(),
            RootfsPathError::NotAFile { .. }
        ));
        let e = resolve_file(&r.0, "/boot/missing.img", "initrd").unwrap_err();
        assert_eq!(
            e.to_string(),
            "initrd \"/boot/missing.img\" is missing from the rootfs"
        );
    }
}
