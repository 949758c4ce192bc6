//! CRI PortForward end to end: the call returns a URL on containerd's
//! stream server, and this client speaks the websocket flavour of
//! Kubernetes' port-forward protocol there (`v4.channel.k8s.io`, what the
//! stream server accepts besides SPDY): one request out, the answer back.
//!
//! The protocol, as containerd's vendored kubelet stream server speaks it:
//! the ports come from the PortForward request; each port gets a data
//! channel (0 for the first port) and an error channel (1); every websocket
//! message starts with its channel number, and the first two bytes on each
//! channel are the port (little endian). containerd dials `localhost:PORT`
//! inside the pod netns and copies both ways until the pod side closes,
//! then the server closes the websocket.
//!
//! Only what one exchange needs is implemented (RFC 6455 client frames,
//! unfragmented or continued messages, close), not a general client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use k8s_cri::v1::PortForwardRequest;

use super::{Cri, CALL_DEADLINE};
use crate::netns::Netns;

/// The websocket subprotocol (binary channels, version 4).
const SUBPROTOCOL: &str = "v4.channel.k8s.io";
/// RFC 6455's sample nonce and its accept value (section 1.3): a fixed
/// nonce is enough for a test client and lets the answer be checked
/// without SHA-1.
const NONCE: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// Bound on connecting and on each read or write (the stream server answers
/// at once; the pod side as fast as the guest).
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest message accepted (the exchange is a small HTTP answer).
const MAX_MESSAGE: u64 = 16 << 20;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;

impl Cri {
    /// PortForward to `port` of pod `pod_id`, then sends `request` through
    /// it from `node_netns` (where containerd's stream server listens) and
    /// returns every byte the pod side sent back before closing. A message
    /// on the error channel is an error.
    pub fn port_forward(
        &self,
        node_netns: &Netns,
        pod_id: &str,
        port: u16,
        request: &[u8],
    ) -> Result<Vec<u8>> {
        let mut client = self.runtime.clone();
        let call = PortForwardRequest {
            pod_sandbox_id: pod_id.to_string(),
            port: vec![i32::from(port)],
        };
        let url = self
            .call("PortForward", CALL_DEADLINE, client.port_forward(call))?
            .url;
        let (addr, path) = split_url(&url)?;
        let request = request.to_vec();
        node_netns
            .within(move || exchange(addr, &path, port, &request))
            .with_context(|| format!("port-forward through {url}"))
    }
}

/// `http://HOST:PORT/PATH` → the socket address and the path.
fn split_url(url: &str) -> Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("unexpected stream URL {url:?} (not http://)"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr = authority
        .parse()
        .with_context(|| format!("stream URL {url:?}: {authority:?} is not IP:PORT"))?;
    Ok((addr, if path.is_empty() { "/" } else { path }.to_string()))
}

/// One port-forward exchange on a fresh connection to the stream server.
fn exchange(addr: SocketAddr, path: &str, port: u16, request: &[u8]) -> Result<Vec<u8>> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    handshake(&mut writer, &mut reader, addr, path, port)?;
    let mut message = vec![0u8];
    message.extend_from_slice(request);
    writer.write_all(&client_frame(OP_BINARY, &message, mask_key()))?;
    let mut channels = Channels::default();
    while let Some(message) = read_message(&mut reader)? {
        channels.take(&message)?;
    }
    channels.finish(port)
}

/// Sends the upgrade request and checks the server's 101 answer.
fn handshake(
    writer: &mut impl Write,
    reader: &mut impl BufRead,
    addr: SocketAddr,
    path: &str,
    port: u16,
) -> Result<()> {
    let request = format!(
        "GET {path}?port={port} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {NONCE}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
    );
    writer.write_all(request.as_bytes())?;
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        ensure!(
            reader.read_line(&mut line)? > 0,
            "the stream server closed during the handshake"
        );
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let header = |name: &str| {
        head.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let status = head.first().map(String::as_str).unwrap_or_default();
    ensure!(
        status.split_whitespace().nth(1) == Some("101"),
        "the stream server did not upgrade: {}",
        head.join(" | ")
    );
    ensure!(
        header("Sec-WebSocket-Accept").as_deref() == Some(ACCEPT),
        "bad Sec-WebSocket-Accept: {}",
        head.join(" | ")
    );
    ensure!(
        header("Sec-WebSocket-Protocol").as_deref() == Some(SUBPROTOCOL),
        "the stream server did not pick {SUBPROTOCOL}: {}",
        head.join(" | ")
    );
    Ok(())
}

/// A masking key that differs between runs (RFC 6455 wants one per frame
/// that proxies cannot predict; nothing here is adversarial).
fn mask_key() -> [u8; 4] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id().rotate_left(16)).to_be_bytes()
}

/// One final, masked client frame.
fn client_frame(opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    frame
}

/// The next complete data message, or `None` at a close frame or when the
/// server closed the connection.
fn read_message(reader: &mut impl Read) -> Result<Option<Vec<u8>>> {
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        match reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e).context("reading a websocket frame"),
        }
        let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
        let len = match head[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes(read_array(reader)?)),
            127 => u64::from_be_bytes(read_array(reader)?),
            len => u64::from(len),
        };
        let key: Option<[u8; 4]> = (head[1] & 0x80 != 0)
            .then(|| read_array(reader))
            .transpose()?;
        ensure!(
            message.len() as u64 + len <= MAX_MESSAGE,
            "websocket message over {MAX_MESSAGE} bytes"
        );
        let mut payload = vec![0u8; len as usize];
        reader.read_exact(&mut payload)?;
        if let Some(key) = key {
            payload
                .iter_mut()
                .zip(key.iter().cycle())
                .for_each(|(b, k)| *b ^= k);
        }
        match opcode {
            OP_CLOSE => return Ok(None),
            OP_CONTINUATION | OP_TEXT | OP_BINARY => message.extend_from_slice(&payload),
            // Ping and pong carry no data; the server sends none here.
            _ => continue,
        }
        if fin {
            return Ok(Some(message));
        }
    }
}

/// Reads exactly `N` bytes.
fn read_array<const N: usize>(reader: &mut impl Read) -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    reader.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// What arrived on the data and error channels of the one port.
#[derive(Default)]
struct Channels {
    data: Vec<u8>,
    error: Vec<u8>,
}

impl Channels {
    /// Files one message under its channel.
    fn take(&mut self, message: &[u8]) -> Result<()> {
        let Some((channel, bytes)) = message.split_first() else {
            return Ok(());
        };
        match channel {
            0 => self.data.extend_from_slice(bytes),
            1 => self.error.extend_from_slice(bytes),
            other => bail!("message on channel {other}, but only one port was forwarded"),
        }
        Ok(())
    }

    /// The data after each channel's port prefix; an error if the error
    /// channel said something.
    fn finish(self, port: u16) -> Result<Vec<u8>> {
        let prefix = port.to_le_bytes();
        for (name, bytes) in [("data", &self.data), ("error", &self.error)] {
            ensure!(
                bytes.starts_with(&prefix),
                "the {name} channel does not start with port {port}: {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let error = String::from_utf8_lossy(&self.error[2..]);
        ensure!(error.is_empty(), "the stream server reported: {error}");
        Ok(self.data[2..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmasked server frames of one message each.
    fn server_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![if fin { 0x80 } else { 0 } | opcode, payload.len() as u8];
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn splits_the_stream_url() {
        let (addr, path) = split_url("http://127.0.0.1:41234/portforward/AbC-1").unwrap();
        assert_eq!(addr, "127.0.0.1:41234".parse().unwrap());
        assert_eq!(path, "/portforward/AbC-1");
        assert!(split_url("https://127.0.0.1:1/x").is_err());
    }

    #[test]
    fn client_frames_are_masked_and_sized() {
        let frame = client_frame(OP_BINARY, b"\0GET", [1, 2, 3, 4]);
        assert_eq!(&frame[..6], &[0x82, 0x84, 1, 2, 3, 4]);
        assert_eq!(&frame[6..], &[1, b'G' ^ 2, b'E' ^ 3, b'T' ^ 4]);
        let long = client_frame(OP_BINARY, &[0; 300], [0; 4]);
        assert_eq!(&long[..4], &[0x82, 0x80 | 126, 1, 44]);
        assert_eq!(long.len(), 4 + 4 + 300);
    }

    #[test]
    fn reassembles_messages_until_close() {
        let mut wire = server_frame(OP_BINARY, true, &[0, 0x90, 0x1f]);
        wire.extend(server_frame(OP_BINARY, false, b"\0HTTP/1.0 "));
        wire.extend(server_frame(OP_CONTINUATION, true, b"200 OK"));
        wire.extend(server_frame(OP_BINARY, true, &[1, 0x90, 0x1f]));
        wire.extend(server_frame(OP_CLOSE, true, &[]));
        wire.extend(server_frame(OP_BINARY, true, b"\0after close"));
        let mut reader = &wire[..];
        let mut channels = Channels::default();
        while let Some(message) = read_message(&mut reader).unwrap() {
            channels.take(&message).unwrap();
        }
        assert_eq!(channels.finish(8080).unwrap(), b"HTTP/1.0 200 OK");
    }

    #[test]
    fn the_error_channel_fails_the_exchange() {
        let mut channels = Channels::default();
        channels.take(&[0, 0x90, 0x1f]).unwrap();
        channels.take(b"\x01\x90\x1fconnection refused").unwrap();
        let err = channels.finish(8080).unwrap_err();
        assert!(format!("{err}").contains("connection refused"), "{err}");
        assert!(Channels::default().take(&[2, 0]).is_err());
    }
}
