//! The test guest's probes (testbed/guest/init): the kernel command line
//! arguments that ask for them, and the console lines that report them and
//! the checksum of the guest's own 4 MiB `/blob`.

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// Console line prefix with the checksum of the guest's `/blob`.
pub const BLOB_MARKER: &str = "UKRUN-GUEST-BLOB";
/// Console line prefix of a probe's result.
pub const PROBE_MARKER: &str = "UKRUN-GUEST-PROBE";
/// The size of the guest's `/blob` (and of the node's blob).
pub const BLOB_BYTES: usize = 4 << 20;
/// Where the guest serves its blob.
pub const BLOB_PATH: &str = "/blob";

/// Kernel argument that makes the guest GET `url` once its network is up.
pub fn http_arg(url: &str) -> String {
    format!("ukrun.probe.http={url}")
}

/// Kernel argument that makes the guest ping `ip` once its network is up.
pub fn ping_arg(ip: &str) -> String {
    format!("ukrun.probe.ping={ip}")
}

/// The hex SHA-256 of `bytes`, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// The checksum the guest printed for its `/blob`, if it did yet.
pub fn blob_sha256(console: &str) -> Option<String> {
    console
        .lines()
        .find_map(|line| {
            line.trim_end()
                .strip_prefix(BLOB_MARKER)?
                .trim()
                .strip_prefix("sha256=")
        })
        .map(str::to_owned)
}

/// What a finished HTTP probe reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpProbe {
    /// Fetched: checksum and size of the body.
    Fetched {
        /// Hex SHA-256.
        sha256: String,
        /// Size in bytes.
        bytes: usize,
    },
    /// Every try failed.
    Failed,
}

/// The result line of the probe `kind` (`http`, `ping`, `file` or `dns`)
/// of `target`, without its prefix, if the guest printed it yet.
pub fn result<'c>(console: &'c str, kind: &str, target: &str) -> Option<&'c str> {
    console.lines().find_map(|line| {
        let rest = line.trim_end().strip_prefix(PROBE_MARKER)?.trim_start();
        rest.strip_prefix(kind)?
            .trim_start()
            .strip_prefix(target)?
            .strip_prefix(' ')
    })
}

/// The HTTP probe of `url`, once the guest reported it.
pub fn http_result(console: &str, url: &str) -> Option<HttpProbe> {
    let rest = result(console, "http", url)?;
    if rest == "FAILED" {
        return Some(HttpProbe::Failed);
    }
    let field = |name: &str| {
        rest.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
    };
    Some(HttpProbe::Fetched {
        sha256: field("sha256")?.to_owned(),
        bytes: field("bytes")?.parse().ok()?,
    })
}

/// Whether the ping probe of `ip` succeeded, once the guest reported it.
pub fn ping_result(console: &str, ip: &str) -> Option<bool> {
    result(console, "ping", ip).map(|rest| rest == "ok")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "boot\r\n\
        UKRUN-GUEST-BLOB sha256=ab12\r\n\
        UKRUN-GUEST-READY ip=10.77.0.2 mtu=1450\r\n\
        UKRUN-GUEST-PROBE http http://10.77.0.1:8090/blob sha256=cd34 bytes=4194304\r\n\
        UKRUN-GUEST-PROBE http http://10.77.0.1:8090/x FAILED\r\n\
        UKRUN-GUEST-PROBE ping 10.77.0.1 ok\r\n\
        UKRUN-GUEST-PROBE ping 10.77.0.10 FAILED\r\n";

    #[test]
    fn reads_blob_and_probe_lines() {
        assert_eq!(blob_sha256(CONSOLE).as_deref(), Some("ab12"));
        assert_eq!(
            http_result(CONSOLE, "http://10.77.0.1:8090/blob"),
            Some(HttpProbe::Fetched {
                sha256: "cd34".into(),
                bytes: 4194304
            })
        );
        assert_eq!(
            http_result(CONSOLE, "http://10.77.0.1:8090/x"),
            Some(HttpProbe::Failed)
        );
        assert_eq!(http_result(CONSOLE, "http://10.77.0.1:8090/y"), None);
        assert_eq!(ping_result(CONSOLE, "10.77.0.1"), Some(true));
        assert_eq!(ping_result(CONSOLE, "10.77.0.10"), Some(false));
        assert_eq!(ping_result(CONSOLE, "10.77.0.2"), None);
        assert_eq!(blob_sha256("booting"), None);
    }

    #[test]
    fn checksums_like_sha256sum() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
