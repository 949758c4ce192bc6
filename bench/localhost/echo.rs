//! The guest's side of the ping-pong and idle-connection measurements: a
//! TCP echo server in a process of its own (this benchmark's binary again,
//! started inside the guest netns), so the benchmark's own memory counts
//! only what it forwards.

use std::net::SocketAddr;
use std::process::{Child, ExitCode, Stdio};

use anyhow::{Context, Result};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ukrun_testbed::netns::Netns;
use ukrun_testbed::runner;

/// Set (to the address to serve) when the binary runs as the echo server.
const ECHO_ENV: &str = "UKRUN_BENCH_ECHO";

/// Runs the echo server instead of the benchmark when this process was
/// started as one; `None` otherwise.
pub fn main_if_asked() -> Option<ExitCode> {
    let addr = std::env::var(ECHO_ENV).ok()?;
    Some(match serve(&addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("localhost echo server: {e:#}");
            ExitCode::FAILURE
        }
    })
}

/// Echoes every connection on `addr` until killed.
fn serve(addr: &str) -> Result<()> {
    runner::raise_open_files()?;
    let addr: SocketAddr = addr.parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let mut buffer = [0u8; 256];
                while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                    if stream.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

/// A running echo server, killed when dropped.
pub struct Echo {
    child: Child,
}

impl Echo {
    /// Starts it in `netns` on `addr`; returns once it accepts.
    pub fn start(netns: &Netns, addr: SocketAddr) -> Result<Echo> {
        let exe = std::env::current_exe().context("finding this benchmark's binary")?;
        let child = netns
            .command(&exe.to_string_lossy())
            .env(ECHO_ENV, addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting the echo server")?;
        let echo = Echo { child };
        netns.wait_listening(addr)?;
        Ok(echo)
    }

    /// Its pid (nsenter execs it, so this is the server itself).
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
