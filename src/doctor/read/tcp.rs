//! The TCP probe: a connect with a deadline, from the calling thread's
//! network namespace.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a connect may take.
const CONNECT_WAIT: Duration = Duration::from_secs(1);

/// How a connect went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpProbe {
    /// The handshake completed.
    Connected,
    /// A reset came back: something answered, nothing listens.
    Refused,
    /// No answer in time.
    TimedOut,
    /// Any other error.
    Failed(String),
}

/// Connects to `addr` and closes the connection at once.
pub fn connect(addr: SocketAddr) -> TcpProbe {
    match TcpStream::connect_timeout(&addr, CONNECT_WAIT) {
        Ok(_) => TcpProbe::Connected,
        Err(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => TcpProbe::Refused,
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => TcpProbe::TimedOut,
            _ => TcpProbe::Failed(e.to_string()),
        },
    }
}
