//! A minimal newc cpio writer: the pod's resolv.conf, hosts and hostname as
//! an archive appended to a Linux guest's initrd (the kernel unpacks
//! concatenated archives, each starting at a 4-byte boundary; zero padding
//! between them is skipped). Format: the kernel's
//! Documentation/driver-api/early-userspace/buffer-format.rst.

/// Mode bits of a directory (0755) and of a regular file (0644).
const DIR_MODE: u32 = 0o040_755;
const FILE_MODE: u32 = 0o100_644;

/// A newc archive with directories and regular files, in the order added.
#[derive(Default)]
pub struct Archive {
    bytes: Vec<u8>,
    next_inode: u32,
}

impl Archive {
    /// Adds a directory (`etc`).
    pub fn dir(&mut self, name: &str) {
        self.entry(name, DIR_MODE, &[]);
    }

    /// Adds a regular file (`etc/resolv.conf`).
    pub fn file(&mut self, name: &str, contents: &[u8]) {
        self.entry(name, FILE_MODE, contents);
    }

    /// Closes the archive with the trailer and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.bytes
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.next_inode += 1;
        let nlink = if mode == DIR_MODE { 2 } else { 1 };
        let fields = [
            self.next_inode,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes
                .extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        pad4(&mut self.bytes);
        self.bytes.extend_from_slice(data);
        pad4(&mut self.bytes);
    }
}

/// Zero-pads to a multiple of 4 bytes.
pub fn pad4(bytes: &mut Vec<u8>) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_names_and_data_are_aligned() {
        let mut a = Archive::default();
        a.dir("etc");
        a.file("etc/hostname", b"web-0\n");
        let bytes = a.finish();
        assert_eq!(bytes.len() % 4, 0);
        let header = std::str::from_utf8(&bytes[..110]).unwrap();
        assert_eq!(header, "07070100000001000041ed0000000000000000000000020000000000000000000000000000000000000000000000000000000400000000");
        assert_eq!(&bytes[110..114], b"etc\0");
        let second = 116;
        assert_eq!(&bytes[second..second + 6], b"070701");
        let name_at = second + 110;
        assert_eq!(&bytes[name_at..name_at + 13], b"etc/hostname\0");
        let data_at = (name_at + 13).div_ceil(4) * 4;
        assert_eq!(&bytes[data_at..data_at + 6], b"web-0\n");
        assert!(bytes.windows(11).any(|w| w == b"TRAILER!!!\0"));
    }

    #[test]
    fn the_system_cpio_reads_it_back() {
        let Ok(status) = std::process::Command::new("cpio").arg("--version").output() else {
            panic!("cpio is needed for this test (testbed/install-deps.sh installs it)");
        };
        assert!(status.status.success());
        let mut a = Archive::default();
        a.dir("etc");
        a.file("etc/resolv.conf", b"nameserver 10.96.0.10\n");
        let dir = std::env::temp_dir().join(format!("ukrun-cpio-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let archive = dir.join("a.cpio");
        std::fs::write(&archive, a.finish()).unwrap();
        let out = std::process::Command::new("cpio")
            .args(["-idm", "--quiet", "-F"])
            .arg(&archive)
            .current_dir(&dir)
            .output()
            .unwrap();
        let got = std::fs::read_to_string(dir.join("etc/resolv.conf"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(got.unwrap(), "nameserver 10.96.0.10\n");
    }
}
