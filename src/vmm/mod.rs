//! Monitors (VMMs): what each is called in urunc's annotations, one file
//! per monitor that renders its argv (and configuration) from a common
//! input (pure), capability detection on this host, and the tap hand-off.

pub mod cloud_hypervisor;
pub mod detect;
pub mod detect_cache;
pub mod firecracker;
pub mod input;
pub mod memory;
pub mod qemu;
pub mod qmp;
pub mod solo5;
pub mod tap;
#[cfg(test)]
pub mod test_input;

use crate::names::Named;
use input::{RenderError, VmmCommand, VmmInput};

/// A monitor named by `com.urunc.unikernel.hypervisor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// qemu-system-*.
    Qemu,
    /// Firecracker.
    Firecracker,
    /// Cloud Hypervisor.
    CloudHypervisor,
    /// Solo5 hvt tender (KVM).
    Hvt,
    /// Solo5 spt tender (seccomp sandbox, no KVM).
    Spt,
}

impl Named for Monitor {
    const TABLE: &'static [(Self, &'static str)] = &[
        (Monitor::Qemu, "qemu"),
        (Monitor::Firecracker, "firecracker"),
        (Monitor::CloudHypervisor, "cloud-hypervisor"),
        (Monitor::Hvt, "hvt"),
        (Monitor::Spt, "spt"),
    ];
}

impl Monitor {
    /// The monitor's argv (and configuration), rendered by its own file.
    pub fn render(self, input: &VmmInput<'_>) -> Result<VmmCommand, RenderError> {
        match self {
            Monitor::Qemu => qemu::render(input),
            Monitor::Firecracker => Ok(firecracker::render(input)),
            Monitor::CloudHypervisor => Ok(cloud_hypervisor::render(input)),
            Monitor::Hvt | Monitor::Spt => Ok(solo5::render(input)),
        }
    }

    /// Whether the guest's command line can reach the monitor other than on
    /// its argv (qemu's `-readconfig`, Firecracker's config file). Only
    /// then does the guest get the container's environment.
    pub fn hides_guest_cmdline(self) -> bool {
        matches!(self, Monitor::Qemu | Monitor::Firecracker)
    }

    /// The program ukrun runs when the config file names none.
    pub fn default_binary(self) -> &'static str {
        match self {
            Monitor::Qemu => "qemu-system-x86_64",
            Monitor::Firecracker => "firecracker",
            Monitor::CloudHypervisor => "cloud-hypervisor",
            Monitor::Hvt => "solo5-hvt",
            Monitor::Spt => "solo5-spt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_urunc() {
        assert_eq!(Monitor::parse("qemu"), Some(Monitor::Qemu));
        assert_eq!(
            Monitor::parse("cloud-hypervisor"),
            Some(Monitor::CloudHypervisor)
        );
        assert_eq!(Monitor::parse("clh"), None);
        assert_eq!(Monitor::Hvt.name(), "hvt");
        assert_eq!(
            Monitor::all_names(),
            "qemu, firecracker, cloud-hypervisor, hvt, spt"
        );
        assert_eq!(
            serde_json::to_string(&Monitor::CloudHypervisor).unwrap(),
            "\"cloud-hypervisor\""
        );
    }
}
