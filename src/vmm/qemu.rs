//! qemu: the argv that boots a guest on the pod's tap (pure), and the host
//! facts it depends on (accelerator, TSC frequency). Options follow qemu's
//! documentation: qemu-system-x86_64(1) (`-M -accel -m -smp -readconfig
//! ([machine] kernel, initrd, append) -append -netdev tap,fd= -device
//! -add-fd -drive file=/dev/fdset/N -sandbox -qmp`),
//! docs/system/i386/microvm.rst (virtio-mmio devices), and virtio-net's
//! `host_mtu` property. urunc: pkg/unikontainers/hypervisors/qemu.go.

use std::path::Path;

use super::input::{Handed, RenderError, TapAccess, VmmCommand, VmmInput};
use crate::config::{Accel, Machine};
use crate::jail::fds;
use crate::net::format_mac;

/// File descriptor number the tap is passed to qemu as.
pub const TAP_FD: i32 = fds::TAP;
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

/// Longest value qemu's `-readconfig` takes on one line: it reads a line
/// into 1024 bytes and a value into at most 1023 (util/qemu-config.c),
/// and the key, quotes and newline share the line.
pub const CONFIG_VALUE_MAX: usize = 1000;
/// The fdset the block image's two descriptors form.
const BLOCK_FDSET: i32 = 1;

/// The qemu command; the tap comes as fd [`TAP_FD`], the kernel, initrd
/// and the guest's command line through `-readconfig` from a handed
/// descriptor (the command line stays on the argv only when it carries no
/// environment and qemu's config syntax cannot hold it), the block image
/// as an fdset.
pub fn render(input: &VmmInput<'_>) -> Result<VmmCommand, RenderError> {
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
    let mut config = format!(
        "[machine]\nkernel = \"{}\"\n",
        fds::proc_path(fds::KERNEL).display()
    );
    if input.initrd {
        config.push_str(&format!(
            "initrd = \"{}\"\n",
            fds::proc_path(fds::INITRD).display()
        ));
    }
    let append_on_argv = match config_value(input.cmdline) {
        Ok(value) => {
            config.push_str(&format!("append = \"{value}\"\n"));
            false
        }
        Err(reason) if input.cmdline_has_env => return Err(RenderError::EnvWouldShow { reason }),
        Err(_) => true,
    };
    args.extend([
        "-chardev".into(),
        "stdio,id=console,signal=off".into(),
        "-serial".into(),
        "chardev:console".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", input.control_socket.display()),
        "-readconfig".into(),
        fds::proc_path(fds::CONFIG).display().to_string(),
    ]);
    if append_on_argv {
        args.extend(["-append".into(), input.cmdline.to_owned()]);
    }
    args.extend([
        "-netdev".into(),
        format!("tap,id=net0,fd={TAP_FD},vhost=off"),
        "-device".into(),
        format!(
            "virtio-net-{bus},netdev=net0,mac={},host_mtu={}",
            format_mac(&input.net.mac),
            input.net.mtu
        ),
    ]);
    let mut files = Handed::guest_files(input);
    if input.block {
        files.push(Handed::BlockReadOnly);
        for fd in [fds::BLOCK, fds::BLOCK_READ_ONLY] {
            args.extend(["-add-fd".into(), format!("fd={fd},set={BLOCK_FDSET}")]);
        }
        args.extend([
            "-drive".into(),
            format!("file=/dev/fdset/{BLOCK_FDSET},format=raw,if=none,id=blk0"),
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
    Ok(VmmCommand {
        binary: input.binary.to_path_buf(),
        argv: args,
        config: Some(config),
        files,
        tap: TapAccess::Fd(TAP_FD),
    })
}

/// `value` as a quoted `-readconfig` value, or why it cannot be one: the
/// syntax has no escapes, so a double quote would end it, and a line holds
/// at most [`CONFIG_VALUE_MAX`] bytes of it.
fn config_value(value: &str) -> Result<&str, String> {
    if value.contains('"') {
        Err("it holds a double quote, which qemu's configuration file cannot carry".into())
    } else if value.len() > CONFIG_VALUE_MAX {
        Err(format!(
            "it is {} bytes long, more than the {CONFIG_VALUE_MAX} qemu's configuration file carries (drop variables: a pod's service links alone add seven per service; set enableServiceLinks: false)",
            value.len()
        ))
    } else if value.chars().any(char::is_control) {
        Err("it holds a control character".into())
    } else {
        Ok(value)
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
            initrd: true,
            block: false,
            cmdline: "console=ttyS0 ip=x",
            cmdline_has_env: false,
            memory_mib: 256,
            vcpus: 1,
            tap: "uk-c1",
            net,
            control_socket: Path::new("qmp.sock"),
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
        let cmd = Monitor::Qemu
            .render(&input(&net, Machine::Microvm, ResolvedAccel::Tcg))
            .unwrap();
        assert_eq!(cmd.tap, TapAccess::Fd(3));
        assert_eq!(cmd.files, [Handed::Kernel, Handed::Initrd]);
        assert_eq!(
            cmd.argv.join(" "),
            "-M microvm -accel tcg -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
             -chardev stdio,id=console,signal=off -serial chardev:console \
             -qmp unix:qmp.sock,server=on,wait=off -readconfig /proc/self/fd/8 \
             -netdev tap,id=net0,fd=3,vhost=off -device virtio-net-device,netdev=net0,mac=02:00:00:00:00:01,host_mtu=1450"
        );
        assert_eq!(
            cmd.config.unwrap(),
            "[machine]\nkernel = \"/proc/self/fd/4\"\ninitrd = \"/proc/self/fd/5\"\nappend = \"console=ttyS0 ip=x\"\n"
        );
    }

    #[test]
    fn q35_kvm_without_initrd_uses_pci_nic_and_host_cpu() {
        let net = net();
        let cmd = render(&VmmInput {
            initrd: false,
            ..input(&net, Machine::Q35, ResolvedAccel::Kvm)
        })
        .unwrap();
        let a = &cmd.argv;
        assert_eq!(&a[..6], ["-M", "q35", "-accel", "kvm", "-cpu", "host"]);
        assert!(!cmd.config.unwrap().contains("initrd"));
        assert_eq!(cmd.files, [Handed::Kernel]);
        assert!(a.last().unwrap().starts_with("virtio-net-pci,netdev=net0,"));
        assert!(!a.iter().any(|w| w.contains("/proc/self/fd/4")));
    }

    #[test]
    fn the_command_line_leaves_the_argv_unless_only_the_argv_can_carry_it() {
        let net = net();
        let base = input(&net, Machine::Q35, ResolvedAccel::Tcg);
        let with_env = VmmInput {
            cmdline: "netdev.ip=10.0.0.2/24 env.vars=[ TOKEN=s3cret ] --",
            cmdline_has_env: true,
            ..base.clone()
        };
        let cmd = render(&with_env).unwrap();
        assert!(!cmd.argv.iter().any(|w| w.contains("s3cret")));
        assert!(cmd.config.unwrap().contains("env.vars=[ TOKEN=s3cret ]"));
        let quoted = VmmInput {
            cmdline: "init=/init msg=\"a b\"",
            ..base.clone()
        };
        let cmd = render(&quoted).unwrap();
        let append = cmd.argv.iter().position(|w| w == "-append").unwrap();
        assert_eq!(
            cmd.argv[append + 1],
            "init=/init msg=\"a b\"",
            "one argument"
        );
        assert!(!cmd.config.unwrap().contains("append"));
        let e = render(&VmmInput {
            cmdline_has_env: true,
            ..quoted
        })
        .unwrap_err();
        assert!(e.to_string().contains("double quote"), "{e}");
        let long = "x".repeat(CONFIG_VALUE_MAX + 1);
        let e = render(&VmmInput {
            cmdline: &long,
            cmdline_has_env: true,
            ..base.clone()
        })
        .unwrap_err();
        assert!(e.to_string().contains("enableServiceLinks: false"), "{e}");
        let fits = "x".repeat(CONFIG_VALUE_MAX);
        assert!(render(&VmmInput {
            cmdline: &fits,
            cmdline_has_env: true,
            ..base
        })
        .is_ok());
    }

    #[test]
    fn block_sandbox_and_debug_exit() {
        let net = net();
        let base = input(&net, Machine::Q35, ResolvedAccel::Tcg);
        let cmd = render(&VmmInput {
            block: true,
            qemu: QemuOptions {
                sandbox: true,
                debug_exit: true,
                ..base.qemu
            },
            ..base
        })
        .unwrap();
        let a = &cmd.argv;
        let sandbox = a.iter().position(|x| x == "-sandbox").unwrap();
        assert_eq!(a[sandbox - 1], "-no-reboot");
        assert_eq!(
            a[sandbox + 1],
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
        );
        assert_eq!(
            a[a.len() - 10..].join(" "),
            "-add-fd fd=6,set=1 -add-fd fd=7,set=1 \
             -drive file=/dev/fdset/1,format=raw,if=none,id=blk0 -device virtio-blk-pci,drive=blk0 \
             -device isa-debug-exit,iobase=0x501,iosize=2"
        );
        assert_eq!(
            cmd.files,
            [
                Handed::Kernel,
                Handed::Initrd,
                Handed::Block,
                Handed::BlockReadOnly
            ]
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
