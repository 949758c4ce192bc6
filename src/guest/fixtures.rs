//! Pods the golden tests render for: a bridge-style pod (a /24 with its
//! gateway inside) and a Calico-style pod (a /32 with the link-local
//! gateway outside it), and one or two resolvers.

use std::net::Ipv4Addr;

use super::boot::BootInput;
use crate::net::plan::GuestNet;

/// The pod interface's MAC in every fixture.
pub const POD_MAC: [u8; 6] = [0x0a, 0x58, 0x0a, 0x58, 0x00, 0x05];
/// One cluster resolver.
pub const NS1: &[Ipv4Addr] = &[Ipv4Addr::new(10, 96, 0, 10)];
/// Two cluster resolvers.
pub const NS2: &[Ipv4Addr] = &[Ipv4Addr::new(10, 96, 0, 10), Ipv4Addr::new(10, 96, 0, 11)];

/// A bridge-plugin pod: 10.88.0.5/24, gateway 10.88.0.1, MTU 1500.
pub fn bridge() -> GuestNet {
    GuestNet {
        ip: Ipv4Addr::new(10, 88, 0, 5),
        prefix: 24,
        gateway: Some(Ipv4Addr::new(10, 88, 0, 1)),
        mac: POD_MAC,
        mtu: 1500,
    }
}

/// A Calico pod: 10.88.0.5/32, gateway 169.254.1.1 (on-link by proxy ARP), MTU 1450.
pub fn calico() -> GuestNet {
    GuestNet {
        prefix: 32,
        gateway: Some(Ipv4Addr::new(169, 254, 1, 1)),
        mtu: 1450,
        ..bridge()
    }
}

/// A boot input for hostname `web-0` with nothing else set.
pub fn input<'a>(net: &'a GuestNet, nameservers: &'a [Ipv4Addr]) -> BootInput<'a> {
    BootInput {
        net,
        hostname: Some("web-0"),
        nameservers,
        image_cmdline: "",
        version: None,
        env: &[],
        initrd: false,
        block_mount: None,
        tsc_khz: None,
    }
}
