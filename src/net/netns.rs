//! Joins a network namespace by path (`/var/run/netns/…` or
//! `/proc/PID/ns/net`). Must run before the process starts other threads:
//! setns changes only the calling thread, and new threads inherit it.

use std::path::Path;

use nix::sched::{setns, CloneFlags};

/// Why a namespace could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The path cannot be opened.
    #[error("cannot open namespace {path}: {source}")]
    Open {
        /// Namespace path.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// setns refused.
    #[error("cannot join namespace {path}: {source}")]
    Join {
        /// Namespace path.
        path: String,
        /// OS error.
        source: nix::Error,
    },
}

/// Moves the calling thread into the namespace at `path` of type `kind`.
pub fn join(path: &Path, kind: CloneFlags) -> Result<(), NetnsError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| NetnsError::Open {
        path: shown.clone(),
        source,
    })?;
    setns(file, kind).map_err(|source| NetnsError::Join {
        path: shown,
        source,
    })
}
