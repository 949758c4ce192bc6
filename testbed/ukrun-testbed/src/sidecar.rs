//! What a sidecar does on the network, as small bounded socket exchanges run
//! inside a network namespace: serve one TCP connection, read one TCP
//! answer, echo one UDP datagram, ask one UDP question.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::netns::Netns;

/// Longest wait of any exchange.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` in `netns` (bound before this returns) and answers one
/// connection with `reply` on a background thread.
pub fn serve_tcp_once(
    netns: &Netns,
    addr: &str,
    reply: &'static [u8],
) -> Result<JoinHandle<Result<()>>> {
    let addr: SocketAddr = addr.parse()?;
    let listener =
        netns.within(move || TcpListener::bind(addr).with_context(|| format!("binding {addr}")))?;
    Ok(std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + TIMEOUT;
        listener.set_nonblocking(true)?;
        loop {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false)?;
                    stream.write_all(reply)?;
                    return Ok(());
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e).context("accepting the one connection"),
            }
        }
    }))
}

/// Connects to `addr` and reads until the peer closes.
pub fn read_tcp(addr: SocketAddr) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .with_context(|| format!("reading from {addr}"))?;
    Ok(text)
}

/// Binds a UDP socket at `addr` in `netns` and echoes one datagram.
pub fn echo_udp_once(netns: &Netns, addr: &str) -> Result<JoinHandle<Result<()>>> {
    let addr: SocketAddr = addr.parse()?;
    let socket =
        netns.within(move || UdpSocket::bind(addr).with_context(|| format!("binding {addr}")))?;
    Ok(std::thread::spawn(move || {
        socket.set_read_timeout(Some(TIMEOUT))?;
        let mut buf = [0u8; 512];
        let (n, peer) = socket
            .recv_from(&mut buf)
            .context("waiting for the datagram")?;
        socket.send_to(&buf[..n], peer)?;
        Ok(())
    }))
}

/// Sends `question` to `addr` from an ephemeral port and returns the answer.
pub fn ask_udp(addr: SocketAddr, question: &[u8]) -> Result<String> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.set_read_timeout(Some(TIMEOUT))?;
    socket.send_to(question, addr)?;
    let mut buf = [0u8; 512];
    let (n, _) = socket
        .recv_from(&mut buf)
        .with_context(|| format!("waiting for {addr}'s answer"))?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}
