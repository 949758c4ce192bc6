//! Closes the TCP connections that sidecars (and the CRI's port-forward)
//! opened to the pod's 127.0.0.1 on a port the guest served, once the guest
//! is gone. Those connections were translated in the kernel (DNAT), so no
//! ukrun socket holds them: without this, a peer that only reads would wait
//! forever for a guest that no longer exists. SOCK_DESTROY (the kernel's
//! `ss -K`, netlink sock_diag) aborts each one: the local end gets
//! ECONNABORTED, the other end a reset. Acts on the calling thread's netns.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};

/// How long the kernel may take to answer one request before the teardown
/// moves on (it answers at once; this only bounds a surprise).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// Receive buffer: a dump arrives in chunks of at most a page or so.
const RECEIVE_BUFFER: usize = 32 * 1024;

/// Connection states worth aborting: everything but LISTEN (no peer),
/// TIME_WAIT and CLOSE (already closed; the kernel cannot destroy them).
fn open_states() -> StateFlags {
    StateFlags::all() - StateFlags::LISTEN - StateFlags::TIME_WAIT - StateFlags::CLOSE
}

/// Whether a socket was connected to 127.0.0.1 on one of `ports` (also from
/// a dual-stack socket, as `::ffff:127.0.0.1`).
pub fn forwarded_to_loopback(id: &SocketId, ports: &[u16]) -> bool {
    id.destination_address.to_canonical() == IpAddr::V4(Ipv4Addr::LOCALHOST)
        && ports.contains(&id.destination_port)
}

/// Aborts every open TCP connection of this netns to 127.0.0.1 on one of
/// `ports`; returns how many it aborted. A connection that closed in the
/// meantime is not an error.
pub fn abort_loopback_connections(ports: &[u16]) -> io::Result<usize> {
    if ports.is_empty() {
        return Ok(0);
    }
    let mut diag = SockDiag::open()?;
    let mut aborted = 0;
    for family in [AF_INET, AF_INET6] {
        for id in diag.tcp_sockets(family)? {
            if forwarded_to_loopback(&id, ports) && diag.destroy(family, id)? {
                aborted += 1;
            }
        }
    }
    Ok(aborted)
}

/// A sock_diag netlink socket.
struct SockDiag {
    socket: Socket,
    buffer: Vec<u8>,
}

impl SockDiag {
    fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        socket2::SockRef::from(&socket).set_read_timeout(Some(ANSWER_TIMEOUT))?;
        Ok(Self {
            socket,
            buffer: vec![0; RECEIVE_BUFFER],
        })
    }

    fn request(family: u8, socket_id: SocketId) -> SockDiagMessage {
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: open_states(),
            socket_id,
        })
    }

    fn send<T: NetlinkSerializable>(&self, payload: T, flags: u16) -> io::Result<()> {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        self.socket.send(&bytes, 0).map(drop)
    }

    /// Every open TCP socket of `family`, by id (addresses, ports, cookie).
    fn tcp_sockets(&mut self, family: u8) -> io::Result<Vec<SocketId>> {
        let any = if family == AF_INET {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        };
        self.send(Self::request(family, any), NLM_F_REQUEST | NLM_F_DUMP)?;
        let mut found = Vec::new();
        loop {
            let length = self.socket.recv(&mut &mut self.buffer[..], 0)?;
            let mut offset = 0;
            while offset < length {
                let message =
                    NetlinkMessage::<SockDiagMessage>::deserialize(&self.buffer[offset..length])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                match message.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                        found.push(response.header.socket_id)
                    }
                    NetlinkPayload::Done(_) => return Ok(found),
                    NetlinkPayload::Error(e) => return Err(e.to_io()),
                    _ => {}
                }
                let step = message.header.length as usize;
                if step == 0 {
                    break;
                }
                offset += step;
            }
        }
    }

    /// Destroys one socket; false when it was already gone.
    fn destroy(&mut self, family: u8, id: SocketId) -> io::Result<bool> {
        let request = SockDiagDestroy::new(Self::request(family, id));
        self.send(request, NLM_F_REQUEST | NLM_F_ACK)?;
        let length = self.socket.recv(&mut &mut self.buffer[..], 0)?;
        let answer = NetlinkMessage::<SockDiagMessage>::deserialize(&self.buffer[..length])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        match answer.payload {
            NetlinkPayload::Error(e) if e.code.is_some() => {
                let error = e.to_io();
                match error.raw_os_error() {
                    Some(libc::ENOENT) => Ok(false),
                    _ => Err(error),
                }
            }
            _ => Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn to(address: IpAddr, port: u16) -> SocketId {
        SocketId {
            destination_address: address,
            destination_port: port,
            ..SocketId::new_v4()
        }
    }

    #[test]
    fn only_connections_to_loopback_on_declared_ports_are_forwarded() {
        let ports = [8080, 9090];
        assert!(forwarded_to_loopback(
            &to(Ipv4Addr::LOCALHOST.into(), 8080),
            &ports
        ));
        assert!(forwarded_to_loopback(
            &to(Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(), 9090),
            &ports
        ));
        assert!(!forwarded_to_loopback(
            &to(Ipv4Addr::LOCALHOST.into(), 8081),
            &ports
        ));
        assert!(!forwarded_to_loopback(
            &to(Ipv4Addr::new(10, 0, 0, 2).into(), 8080),
            &ports
        ));
        assert!(!forwarded_to_loopback(
            &to(Ipv6Addr::LOCALHOST.into(), 8080),
            &ports
        ));
    }

    #[test]
    fn listeners_and_closed_sockets_are_left_alone() {
        let states = open_states();
        assert!(states.contains(StateFlags::ESTABLISHED | StateFlags::CLOSE_WAIT));
        assert!(!states.intersects(StateFlags::LISTEN | StateFlags::TIME_WAIT | StateFlags::CLOSE));
    }
}
