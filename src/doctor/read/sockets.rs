//! Listening sockets of the calling thread's network namespace, from
//! `/proc/thread-self/net/{tcp,tcp6,udp,udp6}` (`/proc/self/net` would show
//! the main thread's namespace).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::spec::ports::Protocol;

/// A socket waiting for peers: TCP in LISTEN, UDP unconnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Protocol.
    pub protocol: Protocol,
    /// Local address.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
}

/// TCP_LISTEN and UDP's unconnected TCP_CLOSE, as /proc/net prints them.
const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// Every listener of the calling thread's netns (missing tables, e.g. no
/// IPv6, count as empty).
pub fn listeners() -> Vec<Listener> {
    [
        ("tcp", Protocol::Tcp, TCP_LISTEN),
        ("tcp6", Protocol::Tcp, TCP_LISTEN),
        ("udp", Protocol::Udp, UDP_UNCONNECTED),
        ("udp6", Protocol::Udp, UDP_UNCONNECTED),
    ]
    .into_iter()
    .flat_map(|(file, protocol, state)| {
        let text =
            std::fs::read_to_string(format!("/proc/thread-self/net/{file}")).unwrap_or_default();
        parse(&text, protocol, state)
    })
    .collect()
}

/// The sockets of one /proc/net table in `state`.
pub fn parse(text: &str, protocol: Protocol, state: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let st = fields.nth(1)?;
            (st == state).then_some(())?;
            let (address, port) = local.split_once(':')?;
            Some(Listener {
                protocol,
                address: hex_address(address)?,
                port: u16::from_str_radix(port, 16).ok()?,
            })
        })
        .collect()
}

/// An address as the kernel prints it: 32-bit words in host byte order.
fn hex_address(hex: &str) -> Option<IpAddr> {
    let words: Vec<[u8; 4]> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<Vec<u32>>>()?
        .into_iter()
        .map(u32::to_ne_bytes)
        .collect();
    match words.as_slice() {
        [a] => Some(IpAddr::V4(Ipv4Addr::from(*a))),
        [a, b, c, d] => {
            let bytes: Vec<u8> = [a, b, c, d].into_iter().flatten().copied().collect();
            Some(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(bytes).ok()?,
            )))
        }
        _ => None,
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    #[test]
    fn parses_listeners_of_both_families() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n\
                   1: 0100007F:1F91 0200000A:D431 01 00000000:00000000 00:00000000 00000000     0        0 2\n";
        assert_eq!(
            parse(tcp, Protocol::Tcp, TCP_LISTEN),
            vec![Listener {
                protocol: Protocol::Tcp,
                address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 8080
            }]
        );
        let tcp6 = "  sl  local_address                         remote_address                        st\n\
                    0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 0\n";
        assert_eq!(
            parse(tcp6, Protocol::Tcp, TCP_LISTEN)[0].address,
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
    }
}
