//! The supervisor's control socket in the container's state directory:
//! `ukrun start` asks it to start the VMM and gets the outcome back, so a
//! failed start is reported synchronously, never as a hang.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::limits::{excerpt, CONTROL_REQUEST_BYTES, CONTROL_REQUEST_TIMEOUT};

/// Socket file name in the state directory.
pub const CONTROL_SOCKET: &str = "control.sock";
/// How long `start` waits for the supervisor's answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A request to the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Start the VMM.
    Start,
}

impl Request {
    /// Parses one request line.
    pub fn parse(line: &str) -> Option<Self> {
        (line.trim() == "start").then_some(Request::Start)
    }
}

/// Reads one request line from a client, bounded in size
/// ([`CONTROL_REQUEST_BYTES`]) and time ([`CONTROL_REQUEST_TIMEOUT`]), so a
/// client that sends nothing or an endless line costs neither memory nor
/// the supervisor's attention.
pub async fn read_request(read: impl AsyncRead + Unpin) -> Result<Request, String> {
    let mut line = Vec::new();
    let mut bounded = tokio::io::BufReader::new(read.take(CONTROL_REQUEST_BYTES + 1));
    match tokio::time::timeout(
        CONTROL_REQUEST_TIMEOUT,
        bounded.read_until(b'\n', &mut line),
    )
    .await
    {
        Err(_) => {
            return Err(format!(
                "no request within {} s",
                CONTROL_REQUEST_TIMEOUT.as_secs()
            ))
        }
        Ok(Err(e)) => return Err(format!("cannot read the request: {e}")),
        Ok(Ok(_)) => {}
    }
    if line.len() as u64 > CONTROL_REQUEST_BYTES {
        return Err(format!("request longer than {CONTROL_REQUEST_BYTES} bytes"));
    }
    let text = String::from_utf8_lossy(&line);
    Request::parse(&text).ok_or_else(|| format!("unknown request {}", excerpt(text.trim())))
}

/// Writes a reply line, giving up after [`CONTROL_REQUEST_TIMEOUT`] (a
/// client that does not read cannot hold the supervisor).
pub async fn write_reply(mut write: impl AsyncWrite + Unpin, result: &Result<(), String>) {
    let line = reply_line(result);
    let _ = tokio::time::timeout(CONTROL_REQUEST_TIMEOUT, write.write_all(line.as_bytes())).await;
}

/// Encodes a reply line: `ok` or `error <message>`.
pub fn reply_line(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => "ok\n".to_owned(),
        Err(e) => format!("error {}\n", e.replace('\n', " ")),
    }
}

/// Decodes a reply line.
pub fn parse_reply(line: &str) -> Result<(), String> {
    let line = line.trim_end();
    match line.strip_prefix("error ") {
        Some(msg) => Err(msg.to_owned()),
        None if line == "ok" => Ok(()),
        None => Err(format!("unexpected answer from the supervisor: {line:?}")),
    }
}

/// Asks the supervisor of the container in `state_dir` to start the VMM.
/// Connects by a path relative to the state directory (socket paths are
/// limited to 108 bytes), so it changes the working directory.
pub fn request_start(state_dir: &Path) -> Result<(), String> {
    std::env::set_current_dir(state_dir)
        .map_err(|e| format!("cannot enter {}: {e}", state_dir.display()))?;
    let mut stream = UnixStream::connect(CONTROL_SOCKET)
        .map_err(|e| format!("cannot reach the container's supervisor: {e}"))?;
    stream
        .set_read_timeout(Some(START_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"start\n")
        .map_err(|e| format!("cannot reach the container's supervisor: {e}"))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| format!("no answer from the container's supervisor: {e}"))?;
    if line.is_empty() {
        return Err("the container's supervisor exited while starting the VMM".into());
    }
    parse_reply(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        assert_eq!(Request::parse("start\n"), Some(Request::Start));
        assert_eq!(Request::parse("stop"), None);
        assert_eq!(parse_reply(&reply_line(&Ok(()))), Ok(()));
        assert_eq!(
            parse_reply(&reply_line(&Err("qemu\nmissing".into()))),
            Err("qemu missing".into())
        );
        assert!(parse_reply("weird").is_err());
    }

    fn read(bytes: &'static [u8]) -> Result<Request, String> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(read_request(bytes))
    }

    #[test]
    fn requests_are_bounded_in_size_and_quoted_short() {
        assert_eq!(read(b"start\n"), Ok(Request::Start));
        assert_eq!(read(b"start"), Ok(Request::Start));
        let long: &'static [u8] = Box::leak(vec![b'x'; 1 << 20].into_boxed_slice());
        assert_eq!(read(long), Err("request longer than 64 bytes".into()));
        let e = read(b"stop please\n").unwrap_err();
        assert_eq!(e, "unknown request \"stop please\"");
    }

    #[test]
    fn a_silent_client_times_out() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_client, server) = tokio::io::duplex(64);
        let e = rt.block_on(read_request(server)).unwrap_err();
        assert_eq!(e, "no request within 2 s");
    }
}
