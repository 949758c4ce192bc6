//! Capability detection on this host: the monitor is installed (the config
//! file's path, else PATH), runs and prints a version, has `-sandbox`
//! (qemu), and finds a usable KVM when it needs one. Each failure is an
//! error that says what to install or configure.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::qemu::ResolvedAccel;
use super::Monitor;
use crate::bounded_command;
use crate::names::Named;

/// How long a monitor may take to print its version.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// KVM's stable API version.
const KVM_API_VERSION: i32 = 12;
/// KVM_GET_API_VERSION, `_IO(0xAE, 0x00)`; its argument must be 0.
const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;

/// What detection found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detected {
    /// The program, as found.
    pub binary: PathBuf,
    /// Its version.
    pub version: String,
    /// Whether it offers qemu's `-sandbox` (seccomp).
    pub sandbox: bool,
}

/// Why a monitor cannot run here.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DetectError {
    /// Neither the configured path nor PATH has the program.
    #[error("{program} not found: install it or set [{section}] binary in {config}")]
    NotFound {
        /// Program looked for.
        program: String,
        /// Config file section that names it.
        section: &'static str,
        /// Config file.
        config: String,
    },
    /// The program does not start or does not answer.
    #[error("{binary} cannot run here: {reason}")]
    Unusable {
        /// Program.
        binary: String,
        /// What went wrong.
        reason: String,
    },
    /// The program answered without a version number.
    #[error("{binary} {flag} printed no version number (first line: {line:?})")]
    NoVersion {
        /// Program.
        binary: String,
        /// Flag it was asked with.
        flag: &'static str,
        /// First line it printed.
        line: String,
    },
    /// The monitor needs KVM and KVM is not usable.
    #[error("{monitor} needs KVM, which is not usable here: {reason}")]
    NoKvm {
        /// Monitor.
        monitor: &'static str,
        /// Why.
        reason: String,
    },
}

impl Monitor {
    /// Whether the monitor needs /dev/kvm (qemu only with the KVM accelerator).
    pub fn needs_kvm(self, accel: ResolvedAccel) -> bool {
        match self {
            Monitor::Qemu => accel == ResolvedAccel::Kvm,
            Monitor::Firecracker | Monitor::CloudHypervisor | Monitor::Hvt => true,
            Monitor::Spt => false,
        }
    }

    /// The flag that makes it print its version (qemu's `-help` also lists `-sandbox`).
    fn version_flag(self) -> &'static str {
        match self {
            Monitor::Qemu => "-help",
            _ => "--version",
        }
    }
}

/// Finds the monitor program: a path (with a `/`) must be an executable
/// file; a bare name is looked up in PATH.
pub fn locate(
    monitor: Monitor,
    configured: &Path,
    config_file: &Path,
) -> Result<PathBuf, DetectError> {
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if configured.components().count() > 1 || configured.is_absolute() {
        executable(configured).then(|| configured.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(configured))
                .find(|p| executable(p))
        })
    };
    found.ok_or_else(|| DetectError::NotFound {
        program: configured.display().to_string(),
        section: monitor.name(),
        config: config_file.display().to_string(),
    })
}

/// Checks that `device` is a KVM that answers with the stable API.
pub fn check_kvm(monitor: Monitor, device: &Path) -> Result<(), DetectError> {
    let fail = |reason: String| DetectError::NoKvm {
        monitor: monitor.name(),
        reason,
    };
    let kvm = OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map_err(|e| fail(format!("{}: {e}", device.display())))?;
    // SAFETY: KVM_GET_API_VERSION reads nothing from its (zero) argument; the fd is open.
    match unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_GET_API_VERSION, 0) } {
        KVM_API_VERSION => Ok(()),
        -1 => Err(fail(format!(
            "{}: {}",
            device.display(),
            std::io::Error::last_os_error()
        ))),
        v => Err(fail(format!(
            "{} speaks KVM API {v}, not {KVM_API_VERSION}",
            device.display()
        ))),
    }
}

/// Runs the monitor's version flag and reads what it can do.
pub fn probe(monitor: Monitor, binary: &Path) -> Result<Detected, DetectError> {
    let flag = monitor.version_flag();
    let shown = binary.display().to_string();
    let output = bounded_command::output(binary, &[flag], PROBE_TIMEOUT).map_err(|reason| {
        DetectError::Unusable {
            binary: shown.clone(),
            reason,
        }
    })?;
    let version = parse_version(&output).ok_or_else(|| DetectError::NoVersion {
        binary: shown,
        flag,
        line: output.lines().next().unwrap_or_default().to_owned(),
    })?;
    Ok(Detected {
        binary: binary.to_path_buf(),
        version,
        sandbox: monitor == Monitor::Qemu && output.lines().any(|l| l.starts_with("-sandbox ")),
    })
}

/// The first `[v]N.N…` word of a version banner (`QEMU emulator version
/// 7.2.22`, `Firecracker v1.7.0`, `cloud-hypervisor v38.0`, `Solo5 v0.8.0`).
pub fn parse_version(text: &str) -> Option<String> {
    text.split_whitespace().find_map(|word| {
        let w = word
            .trim_start_matches('v')
            .trim_end_matches([',', ';', ')']);
        let mut parts = w.split('.');
        let numeric = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        (numeric(parts.next()) && numeric(parts.next())).then(|| w.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_each_banner() {
        let banners = [
            (
                "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n",
                "7.2.22",
            ),
            ("Firecracker v1.7.0\n\n", "1.7.0"),
            ("cloud-hypervisor v38.0.0-0-gabc\n", "38.0.0-0-gabc"),
            ("Solo5 v0.8.0\n", "0.8.0"),
        ];
        for (text, version) in banners {
            assert_eq!(parse_version(text).as_deref(), Some(version), "{text}");
        }
        assert_eq!(parse_version("usage: x [options]\n"), None);
        assert_eq!(parse_version("version 7\n"), None);
    }

    #[test]
    fn missing_binaries_name_the_config_section() {
        let cases = [
            (Monitor::Firecracker, "firecracker-not-installed", "/etc/ukrun/config.toml",
             "firecracker-not-installed not found: install it or set [firecracker] binary in /etc/ukrun/config.toml"),
            (Monitor::CloudHypervisor, "/nonexistent/ch", "/c.toml",
             "/nonexistent/ch not found: install it or set [cloud-hypervisor] binary in /c.toml"),
        ];
        for (monitor, binary, config, message) in cases {
            let e = locate(monitor, Path::new(binary), Path::new(config)).unwrap_err();
            assert_eq!(e.to_string(), message);
        }
        assert_eq!(
            locate(Monitor::Spt, Path::new("sh"), Path::new("x")).map(|p| p.is_absolute()),
            Ok(true)
        );
        let plain = std::env::temp_dir().join(format!("ukrun-plain-{}", std::process::id()));
        std::fs::write(&plain, b"").unwrap();
        let refused = locate(Monitor::Spt, &plain, Path::new("x")).is_err();
        std::fs::remove_file(&plain).unwrap();
        assert!(refused, "a file that is not executable is not a monitor");
    }

    #[test]
    fn probe_reads_version_and_sandbox_and_names_failures() {
        let dir = std::env::temp_dir().join(format!("ukrun-detect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = |name: &str, body: &str| {
            let p = dir.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        let qemu = script(
            "qemu",
            "echo 'QEMU emulator version 8.0.0'; echo '-sandbox on[,obsolete=allow|deny]'",
        );
        let d = probe(Monitor::Qemu, &qemu).unwrap();
        assert_eq!((d.version.as_str(), d.sandbox), ("8.0.0", true));
        let fc = script("fc", "echo 'Firecracker v1.7.0'");
        assert!(!probe(Monitor::Firecracker, &fc).unwrap().sandbox);
        let mute = script("mute", "echo hello");
        assert_eq!(
            probe(Monitor::Hvt, &mute).unwrap_err().to_string(),
            format!(
                "{} --version printed no version number (first line: \"hello\")",
                mute.display()
            )
        );
        let broken = script("broken", "exit 3");
        let e = probe(Monitor::Spt, &broken).unwrap_err().to_string();
        assert!(
            e.ends_with("cannot run here: --version exited with exit status: 3"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kvm_needs_and_errors() {
        assert!(Monitor::Hvt.needs_kvm(ResolvedAccel::Tcg));
        assert!(!Monitor::Spt.needs_kvm(ResolvedAccel::Kvm));
        assert!(!Monitor::Qemu.needs_kvm(ResolvedAccel::Tcg));
        assert!(Monitor::Qemu.needs_kvm(ResolvedAccel::Kvm));
        let e = check_kvm(Monitor::Firecracker, Path::new("/nonexistent/kvm")).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("firecracker needs KVM, which is not usable here: /nonexistent/kvm:"));
        let e = check_kvm(Monitor::Hvt, Path::new("/dev/null")).unwrap_err();
        assert!(e.to_string().starts_with("hvt needs KVM"), "{e}");
    }
}
