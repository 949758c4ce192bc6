//! The capability table: for each guest framework, how it is told its
//! network and resolvers, whether it has a loopback interface, what it can
//! boot from, which monitors run it, whether it powers off when asked and
//! how its end reaches the monitor's exit status. Validation, the
//! renderers, the supervisor and the logs read it; urunc's support matrix
//! is the reference for the monitors.

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

/// Whether the guest powers off when the monitor asks it to (ACPI power
/// button, qemu's QMP `system_powerdown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerOff {
    /// It can: the request reaches code that may shut the guest down.
    OnRequest,
    /// It ignores the request.
    Ignores,
    /// Not known; treated as [`PowerOff::Ignores`].
    Unknown,
}

impl PowerOff {
    /// Whether asking the guest to power off is worth waiting for.
    pub fn on_request(self) -> bool {
        self == PowerOff::OnRequest
    }
}

/// How the guest's end reaches qemu's exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestEnd {
    /// It powers off (ACPI): qemu exits 0 whether the application returned
    /// or the guest crashed.
    PowerOff,
    /// It ends through qemu's `isa-debug-exit` port (iobase 0x501), which
    /// makes qemu exit with `(value << 1) | 1`; the codes that mean "the
    /// application returned" and "the guest crashed", where known.
    DebugExit {
        /// qemu's exit code when the application returned.
        returned: Option<i32>,
        /// qemu's exit code when the guest crashed.
        crashed: Option<i32>,
    },
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
    /// Whether it powers off when asked.
    pub power_off: PowerOff,
    /// How its end reaches qemu's exit status.
    pub end: GuestEnd,
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
        // Power-off on request is unknown unless a row says otherwise: no
        // source was checked for Rumprun, MirageOS, Mewz, Hermit and OSv.
        let row = |net, dns, search_domains, loopback, rootfs, monitors, env| Capabilities {
            net,
            dns,
            search_domains,
            loopback,
            rootfs,
            monitors,
            env,
            solo5: MIRAGE_SOLO5,
            power_off: PowerOff::Unknown,
            end: GuestEnd::PowerOff,
        };
        match self {
            GuestKind::Linux => Capabilities {
                // The kernel's ACPI button driver (drivers/acpi/button.c)
                // reports the power button; the guest's init (acpid,
                // systemd-logind) decides to power off. Without
                // `-device pvpanic` and its driver a panic, like a
                // returned init, ends in qemu's exit 0 (`panic=-1` with
                // `-no-reboot`).
                power_off: PowerOff::OnRequest,
                ..row(
                    NetSyntax::LinuxIp,
                    DnsArgs::Up(2),
                    true,
                    Loopback::Yes,
                    &[Initrd, Block, SharedFs],
                    &[Qemu, Firecracker, CloudHypervisor],
                    false,
                )
            },
            GuestKind::Unikraft => Capabilities {
                // Unikraft 0.16.3 ignores ACPI power-off; with qemu's
                // `isa-debug-exit,iobase=0x501` a returned `main` gives
                // qemu rc 83 and a crash (assert, UK_CRASH) rc 85, without
                // it both give rc 0 (tested with the images ukrun's tests
                // boot; unikraft-0.16.3 README, "Stopping", "Exit codes").
                power_off: PowerOff::Ignores,
                end: GuestEnd::DebugExit {
                    returned: Some(83),
                    crashed: Some(85),
                },
                ..row(
                    NetSyntax::UnikraftNetdev,
                    DnsArgs::Up(2),
                    false,
                    Loopback::CompiledIn,
                    &[Initrd, SharedFs],
                    &[Qemu, Firecracker],
                    true,
                )
            },
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
            GuestKind::Mewz => Capabilities {
                // Mewz powers off by writing to isa-debug-exit (README,
                // "Per monitor"); no source says which values mean
                // "returned" and "crashed", so qemu's code passes as is.
                end: GuestEnd::DebugExit {
                    returned: None,
                    crashed: None,
                },
                ..row(
                    NetSyntax::MewzArgs,
                    DnsArgs::None,
                    false,
                    Loopback::No,
                    &[],
                    &[Qemu],
                    false,
                )
            },
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
            "network {:?}, resolvers {dns}, search domains {}, loopback {:?}, rootfs {:?}, environment {}, solo5 devices {}/{}, power-off on request {:?}, end {:?}",
            self.net,
            if self.search_domains { "yes" } else { "no" },
            self.loopback,
            self.rootfs,
            if self.env { "yes" } else { "no" },
            self.solo5.net,
            self.solo5.block,
            self.power_off,
            self.end
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
             loopback CompiledIn, rootfs [Initrd, SharedFs], environment yes, solo5 devices service/storage, \
             power-off on request Ignores, end DebugExit { returned: Some(83), crashed: Some(85) }"
        );
    }
}
