//! The test guest's contract (testbed/guest): its container specs, the
//! console line it prints when ready, and the page it serves.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cri::ContainerSpec;
use crate::netns::Netns;
use crate::{http, images, wait};

/// The console line prefix the guest's init prints once it serves HTTP.
pub const READY_MARKER: &str = "UKRUN-GUEST-READY";
/// The guest's HTTP port.
pub const HTTP_PORT: u16 = 8080;
/// A phrase in the body of the guest's page.
pub const PAGE_TEXT: &str = "hello from the ukrun guest";
/// The path after which the guest's HTTP server stops answering.
pub const HANG_PATH: &str = "/cgi-bin/hang";
/// How ukrun refuses exec into a unikernel container.
pub const EXEC_REFUSAL: &str = "exec is not supported for unikernel containers";

/// Longest wait for the readiness line (qemu TCG boots in ~3–10 s).
const READY_WAIT: Duration = Duration::from_secs(60);
/// Longest wait for the first good HTTP answer after the readiness line.
const PAGE_WAIT: Duration = Duration::from_secs(20);

/// The guest container: the Linux microVM image, run as it is.
pub fn container() -> ContainerSpec {
    ContainerSpec::new("guest", images::LINUX_GUEST)
}

/// An ordinary busybox sidecar that idles.
pub fn sidecar() -> ContainerSpec {
    ContainerSpec::new("sidecar", images::BUSYBOX).command(&["sleep", "3600"])
}

/// Waits (bounded) for the readiness line in the guest's CRI log file and
/// returns the address it announces (`ip=…`).
pub fn wait_ready(log: &Path) -> Result<String> {
    wait::poll(
        &format!("{READY_MARKER} in {}", log.display()),
        READY_WAIT,
        Duration::from_millis(250),
        || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            Ok(ready_ip(&text))
        },
    )
}

/// The `ip=` value of the first readiness line in CRI-formatted log text
/// (`<time> stdout F <line>`), if there is one.
pub fn ready_ip(log_text: &str) -> Option<String> {
    let line = log_text.lines().find(|line| line.contains(READY_MARKER))?;
    let after = line.split(READY_MARKER).nth(1)?;
    let ip = after
        .split_whitespace()
        .find_map(|word| word.strip_prefix("ip="))
        .unwrap_or("");
    Some(ip.trim_end_matches('\r').to_string())
}

/// GETs the guest's page at `ip` from inside `netns`, retrying (bounded)
/// while the guest comes up, and checks it is the guest's page.
pub fn fetch_page(netns: &Netns, ip: &str) -> Result<String> {
    let addr = http_addr(ip)?;
    wait::poll(
        &format!("the guest's page at http://{addr}/"),
        PAGE_WAIT,
        Duration::from_millis(500),
        || {
            let body = netns.within(move || http::get(addr, "/"))?;
            anyhow::ensure!(body.contains(PAGE_TEXT), "unexpected page: {body:?}");
            Ok(Some(body))
        },
    )
}

/// Makes the HTTP server of the guest at `ip` (asked from `netns`) hang:
/// it answers this request, then accepts connections and answers none, as
/// a hung application does.
pub fn hang(netns: &Netns, ip: &str) -> Result<()> {
    ask(netns, ip, HANG_PATH, "hanging")
}

/// Makes the guest at `ip` (asked from `netns`) take `delay` to power off
/// from now on, after the ACPI power button: a guest slow to power off.
pub fn set_poweroff_delay(netns: &Netns, ip: &str, delay: Duration) -> Result<()> {
    let seconds = delay.as_secs();
    ask(
        netns,
        ip,
        &format!("/cgi-bin/poweroff-delay?{seconds}"),
        &format!("poweroff delay {seconds}"),
    )
}

/// GETs `path` of the guest at `ip` once and checks the answer is `expect`.
fn ask(netns: &Netns, ip: &str, path: &str, expect: &str) -> Result<()> {
    let addr = http_addr(ip)?;
    let owned = path.to_owned();
    let body = netns.within(move || http::get(addr, &owned))?;
    anyhow::ensure!(
        body.trim() == expect,
        "GET http://{addr}{path} answered {body:?}, not {expect:?}"
    );
    Ok(())
}

/// The guest's HTTP address at `ip`.
fn http_addr(ip: &str) -> Result<SocketAddr> {
    let ip = ip
        .parse::<IpAddr>()
        .with_context(|| format!("pod IP {ip:?}"))?;
    Ok(SocketAddr::new(ip, HTTP_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_readiness_line_from_a_cri_log() {
        let log = "2025-01-01T00:00:00Z stdout F booting\n\
                   2025-01-01T00:00:03Z stdout F UKRUN-GUEST-READY ip=10.88.0.7\r\n";
        assert_eq!(ready_ip(log).as_deref(), Some("10.88.0.7"));
        assert_eq!(ready_ip("stdout F still booting"), None);
    }
}
