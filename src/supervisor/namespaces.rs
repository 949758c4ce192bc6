//! Joins the namespaces the spec lists: the pod's network namespace (by
//! path; required, the guest takes over its network) and ipc/uts when given.
//! The VMM stays in the host's mount and pid namespaces: the guest itself is
//! the isolation boundary.

use std::path::PathBuf;

use nix::sched::{unshare, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::net::netns::{self, NetnsError};

/// Why namespaces could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// No network namespace path in the spec.
    #[error("the spec has no network namespace path: a unikernel container must join its pod's network namespace")]
    NoNetworkPath,
    /// Joining failed.
    #[error(transparent)]
    Join(#[from] NetnsError),
    /// Creating a new namespace failed.
    #[error("cannot create a new {kind} namespace: {source}")]
    Unshare {
        /// Namespace kind.
        kind: &'static str,
        /// OS error.
        source: nix::Error,
    },
}

/// The pod netns path from the spec.
pub fn network_path(spec: &Spec) -> Result<PathBuf, NamespaceError> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|nss| nss.iter().find(|n| n.typ() == LinuxNamespaceType::Network))
        .and_then(|n| n.path().clone())
        .ok_or(NamespaceError::NoNetworkPath)
}

/// Joins the spec's network, ipc and uts namespaces (must run single-threaded).
pub fn join(spec: &Spec) -> Result<PathBuf, NamespaceError> {
    let net = network_path(spec)?;
    netns::join(&net, CloneFlags::CLONE_NEWNET)?;
    let listed = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in listed {
        let (flag, kind) = match ns.typ() {
            LinuxNamespaceType::Ipc => (CloneFlags::CLONE_NEWIPC, "ipc"),
            LinuxNamespaceType::Uts => (CloneFlags::CLONE_NEWUTS, "uts"),
            _ => continue,
        };
        match ns.path() {
            Some(path) => netns::join(path, flag)?,
            None => unshare(flag).map_err(|source| NamespaceError::Unshare { kind, source })?,
        }
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(namespaces: serde_json::Value) -> Spec {
        serde_json::from_value(
            serde_json::json!({"ociVersion": "1.0.2", "linux": {"namespaces": namespaces}}),
        )
        .unwrap()
    }

    #[test]
    fn network_path_is_required() {
        let s = spec(serde_json::json!([{"type": "network"}]));
        assert!(matches!(
            network_path(&s),
            Err(NamespaceError::NoNetworkPath)
        ));
        let s = spec(serde_json::json!([{"type": "network", "path": "/proc/1/ns/net"}]));
        assert_eq!(network_path(&s).unwrap(), PathBuf::from("/proc/1/ns/net"));
    }
}
