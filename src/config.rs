//! ukrun's own configuration file: where the external programs are and how
//! guests are sized. Absent file means defaults; a malformed one is an error.

use std::path::{Path, PathBuf};

use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::jail::ids::IdRange;
use crate::vmm::Monitor;

use crate::net::plan::NetworkMode;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ukrun/config.toml";
/// Environment variable naming another configuration file.
pub const CONFIG_ENV: &str = "UKRUN_CONFIG";
/// Environment variable naming the runc binary (wins over the file).
pub const RUNC_ENV: &str = "UKRUN_RUNC";

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// runc binary that ordinary containers are handed to (name on PATH or path).
    pub runc: Option<PathBuf>,
    /// Guest sizing (every monitor).
    pub guest: GuestConfig,
    /// qemu settings.
    pub qemu: QemuConfig,
    /// Firecracker settings.
    pub firecracker: MonitorConfig,
    /// Cloud Hypervisor settings.
    #[serde(rename = "cloud-hypervisor")]
    pub cloud_hypervisor: MonitorConfig,
    /// Solo5 hvt tender settings.
    pub hvt: MonitorConfig,
    /// Solo5 spt tender settings.
    pub spt: MonitorConfig,
    /// Supervisor settings.
    pub supervisor: SupervisorConfig,
    /// Pod network settings.
    pub network: NetworkConfig,
    /// The VMM's cell.
    pub jail: JailConfig,
}

/// How the VMM is confined.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JailConfig {
    /// The user and group ids VMMs run as, one per container.
    pub ids: IdRange,
    /// Memory a qemu running under TCG needs beyond its guest's, in MiB
    /// (translated code and qemu itself; docs/security.md has the figures).
    pub tcg_overhead_mib: u64,
    /// Memory any other monitor needs beyond its guest's, in MiB.
    pub overhead_mib: u64,
}

impl Default for JailConfig {
    fn default() -> Self {
        Self {
            ids: IdRange::default(),
            tcg_overhead_mib: 192,
            overhead_mib: 64,
        }
    }
}

/// How guests are wired to the pod network.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Mode when the container does not choose one (`ukrun.dev/network-mode`).
    pub mode: NetworkMode,
    /// Link-local address the guest uses as its gateway in routed mode
    /// (and, later, to reach the pod's loopback).
    pub pod_loopback: Ipv4Addr,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            mode: NetworkMode::Routed,
            pod_loopback: Ipv4Addr::new(169, 254, 1, 1),
        }
    }
}

/// How every guest is sized, whatever its monitor.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuestConfig {
    /// Guest memory when the spec sets no memory limit.
    pub default_memory_mib: u64,
    /// Virtual CPUs of the guest.
    pub vcpus: u32,
}

impl Default for GuestConfig {
    fn default() -> Self {
        Self {
            default_memory_mib: 256,
            vcpus: 1,
        }
    }
}

/// How ukrun runs qemu.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QemuConfig {
    /// qemu binary (name on PATH or path).
    pub binary: PathBuf,
    /// Accelerator: `kvm`, `tcg` or `auto` (kvm when /dev/kvm opens).
    pub accel: Accel,
    /// Machine type of Linux guests: `microvm` or `q35`.
    pub machine: Machine,
}

impl Default for QemuConfig {
    fn default() -> Self {
        Self {
            binary: PathBuf::from(Monitor::Qemu.default_binary()),
            accel: Accel::Auto,
            machine: Machine::Microvm,
        }
    }
}

/// Where a monitor other than qemu is installed.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// The program (name on PATH or path); unset means the monitor's usual name.
    pub binary: Option<PathBuf>,
}

/// qemu accelerator choice.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation (works everywhere, slow).
    Tcg,
    /// kvm when /dev/kvm can be opened, else tcg.
    Auto,
}

/// qemu machine type.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Machine {
    /// Minimal virtio-mmio machine: fastest boot.
    Microvm,
    /// PC machine with PCI (virtio-net-pci).
    Q35,
}

/// How the supervisor stops a guest.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// An upper bound, in seconds, on the wait for a guest asked to power
    /// off, after which the VMM is killed. Unset (the default): the guest
    /// has the time containerd gives it (kubelet's grace period), whose
    /// SIGKILL ends the wait.
    pub stop_grace_seconds: Option<u64>,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A value is out of range.
    #[error("invalid config file {path}: {message}")]
    Invalid {
        /// File path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// Parser's explanation.
        message: String,
    },
}

impl Config {
    /// The configuration file in use: `UKRUN_CONFIG`, else the default path.
    pub fn location() -> PathBuf {
        std::env::var_os(CONFIG_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
    }

    /// Loads the configuration named by `UKRUN_CONFIG`, else the default path.
    pub fn load() -> Result<Self, ConfigError> {
        let explicit = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
        let path = Self::location();
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                Self::default()
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        if let Some(runc) = std::env::var_os(RUNC_ENV) {
            config.runc = Some(PathBuf::from(runc));
        }
        Ok(config)
    }

    /// Parses configuration text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        if !config.network.pod_loopback.is_link_local() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "network.pod_loopback {} is not a link-local IPv4 address (169.254.0.0/16)",
                    config.network.pod_loopback
                ),
            });
        }
        Ok(config)
    }

    /// The program that runs `monitor`: its section's `binary`, else its usual name.
    pub fn monitor_binary(&self, monitor: Monitor) -> PathBuf {
        let section = match monitor {
            Monitor::Qemu => return self.qemu.binary.clone(),
            Monitor::Firecracker => &self.firecracker,
            Monitor::CloudHypervisor => &self.cloud_hypervisor,
            Monitor::Hvt => &self.hvt,
            Monitor::Spt => &self.spt,
        };
        section
            .binary
            .clone()
            .unwrap_or_else(|| PathBuf::from(monitor.default_binary()))
    }

    /// The runc binary to hand ordinary containers to.
    pub fn runc_binary(&self) -> PathBuf {
        self.runc.clone().unwrap_or_else(|| PathBuf::from("runc"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", Path::new("x")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.qemu.accel, Accel::Auto);
        assert_eq!(c.runc_binary(), PathBuf::from("runc"));
        assert_eq!(
            c.supervisor.stop_grace_seconds, None,
            "no limit of ukrun's own"
        );
    }

    #[test]
    fn sections_override_defaults() {
        let text = "runc = \"/opt/runc\"\n[qemu]\naccel = \"tcg\"\nmachine = \"q35\"\n[supervisor]\nstop_grace_seconds = 3\n";
        let c = Config::parse(text, Path::new("x")).unwrap();
        assert_eq!(c.runc_binary(), PathBuf::from("/opt/runc"));
        assert_eq!(c.qemu.accel, Accel::Tcg);
        assert_eq!(c.qemu.machine, Machine::Q35);
        assert_eq!(c.guest, GuestConfig::default());
        assert_eq!(c.guest.default_memory_mib, 256);
        assert_eq!(c.supervisor.stop_grace_seconds, Some(3));
    }

    #[test]
    fn network_section() {
        let c = Config::parse("", Path::new("x")).unwrap();
        assert_eq!(c.network.mode, NetworkMode::Routed);
        assert_eq!(c.network.pod_loopback, Ipv4Addr::new(169, 254, 1, 1));
        let c = Config::parse(
            "[network]\nmode = \"tc\"\npod_loopback = \"169.254.7.7\"\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.network.mode, NetworkMode::Tc);
        assert_eq!(c.network.pod_loopback, Ipv4Addr::new(169, 254, 7, 7));
        let e =
            Config::parse("[network]\npod_loopback = \"10.0.0.1\"\n", Path::new("/c")).unwrap_err();
        assert!(e.to_string().contains("not a link-local"), "{e}");
    }

    #[test]
    fn jail_section() {
        let c = Config::parse(
            "[jail]\ntcg_overhead_mib = 300\nids = { first = 100000, count = 10 }\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.jail.tcg_overhead_mib, 300);
        assert_eq!(c.jail.overhead_mib, 64);
        assert_eq!(
            c.jail.ids,
            IdRange {
                first: 100_000,
                count: 10
            }
        );
        assert!(Config::parse("[jail]\nuid = 5\n", Path::new("x")).is_err());
    }

    #[test]
    fn monitor_sections_name_their_binaries() {
        let text = "[guest]\ndefault_memory_mib = 128\nvcpus = 2\n[firecracker]\nbinary = \"/opt/fc/firecracker\"\n\
                    [cloud-hypervisor]\nbinary = \"/opt/ch\"\n[hvt]\nbinary = \"hvt-0.8\"\n";
        let c = Config::parse(text, Path::new("x")).unwrap();
        assert_eq!(c.guest.default_memory_mib, 128);
        assert_eq!(c.guest.vcpus, 2);
        let binary = |m| c.monitor_binary(m);
        assert_eq!(
            binary(Monitor::Firecracker),
            PathBuf::from("/opt/fc/firecracker")
        );
        assert_eq!(binary(Monitor::CloudHypervisor), PathBuf::from("/opt/ch"));
        assert_eq!(binary(Monitor::Hvt), PathBuf::from("hvt-0.8"));
        assert_eq!(binary(Monitor::Spt), PathBuf::from("solo5-spt"));
        assert_eq!(binary(Monitor::Qemu), PathBuf::from("qemu-system-x86_64"));
        let d = Config::default();
        assert_eq!(
            d.monitor_binary(Monitor::CloudHypervisor),
            PathBuf::from("cloud-hypervisor")
        );
        assert_eq!(
            d.monitor_binary(Monitor::Firecracker),
            PathBuf::from("firecracker")
        );
    }

    #[test]
    fn moved_and_misspelled_keys_are_refused() {
        for text in [
            "[qemu]\ndefault_memory_mib = 128\n",
            "[qemu]\nsmp = 2\n",
            "[firecracker]\npath = \"/x\"\n",
            "[cloud_hypervisor]\nbinary = \"/x\"\n",
            "[solo5]\nbinary = \"/x\"\n",
        ] {
            assert!(Config::parse(text, Path::new("x")).is_err(), "{text}");
        }
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        let err = Config::parse("[qemu]\naccel = \"hvf\"\n", Path::new("/c.toml")).unwrap_err();
        assert!(err.to_string().starts_with("invalid config file /c.toml"));
        assert!(Config::parse("bogus = 1\n", Path::new("x")).is_err());
    }
}
