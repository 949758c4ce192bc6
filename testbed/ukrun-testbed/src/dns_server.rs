//! A cluster-DNS stand-in for tests: dnsmasq in a network namespace,
//! answering fixed records for a local zone (as CoreDNS answers
//! `kubernetes.default.svc.cluster.local`), authoritative for that zone and
//! with no upstream. Dropping it stops the server.

use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::netns::Netns;
use crate::wait;

/// A running dnsmasq.
pub struct DnsServer {
    child: Child,
}

impl DnsServer {
    /// Serves `records` (name, IPv4) on `listen:53` inside `netns`; every
    /// other name under `zone` is NXDOMAIN, and nothing is forwarded.
    pub fn start(
        netns: &Netns,
        listen: &str,
        zone: &str,
        records: &[(&str, &str)],
    ) -> Result<Self> {
        let mut cmd = netns.command("dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--port=53",
        ])
        .arg(format!("--listen-address={listen}"))
        .arg(format!("--local=/{zone}/"))
        .arg("--pid-file=")
        .args(
            records
                .iter()
                .map(|(name, ip)| format!("--address=/{name}/{ip}")),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .context("starting dnsmasq (testbed/install-deps.sh installs dnsmasq-base)")?;
        let server = DnsServer { child };
        let addr: std::net::SocketAddr = format!("{listen}:53").parse()?;
        netns.within(move || {
            wait::poll(
                "dnsmasq to listen",
                Duration::from_secs(10),
                Duration::from_millis(50),
                || {
                    Ok(
                        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                            .is_ok()
                            .then_some(()),
                    )
                },
            )
        })?;
        Ok(server)
    }
}

/// The zone the cluster DNS stand-in is authoritative for.
pub const CLUSTER_ZONE: &str = "cluster.local";
/// The `kubernetes` service's name and ClusterIP, the record a guest
/// resolves to show the cluster DNS reaches it.
pub const KUBERNETES: (&str, &str) = ("kubernetes.default.svc.cluster.local", "10.96.0.1");

impl DnsServer {
    /// A cluster DNS on `listen` in `netns`: [`KUBERNETES`], every other
    /// name under [`CLUSTER_ZONE`] NXDOMAIN.
    pub fn cluster(netns: &Netns, listen: &str) -> Result<Self> {
        Self::start(netns, listen, CLUSTER_ZONE, &[KUBERNETES])
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
