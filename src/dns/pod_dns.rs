//! Reads the pod's DNS files: the spec mount with that destination (its host
//! source, which kubelet/containerd generate) is the source of truth, else
//! the image's own file in the rootfs.

use std::fs::File;
use std::path::Path;

use oci_spec::runtime::Spec;

use crate::spec::hosts::{Hosts, HostsError};
use crate::spec::pod_files::mount_source;
use crate::spec::resolv::{ResolvConf, ResolvError};
use crate::spec::rootfs_path::{open_file, Access};

/// The pod's DNS inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDns {
    /// resolv.conf, if the pod has one.
    pub resolv: Option<ResolvConf>,
    /// hosts, if the pod has one.
    pub hosts: Option<Hosts>,
    /// /etc/hostname bytes, if the pod has one.
    pub hostname: Option<Vec<u8>>,
}

/// Why the pod's DNS files could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PodDnsError {
    /// A file exists but cannot be read.
    #[error("cannot read the pod's {0}: {1}")]
    Read(String, String),
    /// resolv.conf is invalid.
    #[error("the pod's /etc/resolv.conf: {0}")]
    Resolv(#[from] ResolvError),
    /// hosts is invalid.
    #[error("the pod's /etc/hosts: {0}")]
    Hosts(#[from] HostsError),
}

/// The pod's copy of `destination`, opened: the spec mount's source, else
/// the rootfs's file (`None` when neither exists), with the name it goes by
/// in errors.
fn locate(
    spec: &Spec,
    rootfs: &Path,
    destination: &str,
) -> Option<(std::io::Result<File>, String)> {
    if let Some(source) = mount_source(spec, destination) {
        return Some((File::open(&source), source.display().to_string()));
    }
    let file = open_file(rootfs, destination, "pod file", Access::Read).ok()?;
    Some((Ok(file), format!("{destination} in the rootfs")))
}

/// Largest pod DNS file ukrun reads (kubelet's are a few hundred bytes).
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

fn read(spec: &Spec, rootfs: &Path, destination: &str) -> Result<Option<Vec<u8>>, PodDnsError> {
    let Some((file, name)) = locate(spec, rootfs, destination) else {
        return Ok(None);
    };
    let fail = |e: String| PodDnsError::Read(destination.to_owned(), format!("{name}: {e}"));
    let file = file.map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    Ok(Some(bytes))
}

/// Reads and validates the pod's resolv.conf, hosts and hostname.
pub fn read_pod_dns(spec: &Spec, rootfs: &Path) -> Result<PodDns, PodDnsError> {
    Ok(PodDns {
        resolv: read(spec, rootfs, "/etc/resolv.conf")?
            .map(|raw| ResolvConf::parse(&raw))
            .transpose()?,
        hosts: read(spec, rootfs, "/etc/hosts")?
            .map(|raw| Hosts::parse(&raw))
            .transpose()?,
        hostname: read(spec, rootfs, "/etc/hostname")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_rootfs::TempRootfs;

    fn spec(mounts: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2", "mounts": mounts}))
            .unwrap()
    }

    #[test]
    fn mounts_win_over_the_rootfs_and_missing_files_are_none() {
        let r = TempRootfs::new("poddns");
        std::fs::create_dir_all(r.0.join("etc")).unwrap();
        std::fs::write(r.0.join("etc/resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
        std::fs::write(r.0.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        let mounted = r.0.join("pod-resolv.conf");
        std::fs::write(
            &mounted,
            "nameserver 10.96.0.10\nsearch ns.svc.cluster.local\n",
        )
        .unwrap();
        let s = spec(
            serde_json::json!([{"destination": "/etc/resolv.conf", "source": mounted, "type": "bind"}]),
        );
        let dns = read_pod_dns(&s, &r.0).unwrap();
        assert_eq!(dns.resolv.unwrap().search, vec!["ns.svc.cluster.local"]);
        assert_eq!(dns.hosts.unwrap().entries.len(), 1);
        assert_eq!(dns.hostname, None);
    }

    #[test]
    fn a_huge_file_is_refused() {
        let r = TempRootfs::new("poddns-huge");
        let big = r.0.join("resolv");
        std::fs::write(&big, "#".repeat(1 << 20)).unwrap();
        let s = spec(serde_json::json!([{"destination": "/etc/resolv.conf", "source": big}]));
        let e = read_pod_dns(&s, &r.0).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read the pod's /etc/resolv.conf: ")
                && e.ends_with("larger than 65536 bytes"),
            "{e}"
        );
    }

    #[test]
    fn invalid_files_are_errors_naming_the_file() {
        let r = TempRootfs::new("poddns-bad");
        let bad = r.0.join("resolv");
        std::fs::write(&bad, "nameserver nope\n").unwrap();
        let s = spec(serde_json::json!([{"destination": "/etc/resolv.conf", "source": bad}]));
        let e = read_pod_dns(&s, &r.0).unwrap_err().to_string();
        assert!(
            e.starts_with("the pod's /etc/resolv.conf: resolv.conf line 1"),
            "{e}"
        );
    }
}
