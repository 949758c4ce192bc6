//! Files delivery for Linux guests: a copy of the image's initrd with the
//! pod's resolv.conf, hosts and hostname appended as a second cpio archive
//! (written in the container's state directory, removed with it).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::cpio::{pad4, Archive};
use super::pod_dns::PodDns;

/// Name of the augmented initrd in the state directory.
pub const POD_INITRD: &str = "initrd-with-pod-files.img";

/// The archive of the pod's files (`/etc/…`), byte for byte.
pub fn pod_files_archive(pod: &PodDns) -> Vec<u8> {
    let mut archive = Archive::default();
    archive.dir("etc");
    let files = [
        (
            "etc/resolv.conf",
            pod.resolv.as_ref().map(|r| r.raw.as_slice()),
        ),
        ("etc/hosts", pod.hosts.as_ref().map(|h| h.raw.as_slice())),
        ("etc/hostname", pod.hostname.as_deref()),
    ];
    for (name, contents) in files {
        if let Some(contents) = contents {
            archive.file(name, contents);
        }
    }
    archive.finish()
}

/// Writes `<state_dir>/initrd-with-pod-files.img`: `initrd` (the image's,
/// opened inside its rootfs), zero padding to a 4-byte boundary, then the
/// pod's files. Returns its path.
pub fn write_pod_initrd(
    mut initrd: std::fs::File,
    pod: &PodDns,
    state_dir: &Path,
) -> std::io::Result<PathBuf> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut initrd, &mut bytes)?;
    pad4(&mut bytes);
    bytes.extend_from_slice(&pod_files_archive(pod));
    let path = state_dir.join(POD_INITRD);
    let mut file = std::fs::File::create(&path)?;
    file.write_all(&bytes)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::resolv::ResolvConf;

    #[test]
    fn appended_archive_starts_aligned_and_holds_the_files() {
        let dir = std::env::temp_dir().join(format!("ukrun-initrd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let initrd = dir.join("initrd.img");
        std::fs::write(&initrd, b"12345").unwrap();
        let pod = PodDns {
            resolv: Some(ResolvConf::parse(b"nameserver 10.96.0.10\n").unwrap()),
            hosts: None,
            hostname: Some(b"web-0\n".to_vec()),
        };
        let out = write_pod_initrd(std::fs::File::open(&initrd).unwrap(), &pod, &dir).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(&bytes[..8], b"12345\0\0\0");
        assert_eq!(&bytes[8..14], b"070701");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("etc/resolv.conf") && text.contains("nameserver 10.96.0.10\n"));
        assert!(text.contains("etc/hostname") && !text.contains("etc/hosts\0"));
    }
}
