//! Pod network shapes without containerd: a "node" netns and a "pod" netns
//! joined by a veth, shaped like the CNI plugins shape them (bridge-style
//! subnet with a gateway, Calico-style /32 behind 169.254.1.1, or a pod
//! netns with nothing in it). Dropping the topology deletes both netns.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::netns::Netns;

/// The pod's IP in every shape.
pub const POD_IP: &str = "10.77.0.2";
/// The node's side of the veth.
pub const NODE_IP: &str = "10.77.0.1";

/// How the CNI would have built the pod network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// /24 with the node as gateway inside the subnet (bridge/Flannel).
    Bridge {
        /// MTU of both veth ends.
        mtu: u32,
    },
    /// /32 with default route via 169.254.1.1 on-link and proxy ARP on the
    /// node's side (Calico).
    Calico,
    /// Only loopback in the pod netns.
    Empty,
    /// A pod interface without an IPv4 address.
    NoAddress,
}

/// A node netns and a pod netns for one test.
pub struct Topology {
    /// Name of the node netns (under /run/netns).
    pub node: String,
    /// Name of the pod netns (under /run/netns).
    pub pod: String,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn sysctl(netns: &str, key: &str, value: &str) -> Result<()> {
    ip(&[
        "netns",
        "exec",
        netns,
        "sysctl",
        "-qw",
        &format!("{key}={value}"),
    ])
}

impl Topology {
    /// Builds the shape under names derived from `tag` (≤ 8 characters).
    pub fn new(tag: &str, shape: Shape) -> Result<Self> {
        let topo = Topology {
            node: format!("ukn-{tag}"),
            pod: format!("ukp-{tag}"),
        };
        topo.remove();
        ip(&["netns", "add", &topo.node])?;
        ip(&["netns", "add", &topo.pod])?;
        ip(&["-n", &topo.node, "link", "set", "lo", "up"])?;
        ip(&["-n", &topo.pod, "link", "set", "lo", "up"])?;
        if shape == Shape::Empty {
            return Ok(topo);
        }
        let veth = format!("v-{tag}");
        ip(&[
            "-n", &topo.node, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
            "netns", &topo.pod,
        ])?;
        let mtu = match shape {
            Shape::Bridge { mtu } => mtu,
            _ => 1500,
        };
        for (ns, dev) in [(&topo.node, veth.as_str()), (&topo.pod, "eth0")] {
            ip(&["-n", ns, "link", "set", dev, "mtu", &mtu.to_string(), "up"])?;
        }
        match shape {
            Shape::Bridge { .. } => {
                ip(&[
                    "-n",
                    &topo.node,
                    "addr",
                    "add",
                    &format!("{NODE_IP}/24"),
                    "dev",
                    &veth,
                ])?;
                ip(&[
                    "-n",
                    &topo.pod,
                    "addr",
                    "add",
                    &format!("{POD_IP}/24"),
                    "dev",
                    "eth0",
                ])?;
                ip(&["-n", &topo.pod, "route", "add", "default", "via", NODE_IP])?;
            }
            Shape::Calico => {
                // Proxy ARP answers for 169.254.1.1 only on a forwarding node
                // that routes it elsewhere: a default route into a stub veth
                // whose peer is down, so nothing leaves the node netns.
                let stub = format!("s-{tag}");
                ip(&[
                    "-n",
                    &topo.node,
                    "link",
                    "add",
                    &stub,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &format!("t-{tag}"),
                ])?;
                ip(&["-n", &topo.node, "link", "set", &stub, "up"])?;
                ip(&["-n", &topo.node, "route", "add", "default", "dev", &stub])?;
                ip(&[
                    "-n",
                    &topo.node,
                    "addr",
                    "add",
                    &format!("{NODE_IP}/32"),
                    "dev",
                    &veth,
                ])?;
                ip(&[
                    "-n",
                    &topo.node,
                    "route",
                    "add",
                    &format!("{POD_IP}/32"),
                    "dev",
                    &veth,
                ])?;
                sysctl(&topo.node, "net.ipv4.ip_forward", "1")?;
                sysctl(&topo.node, &format!("net.ipv4.conf.{veth}.proxy_arp"), "1")?;
                ip(&[
                    "-n",
                    &topo.pod,
                    "addr",
                    "add",
                    &format!("{POD_IP}/32"),
                    "dev",
                    "eth0",
                ])?;
                ip(&[
                    "-n",
                    &topo.pod,
                    "route",
                    "add",
                    "169.254.1.1",
                    "dev",
                    "eth0",
                    "scope",
                    "link",
                ])?;
                ip(&[
                    "-n",
                    &topo.pod,
                    "route",
                    "add",
                    "default",
                    "via",
                    "169.254.1.1",
                    "dev",
                    "eth0",
                    "onlink",
                ])?;
            }
            Shape::NoAddress | Shape::Empty => {}
        }
        Ok(topo)
    }

    /// The node netns.
    pub fn node_netns(&self) -> Netns {
        Netns::new(format!("/run/netns/{}", self.node))
    }

    /// The pod netns.
    pub fn pod_netns(&self) -> Netns {
        Netns::new(format!("/run/netns/{}", self.pod))
    }

    /// Links, IPv4 addresses, routes and qdiscs of the pod netns, for
    /// before/after comparisons (IPv6 addresses change by themselves: DAD).
    pub fn pod_network_view(&self) -> Result<String> {
        let ns = self.pod_netns();
        let mut view = ns.run("ip", &["-o", "link", "show"])?;
        view.push_str(&ns.run("ip", &["-o", "-4", "addr", "show"])?);
        view.push_str(&ns.run("ip", &["route", "show"])?);
        view.push_str(&ns.run("tc", &["qdisc", "show"])?);
        Ok(view)
    }

    fn remove(&self) {
        for ns in [&self.node, &self.pod] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.remove();
    }
}
