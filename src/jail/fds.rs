//! The descriptor numbers a monitor inherits, and how its command names
//! them. Files reach a monitor only as descriptors that ukrun opened: the
//! monitor's command carries `/proc/self/fd/N` (or qemu's `/dev/fdset/N`),
//! never a path an image chose, so nothing a monitor parses out of a path
//! (qemu splits some options at commas) can name a host file.

use std::path::PathBuf;

/// The tap (qemu's `-netdev tap,fd=`).
pub const TAP: i32 = 3;
/// Kernel or unikernel image.
pub const KERNEL: i32 = 4;
/// Initrd.
pub const INITRD: i32 = 5;
/// Block image, opened read-write.
pub const BLOCK: i32 = 6;
/// The same block image opened read-only: qemu probes a `/dev/fdset` file
/// read-only first, and takes from the set the descriptor whose access mode
/// matches each open.
pub const BLOCK_READ_ONLY: i32 = 7;
/// The monitor's configuration (qemu's `-readconfig`, Firecracker's
/// `--config-file`): the guest's command line, and so its environment,
/// travel here rather than on an argv that every local user can read.
pub const CONFIG: i32 = 8;
/// The lowest number above every handed descriptor: the descriptors ukrun
/// itself keeps open in the VMM's process until its exec (staging copies,
/// the pipes of a VMM held before its start) live from here up, so that
/// taking the handed ones to their numbers never overwrites them.
pub const ABOVE_HANDED: i32 = 64;

/// How a monitor opens inherited descriptor `fd` by path.
pub fn proc_path(fd: i32) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_distinct_and_above_stdio() {
        let all = [TAP, KERNEL, INITRD, BLOCK, BLOCK_READ_ONLY, CONFIG];
        let mut sorted = all.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert!(all.iter().all(|&n| n > 2 && n < ABOVE_HANDED));
        assert_eq!(proc_path(KERNEL), PathBuf::from("/proc/self/fd/4"));
    }
}
