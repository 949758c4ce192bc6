//! How a socket that an administrator destroyed (`ss -K`, the kernel's
//! sock_diag destroy) shows itself to the task serving it, so that the DNS
//! relay and the localhost forwarders stop serving it (and close it) rather
//! than retry on errors forever.

use std::io;

/// An accept error meaning the listener was destroyed: the kernel closed it
/// (it no longer listens), and every later accept fails the same way.
pub fn listener_destroyed(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

/// A receive error meaning a datagram socket was destroyed. The kernel only
/// reports the abort (the socket stays bound): its owner closes it.
pub fn datagram_socket_destroyed(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECONNABORTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_destroy_errors_end_a_socket() {
        let invalid = io::Error::from_raw_os_error(libc::EINVAL);
        let aborted = io::Error::from_raw_os_error(libc::ECONNABORTED);
        let no_files = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(listener_destroyed(&invalid) && !listener_destroyed(&no_files));
        assert!(datagram_socket_destroyed(&aborted));
        assert!(!datagram_socket_destroyed(&io::Error::from_raw_os_error(
            libc::ECONNREFUSED
        )));
    }
}
