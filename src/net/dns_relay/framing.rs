//! DNS over TCP framing (RFC 1035 4.2.2): each message behind its length in
//! two bytes. Used both towards the guest and towards the upstreams.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reads one message; `None` when the peer closed cleanly between messages.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 2];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    reader.read_exact(&mut message).await?;
    Ok(Some(message))
}

/// Writes one message (at most 65535 bytes) with its length.
pub(super) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &[u8],
) -> io::Result<()> {
    let length = u16::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "DNS message over 65535 bytes"))?;
    let mut frame = Vec::with_capacity(message.len() + 2);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(message);
    writer.write_all(&frame).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_a_clean_close_ends_the_stream() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"one").await.unwrap();
        write_frame(&mut wire, b"").await.unwrap();
        assert_eq!(&wire[..5], &[0, 3, b'o', b'n', b'e']);
        let mut reader = &wire[..];
        assert_eq!(
            read_frame(&mut reader).await.unwrap(),
            Some(b"one".to_vec())
        );
        assert_eq!(read_frame(&mut reader).await.unwrap(), Some(Vec::new()));
        assert_eq!(read_frame(&mut reader).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_cut_frame_is_an_error_and_an_oversized_one_is_refused() {
        let mut reader: &[u8] = &[0, 9, 1, 2];
        assert!(read_frame(&mut reader).await.is_err());
        let mut sink = Vec::new();
        assert!(write_frame(&mut sink, &vec![0; 70_000]).await.is_err());
        assert!(sink.is_empty());
    }
}
