//! The pod network seen from the guest's side: observe the pod netns, plan
//! (pure), apply and undo (netlink). See DESIGN.md, "Pure core, thin edges".

pub mod abort;
pub mod apply;
pub mod destroyed;
pub mod dns_relay;
pub mod forward;
pub mod ifname;
pub mod journal;
pub mod libnftables;
pub mod netns;
pub mod netns_find;
pub mod nft;
pub mod observe;
pub mod plan;
pub mod routing;
pub mod steps;
pub mod sysctl;
pub mod tap;

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use ifname::IfName;

/// The interface the CNI created in the pod netns, as observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInterface {
    /// Interface name (often, not always, `eth0`), checked.
    pub name: IfName,
    /// Interface index.
    pub index: u32,
    /// Hardware address; the guest NIC takes it over.
    pub mac: [u8; 6],
    /// MTU; the tap and the guest use it.
    pub mtu: u32,
    /// The pod IP.
    pub ipv4: Ipv4Addr,
    /// Prefix length of the pod IP (32 on Calico-style pods).
    pub prefix: u8,
    /// Gateway of the default route, if any.
    pub gateway: Option<Ipv4Addr>,
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Dotted netmask of a prefix length.
pub fn netmask(prefix: u8) -> Ipv4Addr {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    Ipv4Addr::from(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_and_netmask_format() {
        assert_eq!(format_mac(&[0x0a, 0, 0xff, 1, 2, 3]), "0a:00:ff:01:02:03");
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(32), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(netmask(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(netmask(17), Ipv4Addr::new(255, 255, 128, 0));
    }
}
