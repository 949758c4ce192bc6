//! qemu: the argv that boots a guest on the pod's tap (pure), and the host
//! facts it depends on (accelerator, TSC frequency). Options follow qemu's
//! documentation: qemu-system-x86_64(1) (`-M -accel -m -smp -kernel
//! -initrd -append -netdev tap,fd= -device -drive -sandbox -qmp`),
//! docs/system/i386/microvm.rst (virtio-mmio devices), and virtio-net's
//! `host_mtu` property. urunc: pkg/unikontainers/hypervisors/qemu.go.

use std::path::Path;

use super::input::{TapAccess, VmmCommand, VmmInput};
use crate::config::{Accel, Machine};
use crate::net::format_mac;

/// File descriptor number the tap is passed to qemu as.
pub const TAP_FD: i32 = 3;
/// seccomp policy when the binary has `-sandbox`: no obsolete syscalls,
/// no privilege changes, no fork/exec, no scheduler or affinity changes.
const SANDBOX: &str = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

/// Accelerator after `auto` was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolvedAccel {
    /// KVM.
    Kvm,
    /// TCG.
    Tcg,
}

/// Decides `auto`: KVM when /dev/kvm can be opened read-write.
pub fn resolve_accel(accel: Accel, kvm_device: &Path) -> ResolvedAccel {
    match accel {
        Accel::Kvm => ResolvedAccel::Kvm,
        Accel::Tcg => ResolvedAccel::Tcg,
        Accel::Auto => {
            let usable = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(kvm_device)
                .is_ok();
            if usable {
                ResolvedAccel::Kvm
            } else {
                ResolvedAccel::Tcg
            }
        }
    }
}

/// Host TSC frequency in kHz from `/proc/cpuinfo` text (first `cpu MHz`).
pub fn tsc_khz(cpuinfo: &str) -> Option<u64> {
    let mhz: f64 = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    Some((mhz * 1000.0).round() as u64)
}

/// Whether the guest needs `tsc_early_khz` (microvm has no PIT to calibrate
/// against, and under TCG the guest hangs without it).
pub fn needs_tsc_khz(accel: ResolvedAccel, machine: Machine) -> bool {
    accel == ResolvedAccel::Tcg && machine == Machine::Microvm
}

/// A path inside a qemu `key=value,…` option (commas are doubled).
fn option_path(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// The qemu command; the tap comes as fd [`TAP_FD`].
pub fn render(input: &VmmInput<'_>) -> VmmCommand {
    let opts = input.qemu;
    let (machine, bus) = match opts.machine {
        Machine::Microvm => ("microvm", "device"),
        Machine::Q35 => ("q35", "pci"),
    };
    let accel = match opts.accel {
        ResolvedAccel::Kvm => "kvm",
        ResolvedAccel::Tcg => "tcg",
    };
    let mut args: Vec<String> = vec!["-M".into(), machine.into(), "-accel".into(), accel.into()];
    if opts.accel == ResolvedAccel::Kvm {
        args.extend(["-cpu".into(), "host".into()]);
    }
    args.extend([
        "-m".into(),
        input.memory_mib.to_string(),
        "-smp".into(),
        input.vcpus.to_string(),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-no-reboot".into(),
    ]);
    if opts.sandbox {
        args.extend(["-sandbox".into(), SANDBOX.into()]);
    }
    args.extend([
        "-chardev".into(),
        "stdio,id=console,signal=off".into(),
        "-serial".into(),
        "chardev:console".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", input.control_socket.display()),
        "-kernel".into(),
        input.kernel.display().to_string(),
    ]);
    if let Some(initrd) = input.initrd {
        args.extend(["-initrd".into(), initrd.display().to_string()]);
    }
    args.extend([
        "-append".into(),
        input.cmdline.to_owned(),
        "-netdev".into(),
        format!("tap,id=net0,fd={TAP_FD},vhost=off"),
        "-device".into(),
        format!(
            "virtio-net-{bus},netdev=net0,mac={},host_mtu={}",
            format_mac(&input.net.mac),
            input.net.mtu
        ),
    ]);
    if let Some(block) = input.block {
        args.extend([
            "-drive".into(),
            format!("file={},format=raw,if=none,id=blk0", option_path(block)),
            "-device".into(),
            format!("virtio-blk-{bus},drive=blk0"),
        ]);
    }
    if opts.debug_exit {
        args.extend([
            "-device".into(),
            "isa-debug-exit,iobase=0x501,iosize=2".into(),
        ]);
    }
    VmmCommand {
        binary: input.binary.to_path_buf(),
        argv: args,
        config_file: None,
        tap: TapAccess::Fd(TAP_FD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fixtures::bridge;
    use crate::net::plan::GuestNet;
    use crate::vmm::input::QemuOptions;
    use crate::vmm::Monitor;

    fn input<'a>(net: &'a GuestNet, machine: Machine, accel: ResolvedAccel) -> VmmInput<'a> {
        VmmInput {
            binary: Path::new("qemu-system-x86_64"),
            kernel: Path::new("/r/boot/vmlinux"),
            initrd: Some(Path::new("/r/boot/initrd.img")),
            block: None,
            cmdline: "console=ttyS0 ip=x",
            memory_mib: 256,
            vcpus: 1,
            tap: "uk-c1",
            net,
            control_socket: Path::new("/run/ukrun/c/qmp.sock"),
            state_dir: Path::new("/run/ukrun/.ukrun/c"),
            qemu: QemuOptions {
                accel,
                machine,
                sandbox: false,
                debug_exit: false,
            },
            solo5: crate::guest::GuestKind::Linux.caps().solo5,
        }
    }

    fn net() -> GuestNet {
        GuestNet {
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 1450,
            ..bridge()
        }
    }

    #[test]
    fn microvm_tcg_with_initrd_golden() {
        let net = net();
        let cmd = Monitor::Qemu.render(&input(&net, Machine::Microvm, ResolvedAccel::Tcg));
        assert_eq!(cmd.tap, TapAccess::Fd(3));
        assert_eq!(cmd.config_file, None);
        assert_eq!(
            cmd.argv.join(" "),
            "-M microvm -accel tcg -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
             -chardev stdio,id=console,signal=off -serial chardev:console \
             -qmp unix:/run/ukrun/c/qmp.sock,server=on,wait=off -kernel /r/boot/vmlinux \
             -initrd /r/boot/initrd.img -append console=ttyS0 ip=x \
             -netdev tap,id=net0,fd=3,vhost=off -device virtio-net-device,netdev=net0,mac=02:00:00:00:00:01,host_mtu=1450"
        );
    }

    #[test]
    fn q35_kvm_without_initrd_uses_pci_nic_and_host_cpu() {
        let net = net();
        let a = render(&VmmInput {
            initrd: None,
            ..input(&net, Machine::Q35, ResolvedAccel::Kvm)
        })
        .argv;
        assert_eq!(&a[..6], ["-M", "q35", "-accel", "kvm", "-cpu", "host"]);
        assert!(!a.contains(&"-initrd".to_string()));
        assert!(a.last().unwrap().starts_with("virtio-net-pci,netdev=net0,"));
        let append = a.iter().position(|x| x == "-append").unwrap();
        assert_eq!(
            a[append + 1],
            "console=ttyS0 ip=x",
            "the command line stays one argument"
        );
    }

    #[test]
    fn block_sandbox_and_debug_exit() {
        let net = net();
        let base = input(&net, Machine::Q35, ResolvedAccel::Tcg);
        let a = render(&VmmInput {
            block: Some(Path::new("/r/disk,1.img")),
            qemu: QemuOptions {
                sandbox: true,
                debug_exit: true,
                ..base.qemu
            },
            ..base
        })
        .argv;
        let sandbox = a.iter().position(|x| x == "-sandbox").unwrap();
        assert_eq!(a[sandbox - 1], "-no-reboot");
        assert_eq!(
            a[sandbox + 1],
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
        );
        assert_eq!(
            a[a.len() - 6..].join(" "),
            "-drive file=/r/disk,,1.img,format=raw,if=none,id=blk0 -device virtio-blk-pci,drive=blk0 \
             -device isa-debug-exit,iobase=0x501,iosize=2"
        );
    }

    #[test]
    fn accel_resolution() {
        assert_eq!(
            resolve_accel(Accel::Tcg, Path::new("/dev/kvm")),
            ResolvedAccel::Tcg
        );
        assert_eq!(
            resolve_accel(Accel::Kvm, Path::new("/nonexistent")),
            ResolvedAccel::Kvm
        );
        assert_eq!(
            resolve_accel(Accel::Auto, Path::new("/nonexistent/kvm")),
            ResolvedAccel::Tcg
        );
        assert!(needs_tsc_khz(ResolvedAccel::Tcg, Machine::Microvm));
        assert!(!needs_tsc_khz(ResolvedAccel::Kvm, Machine::Microvm));
        assert!(!needs_tsc_khz(ResolvedAccel::Tcg, Machine::Q35));
    }

    #[test]
    fn tsc_from_cpuinfo() {
        assert_eq!(
            tsc_khz("processor: 0\ncpu MHz\t\t: 2596.126\n"),
            Some(2_596_126)
        );
        assert_eq!(tsc_khz("processor: 0\n"), None);
    }
}
