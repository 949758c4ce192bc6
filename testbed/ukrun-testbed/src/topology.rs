//! Pod network shapes without containerd: a "node" netns and a "pod" netns
//! joined by a veth, shaped like the CNI plugins shape them (bridge-style
//! subnet with a gateway, Calico-style /32 behind 169.254.1.1, or a pod
//! netns with nothing in it), or built by the real `bridge` and `ptp`
//! plugins. Dropping the topology runs the plugin's DEL and deletes both
//! netns.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cni;
use crate::netns::Netns;
use crate::{netstate, wait};

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
    /// The real CNI `bridge` plugin: the pod's veth on a bridge in the node
    /// netns that holds the gateway, /24, `mtu` on the veth.
    CniBridge {
        /// MTU the plugin sets.
        mtu: u32,
    },
    /// The real CNI `ptp` plugin: the pod IP (/24, no subnet route) behind
    /// the gateway, which the host veth holds as a /32.
    CniPtp,
}

/// A node netns and a pod netns for one test.
pub struct Topology {
    /// The tag both names derive from.
    tag: String,
    /// Name of the node netns (under /run/netns).
    pub node: String,
    /// Name of the pod netns (under /run/netns).
    pub pod: String,
    /// The CNI plugin's attachment, for the `Cni*` shapes.
    cni: Option<cni::Attachment>,
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
        let mut topo = Topology {
            tag: tag.to_owned(),
            node: format!("ukn-{tag}"),
            pod: format!("ukp-{tag}"),
            cni: None,
        };
        topo.rebuild(shape)?;
        Ok(topo)
    }

    /// Deletes both namespaces (if they exist) and builds `shape` under the
    /// same names: new namespaces at the same paths, as when a pod sandbox
    /// is recreated.
    pub fn rebuild(&mut self, shape: Shape) -> Result<()> {
        let tag = self.tag.clone();
        self.remove();
        ip(&["netns", "add", &self.node])?;
        ip(&["netns", "add", &self.pod])?;
        ip(&["-n", &self.node, "link", "set", "lo", "up"])?;
        ip(&["-n", &self.pod, "link", "set", "lo", "up"])?;
        let plugin = match shape {
            Shape::Empty => return Ok(()),
            Shape::CniBridge { mtu } => Some(cni::bridge(&tag, &format!("ukb-{tag}"), mtu)),
            Shape::CniPtp => Some(cni::ptp(&tag)),
            _ => None,
        };
        if let Some(plugin) = plugin {
            let (node, pod) = (self.node_netns(), self.pod_netns());
            self.cni = Some(cni::Attachment::add(&node, &pod, &tag, plugin)?);
            // The plugin returns before the veth has carrier; what the
            // tests compare against must be the settled state.
            wait::poll(
                "the CNI's pod interface to have carrier",
                Duration::from_secs(5),
                Duration::from_millis(20),
                || {
                    Ok(pod
                        .run("ip", &["-o", "link", "show", "eth0"])?
                        .contains("state UP")
                        .then_some(()))
                },
            )?;
            return Ok(());
        }
        let veth = format!("v-{tag}");
        ip(&[
            "-n", &self.node, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
            "netns", &self.pod,
        ])?;
        let mtu = match shape {
            Shape::Bridge { mtu } => mtu,
            _ => 1500,
        };
        // txqueuelen 0, as the CNI plugins make their veths (tc mode must
        // give it back after its ingress qdisc raised it).
        for (ns, dev) in [(&self.node, veth.as_str()), (&self.pod, "eth0")] {
            let mtu = mtu.to_string();
            ip(&[
                "-n",
                ns,
                "link",
                "set",
                dev,
                "mtu",
                &mtu,
                "txqueuelen",
                "0",
                "up",
            ])?;
        }
        match shape {
            Shape::Bridge { .. } => {
                ip(&[
                    "-n",
                    &self.node,
                    "addr",
                    "add",
                    &format!("{NODE_IP}/24"),
                    "dev",
                    &veth,
                ])?;
                ip(&[
                    "-n",
                    &self.pod,
                    "addr",
                    "add",
                    &format!("{POD_IP}/24"),
                    "dev",
                    "eth0",
                ])?;
                ip(&["-n", &self.pod, "route", "add", "default", "via", NODE_IP])?;
            }
            Shape::Calico => {
                // Proxy ARP answers for 169.254.1.1 only on a forwarding node
                // that routes it elsewhere: a default route into a stub veth
                // whose peer is down, so nothing leaves the node netns.
                let stub = format!("s-{tag}");
                ip(&[
                    "-n",
                    &self.node,
                    "link",
                    "add",
                    &stub,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &format!("t-{tag}"),
                ])?;
                ip(&["-n", &self.node, "link", "set", &stub, "up"])?;
                ip(&["-n", &self.node, "route", "add", "default", "dev", &stub])?;
                ip(&[
                    "-n",
                    &self.node,
                    "addr",
                    "add",
                    &format!("{NODE_IP}/32"),
                    "dev",
                    &veth,
                ])?;
                ip(&[
                    "-n",
                    &self.node,
                    "route",
                    "add",
                    &format!("{POD_IP}/32"),
                    "dev",
                    &veth,
                ])?;
                sysctl(&self.node, "net.ipv4.ip_forward", "1")?;
                sysctl(&self.node, &format!("net.ipv4.conf.{veth}.proxy_arp"), "1")?;
                ip(&[
                    "-n",
                    &self.pod,
                    "addr",
                    "add",
                    &format!("{POD_IP}/32"),
                    "dev",
                    "eth0",
                ])?;
                ip(&[
                    "-n",
                    &self.pod,
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
                    &self.pod,
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
            Shape::NoAddress | Shape::Empty | Shape::CniBridge { .. } | Shape::CniPtp => {}
        }
        Ok(())
    }

    /// The node netns.
    pub fn node_netns(&self) -> Netns {
        Netns::new(format!("/run/netns/{}", self.node))
    }

    /// The pod netns.
    pub fn pod_netns(&self) -> Netns {
        Netns::new(format!("/run/netns/{}", self.pod))
    }

    /// The pod netns's network state as [`netstate::snapshot`] shows it
    /// (links, IPv4 addresses, routes of every table, rules, qdiscs, the
    /// nftables ruleset, forwarding and per-interface IPv4 sysctls), one
    /// item a line, for before/after comparisons.
    pub fn pod_network_view(&self) -> Result<String> {
        let mut view = netstate::snapshot(&self.pod_netns())?.join("\n");
        view.push('\n');
        Ok(view)
    }

    fn remove(&mut self) {
        // DEL while the pod netns still exists, as a container runtime does.
        drop(self.cni.take());
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
