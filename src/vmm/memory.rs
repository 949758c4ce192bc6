//! Guest memory: the pod's memory limit, else the configured default, and
//! never below what guests on the monitor need to boot.

use super::Monitor;
use crate::names::Named;

impl Monitor {
    /// Smallest guest memory ukrun gives a guest on this monitor: Linux
    /// microVMs (qemu, Firecracker, Cloud Hypervisor) need 64 MiB; Solo5
    /// unikernels (MirageOS, Rumprun) boot in 16.
    pub fn memory_floor_mib(self) -> u64 {
        match self {
            Monitor::Qemu | Monitor::Firecracker | Monitor::CloudHypervisor => 64,
            Monitor::Hvt | Monitor::Spt => 16,
        }
    }
}

/// Why the guest cannot be sized.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemoryError {
    /// The pod's memory limit is below what a guest needs.
    #[error("memory limit of {limit_mib} MiB is below the {floor} MiB {monitor} guests need", floor = monitor.memory_floor_mib(), monitor = monitor.name())]
    BelowFloor {
        /// The limit in MiB.
        limit_mib: u64,
        /// The monitor.
        monitor: Monitor,
    },
}

/// Guest memory: the spec's memory limit, else `default_mib`; never below
/// the monitor's floor (a default below it is raised, a limit is refused).
pub fn guest_memory_mib(
    limit_bytes: Option<i64>,
    default_mib: u64,
    monitor: Monitor,
) -> Result<u64, MemoryError> {
    let floor = monitor.memory_floor_mib();
    match limit_bytes.filter(|l| *l > 0) {
        None => Ok(default_mib.max(floor)),
        Some(bytes) => {
            let limit_mib = bytes as u64 / (1024 * 1024);
            if limit_mib < floor {
                Err(MemoryError::BelowFloor { limit_mib, monitor })
            } else {
                Ok(limit_mib)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1024 * 1024;

    #[test]
    fn memory_from_limit_default_and_floor() {
        let q = Monitor::Qemu;
        assert_eq!(guest_memory_mib(None, 256, q), Ok(256));
        assert_eq!(guest_memory_mib(Some(-1), 256, q), Ok(256));
        assert_eq!(guest_memory_mib(Some(0), 32, q), Ok(64));
        assert_eq!(guest_memory_mib(Some(512 * MIB), 256, q), Ok(512));
        let e = guest_memory_mib(Some(32 * MIB), 256, q).unwrap_err();
        assert_eq!(
            e.to_string(),
            "memory limit of 32 MiB is below the 64 MiB qemu guests need"
        );
    }

    #[test]
    fn floors_differ_per_monitor() {
        assert_eq!(guest_memory_mib(Some(32 * MIB), 256, Monitor::Hvt), Ok(32));
        let e = guest_memory_mib(Some(8 * MIB), 256, Monitor::Spt).unwrap_err();
        assert_eq!(
            e.to_string(),
            "memory limit of 8 MiB is below the 16 MiB spt guests need"
        );
        let e = guest_memory_mib(Some(32 * MIB), 256, Monitor::CloudHypervisor).unwrap_err();
        assert!(e
            .to_string()
            .ends_with("64 MiB cloud-hypervisor guests need"));
    }
}
