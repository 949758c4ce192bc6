//! Named network namespaces for benchmarks: a "node" and any number of pod
//! netns, each joined to the node by a veth and shaped like a bridge-style
//! CNI leaves it. Every namespace is deleted when its guard drops.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::netns::{checked_stdout, Netns};
use crate::wait;

/// Runs `ip args…`; fails with its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    tool("ip", args).map(drop)
}

/// The stdout of `program args…`; fails with its stderr.
pub fn tool(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    checked_stdout(&format!("{program} {}", args.join(" ")), output)
}

/// A named network namespace (`/run/netns/<name>`) with `lo` up, deleted
/// on drop.
pub struct NamedNetns {
    /// Its name under /run/netns.
    pub name: String,
}

impl NamedNetns {
    /// Creates it.
    pub fn add(name: String) -> Result<NamedNetns> {
        ip(&["netns", "add", &name])?;
        let ns = NamedNetns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `/run/netns/<name>`.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// The namespace as [`Netns`] (to run things inside it).
    pub fn netns(&self) -> Netns {
        Netns::new(self.path())
    }

    /// Runs `ip -n <name> args…`.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        ip(&[&["-n", &self.name], args].concat())
    }

    /// The output of `program -n <name> args…` (`ip` or `tc`).
    pub fn query(&self, program: &str, args: &[&str]) -> Result<String> {
        tool(program, &[&["-n", &self.name], args].concat())
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("veth_pods: {e:#}");
        }
    }
}

/// A pod netns as a bridge-style CNI leaves it: `eth0` 10.<a>.<b>.2/24 with
/// the peer 10.<a>.<b>.1/24 in the node netns and the default route via the
/// peer, where `a.b` comes from the pod's number.
pub struct VethPod {
    /// The pod netns.
    pub netns: NamedNetns,
}

impl VethPod {
    /// Creates pod number `n` (< 65536) named `<tag>-pod<n>` and its veth
    /// `<tag>v<n>` in `node`.
    pub fn connect(node: &NamedNetns, tag: &str, n: u16) -> Result<VethPod> {
        let netns = NamedNetns::add(format!("{tag}-pod{n}"))?;
        let host_if = format!("{tag}v{n}");
        let subnet = format!("10.{}.{}", 77 + n / 256, n % 256);
        let add = format!(
            "link add {host_if} netns {} type veth peer name eth0 netns {}",
            node.name, netns.name
        );
        ip(&add.split_whitespace().collect::<Vec<_>>())?;
        node.ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &host_if])?;
        node.ip(&["link", "set", &host_if, "up"])?;
        netns.ip(&["addr", "add", &format!("{subnet}.2/24"), "dev", "eth0"])?;
        netns.ip(&["link", "set", "eth0", "up"])?;
        netns.ip(&["route", "add", "default", "via", &format!("{subnet}.1")])?;
        // The kernel reports the carrier through linkwatch, up to a second
        // later: a before/after comparison must not see it arrive.
        wait::poll(
            "the pod interface's carrier",
            Duration::from_secs(5),
            Duration::from_millis(50),
            || {
                Ok((!netns
                    .query("ip", &["-o", "link", "show", "eth0"])?
                    .contains("NO-CARRIER"))
                .then_some(()))
            },
        )?;
        Ok(VethPod { netns })
    }

    /// Links other than lo/eth0 and qdiscs other than the default ones:
    /// what a runtime left behind.
    pub fn leftovers(&self) -> Result<Vec<String>> {
        let links = self.netns.query("ip", &["-o", "link", "show"])?;
        let qdiscs = self.netns.query("tc", &["qdisc", "show"])?;
        let extra_links = links.lines().filter(|l| {
            let name = l.split(':').nth(1).unwrap_or("").trim();
            !(name == "lo" || name.starts_with("eth0@"))
        });
        let extra_qdiscs = qdiscs
            .lines()
            .filter(|l| l.contains("ingress") || l.contains("clsact"));
        Ok(extra_links.chain(extra_qdiscs).map(str::to_owned).collect())
    }
}
