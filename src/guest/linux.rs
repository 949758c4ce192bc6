//! Linux guest: the kernel command line that gives it the pod network.
//! Format of `ip=`: the kernel's Documentation/admin-guide/nfs/nfsroot.rst
//! (`client:server:gw:netmask:hostname:device:autoconf:dns0:dns1`).

use crate::net::netmask;
use crate::net::plan::GuestNet;

/// Name of the guest's first virtio NIC inside a Linux guest.
pub const GUEST_DEVICE: &str = "eth0";

/// What the Linux command line is built from.
#[derive(Clone, Debug)]
pub struct LinuxBoot<'a> {
    /// The guest's network.
    pub net: &'a GuestNet,
    /// The pod's hostname, already validated.
    pub hostname: Option<&'a str>,
    /// The image's own command line, appended last.
    pub image_cmdline: &'a str,
    /// Serial console device.
    pub console: &'a str,
    /// Host TSC frequency for `tsc_early_khz` (qemu microvm under TCG).
    pub tsc_khz: Option<u64>,
}

/// The `ip=` argument (static, no autoconfiguration).
pub fn ip_arg(net: &GuestNet, hostname: Option<&str>) -> String {
    let gateway = net.gateway.map(|g| g.to_string()).unwrap_or_default();
    format!(
        "ip={}::{}:{}:{}:{}:off",
        net.ip,
        gateway,
        netmask(net.prefix),
        hostname.unwrap_or_default(),
        GUEST_DEVICE
    )
}

/// The whole kernel command line.
pub fn cmdline(boot: &LinuxBoot<'_>) -> String {
    let mut args = vec![format!("console={}", boot.console), "panic=-1".to_owned()];
    if let Some(khz) = boot.tsc_khz {
        args.push(format!("tsc_early_khz={khz}"));
    }
    args.push(ip_arg(boot.net, boot.hostname));
    if !boot.image_cmdline.trim().is_empty() {
        args.push(boot.image_cmdline.trim().to_owned());
    }
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn net(prefix: u8, gateway: Option<Ipv4Addr>) -> GuestNet {
        GuestNet {
            ip: Ipv4Addr::new(10, 88, 0, 5),
            prefix,
            gateway,
            mac: [2; 6],
            mtu: 1500,
        }
    }

    #[test]
    fn bridge_pod_ip_arg() {
        let n = net(24, Some(Ipv4Addr::new(10, 88, 0, 1)));
        assert_eq!(
            ip_arg(&n, Some("web-0")),
            "ip=10.88.0.5::10.88.0.1:255.255.255.0:web-0:eth0:off"
        );
    }

    #[test]
    fn calico_pod_ip_arg_keeps_link_local_gateway() {
        let n = net(32, Some(Ipv4Addr::new(169, 254, 1, 1)));
        assert_eq!(
            ip_arg(&n, None),
            "ip=10.88.0.5::169.254.1.1:255.255.255.255::eth0:off"
        );
    }

    #[test]
    fn no_gateway_leaves_field_empty() {
        assert_eq!(
            ip_arg(&net(16, None), None),
            "ip=10.88.0.5:::255.255.0.0::eth0:off"
        );
    }

    #[test]
    fn full_cmdline_orders_console_tsc_ip_then_image() {
        let n = net(24, Some(Ipv4Addr::new(10, 88, 0, 1)));
        let boot = LinuxBoot {
            net: &n,
            hostname: Some("p"),
            image_cmdline: " quiet init=/init ",
            console: "ttyS0",
            tsc_khz: Some(2_596_126),
        };
        assert_eq!(
            cmdline(&boot),
            "console=ttyS0 panic=-1 tsc_early_khz=2596126 ip=10.88.0.5::10.88.0.1:255.255.255.0:p:eth0:off quiet init=/init"
        );
        let boot = LinuxBoot {
            image_cmdline: "",
            tsc_khz: None,
            ..boot
        };
        assert_eq!(
            cmdline(&boot),
            "console=ttyS0 panic=-1 ip=10.88.0.5::10.88.0.1:255.255.255.0:p:eth0:off"
        );
    }
}
