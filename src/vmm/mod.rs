//! Monitors (VMMs): what each is called in urunc's annotations, and one file
//! per monitor that ukrun can run.

pub mod qemu;
pub mod qmp;

use crate::names::Named;

/// A monitor named by `com.urunc.unikernel.hypervisor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Monitor {
    /// qemu-system-*.
    Qemu,
    /// Firecracker.
    Firecracker,
    /// Solo5 hvt tender.
    Hvt,
    /// Solo5 spt tender.
    Spt,
}

impl Named for Monitor {
    const TABLE: &'static [(Self, &'static str)] = &[
        (Monitor::Qemu, "qemu"),
        (Monitor::Firecracker, "firecracker"),
        (Monitor::Hvt, "hvt"),
        (Monitor::Spt, "spt"),
    ];

    fn is_supported(self) -> bool {
        self == Monitor::Qemu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_monitors_are_listed() {
        assert_eq!(Monitor::parse("qemu"), Some(Monitor::Qemu));
        assert_eq!(Monitor::parse("bogus"), None);
        assert_eq!(Monitor::Hvt.name(), "hvt");
        assert_eq!(Monitor::supported_names(), "qemu");
    }
}
