//! A small DNS relay (UDP and TCP) in the pod netns, on the pod-loopback
//! address, for guests that cannot use the pod's resolver directly: the
//! pod's nameservers may be loopback-only (127.0.0.11, 127.0.0.53), which the
//! guest cannot reach, and some guest resolvers (lwIP) cannot apply the pod's
//! search list. The relay answers names from the pod's hosts file (as
//! asked, as glibc's files backend matches them), applies
//! the search list and `ndots` the way glibc's `res_search` does when asked
//! to, and otherwise forwards to the pod's nameservers with their failover
//! rules. It never invents a resolver. See DESIGN.md, "DNS".
//!
//! The wire format is parsed and built with `hickory-proto` 0.26, the current
//! release of the Hickory DNS project's protocol crate: well kept, fuzzed,
//! and since 0.26 free of any networking or runtime of its own, so it adds
//! message types and nothing else; its `std` feature is all the relay needs.

mod framing;
mod hosts;
mod resolve;
mod response;
mod search;
mod tcp;
mod udp;
mod upstream;
mod wire;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use resolve::Resolver;

/// What the relay needs to know of the pod's resolver configuration; the
/// supervisor reads it from the pod's resolv.conf and hosts file.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// The pod's nameservers, in resolv.conf order. Loopback ones work: the
    /// relay runs in the pod netns.
    pub upstreams: Vec<SocketAddr>,
    /// The pod's search list, in order.
    pub search: Vec<String>,
    /// resolv.conf `options ndots` (1 when absent).
    pub ndots: u8,
    /// Per-attempt upstream timeout (resolv.conf `options timeout`, 5 s).
    pub timeout: Duration,
    /// Rounds over the upstreams (resolv.conf `options attempts`, 2).
    pub attempts: u32,
    /// Apply `search` and `ndots` for the guest, whose resolver cannot.
    pub apply_search: bool,
    /// The pod's hosts entries (hostAliases, the pod's own name), names in
    /// lower case.
    pub hosts: Vec<(String, IpAddr)>,
    /// Bound on queries waiting for an upstream at once (and on open TCP
    /// connections); past it the relay answers SERVFAIL at once.
    pub max_in_flight: usize,
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A listening socket could not be opened.
    #[error("DNS relay cannot listen on {protocol} {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// `UDP` or `TCP`.
        protocol: &'static str,
        /// OS error.
        source: std::io::Error,
    },
}

/// The relay's listening sockets, bound before the supervisor reports the
/// container started so that a bind failure fails the create.
#[derive(Debug)]
pub struct Relay {
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    local: SocketAddr,
}

/// Tries before giving up on finding a port free for both UDP and TCP when
/// `bind` is asked for port 0.
const EPHEMERAL_TRIES: usize = 16;

impl Relay {
    /// Binds UDP and TCP on `listen` (e.g. 169.254.1.1:53) on the same port;
    /// port 0 picks one free for both. Must be called within a tokio runtime.
    /// Errors name the address.
    pub fn bind(listen: SocketAddr) -> Result<Relay, RelayError> {
        let mut tries = if listen.port() == 0 {
            EPHEMERAL_TRIES
        } else {
            1
        };
        loop {
            match Self::bind_once(listen) {
                Err(_) if tries > 1 => tries -= 1,
                done => return done,
            }
        }
    }

    fn bind_once(listen: SocketAddr) -> Result<Relay, RelayError> {
        let error = |protocol| {
            move |source| RelayError::Bind {
                address: listen,
                protocol,
                source,
            }
        };
        let udp = std::net::UdpSocket::bind(listen).map_err(error("UDP"))?;
        let local = udp.local_addr().map_err(error("UDP"))?;
        udp.set_nonblocking(true).map_err(error("UDP"))?;
        let tcp = std::net::TcpListener::bind(local).map_err(error("TCP"))?;
        tcp.set_nonblocking(true).map_err(error("TCP"))?;
        Ok(Relay {
            udp: tokio::net::UdpSocket::from_std(udp).map_err(error("UDP"))?,
            tcp: tokio::net::TcpListener::from_std(tcp).map_err(error("TCP"))?,
            local,
        })
    }

    /// The bound address (tests bind port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves forever; dropping or aborting the task closes the sockets and
    /// cancels every query in flight.
    pub async fn serve(self, config: RelayConfig) {
        let resolver = Arc::new(Resolver::new(config));
        tokio::join!(
            udp::serve(self.udp, resolver.clone()),
            tcp::serve(self.tcp, resolver)
        );
    }
}
