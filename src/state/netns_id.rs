//! What identifies a network namespace over time. Its inode is unique only
//! while the namespace exists: the kernel gives a freed namespace's number
//! to the next one, so a pod netns recreated at the same path may show the
//! inode of the one it replaced. Its cookie (`SO_NETNS_COOKIE`, Linux 5.14)
//! is never given twice during a boot. Undo compares both before it
//! touches a namespace.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// `SO_NETNS_COOKIE` (include/uapi/asm-generic/socket.h).
const SO_NETNS_COOKIE: libc::c_int = 71;

/// A network namespace as recorded when ukrun wires it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetnsId {
    /// Its inode (the key of its owner record and lock).
    pub inode: u64,
    /// Its cookie; `None` on kernels without `SO_NETNS_COOKIE`.
    pub cookie: Option<u64>,
}

impl NetnsId {
    /// The network namespace of the calling thread.
    pub fn current() -> io::Result<Self> {
        Ok(Self {
            inode: netns_inode(Path::new("/proc/thread-self/ns/net"))?,
            cookie: current_cookie()?,
        })
    }

    /// Whether `self`, as recorded, is the namespace `now`: same inode, and
    /// same cookie where both are known.
    pub fn is(&self, now: &NetnsId) -> bool {
        self.inode == now.inode
            && match (self.cookie, now.cookie) {
                (Some(recorded), Some(current)) => recorded == current,
                _ => true,
            }
    }
}

/// The inode of the network namespace at `path` (a bind mount or
/// `/proc/…/ns/net`): what identifies a namespace while it exists.
pub fn netns_inode(path: &Path) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.ino())
}

/// The cookie of the calling thread's network namespace, read from a
/// socket made there; `None` when the kernel does not know the option.
fn current_cookie() -> io::Result<Option<u64>> {
    let socket = UnixDatagram::unbound()?;
    let mut cookie: u64 = 0;
    let mut length = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the pointers name a live u64 and its length.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            std::ptr::addr_of_mut!(cookie).cast(),
            &mut length,
        )
    };
    match rc {
        0 => Ok(Some(cookie)),
        _ => match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(None),
            e => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_inode_with_another_cookie_is_another_namespace() {
        let recorded = NetnsId {
            inode: 4026532174,
            cookie: Some(7),
        };
        assert!(recorded.is(&recorded));
        let recreated = NetnsId {
            cookie: Some(9),
            ..recorded
        };
        assert!(!recorded.is(&recreated));
        let other = NetnsId {
            inode: 4026532238,
            ..recorded
        };
        assert!(!recorded.is(&other));
    }

    #[test]
    fn without_a_cookie_the_inode_decides() {
        let old_kernel = NetnsId {
            inode: 4026532174,
            cookie: None,
        };
        let now = NetnsId {
            cookie: Some(3),
            ..old_kernel
        };
        assert!(old_kernel.is(&now));
        assert!(!old_kernel.is(&NetnsId {
            inode: 1,
            cookie: None
        }));
    }

    #[test]
    fn the_current_namespace_is_itself() {
        let here = NetnsId::current().unwrap();
        assert!(here.is(&NetnsId::current().unwrap()));
        assert_eq!(
            here.inode,
            netns_inode(Path::new("/proc/self/ns/net")).unwrap()
        );
    }
}
