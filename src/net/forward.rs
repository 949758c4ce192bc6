//! Localhost forwarding that the kernel cannot do: the pod's ::1 (IPv6
//! loopback cannot be DNATed to the guest's IPv4 address), proxied in user
//! space to the guest. The pod's 127.0.0.1 is forwarded in the kernel (see
//! `nft`); this module also checks that no sidecar already holds a declared
//! port there, since the DNAT would silently take its traffic.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};

use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use super::nft::GUEST_MARK;
use crate::spec::ports::{GuestPort, Protocol};

/// Why forwarding could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A sidecar (or anything else in the pod) already uses the port.
    #[error("port {port} is already in use on {address} in the pod (a sidecar listens there): it cannot be forwarded to the guest")]
    InUse {
        /// The port.
        port: GuestPort,
        /// The loopback address.
        address: &'static str,
    },
    /// Binding failed otherwise.
    #[error("cannot listen on {address} port {port}: {source}")]
    Bind {
        /// The port.
        port: GuestPort,
        /// The loopback address.
        address: &'static str,
        /// OS error.
        source: std::io::Error,
    },
}

/// Refuses ports that something in the pod netns already holds on 127.0.0.1.
pub fn check_ipv4_loopback_free(ports: &[GuestPort]) -> Result<(), ForwardError> {
    for port in ports {
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port.port));
        let bound = match port.protocol {
            Protocol::Tcp => TcpListener::bind(addr).map(drop),
            Protocol::Udp => UdpSocket::bind(addr).map(drop),
        };
        match bound {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(ForwardError::InUse {
                    port: *port,
                    address: "127.0.0.1",
                })
            }
            Err(source) => {
                return Err(ForwardError::Bind {
                    port: *port,
                    address: "127.0.0.1",
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Listens on [::1] for each declared TCP port and proxies every connection
/// to the guest, from the pod-loopback address with the guest mark (so the
/// pod netns routes it to the tap). Returns the listener tasks (aborted on
/// drop of the runtime). A pod without IPv6 gets no ::1 listeners.
pub fn spawn_ipv6_loopback(
    ports: &[GuestPort],
    guest: Ipv4Addr,
    source: Ipv4Addr,
) -> Result<Vec<JoinHandle<()>>, ForwardError> {
    let mut tasks = Vec::new();
    for port in ports.iter().filter(|p| p.protocol == Protocol::Tcp) {
        let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, port.port));
        let listener = match std::net::TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => continue,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(ForwardError::InUse {
                    port: *port,
                    address: "::1",
                })
            }
            Err(source) => {
                return Err(ForwardError::Bind {
                    port: *port,
                    address: "::1",
                    source,
                })
            }
        };
        let bind_err = |source| ForwardError::Bind {
            port: *port,
            address: "::1",
            source,
        };
        listener.set_nonblocking(true).map_err(bind_err)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_err)?;
        let target = SocketAddrV4::new(guest, port.port);
        tasks.push(tokio::spawn(accept_loop(listener, target, source)));
    }
    Ok(tasks)
}

async fn accept_loop(listener: tokio::net::TcpListener, target: SocketAddrV4, source: Ipv4Addr) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(async move {
            if let Ok(upstream) = connect_to_guest(target, source).await {
                proxy(client, upstream).await;
            }
        });
    }
}

/// Connects to the guest with the guest mark, from the pod-loopback address.
async fn connect_to_guest(target: SocketAddrV4, source: Ipv4Addr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket2::SockRef::from(&socket).set_mark(GUEST_MARK)?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(SocketAddr::V4(target)).await
}

/// Copies both ways until both directions are closed (a half-close is passed
/// on as a shutdown of the other side's write half).
async fn proxy(mut client: TcpStream, mut upstream: TcpStream) {
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_is_refused_and_a_free_one_is_not() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let tcp = GuestPort {
            port,
            protocol: Protocol::Tcp,
        };
        let e = check_ipv4_loopback_free(&[tcp]).unwrap_err();
        assert!(
            e.to_string().contains("is already in use on 127.0.0.1"),
            "{e}"
        );
        drop(held);
        assert!(check_ipv4_loopback_free(&[tcp]).is_ok());
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let uport = GuestPort {
            port: udp.local_addr().unwrap().port(),
            protocol: Protocol::Udp,
        };
        assert!(check_ipv4_loopback_free(&[uport]).is_err());
    }
}
