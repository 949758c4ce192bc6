//! What a kubelet changes on its host unless it is confined: the
//! host-wide sysctls it rewrites at start and the fixed host paths it
//! writes whatever its root dir. Read before and after a test kubelet ran
//! (see [`crate::kubelet`]), they must be equal.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The sysctls the kubelet sets at start when they differ from its wish
/// (the ones `testbed/kubelet.sh` covers with files of its own).
const SYSCTLS: [&str; 6] = [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

/// The host paths the kubelet writes whatever its `--root-dir`.
const FIXED_PATHS: [&str; 2] = ["/var/lib/kubelet/device-plugins", "/var/log/containers"];

/// The host's sysctl values and which fixed paths exist, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    entries: Vec<(String, String)>,
}

impl HostState {
    /// Reads the state now.
    pub fn read() -> Result<HostState> {
        let mut entries = Vec::new();
        for sysctl in SYSCTLS {
            let path = format!("/proc/sys/{sysctl}");
            let value =
                std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
            entries.push((sysctl.replace('/', "."), value.trim().to_string()));
        }
        for path in FIXED_PATHS {
            let exists = Path::new(path).exists();
            entries.push((path.to_string(), format!("exists: {exists}")));
        }
        Ok(HostState { entries })
    }

    /// Fails, naming each difference, unless `now` equals this state.
    pub fn check_unchanged(&self, now: &HostState) -> Result<()> {
        let changed: Vec<String> = self
            .entries
            .iter()
            .zip(&now.entries)
            .filter(|(before, after)| before != after)
            .map(|((name, before), (_, after))| format!("{name}: {before} → {after}"))
            .collect();
        if !changed.is_empty() {
            bail!("the kubelet changed the host: {}", changed.join(", "));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_changed() {
        let before = HostState::read().unwrap();
        before.check_unchanged(&before.clone()).unwrap();
        let mut after = before.clone();
        after.entries[2].1 = "10".into();
        let err = format!("{:#}", before.check_unchanged(&after).unwrap_err());
        assert!(err.contains("kernel.panic: "), "{err}");
        assert!(err.ends_with("→ 10"), "{err}");
    }
}
