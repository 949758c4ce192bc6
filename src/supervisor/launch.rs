//! What the VMM is launched with, derived from the bundle, ukrun's
//! configuration and this host. `create` runs the cheap checks before
//! anything is set up (`check`); the supervisor it forks adds what needs
//! the monitor to run (`with_monitor`); `vmm_command` renders the guest's boot
//! configuration and the monitor's command from them (pure).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::config::{Config, Machine};
use crate::dns::delivery::{plan_dns, Choice, Delivery, DeliveryError, DnsPlan, GuestDnsFacts};
use crate::dns::initrd::initrd_data_bytes;
use crate::dns::pod_dns::{read_pod_dns, PodDns, PodDnsError};
use crate::guest::boot::{self, BootError, BootInput};
use crate::guest::caps::GuestEnd;
use crate::guest::GuestKind;
use crate::jail::limits::VmmLimits;
use crate::net::plan::GuestNet;
use crate::net::plan::{Wiring, WiringError};
use crate::spec::knobs::{self, KnobError};
use crate::spec::pod_files::{self, PodFileError};
use crate::spec::rootfs_path::Access;
use crate::spec::unikernel::open_vmm_file;
use crate::spec::{Bundle, Unikernel};
use crate::vmm::detect::{self, DetectError};
use crate::vmm::detect_cache;
use crate::vmm::input::{QemuOptions, RenderError, VmmCommand, VmmInput};
use crate::vmm::memory::{self, MemoryError};
use crate::vmm::qemu::{self, ResolvedAccel};
use crate::vmm::Monitor;

/// The device KVM is reached through.
const KVM_DEVICE: &str = "/dev/kvm";

/// Host facts and pod inputs the VMM command depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchInputs {
    /// The monitor program, as found.
    pub binary: PathBuf,
    /// Its version, once it was run (`None` after `check` alone).
    pub version: Option<String>,
    /// Whether it has qemu's `-sandbox`.
    pub sandbox: bool,
    /// Guest memory.
    pub memory_mib: u64,
    /// Accelerator (qemu).
    pub accel: ResolvedAccel,
    /// Pod hostname (validated).
    pub hostname: Option<String>,
    /// Host TSC kHz when the guest needs it.
    pub tsc_khz: Option<u64>,
    /// The container's environment, for guests whose command line carries it (validated).
    pub env: Vec<String>,
    /// Names of the variables withheld from a guest whose command line
    /// would show on its monitor's argv.
    pub env_withheld: Vec<String>,
    /// What the VMM's cgroup is limited to.
    pub limits: VmmLimits,
    /// The container's cgroup, relative to each hierarchy's root, once the
    /// supervisor joined it (the VMM's cgroup is made below it).
    pub cgroup: Option<PathBuf>,
    /// Resolvers for the guest's boot arguments (none until DNS delivery is planned).
    pub nameservers: Vec<Ipv4Addr>,
    /// How the guest is wired to the pod network.
    pub wiring: Wiring,
    /// The pod's DNS files.
    pub pod_dns: PodDns,
    /// How they reach the guest.
    pub dns: DnsPlan,
}

/// Why the launch inputs are unusable.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Guest memory.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// Pod hostname.
    #[error(transparent)]
    PodFile(#[from] PodFileError),
    /// A ukrun.dev annotation.
    #[error(transparent)]
    Knob(#[from] KnobError),
    /// The monitor cannot run here.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// The environment cannot reach the guest's command line.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// The network mode cannot provide what the container asks for.
    #[error(transparent)]
    Wiring(#[from] WiringError),
    /// The pod's DNS files are unusable.
    #[error(transparent)]
    PodDns(#[from] PodDnsError),
    /// The DNS delivery cannot be what was asked.
    #[error(transparent)]
    Dns(#[from] DeliveryError),
    /// The initrd cannot be measured.
    #[error("cannot read the initrd: {0}")]
    Initrd(String),
    /// A console was requested.
    #[error("terminal (tty) mode is not supported for unikernel containers yet: the guest console is the container's log")]
    Terminal,
}

/// The qemu machine: the configured one for Linux; `q35` for unikernels,
/// which find their virtio devices on PCI. So no Unikraft version meets a
/// machine it cannot boot on: Unikraft's qemu images boot on `q35` and
/// `pc` (tested with 0.16.3), while `microvm` fails an assertion in 0.16.3's memory.c (fixed
/// upstream in 0.17.0, a001e41f) and needs virtio-mmio (the Unikraft
/// 0.16.3 test images' README, "Machine types").
fn machine(kind: GuestKind, config: &Config) -> Machine {
    if kind == GuestKind::Linux {
        config.qemu.machine
    } else {
        Machine::Q35
    }
}

/// Everything but running the monitor: sizing, hostname, environment,
/// knobs, the monitor program on this host and KVM where it needs it.
pub fn check(
    bundle: &Bundle,
    unikernel: &Unikernel,
    config: &Config,
) -> Result<LaunchInputs, LaunchError> {
    let process = bundle.spec.process().as_ref();
    if process.is_some_and(|p| p.terminal().unwrap_or(false)) {
        return Err(LaunchError::Terminal);
    }
    let (kind, monitor) = (unikernel.kind, unikernel.monitor);
    let limit = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit());
    let memory_mib = memory::guest_memory_mib(limit, config.guest.default_memory_mib, monitor)?;
    let accel = qemu::resolve_accel(config.qemu.accel, Path::new(KVM_DEVICE));
    let binary = detect::locate(
        monitor,
        &config.monitor_binary(monitor),
        &Config::location(),
    )?;
    if monitor.needs_kvm(accel) {
        detect::check_kvm(monitor, Path::new(KVM_DEVICE))?;
    }
    let needs_tsc = kind == GuestKind::Linux
        && monitor == Monitor::Qemu
        && qemu::needs_tsc_khz(accel, machine(kind, config));
    let tsc_khz = if needs_tsc {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| qemu::tsc_khz(&c))
    } else {
        None
    };
    let (env, env_withheld) = match process.and_then(|p| p.env().clone()) {
        Some(env) if kind.caps().env && monitor.hides_guest_cmdline() => (env, Vec::new()),
        Some(env) if kind.caps().env => (Vec::new(), variable_names(&env)),
        _ => (Vec::new(), Vec::new()),
    };
    boot::validate_env(&env)?;
    let overhead = if monitor == Monitor::Qemu && accel == ResolvedAccel::Tcg {
        config.jail.tcg_overhead_mib
    } else {
        config.jail.overhead_mib
    };
    let resources = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref());
    let limits = VmmLimits::new(memory_mib, overhead, resources);
    let knobs = knobs::from_annotations(&bundle.annotations())?;
    let mut wiring = Wiring {
        mode: knobs.network_mode.unwrap_or(config.network.mode),
        pod_loopback: knobs.pod_loopback.unwrap_or(config.network.pod_loopback),
        localhost_ports: knobs.localhost_ports,
        dns_relay: false,
    };
    wiring.check()?;
    let pod_dns = read_pod_dns(&bundle.spec, &bundle.rootfs)?;
    let facts = GuestDnsFacts {
        caps: &kind.caps(),
        linux_initrd: kind == GuestKind::Linux && unikernel.initrd.is_some(),
        initrd_data_bytes: match &unikernel.initrd {
            Some(path) => {
                let file = open_vmm_file(
                    &bundle.rootfs,
                    &path.to_string_lossy(),
                    "initrd",
                    Access::Read,
                    monitor,
                )
                .map_err(|e| LaunchError::Initrd(e.to_string()))?;
                initrd_data_bytes(&file).map_err(|e| LaunchError::Initrd(e.to_string()))?
            }
            None => 0,
        },
        mode: wiring.mode,
        pod_loopback: wiring.pod_loopback,
    };
    let dns = plan_dns(knobs.dns_delivery.unwrap_or(Choice::Auto), facts, &pod_dns)?;
    wiring.dns_relay = matches!(dns.delivery, Delivery::Relay { .. });
    Ok(LaunchInputs {
        binary,
        version: None,
        sandbox: false,
        memory_mib,
        accel,
        hostname: pod_files::hostname(&bundle.spec)?,
        tsc_khz,
        env,
        env_withheld,
        limits,
        cgroup: None,
        nameservers: dns.boot_nameservers.clone(),
        wiring,
        pod_dns,
        dns,
    })
}

/// The names of `KEY=VALUE` entries (for logs that must not show values).
fn variable_names(env: &[String]) -> Vec<String> {
    env.iter()
        .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_owned())
        .collect()
}

/// What [`check`] found, completed with the monitor's version and
/// capabilities (running it once per binary, see [`detect_cache`]).
pub fn with_monitor(inputs: LaunchInputs, monitor: Monitor) -> Result<LaunchInputs, LaunchError> {
    let found =
        detect_cache::probe_cached(monitor, &inputs.binary, Path::new(detect_cache::CACHE_DIR))?;
    Ok(LaunchInputs {
        version: Some(found.version),
        sandbox: found.sandbox,
        ..inputs
    })
}

/// Where the monitor's command is rendered for: the pod side of the plan.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The guest's network.
    pub net: &'a GuestNet,
    /// Tap name.
    pub tap: &'a str,
    /// The monitor's control socket (qemu's QMP), relative to its root.
    pub control_socket: &'a Path,
}

/// Why the monitor's command could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    /// The guest's boot configuration.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// The monitor's command.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// The guest's boot configuration and the monitor's command (pure).
pub fn vmm_command(
    inputs: &LaunchInputs,
    unikernel: &Unikernel,
    target: Target<'_>,
    config: &Config,
) -> Result<VmmCommand, CommandError> {
    let kind = unikernel.kind;
    let cmdline = kind.render(&BootInput {
        net: target.net,
        hostname: inputs.hostname.as_deref(),
        nameservers: &inputs.nameservers,
        image_cmdline: &unikernel.cmdline,
        version: unikernel.version.as_deref(),
        env: &inputs.env,
        initrd: unikernel.initrd.is_some(),
        block_mount: unikernel.block.as_ref().map(|b| b.mount_point.as_str()),
        tsc_khz: inputs.tsc_khz,
    })?;
    Ok(unikernel.monitor.render(&VmmInput {
        binary: &inputs.binary,
        initrd: unikernel.initrd.is_some(),
        block: unikernel.block.is_some(),
        cmdline: &cmdline,
        cmdline_has_env: !inputs.env.is_empty(),
        memory_mib: inputs.memory_mib,
        vcpus: config.guest.vcpus,
        tap: target.tap,
        net: target.net,
        control_socket: target.control_socket,
        qemu: QemuOptions {
            accel: inputs.accel,
            machine: machine(kind, config),
            sandbox: inputs.sandbox,
            debug_exit: matches!(kind.caps().end, GuestEnd::DebugExit { .. }),
        },
        solo5: kind.caps().solo5,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unikernels_get_q35_whatever_the_configured_linux_machine() {
        let mut config = Config::default();
        config.qemu.machine = Machine::Microvm;
        assert_eq!(machine(GuestKind::Unikraft, &config), Machine::Q35);
        assert_eq!(machine(GuestKind::Mewz, &config), Machine::Q35);
        assert_eq!(machine(GuestKind::Linux, &config), Machine::Microvm);
    }
}
