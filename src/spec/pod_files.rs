//! Files the pod gives every container (kubelet writes them, containerd
//! bind-mounts them): the spec mount with that destination is the source of
//! truth, the spec's own field the fallback.

use std::path::{Path, PathBuf};

use crate::limits::excerpt;
use oci_spec::runtime::Spec;

/// Why a pod file could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PodFileError {
    /// The mounted file exists in the spec but cannot be read.
    #[error("cannot read the pod's {destination} (from {host_file}): {message}")]
    Read {
        /// Destination inside the container.
        destination: String,
        /// Host source file.
        host_file: String,
        /// OS error.
        message: String,
    },
    /// The hostname would not be a valid boot argument or DNS name.
    #[error("pod hostname {} is not a valid DNS name", excerpt(.0))]
    BadHostname(String),
}

/// The host file bind-mounted at `destination`, if the spec has one.
pub fn mount_source(spec: &Spec, destination: &str) -> Option<PathBuf> {
    spec.mounts()
        .as_ref()?
        .iter()
        .rev()
        .find(|m| m.destination() == Path::new(destination))
        .and_then(|m| m.source().clone())
}

/// The pod's hostname: the mounted /etc/hostname, else the spec's hostname.
pub fn hostname(spec: &Spec) -> Result<Option<String>, PodFileError> {
    let name = match mount_source(spec, "/etc/hostname") {
        Some(source) => std::fs::read_to_string(&source)
            .map_err(|e| PodFileError::Read {
                destination: "/etc/hostname".into(),
                host_file: source.display().to_string(),
                message: e.to_string(),
            })?
            .trim()
            .to_owned(),
        None => spec.hostname().clone().unwrap_or_default(),
    };
    if name.is_empty() {
        return Ok(None);
    }
    validate_hostname(&name)?;
    Ok(Some(name))
}

/// Accepts RFC 1123 host names: dot-separated labels of letters, digits and
/// inner hyphens, at most 63 bytes each and 253 in all.
pub fn validate_hostname(name: &str) -> Result<(), PodFileError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(PodFileError::BadHostname(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(mounts: serde_json::Value, hostname: Option<&str>) -> Spec {
        let mut v = serde_json::json!({"ociVersion": "1.0.2", "mounts": mounts});
        if let Some(h) = hostname {
            v["hostname"] = h.into();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn mounted_hostname_wins() {
        let dir = std::env::temp_dir().join(format!("ukrun-pf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hostname");
        std::fs::write(&file, "my-pod\n").unwrap();
        let spec = spec_with(
            serde_json::json!([{"destination": "/etc/hostname", "source": file, "type": "bind"}]),
            Some("other"),
        );
        let got = hostname(&spec);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got.unwrap().as_deref(), Some("my-pod"));
    }

    #[test]
    fn spec_hostname_is_fallback_and_empty_is_none() {
        assert_eq!(
            hostname(&spec_with(serde_json::json!([]), Some("web-0")))
                .unwrap()
                .as_deref(),
            Some("web-0")
        );
        assert_eq!(
            hostname(&spec_with(serde_json::json!([]), None)).unwrap(),
            None
        );
    }

    #[test]
    fn unreadable_mount_is_error() {
        let spec = spec_with(
            serde_json::json!([{"destination": "/etc/hostname", "source": "/nonexistent/ukrun/hostname"}]),
            None,
        );
        assert!(matches!(hostname(&spec), Err(PodFileError::Read { .. })));
    }

    #[test]
    fn hostnames_that_could_smuggle_arguments_are_refused() {
        for bad in ["a b", "a:b", "-a", "a-", "a..b", "x=y", &"a".repeat(64)] {
            assert!(validate_hostname(bad).is_err(), "{bad}");
        }
        for good in ["a", "web-0", "pod.ns.svc", "A1"] {
            assert!(validate_hostname(good).is_ok(), "{good}");
        }
    }
}
