//! Reads and writes sysctls of the current network namespace
//! (`/proc/sys/net/…` resolves to the netns of the thread that opens it).

use std::path::PathBuf;

/// Why a sysctl could not be used.
#[derive(Debug, thiserror::Error)]
#[error("sysctl {key}: {source}")]
pub struct SysctlError {
    /// Key under /proc/sys.
    pub key: String,
    /// OS error.
    pub source: std::io::Error,
}

fn path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key)
}

/// Reads a sysctl (trimmed).
pub fn read(key: &str) -> Result<String, SysctlError> {
    std::fs::read_to_string(path(key))
        .map(|v| v.trim().to_owned())
        .map_err(|source| SysctlError {
            key: key.to_owned(),
            source,
        })
}

/// Writes a sysctl.
pub fn write(key: &str, value: &str) -> Result<(), SysctlError> {
    std::fs::write(path(key), value).map_err(|source| SysctlError {
        key: key.to_owned(),
        source,
    })
}

/// Whether the error means the key does not exist (e.g. its interface is gone).
pub fn is_missing(e: &SysctlError) -> bool {
    e.source.kind() == std::io::ErrorKind::NotFound
}
