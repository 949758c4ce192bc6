//! Doing things inside a network namespace: a command through `nsenter`, or
//! a closure on a dedicated thread that joined the namespace.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::sched::{setns, CloneFlags};

use crate::wait;

/// A network namespace named by a path that `setns(2)` accepts: a bind
/// mount under `/run/netns`, a containerd pod netns file, or
/// `/proc/PID/ns/net`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    path: PathBuf,
}

impl Netns {
    /// Names the namespace at `path` (not opened until used).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Netns { path: path.into() }
    }

    /// The path the namespace is entered through.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `Command` that runs `program` inside this namespace through
    /// `nsenter --net`, which keeps the caller's mounts (unlike
    /// `ip netns exec`, which hides the cgroup mounts on these machines).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path.display()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Runs `program args…` inside the namespace and returns its stdout;
    /// a non-zero exit is an error that carries stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let output = self
            .command(program)
            .args(args)
            .output()
            .with_context(|| format!("running nsenter for {program}"))?;
        checked_stdout(&format!("{program} {}", args.join(" ")), output)
    }

    /// Runs `work` on a fresh thread that joined this namespace, so sockets
    /// it opens live there while the rest of the process stays put.
    pub fn within<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let file = File::open(&self.path)
            .with_context(|| format!("opening netns {}", self.path.display()))?;
        let path = self.path.clone();
        thread::spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("setns into {}", path.display()))?;
            work()
        })
        .join()
        .map_err(|_| anyhow!("thread inside netns {} panicked", self.path.display()))?
    }
}

impl Netns {
    /// Waits (bounded, 5 s) until something inside the namespace accepts
    /// TCP connections on `addr`.
    pub fn wait_listening(&self, addr: SocketAddr) -> Result<()> {
        wait::poll(
            &format!("a listener on {addr}"),
            Duration::from_secs(5),
            Duration::from_millis(20),
            || self.within(move || Ok(TcpStream::connect(addr).ok().map(drop))),
        )
    }
}

/// The stdout of a finished command, or an error that names it and carries
/// its exit status and stderr.
pub fn checked_stdout(what: &str, output: Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "`{what}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
