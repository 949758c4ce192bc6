//! Asking a booted guest over HTTP from a network namespace (the node, or
//! the pod itself), retrying while it comes up or is busy: the way tests
//! read what a guest sees, for the Unikraft `nettest` ([`crate::nettest`])
//! and the Linux test guest ([`crate::guest_answers`]) alike.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::netns::Netns;
use crate::{http, wait};

/// Longest wait for an answer of the booted guest (nettest serves one
/// request at a time; a `/resolve` of a name the DNS does not know may
/// take a few seconds of lwIP retries).
const ANSWER_WAIT: Duration = Duration::from_secs(45);
/// Connect timeout of one request.
const CONNECT: Duration = Duration::from_secs(3);
/// How long one request may wait for the guest to work out its answer (a
/// DNS lookup: the Linux guest's gives up after 10 s), so that a slow
/// answer is not asked again, which would pile lookups up in the guest.
const ANSWER_TIME: Duration = Duration::from_secs(15);

/// A guest's HTTP server at `ip:port` as seen from `netns`.
pub struct GuestHttp {
    netns: Netns,
    addr: SocketAddr,
}

impl GuestHttp {
    /// The guest's server at `ip`:`port` as seen from `netns`.
    pub fn at(netns: Netns, ip: &str, port: u16) -> Result<Self> {
        let ip: IpAddr = ip.parse().with_context(|| format!("guest IP {ip:?}"))?;
        Ok(GuestHttp {
            netns,
            addr: SocketAddr::new(ip, port),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// GETs `path` (retrying, bounded, while the guest comes up or is busy
    /// with another client) and returns the body of the 200 answer.
    pub fn get(&self, path: &str) -> Result<Vec<u8>> {
        let addr = self.addr;
        let path = path.to_owned();
        wait::poll(
            &format!("the guest's answer to GET http://{addr}{path}"),
            ANSWER_WAIT,
            Duration::from_millis(250),
            || {
                let path = path.clone();
                self.netns
                    .within(move || http::get_bytes_waiting(addr, &path, CONNECT, ANSWER_TIME))
                    .map(Some)
            },
        )
    }

    /// GETs `path` as text (trailing newline removed).
    pub fn text(&self, path: &str) -> Result<String> {
        let body = self.get(path)?;
        Ok(String::from_utf8_lossy(&body).trim_end().to_owned())
    }
}
