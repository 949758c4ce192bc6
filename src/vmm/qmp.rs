//! The QMP commands ukrun sends to qemu: a graceful power-down (ACPI) when
//! the container is asked to stop.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// How long one QMP exchange may take.
const QMP_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the guest to power down through QMP `system_powerdown`.
pub async fn system_powerdown(socket: &Path) -> std::io::Result<()> {
    tokio::time::timeout(QMP_TIMEOUT, exchange(socket, "system_powerdown"))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "QMP did not answer"))?
}

async fn exchange(socket: &Path, command: &str) -> std::io::Result<()> {
    let stream = UnixStream::connect(socket).await?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    lines.next_line().await?;
    for cmd in ["qmp_capabilities", command] {
        write
            .write_all(format!("{{\"execute\":\"{cmd}\"}}\n").as_bytes())
            .await?;
        loop {
            let line = lines
                .next_line()
                .await?
                .ok_or(std::io::ErrorKind::UnexpectedEof)?;
            if line.contains("\"return\"") {
                break;
            }
            if line.contains("\"error\"") {
                return Err(std::io::Error::other(line));
            }
        }
    }
    Ok(())
}
