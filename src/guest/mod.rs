//! Guest frameworks: what each one is called in urunc's annotations and how
//! it is told its network. One file per framework that ukrun can boot.

pub mod linux;

use crate::names::Named;

/// A guest framework named by `com.urunc.unikernel.unikernelType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// A Linux kernel with an initrd (microVM guest).
    Linux,
    /// Unikraft.
    Unikraft,
    /// Rumprun.
    Rumprun,
    /// MirageOS.
    Mirage,
    /// Mewz.
    Mewz,
    /// Hermit.
    Hermit,
}

impl Named for GuestKind {
    const TABLE: &'static [(Self, &'static str)] = &[
        (GuestKind::Linux, "linux"),
        (GuestKind::Unikraft, "unikraft"),
        (GuestKind::Rumprun, "rumprun"),
        (GuestKind::Mirage, "mirage"),
        (GuestKind::Mewz, "mewz"),
        (GuestKind::Hermit, "hermit"),
    ];

    fn is_supported(self) -> bool {
        self == GuestKind::Linux
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (kind, name) in GuestKind::TABLE {
            assert_eq!(GuestKind::parse(name), Some(*kind));
            assert_eq!(kind.name(), *name);
        }
        assert_eq!(GuestKind::parse("Linux"), None);
        assert_eq!(GuestKind::supported_names(), "linux");
    }
}
