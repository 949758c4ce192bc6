//! Moves the supervisor into the spec's cgroup, makes the VMM's cgroup
//! below it and sets its limits, on cgroup v1 hierarchies and on cgroup
//! v2, and removes what it created.

use std::path::{Path, PathBuf};

/// Why the cgroup could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// mountinfo unreadable.
    #[error("cannot read /proc/self/mountinfo: {0}")]
    Mountinfo(std::io::Error),
    /// No cgroup filesystem mounted.
    #[error("no cgroup filesystem is mounted")]
    NoCgroupfs,
    /// A limit could not be set.
    #[error("cannot set {path}: {source}")]
    Limit {
        /// Interface file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A directory or cgroup.procs write failed.
    #[error("cannot join cgroup {path}: {source}")]
    Join {
        /// Directory.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
}

/// Mount points of cgroup (v1) and cgroup2 filesystems whose root is `/`.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            let fields: Vec<&str> = pre.split_whitespace().collect();
            let (root, mountpoint) = (fields.get(3)?, fields.get(4)?);
            (matches!(fstype, "cgroup" | "cgroup2") && *root == "/")
                .then(|| PathBuf::from(mountpoint))
        })
        .collect()
}

/// The cgroupfs path of a spec's `cgroupsPath`. With the systemd driver it
/// is `slice:prefix:name`, expanded the way systemd nests slices
/// (`a-b.slice` lives in `a.slice/a-b.slice`).
pub fn cgroup_relative_path(cgroups_path: &str, systemd: bool) -> PathBuf {
    if !systemd {
        return PathBuf::from(cgroups_path.trim_start_matches('/'));
    }
    let mut parts = cgroups_path.splitn(3, ':');
    let (slice, prefix, name) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut path = PathBuf::new();
    let stem = slice.trim_end_matches(".slice");
    let mut acc = String::new();
    for piece in stem.split('-').filter(|p| !p.is_empty()) {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(piece);
        path.push(format!("{acc}.slice"));
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    path.join(unit)
}

/// Moves `pid` into `relative` under every cgroup mount. Every directory it
/// creates is pushed to `created` (parents first), also when it fails
/// half-way, so [`remove`] can undo exactly what was made.
pub fn join(relative: &Path, pid: u32, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    for dir in create(relative, created)? {
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .map_err(|source| CgroupError::Join { path: dir, source })?;
    }
    Ok(())
}

/// Moves `pid` to the root cgroup of every hierarchy: how a supervisor
/// that cleans up after itself (its shim died) leaves the container's
/// cgroups, which cannot be removed while it is in them.
pub fn leave(pid: u32) -> Result<(), CgroupError> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(CgroupError::Mountinfo)?;
    for root in cgroup_mounts(&mountinfo) {
        std::fs::write(root.join("cgroup.procs"), pid.to_string())
            .map_err(|source| CgroupError::Join { path: root, source })?;
    }
    Ok(())
}

/// Makes `relative` under every cgroup mount (pushing what it creates to
/// `created`, parents first) and returns its directory in each.
pub fn create(relative: &Path, created: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>, CgroupError> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(CgroupError::Mountinfo)?;
    let mounts = cgroup_mounts(&mountinfo);
    if mounts.is_empty() {
        return Err(CgroupError::NoCgroupfs);
    }
    let mut dirs = Vec::new();
    for mount in mounts {
        let mut dir = mount.clone();
        for part in relative.components() {
            dir.push(part);
            let fail = |source| CgroupError::Join {
                path: dir.clone(),
                source,
            };
            match std::fs::create_dir(&dir) {
                Ok(()) => created.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(fail(e)),
            }
            inherit_cpuset(&dir).map_err(fail)?;
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Writes each `(file, value)` into every directory that has that file
/// (cgroup v1 hierarchies each have their own controllers' files).
pub fn write_limits(dirs: &[PathBuf], files: &[(&str, String)]) -> Result<(), CgroupError> {
    for dir in dirs {
        for (file, value) in files {
            let path = dir.join(file);
            if path.exists() {
                std::fs::write(&path, value)
                    .map_err(|source| CgroupError::Limit { path, source })?;
            }
        }
    }
    Ok(())
}

/// A new cgroup v1 cpuset starts with no CPUs and no memory nodes, and
/// refuses tasks until it has some: copy the parent's, as runc does.
fn inherit_cpuset(dir: &Path) -> std::io::Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        let Ok(current) = std::fs::read_to_string(&own) else {
            continue;
        };
        if current.trim().is_empty() {
            if let Some(parent) = dir.parent() {
                let value = std::fs::read_to_string(parent.join(file))?;
                std::fs::write(&own, value.trim())?;
            }
        }
    }
    Ok(())
}

/// How long removal waits for exited processes to leave a cgroup (a zombie
/// counts as a member until its parent reaps it).
const REMOVE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Removes cgroup directories, deepest first; gone ones are fine, busy ones
/// are retried until [`REMOVE_WAIT`] runs out.
pub fn remove(dirs: &[PathBuf]) -> Vec<String> {
    let deadline = std::time::Instant::now() + REMOVE_WAIT;
    dirs.iter()
        .rev()
        .filter_map(|d| loop {
            match std::fs::remove_dir(d) {
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    break Some(format!("cannot remove cgroup {}: {e}", d.display()));
                }
                _ => break None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_and_v2_mounts_with_root_slash() {
        let mi = "\
30 23 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:4 - cgroup2 cgroup2 rw
31 23 0:27 / /sys/fs/cgroup/memory rw shared:5 - cgroup cgroup rw,memory
32 23 0:28 /sub /sys/fs/cgroup/cpu rw shared:6 - cgroup cgroup rw,cpu
33 23 0:29 / /proc rw - proc proc rw";
        assert_eq!(
            cgroup_mounts(mi),
            vec![
                PathBuf::from("/sys/fs/cgroup/unified"),
                PathBuf::from("/sys/fs/cgroup/memory")
            ]
        );
    }

    #[test]
    fn cgroupfs_and_systemd_paths() {
        assert_eq!(
            cgroup_relative_path("/k8s.io/abc", false),
            PathBuf::from("k8s.io/abc")
        );
        assert_eq!(
            cgroup_relative_path("kubepods-besteffort-pod1.slice:cri-containerd:abc", true),
            PathBuf::from("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope")
        );
        assert_eq!(
            cgroup_relative_path(":ukrun:x", true),
            PathBuf::from("system.slice/ukrun-x.scope")
        );
    }
}
