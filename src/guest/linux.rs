//! Linux guest: the kernel command line that gives it the pod network, its
//! console, and its root. Format of `ip=`: the kernel's
//! Documentation/admin-guide/nfs/nfsroot.rst
//! (`client:server:gw:netmask:hostname:device:autoconf:dns0:dns1:ntp0`);
//! `console=`, `panic=`, `root=`: Documentation/admin-guide/kernel-parameters.txt.
//! urunc (pkg/unikontainers/unikernels/linux.go) passes the same fields.

use super::boot::{on_link_gateway, words, BootInput};
use super::GuestKind;
use crate::net::netmask;
use crate::net::plan::GuestNet;
use std::net::Ipv4Addr;

/// Name of the guest's first virtio NIC inside a Linux guest.
pub const GUEST_DEVICE: &str = "eth0";
/// Serial console device on every monitor ukrun runs Linux on.
const CONSOLE: &str = "ttyS0";
/// The first virtio block device, the root when there is no initrd.
const ROOT_BLOCK: &str = "/dev/vda";

/// The `ip=` argument (static, no autoconfiguration), with the resolvers
/// in `dns0`/`dns1` when there are any.
pub fn ip_arg(net: &GuestNet, hostname: Option<&str>, nameservers: &[Ipv4Addr]) -> String {
    let (gateway, prefix) = match on_link_gateway(net) {
        Some((gateway, prefix)) => (gateway.to_string(), prefix),
        None => (String::new(), net.prefix),
    };
    let mut arg = format!(
        "ip={}::{}:{}:{}:{}:off",
        net.ip,
        gateway,
        netmask(prefix),
        hostname.unwrap_or_default(),
        GUEST_DEVICE
    );
    for ns in nameservers {
        arg.push_str(&format!(":{ns}"));
    }
    arg
}

/// The whole kernel command line: console, panic, TSC, `ip=`, the root
/// block device when there is no initrd, then the image's own arguments.
pub fn cmdline(boot: &BootInput<'_>) -> String {
    let nameservers = GuestKind::Linux.caps().dns.pick(boot.nameservers);
    let tsc = boot
        .tsc_khz
        .map(|khz| format!("tsc_early_khz={khz}"))
        .unwrap_or_default();
    let root = if boot.block_mount.is_some() && !boot.initrd {
        format!("root={ROOT_BLOCK} rw")
    } else {
        String::new()
    };
    words([
        format!("console={CONSOLE}"),
        "panic=-1".to_owned(),
        tsc,
        ip_arg(boot.net, boot.hostname, nameservers),
        root,
        boot.image_cmdline.trim().to_owned(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::{bridge, calico, input, NS1, NS2};

    #[test]
    fn bridge_pod_ip_arg() {
        assert_eq!(
            ip_arg(&bridge(), Some("web-0"), &[]),
            "ip=10.88.0.5::10.88.0.1:255.255.255.0:web-0:eth0:off"
        );
        assert_eq!(
            ip_arg(&bridge(), Some("web-0"), NS2),
            "ip=10.88.0.5::10.88.0.1:255.255.255.0:web-0:eth0:off:10.96.0.10:10.96.0.11"
        );
    }

    #[test]
    fn a_link_local_gateway_becomes_the_neighbour_the_kernel_accepts() {
        assert_eq!(
            ip_arg(&calico(), None, NS1),
            "ip=10.88.0.5::10.88.0.6:255.255.255.252::eth0:off:10.96.0.10"
        );
    }

    #[test]
    fn no_gateway_leaves_field_empty() {
        let net = GuestNet {
            prefix: 16,
            gateway: None,
            ..bridge()
        };
        assert_eq!(
            ip_arg(&net, None, &[]),
            "ip=10.88.0.5:::255.255.0.0::eth0:off"
        );
    }

    #[test]
    fn full_cmdline_orders_console_tsc_ip_root_then_image() {
        let net = bridge();
        let boot = BootInput {
            image_cmdline: " quiet init=/init ",
            tsc_khz: Some(2_596_126),
            initrd: true,
            ..input(&net, &[])
        };
        assert_eq!(
            cmdline(&boot),
            "console=ttyS0 panic=-1 tsc_early_khz=2596126 ip=10.88.0.5::10.88.0.1:255.255.255.0:web-0:eth0:off quiet init=/init"
        );
        let on_block = BootInput {
            image_cmdline: "",
            tsc_khz: None,
            initrd: false,
            block_mount: Some("/"),
            ..boot.clone()
        };
        assert_eq!(
            cmdline(&on_block),
            "console=ttyS0 panic=-1 ip=10.88.0.5::10.88.0.1:255.255.255.0:web-0:eth0:off root=/dev/vda rw"
        );
        let both = BootInput {
            initrd: true,
            ..on_block
        };
        assert!(!cmdline(&both).contains("root="), "the initrd is the root");
    }

    #[test]
    fn at_most_two_resolvers_reach_ip() {
        let net = calico();
        let three = [NS2[0], NS2[1], NS1[0]];
        assert!(cmdline(&input(&net, &three)).ends_with(":eth0:off:10.96.0.10:10.96.0.11"));
    }
}
