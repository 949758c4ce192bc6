//! The capability table: for each guest framework, how it is told its
//! network and resolvers, whether it has a loopback interface, what it can
//! boot from, and which monitors run it. Validation, the renderers and the
//! logs read it; urunc's support matrix is the reference for the monitors.

use std::net::Ipv4Addr;

use super::GuestKind;
use crate::names::Named;
use crate::vmm::Monitor;

/// How the guest learns its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetSyntax {
    /// Linux `ip=client::gw:mask:host:dev:off:dns0:dns1`.
    LinuxIp,
    /// Unikraft `netdev.ip=` (legacy `netdev.ipv4_*` before 0.16.1).
    UnikraftNetdev,
    /// MirageOS `--ipv4= --ipv4-gateway=`.
    MirageFlags,
    /// Rumprun's JSON `net` object.
    RumprunJson,
    /// OSv `--ip=eth0,IP,MASK --defaultgw=`.
    OsvFlags,
    /// Hermit `-ip -mask -gateway`.
    HermitArgs,
    /// Mewz `ip=CIDR gateway=`.
    MewzArgs,
}

/// How (and how many) resolvers reach the guest on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsArgs {
    /// The boot arguments carry up to this many resolvers.
    Up(usize),
    /// No resolver argument: the guest reads files, or has no resolver.
    None,
}

impl DnsArgs {
    /// The resolvers the guest's boot arguments can carry.
    pub fn pick(self, nameservers: &[Ipv4Addr]) -> &[Ipv4Addr] {
        match self {
            DnsArgs::Up(n) => &nameservers[..n.min(nameservers.len())],
            DnsArgs::None => &[],
        }
    }
}

/// Whether the guest has a loopback interface of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loopback {
    /// Always.
    Yes,
    /// Only when the image was built with it.
    CompiledIn,
    /// Never.
    No,
}

/// What a guest can take its files from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rootfs {
    /// An initrd or initramfs the monitor loads.
    Initrd,
    /// A virtio or Solo5 block device.
    Block,
    /// A shared filesystem (9p, virtiofs).
    SharedFs,
}

/// Solo5 device names the guest's manifest declares (urunc's choice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solo5Names {
    /// Network device name (`--net:NAME=`).
    pub net: &'static str,
    /// Block device name (`--block:NAME=`).
    pub block: &'static str,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Network syntax.
    pub net: NetSyntax,
    /// Resolvers by boot arguments.
    pub dns: DnsArgs,
    /// Whether the guest's resolver applies a search list (from resolv.conf).
    pub search_domains: bool,
    /// Own loopback interface.
    pub loopback: Loopback,
    /// What it can boot or read files from.
    pub rootfs: &'static [Rootfs],
    /// Monitors that run it.
    pub monitors: &'static [Monitor],
    /// Whether its command line carries the container's environment.
    pub env: bool,
    /// Its Solo5 device names, for the frameworks that run on Solo5.
    pub solo5: Solo5Names,
}

/// Mirage's defaults, also used where no Solo5 names apply.
const MIRAGE_SOLO5: Solo5Names = Solo5Names {
    net: "service",
    block: "storage",
};

impl GuestKind {
    /// This framework's row of the capability table.
    pub fn caps(self) -> Capabilities {
        use Monitor::*;
        use Rootfs::*;
        let row = |net, dns, search_domains, loopback, rootfs, monitors, env| Capabilities {
            net,
            dns,
            search_domains,
            loopback,
            rootfs,
            monitors,
            env,
            solo5: MIRAGE_SOLO5,
        };
        match self {
            GuestKind::Linux => row(
                NetSyntax::LinuxIp,
                DnsArgs::Up(2),
                true,
                Loopback::Yes,
                &[Initrd, Block, SharedFs],
                &[Qemu, Firecracker, CloudHypervisor],
                false,
            ),
            GuestKind::Unikraft => row(
                NetSyntax::UnikraftNetdev,
                DnsArgs::Up(2),
                false,
                Loopback::CompiledIn,
                &[Initrd, SharedFs],
                &[Qemu, Firecracker],
                true,
            ),
            GuestKind::Mirage => row(
                NetSyntax::MirageFlags,
                DnsArgs::Up(3),
                false,
                Loopback::No,
                &[Block],
                &[Qemu, Hvt, Spt],
                false,
            ),
            GuestKind::Rumprun => Capabilities {
                solo5: Solo5Names {
                    net: "tap",
                    block: "rootfs",
                },
                ..row(
                    NetSyntax::RumprunJson,
                    DnsArgs::None,
                    true,
                    Loopback::Yes,
                    &[Block],
                    &[Hvt, Spt],
                    true,
                )
            },
            GuestKind::Osv => row(
                NetSyntax::OsvFlags,
                DnsArgs::Up(1),
                false,
                Loopback::Yes,
                &[Block],
                &[Qemu],
                true,
            ),
            GuestKind::Hermit => row(
                NetSyntax::HermitArgs,
                DnsArgs::Up(2),
                false,
                Loopback::CompiledIn,
                &[Initrd],
                &[Qemu],
                true,
            ),
            GuestKind::Mewz => row(
                NetSyntax::MewzArgs,
                DnsArgs::None,
                false,
                Loopback::No,
                &[],
                &[Qemu],
                false,
            ),
        }
    }

    /// Whether ukrun boots this framework on `monitor`.
    pub fn runs_on(self, monitor: Monitor) -> bool {
        self.caps().monitors.contains(&monitor)
    }

    /// The monitors that run this framework, for error messages.
    pub fn monitor_names(self) -> String {
        let names: Vec<&str> = self.caps().monitors.iter().map(|m| m.name()).collect();
        names.join(", ")
    }
}

impl Capabilities {
    /// One line for logs and diagnostics.
    pub fn describe(&self) -> String {
        let dns = match self.dns {
            DnsArgs::Up(n) => format!("up to {n} by boot arguments"),
            DnsArgs::None => "not by boot arguments".to_owned(),
        };
        format!(
            "network {:?}, resolvers {dns}, search domains {}, loopback {:?}, rootfs {:?}, environment {}, solo5 devices {}/{}",
            self.net,
            if self.search_domains { "yes" } else { "no" },
            self.loopback,
            self.rootfs,
            if self.env { "yes" } else { "no" },
            self.solo5.net,
            self.solo5.block
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_matrix_follows_urunc() {
        let matrix: Vec<(String, String)> = GuestKind::TABLE
            .iter()
            .map(|(k, n)| (n.to_string(), k.monitor_names()))
            .collect();
        let expect = [
            ("linux", "qemu, firecracker, cloud-hypervisor"),
            ("unikraft", "qemu, firecracker"),
            ("rumprun", "hvt, spt"),
            ("mirage", "qemu, hvt, spt"),
            ("mewz", "qemu"),
            ("hermit", "qemu"),
            ("osv", "qemu"),
        ];
        let expect: Vec<(String, String)> = expect
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(matrix, expect);
        assert!(!GuestKind::Rumprun.runs_on(Monitor::Qemu));
        assert!(GuestKind::Mirage.runs_on(Monitor::Spt));
    }

    #[test]
    fn dns_args_cap_the_resolver_count() {
        let ns = [Ipv4Addr::new(10, 96, 0, 10), Ipv4Addr::new(10, 96, 0, 11)];
        assert_eq!(DnsArgs::Up(1).pick(&ns), &ns[..1]);
        assert_eq!(DnsArgs::Up(3).pick(&ns), &ns[..]);
        assert!(DnsArgs::None.pick(&ns).is_empty());
        assert!(DnsArgs::Up(2).pick(&[]).is_empty());
    }

    #[test]
    fn solo5_names_follow_urunc_and_describe_names_every_column() {
        assert_eq!(GuestKind::Mirage.caps().solo5, MIRAGE_SOLO5);
        assert_eq!(GuestKind::Rumprun.caps().solo5.net, "tap");
        assert_eq!(GuestKind::Rumprun.caps().solo5.block, "rootfs");
        assert_eq!(
            GuestKind::Unikraft.caps().describe(),
            "network UnikraftNetdev, resolvers up to 2 by boot arguments, search domains no, \
             loopback CompiledIn, rootfs [Initrd, SharedFs], environment yes, solo5 devices service/storage"
        );
    }
}
