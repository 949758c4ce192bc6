//! qemu: the argv that boots a guest on the pod's tap (pure), and the host
//! facts it depends on (accelerator, TSC frequency).
//! Options follow qemu's documentation (qemu-system-x86_64(1), docs/system/i386/microvm.rst).

use std::path::{Path, PathBuf};

use crate::config::{Accel, Machine};
use crate::net::format_mac;
use crate::net::plan::GuestNet;

/// File descriptor number the tap is passed to qemu as.
pub const TAP_FD: i32 = 3;
/// Smallest guest memory ukrun gives a qemu guest.
pub const MEMORY_FLOOR_MIB: u64 = 64;

/// Accelerator after `auto` was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolvedAccel {
    /// KVM.
    Kvm,
    /// TCG.
    Tcg,
}

/// Everything the qemu argv is rendered from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuPlan {
    /// qemu binary.
    pub binary: PathBuf,
    /// Accelerator.
    pub accel: ResolvedAccel,
    /// Machine type.
    pub machine: Machine,
    /// Guest memory.
    pub memory_mib: u64,
    /// Virtual CPUs.
    pub smp: u32,
    /// Kernel image.
    pub kernel: PathBuf,
    /// Initrd.
    pub initrd: Option<PathBuf>,
    /// Kernel command line.
    pub append: String,
    /// Guest NIC.
    pub net: GuestNet,
    /// QMP socket path.
    pub qmp_socket: PathBuf,
}

/// Why the guest cannot be sized.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemoryError {
    /// The pod's memory limit is below what a guest needs.
    #[error("memory limit of {limit_mib} MiB is below the {floor} MiB qemu guests need", floor = MEMORY_FLOOR_MIB)]
    BelowFloor {
        /// The limit in MiB.
        limit_mib: u64,
    },
}

/// Guest memory: the spec's memory limit, else `default_mib`; never below the floor.
pub fn guest_memory_mib(limit_bytes: Option<i64>, default_mib: u64) -> Result<u64, MemoryError> {
    match limit_bytes.filter(|l| *l > 0) {
        None => Ok(default_mib.max(MEMORY_FLOOR_MIB)),
        Some(bytes) => {
            let limit_mib = bytes as u64 / (1024 * 1024);
            if limit_mib < MEMORY_FLOOR_MIB {
                Err(MemoryError::BelowFloor { limit_mib })
            } else {
                Ok(limit_mib)
            }
        }
    }
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

/// The qemu argv (without the binary).
pub fn argv(plan: &QemuPlan) -> Vec<String> {
    let (machine, nic) = match plan.machine {
        Machine::Microvm => ("microvm", "virtio-net-device"),
        Machine::Q35 => ("q35", "virtio-net-pci"),
    };
    let accel = match plan.accel {
        ResolvedAccel::Kvm => "kvm",
        ResolvedAccel::Tcg => "tcg",
    };
    let mut args: Vec<String> = vec!["-M".into(), machine.into(), "-accel".into(), accel.into()];
    if plan.accel == ResolvedAccel::Kvm {
        args.extend(["-cpu".into(), "host".into()]);
    }
    args.extend([
        "-m".into(),
        plan.memory_mib.to_string(),
        "-smp".into(),
        plan.smp.to_string(),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-no-reboot".into(),
        "-chardev".into(),
        "stdio,id=console,signal=off".into(),
        "-serial".into(),
        "chardev:console".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", plan.qmp_socket.display()),
        "-kernel".into(),
        plan.kernel.display().to_string(),
    ]);
    if let Some(initrd) = &plan.initrd {
        args.extend(["-initrd".into(), initrd.display().to_string()]);
    }
    args.extend([
        "-append".into(),
        plan.append.clone(),
        "-netdev".into(),
        format!("tap,id=net0,fd={TAP_FD},vhost=off"),
        "-device".into(),
        format!(
            "{nic},netdev=net0,mac={},host_mtu={}",
            format_mac(&plan.net.mac),
            plan.net.mtu
        ),
    ]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn plan(machine: Machine, accel: ResolvedAccel, initrd: bool) -> QemuPlan {
        QemuPlan {
            binary: "qemu-system-x86_64".into(),
            accel,
            machine,
            memory_mib: 256,
            smp: 1,
            kernel: "/r/boot/vmlinux".into(),
            initrd: initrd.then(|| "/r/boot/initrd.img".into()),
            append: "console=ttyS0 ip=x".into(),
            net: GuestNet {
                ip: Ipv4Addr::new(10, 88, 0, 5),
                prefix: 24,
                gateway: None,
                mac: [2, 0, 0, 0, 0, 1],
                mtu: 1450,
            },
            qmp_socket: "/run/ukrun/c/qmp.sock".into(),
        }
    }

    #[test]
    fn microvm_tcg_with_initrd_golden() {
        assert_eq!(
            argv(&plan(Machine::Microvm, ResolvedAccel::Tcg, true)).join(" "),
            "-M microvm -accel tcg -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
             -chardev stdio,id=console,signal=off -serial chardev:console \
             -qmp unix:/run/ukrun/c/qmp.sock,server=on,wait=off -kernel /r/boot/vmlinux \
             -initrd /r/boot/initrd.img -append console=ttyS0 ip=x \
             -netdev tap,id=net0,fd=3,vhost=off -device virtio-net-device,netdev=net0,mac=02:00:00:00:00:01,host_mtu=1450"
        );
    }

    #[test]
    fn q35_kvm_without_initrd_uses_pci_nic_and_host_cpu() {
        let a = argv(&plan(Machine::Q35, ResolvedAccel::Kvm, false));
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
    fn memory_from_limit_default_and_floor() {
        assert_eq!(guest_memory_mib(None, 256), Ok(256));
        assert_eq!(guest_memory_mib(Some(-1), 256), Ok(256));
        assert_eq!(guest_memory_mib(Some(0), 32), Ok(MEMORY_FLOOR_MIB));
        assert_eq!(guest_memory_mib(Some(512 * 1024 * 1024), 256), Ok(512));
        let e = guest_memory_mib(Some(32 * 1024 * 1024), 256).unwrap_err();
        assert_eq!(
            e.to_string(),
            "memory limit of 32 MiB is below the 64 MiB qemu guests need"
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
