//! Finding a pod netns by its inode when the path a container recorded no
//! longer names it. containerd 1.6 gives app containers the pause
//! process's `/proc/PID/ns/net`, which vanishes when the pause process
//! ends while the namespace itself lives on, held by the sandbox's bind
//! mount (or by another of the pod's processes). `delete` then looks for
//! the namespace where it can still be reached: the nsfs mounts of the
//! mount table, then every process's `/proc/PID/ns/net`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Mount points of namespace files (nsfs) in a mountinfo text.
pub fn nsfs_mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (fields, rest) = line.split_once(" - ")?;
            let mount_point = fields.split(' ').nth(4)?;
            (rest.split(' ').next() == Some("nsfs")).then(|| PathBuf::from(mount_point))
        })
        .collect()
}

/// Whether `path` names a namespace of inode `inode`.
fn has_inode(path: &Path, inode: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.ino() == inode)
}

/// A path that names the network namespace of inode `inode`, if one is
/// still reachable. Only the inode is compared: the caller checks the
/// namespace's cookie once inside (an inode may have gone to a newer
/// namespace).
pub fn by_inode(inode: u64) -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounted = nsfs_mount_points(&mountinfo).into_iter();
    let processes = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .map(|entry| entry.path().join("ns/net"));
    mounted.chain(processes).find(|path| has_inode(path, inode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsfs_mounts_are_found_and_others_are_not() {
        let mountinfo = "\
36 25 0:4 net:[4026532301] /run/netns/cni-1 rw shared:5 - nsfs nsfs rw
37 25 0:27 / /sys/fs/cgroup/memory rw shared:6 - cgroup cgroup rw,memory
38 25 0:4 net:[4026532402] /var/lib/x/netns rw - nsfs nsfs rw";
        assert_eq!(
            nsfs_mount_points(mountinfo),
            vec![
                PathBuf::from("/run/netns/cni-1"),
                PathBuf::from("/var/lib/x/netns")
            ]
        );
    }

    #[test]
    fn the_own_namespace_is_found_by_its_inode() {
        let inode = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let found = by_inode(inode).expect("this process's namespace is reachable");
        assert!(has_inode(&found, inode));
        assert_eq!(by_inode(1), None);
    }
}
