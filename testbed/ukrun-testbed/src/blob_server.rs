//! An HTTP server in a netns (busybox httpd) that serves 4 MiB of fresh
//! random bytes, so a guest's download can be checked byte for byte.
//! Dropping it stops the server and removes its files.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

use crate::netns::Netns;
use crate::probes::{self, BLOB_BYTES, BLOB_PATH};

/// A running blob server.
pub struct BlobServer {
    child: Child,
    dir: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Hex SHA-256 of the blob it serves.
    pub sha256: String,
}

impl BlobServer {
    /// Serves a new random blob at `http://addr/blob` from inside `netns`;
    /// returns once the server accepts connections.
    pub fn start(netns: &Netns, addr: SocketAddr) -> Result<Self> {
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ukrun-blob-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut blob = vec![0u8; BLOB_BYTES];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut blob)?;
        std::fs::write(dir.join(BLOB_PATH.trim_start_matches('/')), &blob)?;
        let child = netns
            .command("busybox")
            .args(["httpd", "-f", "-p", &addr.to_string(), "-h"])
            .arg(&dir)
            .stdin(Stdio::null())
            .spawn()
            .context("starting busybox httpd")?;
        let server = BlobServer {
            child,
            dir,
            addr,
            sha256: probes::sha256_hex(&blob),
        };
        netns.wait_listening(addr)?;
        Ok(server)
    }

    /// The blob's URL.
    pub fn url(&self) -> String {
        format!("http://{}{BLOB_PATH}", self.addr)
    }
}

impl Drop for BlobServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
