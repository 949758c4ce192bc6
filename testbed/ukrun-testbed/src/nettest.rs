//! The Unikraft `nettest` probe's contract (see the README beside the
//! Unikraft images): its container specs, its readiness line, and its HTTP
//! endpoints asked from outside the guest. The guest answers what it sees:
//! its hostname (`/`), what lwIP's resolver makes of a name
//! (`/resolve/NAME`), whether it can open a TCP connection
//! (`/connect/IP/PORT`), and a 1 MiB body of known checksum (`/big`).

use std::path::Path;

use anyhow::{ensure, Context, Result};

use crate::cri::ContainerSpec;
use crate::guest_http::GuestHttp;
use crate::netns::Netns;
use crate::unikraft::NETTEST_PORT;
use crate::{cri_log, images, probes};

/// The console line nettest prints once it serves.
pub const READY_LINE: &str = "nettest: listening on port 8080";
/// sha256 of `/big`'s 1,048,576 bytes (byte i = i % 251).
pub const BIG_SHA256: &str = "631b84027d6b9e52b539c4e8373622d23032dfadc64d60af87339c9037e4f769";
/// Size of `/big`.
pub const BIG_BYTES: usize = 1_048_576;

/// The guest container named `guest` (so the pod helpers find its log):
/// the nettest image described by its `/urunc.json`, with an empty
/// `cmdline`.
pub fn container() -> ContainerSpec {
    ContainerSpec::new("guest", images::UNIKRAFT_NETTEST)
}

/// The same kernel from the image without `/urunc.json`, described by the
/// container's urunc annotations alone (urunc's annotation form), with
/// `cmdline` as its command line.
pub fn annotated_container(cmdline: &str) -> ContainerSpec {
    let urunc = |key: &str| format!("com.urunc.unikernel.{key}");
    ContainerSpec::new("guest", images::UNIKRAFT_BARE)
        .annotation(&urunc("unikernelType"), "unikraft")
        .annotation(&urunc("hypervisor"), "qemu")
        .annotation(&urunc("unikernelVersion"), "0.16.3")
        .annotation(&urunc("binary"), images::UNIKRAFT_NETTEST_PATH)
        .annotation(&urunc("cmdline"), cmdline)
}

/// Waits (bounded) for nettest's readiness line in its CRI log (the
/// guest's console).
pub fn wait_ready(log: &Path) -> Result<()> {
    cri_log::wait_for(log, "nettest's readiness line", |console| {
        console.contains(READY_LINE).then_some(())
    })
}

/// The nettest guest at `ip`, asked from inside `netns` (the node, or the
/// pod itself).
pub struct Nettest {
    http: GuestHttp,
}

impl Nettest {
    /// The guest at `ip`:8080 as seen from `netns`.
    pub fn at(netns: Netns, ip: &str) -> Result<Self> {
        Ok(Nettest {
            http: GuestHttp::at(netns, ip, NETTEST_PORT)?,
        })
    }

    /// GETs `path` (retrying, bounded, while the guest comes up or is busy
    /// with another client) and returns the body of the 200 answer.
    pub fn get(&self, path: &str) -> Result<Vec<u8>> {
        self.http.get(path)
    }

    /// GETs `path` as text (one line, trailing newline removed).
    pub fn text(&self, path: &str) -> Result<String> {
        self.http.text(path)
    }

    /// The guest's `gethostname()`.
    pub fn hostname(&self) -> Result<String> {
        let text = self.text("/")?;
        text.strip_prefix("hostname=")
            .map(str::to_owned)
            .with_context(|| format!("GET / answered {text:?}"))
    }

    /// What lwIP's resolver in the guest makes of `name`: its IPv4
    /// address, or `FAILED`.
    pub fn resolve(&self, name: &str) -> Result<String> {
        let text = self.text(&format!("/resolve/{name}"))?;
        text.strip_prefix(&format!("resolve {name}="))
            .map(str::to_owned)
            .with_context(|| format!("GET /resolve/{name} answered {text:?}"))
    }

    /// Whether the guest can open a TCP connection to `ip:port`: the first
    /// line of what it read there, or the failure it met.
    pub fn connect(&self, ip: &str, port: u16) -> Result<String> {
        let text = self.text(&format!("/connect/{ip}/{port}"))?;
        text.strip_prefix(&format!("connect {ip}:{port}="))
            .map(str::to_owned)
            .with_context(|| format!("GET /connect/{ip}/{port} answered {text:?}"))
    }

    /// GETs `/big` and checks that all of it arrived intact.
    pub fn big_arrives_whole(&self) -> Result<()> {
        let body = self.get("/big")?;
        let sum = probes::sha256_hex(&body);
        ensure!(
            body.len() == BIG_BYTES && sum == BIG_SHA256,
            "GET /big from {}: {} bytes, sha256 {sum} (expected {BIG_BYTES} bytes, {BIG_SHA256})",
            self.http.addr(),
            body.len()
        );
        Ok(())
    }
}
