//! The guest ports a container declares for localhost forwarding
//! (`ukrun.dev/localhost-ports: "8080,9090,5353/udp"`), parsed strictly.

use std::fmt;

use crate::limits::excerpt;
use serde::{Deserialize, Serialize};

/// Transport protocol of a forwarded port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default when no `/proto` is given).
    Tcp,
    /// UDP.
    Udp,
}

/// One declared guest port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GuestPort {
    /// Port number (1–65535).
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl fmt::Display for GuestPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol {
            Protocol::Tcp => write!(f, "{}/tcp", self.port),
            Protocol::Udp => write!(f, "{}/udp", self.port),
        }
    }
}

/// Why a port list was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortListError {
    /// An entry is not `PORT` or `PORT/tcp|udp`.
    #[error("{} is not a port (use PORT or PORT/tcp or PORT/udp)", excerpt(.0))]
    Malformed(String),
    /// A port outside 1–65535.
    #[error("port {0} is out of range (1-65535)")]
    OutOfRange(String),
    /// The same port and protocol twice.
    #[error("port {0} is declared twice")]
    Duplicate(GuestPort),
}

/// Parses a comma-separated list; blanks around entries are allowed, empty
/// entries are not.
pub fn parse_port_list(text: &str) -> Result<Vec<GuestPort>, PortListError> {
    let mut ports: Vec<GuestPort> = Vec::new();
    for entry in text.split(',').map(str::trim) {
        let (number, protocol) = match entry.split_once('/') {
            None => (entry, Protocol::Tcp),
            Some((n, "tcp")) => (n, Protocol::Tcp),
            Some((n, "udp")) => (n, Protocol::Udp),
            Some(_) => return Err(PortListError::Malformed(entry.to_owned())),
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PortListError::Malformed(entry.to_owned()));
        }
        let port = match number.parse::<u32>() {
            Ok(p @ 1..=65535) => p as u16,
            _ => return Err(PortListError::OutOfRange(number.to_owned())),
        };
        let parsed = GuestPort { port, protocol };
        if ports.contains(&parsed) {
            return Err(PortListError::Duplicate(parsed));
        }
        ports.push(parsed);
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> GuestPort {
        GuestPort {
            port,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn parses_tcp_default_and_udp() {
        assert_eq!(
            parse_port_list("8080, 9090/tcp,5353/udp").unwrap(),
            vec![
                tcp(8080),
                tcp(9090),
                GuestPort {
                    port: 5353,
                    protocol: Protocol::Udp
                }
            ]
        );
        assert_eq!(
            parse_port_list("53,53/udp").unwrap().len(),
            2,
            "same number, two protocols"
        );
    }

    #[test]
    fn refuses_bad_entries_with_their_text() {
        let cases = [
            ("80,abc", "\"abc\" is not a port"),
            ("0", "port 0 is out of range"),
            ("70000", "port 70000 is out of range"),
            ("80,80", "port 80/tcp is declared twice"),
            ("80,80/tcp", "port 80/tcp is declared twice"),
            ("", "\"\" is not a port"),
            ("80,", "\"\" is not a port"),
            ("80/sctp", "\"80/sctp\" is not a port"),
            ("-1", "\"-1\" is not a port"),
            ("+80", "\"+80\" is not a port"),
            ("99999999999", "out of range"),
        ];
        for (text, expected) in cases {
            let e = parse_port_list(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }
}
