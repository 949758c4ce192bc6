//! Files delivery for Linux guests: a copy of the image's initrd with the
//! pod's resolv.conf, hosts and hostname appended as a second cpio archive
//! (written in the container's state directory, removed with it). The copy
//! keeps the initrd's holes, and an initrd holding more data than
//! [`FILES_DELIVERY_INITRD_DATA_BYTES`] is refused.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::cpio::Archive;
use super::pod_dns::PodDns;
use super::sparse;
use crate::limits::FILES_DELIVERY_INITRD_DATA_BYTES;

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

/// Why the initrd with the pod's files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum InitrdError {
    /// The initrd holds more data than files delivery copies.
    #[error("the initrd holds {data} bytes of data, more than the cap of {cap} bytes that files delivery copies into the container's state (use ukrun.dev/dns-delivery: relay or bootargs)")]
    TooLarge {
        /// Bytes in its data extents.
        data: u64,
        /// The cap.
        cap: u64,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The bytes of data (holes excluded) in the initrd `file`.
pub fn initrd_data_bytes(file: &File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    sparse::data_bytes(file, len)
}

/// Writes `<state_dir>/initrd-with-pod-files.img`: `initrd` (the image's,
/// opened inside its rootfs; its holes kept), zero padding to a 4-byte
/// boundary, then the pod's files. Returns its path.
pub fn write_pod_initrd(
    initrd: File,
    pod: &PodDns,
    state_dir: &Path,
) -> Result<PathBuf, InitrdError> {
    write_capped(initrd, pod, state_dir, FILES_DELIVERY_INITRD_DATA_BYTES)
}

fn write_capped(
    from: File,
    pod: &PodDns,
    state_dir: &Path,
    cap: u64,
) -> Result<PathBuf, InitrdError> {
    let len = from.metadata()?.len();
    let data = sparse::data_bytes(&from, len)?;
    if data > cap {
        return Err(InitrdError::TooLarge { data, cap });
    }
    let path = state_dir.join(POD_INITRD);
    let to = File::create(&path)?;
    sparse::copy(&from, &to, len)?;
    let mut tail = vec![0; (len.next_multiple_of(4) - len) as usize];
    tail.extend_from_slice(&pod_files_archive(pod));
    to.write_all_at(&tail, len)?;
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

    /// A directory on a tmpfs (as /run is on a node), removed on drop.
    struct Tmpfs(PathBuf);

    impl Tmpfs {
        fn new(tag: &str) -> Self {
            let dir = PathBuf::from(format!("/dev/shm/ukrun-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn pod() -> PodDns {
        PodDns {
            resolv: Some(ResolvConf::parse(b"nameserver 10.96.0.10\n").unwrap()),
            hosts: None,
            hostname: None,
        }
    }

    #[test]
    fn a_sparse_gigabyte_initrd_costs_only_its_data() {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let dir = Tmpfs::new("sparse-initrd");
        let initrd = dir.0.join("initrd.img");
        let gib = 1u64 << 30;
        let file = std::fs::File::create(&initrd).unwrap();
        file.set_len(gib + 1).unwrap();
        file.write_all_at(b"070701-head", 0).unwrap();
        file.write_all_at(b"tail", gib - 3).unwrap();
        drop(file);
        let started = std::time::Instant::now();
        let out = write_pod_initrd(File::open(&initrd).unwrap(), &pod(), &dir.0).unwrap();
        let took = started.elapsed();
        let meta = std::fs::metadata(&out).unwrap();
        let file = std::fs::File::open(&out).unwrap();
        let at = |offset, n| {
            let mut buf = vec![0; n];
            file.read_exact_at(&mut buf, offset).unwrap();
            buf
        };
        assert_eq!(at(0, 11), b"070701-head");
        assert_eq!(at(gib - 3, 4), b"tail");
        assert_eq!(at(gib + 1, 3), [0, 0, 0], "padding to a 4-byte boundary");
        assert_eq!(at(gib + 4, 6), b"070701", "the pod's archive follows");
        let written = meta.blocks() * 512;
        assert!(
            written < 1 << 20,
            "{written} bytes of tmpfs used for a 1 GiB initrd with 15 bytes of data"
        );
        assert!(took.as_secs() < 2, "took {took:?}");
    }

    #[test]
    fn an_initrd_over_the_cap_is_refused_naming_its_size_and_the_cap() {
        let dir = Tmpfs::new("big-initrd");
        let initrd = dir.0.join("initrd.img");
        std::fs::write(&initrd, vec![7u8; 8192]).unwrap();
        let e = write_capped(File::open(&initrd).unwrap(), &pod(), &dir.0, 4096).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the initrd holds 8192 bytes of data, more than the cap of 4096 bytes that files delivery copies into the container's state (use ukrun.dev/dns-delivery: relay or bootargs)"
        );
        assert!(!dir.0.join(POD_INITRD).exists());
        assert_eq!(
            initrd_data_bytes(&File::open(&initrd).unwrap()).unwrap(),
            8192
        );
        assert_eq!(FILES_DELIVERY_INITRD_DATA_BYTES, 256 << 20);
    }
}
