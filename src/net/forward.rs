//! Localhost forwarding that the kernel cannot do: the pod's ::1 (IPv6
//! loopback cannot be DNATed to the guest's IPv4 address), TCP and UDP,
//! proxied in user space to the guest. The pod's 127.0.0.1 is forwarded in
//! the kernel (see `nft`); this module also checks that no sidecar already holds a declared
//! port there, since the DNAT would silently take its traffic.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};

use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use super::destroyed;
use super::nft::GUEST_MARK;
use crate::spec::ports::{GuestPort, Protocol};

/// The ::1 UDP forwarder (its own file: the flow table and its tests).
#[path = "forward_udp.rs"]
pub mod udp;

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

/// Forwards the pod's [::1] to the guest for each declared port, from the
/// pod-loopback address with the guest mark (so the pod netns routes it to
/// the tap): TCP ports are proxied connection by connection, UDP ports
/// datagram by datagram with per-peer flows (see [`udp`]). Returns the
/// forwarder tasks; aborting one closes its socket and everything it opened.
/// On an error, the forwarders already started are aborted. A pod without
/// IPv6 gets no ::1 forwarders.
pub fn spawn_ipv6_loopback(
    ports: &[GuestPort],
    guest: Ipv4Addr,
    source: Ipv4Addr,
) -> Result<Vec<JoinHandle<()>>, ForwardError> {
    let mut tasks = Vec::new();
    spawn_each(ports, guest, source, &mut tasks).inspect_err(|_| {
        tasks.iter().for_each(JoinHandle::abort);
    })?;
    Ok(tasks)
}

/// Binds and spawns the forwarder of each port into `tasks`, up to the
/// first error.
fn spawn_each(
    ports: &[GuestPort],
    guest: Ipv4Addr,
    source: Ipv4Addr,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<(), ForwardError> {
    for port in ports {
        let target = SocketAddrV4::new(guest, port.port);
        let task = match port.protocol {
            Protocol::Tcp => bind_ipv6_loopback(port, std::net::TcpListener::bind, |l| {
                tokio::net::TcpListener::from_std(l).map(|l| accept_loop(l, target, source))
            })?
            .map(tokio::spawn),
            Protocol::Udp => bind_ipv6_loopback(port, std::net::UdpSocket::bind, |s| {
                tokio::net::UdpSocket::from_std(s)
                    .map(|s| udp::serve(s, target, source, udp::Limits::default()))
            })?
            .map(tokio::spawn),
        };
        tasks.extend(task);
    }
    Ok(())
}

/// Binds `port` on [::1] with `bind`, made non-blocking and handed to
/// `serve`; `None` when the pod has no IPv6 loopback.
fn bind_ipv6_loopback<S, T>(
    port: &GuestPort,
    bind: impl FnOnce(SocketAddr) -> std::io::Result<S>,
    serve: impl FnOnce(S) -> std::io::Result<T>,
) -> Result<Option<T>, ForwardError>
where
    S: Into<socket2::Socket> + From<socket2::Socket>,
{
    let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, port.port));
    let error = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::AddrInUse => ForwardError::InUse {
            port: *port,
            address: "::1",
        },
        _ => ForwardError::Bind {
            port: *port,
            address: "::1",
            source,
        },
    };
    let socket = match bind(addr) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => return Ok(None),
        Err(e) => return Err(error(e)),
    };
    let socket: socket2::Socket = socket.into();
    socket.set_nonblocking(true).map_err(error)?;
    serve(S::from(socket)).map(Some).map_err(error)
}

/// Pause after a failed accept (out of descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

async fn accept_loop(listener: tokio::net::TcpListener, target: SocketAddrV4, source: Ipv4Addr) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(async move {
                    if let Ok(upstream) = connect_to_guest(target, source).await {
                        proxy(client, upstream).await;
                    }
                });
            }
            Err(e) if destroyed::listener_destroyed(&e) => return,
            // Out of descriptors or memory: wait rather than spin.
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
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
    // A proxy must not add Nagle's delay to small writes the ends make.
    let _ = client
        .set_nodelay(true)
        .and_then(|_| upstream.set_nodelay(true));
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port held on ::1 fails the whole set, and the forwarders started
    /// before it are stopped (their ports are free again).
    #[tokio::test]
    async fn a_held_ipv6_port_fails_and_stops_the_forwarders_already_started() {
        let free = std::net::TcpListener::bind("[::1]:0").unwrap();
        let tcp = GuestPort {
            port: free.local_addr().unwrap().port(),
            protocol: Protocol::Tcp,
        };
        drop(free);
        let held = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let udp = GuestPort {
            port: held.local_addr().unwrap().port(),
            protocol: Protocol::Udp,
        };
        let lo = Ipv4Addr::LOCALHOST;
        let e = spawn_ipv6_loopback(&[tcp, udp], lo, lo).unwrap_err();
        assert!(e.to_string().contains("is already in use on ::1"), "{e}");
        let mut rebound = None;
        for _ in 0..100 {
            tokio::task::yield_now().await;
            rebound = std::net::TcpListener::bind(("::1", tcp.port)).ok();
            if rebound.is_some() {
                break;
            }
        }
        assert!(rebound.is_some(), "the TCP forwarder let its port go");
    }

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
