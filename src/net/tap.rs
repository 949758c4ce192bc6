//! Creates the guest's tap as a non-persistent interface owned by a file
//! descriptor: the kernel removes it when the last descriptor closes, so a
//! killed supervisor and VMM cannot leave a tap behind.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

const TUN_DEVICE: &str = "/dev/net/tun";
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
nix::ioctl_write_ptr_bad!(tun_set_iff, 0x4004_54ca, libc::ifreq);

/// Why a tap could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// /dev/net/tun is not usable.
    #[error("cannot open {TUN_DEVICE}: {0} (is the tun module loaded?)")]
    Open(std::io::Error),
    /// The name does not fit IFNAMSIZ.
    #[error("tap name {0:?} is too long")]
    Name(String),
    /// TUNSETIFF failed (e.g. the name is taken).
    #[error("cannot create tap {name}: {source}")]
    Create {
        /// Tap name.
        name: String,
        /// OS error.
        source: nix::Error,
    },
}

/// Creates tap `name` in the current netns with virtio-net headers enabled
/// (qemu then offloads checksums and TSO) and returns its descriptor.
pub fn create_tap(name: &str) -> Result<OwnedFd, TapError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(TUN_DEVICE)
        .map_err(TapError::Open)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() || bytes.is_empty() {
        return Err(TapError::Name(name.to_owned()));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    // SAFETY: the descriptor is a tun control file and `req` is a valid ifreq.
    unsafe { tun_set_iff(file.as_raw_fd(), &req) }.map_err(|source| TapError::Create {
        name: name.to_owned(),
        source,
    })?;
    Ok(OwnedFd::from(file))
}
