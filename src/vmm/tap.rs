//! How a monitor reaches the pod's tap. qemu inherits the supervisor's tap
//! descriptor. Firecracker, Cloud Hypervisor and the Solo5 tenders open the
//! tap by name (TUNSETIFF), and the kernel refuses that (EBUSY) while
//! another descriptor is attached to a single-queue tap; a multi-queue tap
//! would not help, since the kernel also refuses an open whose
//! IFF_MULTI_QUEUE flag differs from the tap's, and these monitors do not
//! set it. So, just before such a monitor starts, the supervisor gives the
//! tap to the VMM's user (TUNSETOWNER, TUNSETGROUP: the monitor has no
//! capability), makes it persistent (TUNSETPERSIST) and closes its
//! descriptor: the monitor
//! then attaches to it by name. A persistent tap outlives its descriptors,
//! so it is removed by name like every other recorded step (`NetStep::Tap`'s
//! undo: supervisor exit, failed create, `delete` after a crash).

use std::os::fd::{AsRawFd, OwnedFd};

/// TUNSETPERSIST, `_IOW('T', 203, int)`.
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
/// TUNSETOWNER, `_IOW('T', 204, int)`.
const TUNSETOWNER: libc::c_ulong = 0x4004_54cc;
/// TUNSETGROUP, `_IOW('T', 206, int)`.
const TUNSETGROUP: libc::c_ulong = 0x4004_54ce;
nix::ioctl_write_int_bad!(tun_set_persist, TUNSETPERSIST);
nix::ioctl_write_int_bad!(tun_set_owner, TUNSETOWNER);
nix::ioctl_write_int_bad!(tun_set_group, TUNSETGROUP);

/// Gives the tap to the VMM's user and group (so the unprivileged monitor
/// may attach to it without CAP_NET_ADMIN), makes it persistent and closes
/// the supervisor's descriptor, so the monitor can open the tap by name.
pub fn release_for_open_by_name(tap: OwnedFd, uid: u32, gid: u32) -> std::io::Result<()> {
    let fd = tap.as_raw_fd();
    // SAFETY: the descriptor is a tun file attached to a tap; these ioctls take an int.
    unsafe {
        tun_set_owner(fd, uid as i32)?;
        tun_set_group(fd, gid as i32)?;
        tun_set_persist(fd, 1)?;
    }
    drop(tap);
    Ok(())
}
