//! The ARP probe: an RFC 5227 ARP request (sender address 0.0.0.0, so no
//! neighbour cache anywhere learns from it) sent out of the tap, i.e.
//! straight to the guest, and the guest's reply read from the tap with a
//! packet socket. Works in both modes: the socket sees the reply before
//! tc's ingress redirect (tc mode) and needs no route (routed mode).

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How the guest answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpProbe {
    /// It answered for its address with this MAC, after this long.
    Answered {
        /// The guest's MAC.
        mac: [u8; 6],
        /// Round trip.
        millis: u64,
    },
    /// No answer within the probe's time.
    Silent,
}

/// Why the probe could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("ARP probe on interface {index}: {source}")]
pub struct ArpError {
    /// The tap's interface index.
    pub index: u32,
    /// OS error.
    pub source: std::io::Error,
}

const ETH_P_ALL: u16 = 0x0003;
const ETH_P_ARP: u16 = 0x0806;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
/// Requests sent, and how long each waits for the answer.
const ATTEMPTS: u32 = 3;
const ATTEMPT_WAIT: Duration = Duration::from_millis(300);

/// Asks who has `target` out of interface `index` (MAC `source`).
pub fn probe(index: u32, source: [u8; 6], target: Ipv4Addr) -> Result<ArpProbe, ArpError> {
    let fail = |source| ArpError { index, source };
    let socket = packet_socket(index).map_err(fail)?;
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(fail)?;
    let frame = request(source, target);
    let started = Instant::now();
    let mut buffer = [0u8; 2048];
    for _ in 0..ATTEMPTS {
        (&socket).write_all(&frame).map_err(fail)?;
        let deadline = Instant::now() + ATTEMPT_WAIT;
        while Instant::now() < deadline {
            match (&socket).read(&mut buffer) {
                Ok(n) => {
                    if let Some(mac) = reply_from(&buffer[..n], target) {
                        let millis = started.elapsed().as_millis() as u64;
                        return Ok(ArpProbe::Answered { mac, millis });
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(fail(e)),
            }
        }
    }
    Ok(ArpProbe::Silent)
}

/// A raw packet socket bound to interface `index`, seeing every protocol
/// (ETH_P_ALL sockets see received frames before tc ingress).
fn packet_socket(index: u32) -> std::io::Result<socket2::Socket> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ALL.to_be();
    addr.sll_ifindex = index as i32;
    // SAFETY: `addr` is a valid sockaddr_ll of the length passed.
    let bound = unsafe {
        libc::bind(
            fd,
            std::ptr::addr_of!(addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if bound < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket2::Socket::from(owned))
}

/// The Ethernet frame of an ARP probe for `target` from MAC `source`.
pub fn request(source: [u8; 6], target: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::with_capacity(42);
    frame.extend_from_slice(&[0xff; 6]);
    frame.extend_from_slice(&source);
    frame.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    frame.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    frame.extend_from_slice(&ARP_REQUEST.to_be_bytes());
    frame.extend_from_slice(&source);
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target.octets());
    frame
}

/// The sender MAC of `frame` if it is an ARP reply from `target`.
pub fn reply_from(frame: &[u8], target: Ipv4Addr) -> Option<[u8; 6]> {
    let arp = frame.get(14..42)?;
    let is_reply = frame[12..14] == ETH_P_ARP.to_be_bytes()
        && arp[6..8] == ARP_REPLY.to_be_bytes()
        && arp[14..18] == target.octets();
    is_reply.then(|| arp[8..14].try_into().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_the_matching_reply() {
        let me = [2, 0, 0, 0, 0, 1];
        let guest = [2, 0, 0, 0, 0, 9];
        let ip = Ipv4Addr::new(10, 77, 0, 2);
        let req = request(me, ip);
        assert_eq!(req.len(), 42);
        assert_eq!(reply_from(&req, ip), None, "a request is no reply");
        let mut reply = req.clone();
        reply[0..6].copy_from_slice(&me);
        reply[6..12].copy_from_slice(&guest);
        reply[20..22].copy_from_slice(&ARP_REPLY.to_be_bytes());
        reply[22..28].copy_from_slice(&guest);
        reply[28..32].copy_from_slice(&ip.octets());
        assert_eq!(reply_from(&reply, ip), Some(guest));
        assert_eq!(reply_from(&reply, Ipv4Addr::new(10, 77, 0, 3)), None);
        assert_eq!(reply_from(&reply[..30], ip), None);
    }
}
