//! Remembers what a monitor binary can do, so that each container's start
//! does not run the monitor once more just to read its version: the answer
//! is kept per binary (path, size and modification time; a changed binary is
//! probed again) under `/run/ukrun/monitors`, which a reboot clears.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::detect::{self, DetectError, Detected};
use super::Monitor;

/// Where probe results are kept.
pub const CACHE_DIR: &str = "/run/ukrun/monitors";

/// What identifies one build of a binary.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct BinaryId {
    path: PathBuf,
    size: u64,
    modified_ns: i128,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    id: BinaryId,
    version: String,
    sandbox: bool,
}

fn binary_id(binary: &Path) -> Option<BinaryId> {
    let path = std::fs::canonicalize(binary).ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    let modified = meta.modified().ok()?;
    let modified_ns = match modified.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    Some(BinaryId {
        path,
        size: meta.len(),
        modified_ns,
    })
}

fn entry_path(dir: &Path, monitor: Monitor, id: &BinaryId) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    dir.join(format!("{monitor:?}-{:016x}.json", hasher.finish()).to_lowercase())
}

/// [`detect::probe`], answered from `dir` when this very binary was probed
/// before. A cache that cannot be read or written only costs a probe.
pub fn probe_cached(monitor: Monitor, binary: &Path, dir: &Path) -> Result<Detected, DetectError> {
    let Some(id) = binary_id(binary) else {
        return detect::probe(monitor, binary);
    };
    let path = entry_path(dir, monitor, &id);
    let cached = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Entry>(&b).ok());
    if let Some(entry) = cached.filter(|e| e.id == id) {
        return Ok(Detected {
            binary: binary.to_path_buf(),
            version: entry.version,
            sandbox: entry.sandbox,
        });
    }
    let found = detect::probe(monitor, binary)?;
    let entry = Entry {
        id,
        version: found.version.clone(),
        sandbox: found.sandbox,
    };
    if std::fs::create_dir_all(dir).is_ok() {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let written = serde_json::to_vec(&entry)
            .ok()
            .and_then(|json| std::fs::write(&tmp, json).ok());
        if written.is_some() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake qemu that counts how often it runs.
    fn fake_qemu(dir: &Path) -> PathBuf {
        let bin = dir.join("qemu-system-x86_64");
        let script = format!(
            "#!/bin/sh\necho run >> {}\necho 'QEMU emulator version 7.2.22'\necho '-sandbox on[=...]'\n",
            dir.join("runs").display()
        );
        std::fs::write(&bin, script).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    fn runs(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("runs"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    #[test]
    fn a_binary_is_probed_once_until_it_changes() {
        let dir = std::env::temp_dir().join(format!("ukrun-detect-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bin = fake_qemu(&dir);
        let cache = dir.join("cache");
        let first = probe_cached(Monitor::Qemu, &bin, &cache).unwrap();
        let second = probe_cached(Monitor::Qemu, &bin, &cache).unwrap();
        assert_eq!((first.version.as_str(), first.sandbox), ("7.2.22", true));
        assert_eq!(second, first);
        assert_eq!(runs(&dir), 1, "the second answer comes from the cache");
        std::fs::write(
            &bin,
            std::fs::read_to_string(&bin)
                .unwrap()
                .replace("7.2.22", "8.0.0"),
        )
        .unwrap();
        let third = probe_cached(Monitor::Qemu, &bin, &cache).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(third.version, "8.0.0", "a changed binary is probed again");
    }
}
