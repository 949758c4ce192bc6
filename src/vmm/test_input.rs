//! A monitor input for the renderers' unit tests: kernel, optional initrd
//! or block image, 256 MiB, two vCPUs, tap `uk-c1`.

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
    /// `/r/boot/initrd.img`.
    Initrd,
    /// `/r/disk.img`.
    Block,
}

/// The input for `net` and `disk`.
pub fn input(net: &GuestNet, disk: Disk) -> VmmInput<'_> {
    VmmInput {
        binary: Path::new("/usr/bin/vmm"),
        kernel: Path::new("/r/boot/kernel"),
        initrd: (disk == Disk::Initrd).then(|| Path::new("/r/boot/initrd.img")),
        block: (disk == Disk::Block).then(|| Path::new("/r/disk.img")),
        cmdline: "console=ttyS0 ip=x",
        memory_mib: 256,
        vcpus: 2,
        tap: "uk-c1",
        net,
        control_socket: Path::new("qmp.sock"),
        state_dir: Path::new("/run/ukrun/.ukrun/c1"),
        qemu: QemuOptions {
            accel: ResolvedAccel::Tcg,
            machine: Machine::Q35,
            sandbox: false,
            debug_exit: false,
        },
        solo5: GuestKind::Mirage.caps().solo5,
    }
}
