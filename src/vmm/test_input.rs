//! A monitor input for the renderers' unit tests: optional initrd or block
//! image, 256 MiB, two vCPUs, tap `uk-c1`.

use std::path::Path;

use super::input::{QemuOptions, VmmInput};
use super::qemu::ResolvedAccel;
use crate::config::Machine;
use crate::guest::GuestKind;
use crate::net::plan::GuestNet;

/// Which disk the guest gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disk {
    /// Neither initrd nor block device.
    None,
    /// An initrd.
    Initrd,
    /// A block image.
    Block,
}

/// The input for `net` and `disk`.
pub fn input(net: &GuestNet, disk: Disk) -> VmmInput<'_> {
    VmmInput {
        binary: Path::new("/usr/bin/vmm"),
        initrd: disk == Disk::Initrd,
        block: disk == Disk::Block,
        cmdline: "console=ttyS0 ip=x",
        cmdline_has_env: false,
        memory_mib: 256,
        vcpus: 2,
        tap: "uk-c1",
        net,
        control_socket: Path::new("qmp.sock"),
        qemu: QemuOptions {
            accel: ResolvedAccel::Tcg,
            machine: Machine::Q35,
            sandbox: false,
            debug_exit: false,
        },
        solo5: GuestKind::Mirage.caps().solo5,
    }
}
