//! What the VMM is launched with, derived from the bundle and ukrun's
//! configuration. `create` computes it once before anything is set up, so a
//! bad input fails the create with nothing left behind.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::guest::linux::{self, LinuxBoot};
use crate::net::plan::GuestNet;
use crate::net::plan::NetworkMode;
use crate::spec::knobs::{self, KnobError};
use crate::spec::pod_files::{self, PodFileError};
use crate::spec::{Bundle, Unikernel};
use crate::vmm::qemu::{self, MemoryError, QemuPlan, ResolvedAccel};

/// Host facts and pod inputs the VMM argv depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchInputs {
    /// Guest memory.
    pub memory_mib: u64,
    /// Accelerator.
    pub accel: ResolvedAccel,
    /// Pod hostname (validated).
    pub hostname: Option<String>,
    /// Host TSC kHz when the guest needs it.
    pub tsc_khz: Option<u64>,
    /// How the guest is wired to the pod network.
    pub network_mode: NetworkMode,
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
    /// A console was requested.
    #[error("terminal (tty) mode is not supported for unikernel containers yet: the guest console is the container's log")]
    Terminal,
}

/// Computes the launch inputs.
pub fn launch_inputs(bundle: &Bundle, config: &Config) -> Result<LaunchInputs, LaunchError> {
    if bundle
        .spec
        .process()
        .as_ref()
        .is_some_and(|p| p.terminal().unwrap_or(false))
    {
        return Err(LaunchError::Terminal);
    }
    let limit = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit());
    let memory_mib = qemu::guest_memory_mib(limit, config.qemu.default_memory_mib)?;
    let accel = qemu::resolve_accel(config.qemu.accel, Path::new("/dev/kvm"));
    let tsc_khz = if qemu::needs_tsc_khz(accel, config.qemu.machine) {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| qemu::tsc_khz(&c))
    } else {
        None
    };
    let knobs = knobs::from_annotations(&bundle.annotations())?;
    Ok(LaunchInputs {
        memory_mib,
        accel,
        hostname: pod_files::hostname(&bundle.spec)?,
        tsc_khz,
        network_mode: knobs.network_mode.unwrap_or(config.network.mode),
    })
}

/// The qemu plan for a Linux guest (pure).
pub fn qemu_plan(
    inputs: &LaunchInputs,
    unikernel: &Unikernel,
    net: &GuestNet,
    config: &Config,
    qmp_socket: PathBuf,
) -> QemuPlan {
    let append = linux::cmdline(&LinuxBoot {
        net,
        hostname: inputs.hostname.as_deref(),
        image_cmdline: &unikernel.cmdline,
        console: "ttyS0",
        tsc_khz: inputs.tsc_khz,
    });
    QemuPlan {
        binary: config.qemu.binary.clone(),
        accel: inputs.accel,
        machine: config.qemu.machine,
        memory_mib: inputs.memory_mib,
        smp: config.qemu.smp,
        kernel: unikernel.kernel.clone(),
        initrd: unikernel.initrd.clone(),
        append,
        net: net.clone(),
        qmp_socket,
    }
}
