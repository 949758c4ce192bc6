//! A minimal HTTP/1.0 GET over std's `TcpStream` with hard timeouts, meant
//! to run inside a netns thread (see [`crate::netns::Netns::within`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::wait;

/// Connect timeout and read/write timeout of one GET.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between two GETs of [`first_answer`].
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long one GET of [`first_answer`] waits for its connection: a SYN
/// sent before a guest reads its tap is lost, and the kernel would resend
/// it only after 1 s.
const POLL_CONNECT: Duration = Duration::from_millis(100);

/// Fetches `http://addr/path` and returns the body of a `200` answer as
/// text; any other status, a refused connection or a timeout is an error.
pub fn get(addr: SocketAddr, path: &str) -> Result<String> {
    Ok(String::from_utf8_lossy(&get_bytes(addr, path)?).into_owned())
}

/// Fetches `http://addr/path` and returns the body of a `200` answer byte
/// for byte.
pub fn get_bytes(addr: SocketAddr, path: &str) -> Result<Vec<u8>> {
    get_bytes_within(addr, path, TIMEOUT)
}

/// Like [`get_bytes`], giving up on the connection after `connect`: for
/// pollers that would rather try again at once than wait for the kernel's
/// SYN retransmission (1 s) when the first SYN was dropped, as it is while
/// a guest is not yet reading its tap.
pub fn get_bytes_within(addr: SocketAddr, path: &str, connect: Duration) -> Result<Vec<u8>> {
    get_bytes_waiting(addr, path, connect, TIMEOUT)
}

/// Like [`get_bytes_within`], waiting up to `read` for each part of the
/// answer: for servers that work out their answer first (a guest that
/// runs a DNS lookup before it answers).
pub fn get_bytes_waiting(
    addr: SocketAddr,
    path: &str,
    connect: Duration,
    read: Duration,
) -> Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, connect)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(read))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("sending GET to {addr}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the answer from {addr}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or((raw.len(), raw.len()), |at| (at, at + 4));
    let head = String::from_utf8_lossy(&raw[..split.0]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("GET http://{addr}{path} answered {status:?}");
    }
    Ok(raw.split_off(split.1))
}

/// Polls `GET /` at `addr` (every 10 ms, each connection given 100 ms)
/// until a `200` arrives, for at most `limit`: a booting guest's first
/// answer, soon after it comes.
pub fn first_answer(addr: SocketAddr, limit: Duration) -> Result<()> {
    wait::poll(
        &format!("an answer from http://{addr}/"),
        limit,
        POLL_INTERVAL,
        || get_bytes_within(addr, "/", POLL_CONNECT).map(|_| Some(())),
    )
}
