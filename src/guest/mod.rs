//! Guest frameworks: what each one is called in urunc's annotations, what it
//! can do (the capability table in `caps`), and one file per framework that
//! renders its boot configuration from the plan (pure functions).

pub mod boot;
pub mod caps;
#[cfg(test)]
pub mod fixtures;
pub mod hermit;
pub mod linux;
pub mod mewz;
pub mod mirage;
pub mod osv;
pub mod rumprun;
pub mod unikraft;
pub mod version;

use crate::names::Named;
use boot::{BootError, BootInput};

/// A guest framework named by `com.urunc.unikernel.unikernelType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// A Linux kernel with an initrd or a root block device (microVM guest).
    Linux,
    /// Unikraft.
    Unikraft,
    /// Rumprun (NetBSD rump kernels on Solo5).
    Rumprun,
    /// MirageOS.
    Mirage,
    /// Mewz.
    Mewz,
    /// Hermit (hermit-rs).
    Hermit,
    /// OSv.
    Osv,
}

impl Named for GuestKind {
    const TABLE: &'static [(Self, &'static str)] = &[
        (GuestKind::Linux, "linux"),
        (GuestKind::Unikraft, "unikraft"),
        (GuestKind::Rumprun, "rumprun"),
        (GuestKind::Mirage, "mirage"),
        (GuestKind::Mewz, "mewz"),
        (GuestKind::Hermit, "hermit"),
        (GuestKind::Osv, "osv"),
    ];
}

impl GuestKind {
    /// The guest's command line (a JSON document for rumprun), rendered by
    /// the framework's own file.
    pub fn render(self, input: &BootInput<'_>) -> Result<String, BootError> {
        match self {
            GuestKind::Linux => Ok(linux::cmdline(input)),
            GuestKind::Unikraft => unikraft::cmdline(input),
            GuestKind::Rumprun => Ok(rumprun::config(input)),
            GuestKind::Mirage => Ok(mirage::cmdline(input)),
            GuestKind::Mewz => Ok(mewz::cmdline(input)),
            GuestKind::Hermit => Ok(hermit::cmdline(input)),
            GuestKind::Osv => Ok(osv::cmdline(input)),
        }
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
        assert_eq!(
            GuestKind::all_names(),
            "linux, unikraft, rumprun, mirage, mewz, hermit, osv"
        );
    }
}
