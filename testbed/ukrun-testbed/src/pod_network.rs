//! The pod network shapes a test-bed node can give its pods through
//! containerd's CNI, so the same guest pod can be run on each shape the
//! clusters ukrun must work in build (see `testbed/lib/node-network.sh`,
//! which sets them up, and [`crate::topology`] for the same shapes without
//! containerd). Pod IPs are in 10.88.0.0/24 and the node owns 10.88.0.1
//! (the cluster DNS) in every shape.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// The node's own address in every shape: the bridge's gateway, or the
/// address of the Calico-style node's uplink stand-in.
pub const NODE_IP: &str = "10.88.0.1";
/// The gateway Calico gives every pod: on-link, answered by the node's
/// proxy ARP, owned by nobody.
pub const CALICO_GATEWAY: &str = "169.254.1.1";
/// The bridge the `bridge` shape puts the pods' veths on.
pub const CNI_BRIDGE: &str = "cni-ukrun";

/// How the node's CNI plugs a pod into the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodNetwork {
    /// The CNI `bridge` plugin (kind, Flannel's cni0): the pod's veth on
    /// bridge [`CNI_BRIDGE`], which holds the gateway [`NODE_IP`]; the pod
    /// has a /24 and a default route via the gateway.
    Bridge {
        /// MTU of the veths and the bridge (1450 is Flannel VXLAN's).
        mtu: u32,
    },
    /// Calico's shape, by the test bed's `ukrun-calico` plugin: the pod
    /// has a /32, `169.254.1.1 dev eth0 scope link` and a default route
    /// via it; the node side is a veth with proxy ARP and a host route to
    /// the pod IP, no bridge.
    Calico,
}

impl Default for PodNetwork {
    /// What every node had before shapes could be chosen: the bridge with
    /// the usual MTU.
    fn default() -> Self {
        PodNetwork::Bridge { mtu: 1500 }
    }
}

impl fmt::Display for PodNetwork {
    /// The shape as `node.sh up` takes it (`UKRUN_NODE_NETWORK`) and
    /// records it (`POD_NETWORK` in node.env): `bridge:MTU` or `calico`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodNetwork::Bridge { mtu } => write!(f, "bridge:{mtu}"),
            PodNetwork::Calico => f.write_str("calico"),
        }
    }
}

impl FromStr for PodNetwork {
    type Err = anyhow::Error;

    /// Parses what [`fmt::Display`] writes; a bare `bridge` is MTU 1500.
    fn from_str(text: &str) -> Result<Self> {
        match text.split_once(':') {
            None if text == "calico" => Ok(PodNetwork::Calico),
            None if text == "bridge" => Ok(PodNetwork::default()),
            Some(("bridge", mtu)) => Ok(PodNetwork::Bridge {
                mtu: mtu.parse().with_context(|| format!("MTU {mtu:?}"))?,
            }),
            _ => bail!("unknown pod network {text:?} (bridge[:MTU] or calico)"),
        }
    }
}

impl PodNetwork {
    /// The MTU of the pod's interface.
    pub fn mtu(&self) -> u32 {
        match self {
            PodNetwork::Bridge { mtu } => *mtu,
            PodNetwork::Calico => 1500,
        }
    }
}

/// The pod addresses the node's IPAM holds now: host-local (bridge) and
/// ukrun-calico both keep one file per address, named by it, in
/// `<state>/cni/ipam/<network>/`. Empty once every pod is gone.
pub fn addresses_in_use(state_dir: &Path) -> Result<Vec<Ipv4Addr>> {
    let ipam = state_dir.join("cni/ipam");
    let mut found = Vec::new();
    let networks = match std::fs::read_dir(&ipam) {
        Ok(networks) => networks,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e).with_context(|| format!("reading {}", ipam.display())),
    };
    for network in networks {
        let network = network?.path();
        if !network.is_dir() {
            continue;
        }
        for entry in
            std::fs::read_dir(&network).with_context(|| format!("reading {}", network.display()))?
        {
            if let Ok(ip) = entry?.file_name().to_string_lossy().parse() {
                found.push(ip);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_env_form_round_trips() {
        for network in [
            PodNetwork::default(),
            PodNetwork::Bridge { mtu: 1450 },
            PodNetwork::Calico,
        ] {
            assert_eq!(network.to_string().parse::<PodNetwork>().unwrap(), network);
        }
        assert_eq!("bridge".parse::<PodNetwork>().unwrap().mtu(), 1500);
        assert!("bridge:big".parse::<PodNetwork>().is_err());
        assert!("flannel".parse::<PodNetwork>().is_err());
    }

    #[test]
    fn only_address_files_count() {
        let state = std::env::temp_dir().join(format!("ukrun-tb-ipam-{}", std::process::id()));
        let net = state.join("cni/ipam/ukrun-n1");
        std::fs::create_dir_all(&net).unwrap();
        for file in ["lock", "last_reserved_ip.0", "10.88.0.7", "10.88.0.3"] {
            std::fs::write(net.join(file), "").unwrap();
        }
        let found = addresses_in_use(&state);
        std::fs::remove_dir_all(&state).unwrap();
        let expected: Vec<Ipv4Addr> =
            vec!["10.88.0.3".parse().unwrap(), "10.88.0.7".parse().unwrap()];
        assert_eq!(found.unwrap(), expected);
        assert!(addresses_in_use(&state).unwrap().is_empty());
    }
}
