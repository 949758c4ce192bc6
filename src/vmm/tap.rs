//! How a monitor reaches the pod's tap. qemu inherits the supervisor's tap
//! descriptor. Firecracker, Cloud Hypervisor and the Solo5 tenders open the
//! tap by name (TUNSETIFF), and the kernel refuses that (EBUSY) while
//! another descriptor is attached to a single-queue tap; a multi-queue tap
//! would not help, since the kernel also refuses an open whose
//! IFF_MULTI_QUEUE flag differs from the tap's, and these monitors do not
//! set it. So, just before such a monitor starts, the supervisor makes the
//! tap persistent (TUNSETPERSIST) and closes its descriptor: the monitor
//! then attaches to it by name. A persistent tap outlives its descriptors,
//! so it is removed by name like every other recorded step (`NetStep::Tap`'s
//! undo: supervisor exit, failed create, `delete` after a crash).

use std::os::fd::{AsRawFd, OwnedFd};

/// TUNSETPERSIST, `_IOW('T', 203, int)`.
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
nix::ioctl_write_int_bad!(tun_set_persist, TUNSETPERSIST);

/// Makes the tap persistent and closes the supervisor's descriptor, so a
/// monitor can open the tap by name.
pub fn release_for_open_by_name(tap: OwnedFd) -> std::io::Result<()> {
    // SAFETY: the descriptor is a tun file attached to a tap; TUNSETPERSIST takes an int.
    unsafe { tun_set_persist(tap.as_raw_fd(), 1) }.map_err(std::io::Error::from)?;
    drop(tap);
    Ok(())
}
