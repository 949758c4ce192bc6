//! Every cap ukrun puts on what images, pods and clients hand it, in one
//! place, each taken from the real limit where one exists: hostile input is
//! refused early with a short error instead of costing memory, disk or time
//! (docs/limits.md lists them). Errors quote hostile values through
//! [`excerpt`], so no error line grows with the input.

use std::fmt;

use crate::vmm::Monitor;

/// Largest `urunc.json` ukrun reads: urunc's nine keys with values at the
/// caps below (4 KiB each, 8 KiB for a Solo5 command line), base64-encoded
/// (4/3 larger), fit in it.
pub const URUNC_JSON_BYTES: u64 = 64 * 1024;

/// Largest value of an annotation that ukrun reads (urunc's and
/// `ukrun.dev/…`, but the command line, which has its own cap): PATH_MAX,
/// since the longest legitimate values are paths inside the rootfs.
pub const ANNOTATION_VALUE_BYTES: usize = 4096;

/// Largest total of the spec's annotations, keys and values (ukrun copies
/// them into the container's state): twice Kubernetes' 256 KiB limit on an
/// object's annotations, which leaves room for containerd's own.
pub const ANNOTATIONS_TOTAL_BYTES: usize = 512 * 1024;

/// Largest resources document `update` reads (runc's `LinuxResources`,
/// a few hundred bytes from the shim).
pub const UPDATE_RESOURCES_BYTES: u64 = 64 * 1024;

/// Longest command line for a guest booted through the Linux boot protocol
/// or a Linux-style loader (qemu, Firecracker, Cloud Hypervisor): Linux's
/// COMMAND_LINE_SIZE on x86 is 2048 bytes including the terminating NUL.
pub const LINUX_CMDLINE_BYTES: usize = 2047;

/// Longest command line for a Solo5 guest (hvt, spt): Solo5's
/// HVT_CMDLINE_SIZE is 8192 bytes including the terminating NUL.
pub const SOLO5_CMDLINE_BYTES: usize = 8191;

/// The longest command line the guest of `monitor` can be given.
pub fn cmdline_bytes(monitor: Monitor) -> usize {
    match monitor {
        Monitor::Hvt | Monitor::Spt => SOLO5_CMDLINE_BYTES,
        Monitor::Qemu | Monitor::Firecracker | Monitor::CloudHypervisor => LINUX_CMDLINE_BYTES,
    }
}

/// Most environment entries passed to a guest: the guests that take the
/// container's environment take it on their command line (Hermit, OSv,
/// Rumprun), where an entry costs at least `K=V` and a separator.
pub const ENV_ENTRIES: usize = SOLO5_CMDLINE_BYTES / 16;

/// Most bytes of environment (`KEY=VALUE` entries together) passed to a
/// guest: no more than the longest guest command line that can carry it.
pub const ENV_BYTES: usize = SOLO5_CMDLINE_BYTES;

/// Largest initrd data (bytes in data extents; holes are free) that files
/// DNS delivery copies into the container's state directory on /run, a
/// tmpfs that systemd sizes at 10–20% of RAM: every guest's copy is held
/// there in memory until the container is deleted.
pub const FILES_DELIVERY_INITRD_DATA_BYTES: u64 = 256 * 1024 * 1024;

/// Longest request line on the supervisor's control socket (`start\n` is
/// six bytes).
pub const CONTROL_REQUEST_BYTES: u64 = 64;

/// How long the supervisor waits for a control-socket client to send its
/// request line (`ukrun start` sends it at once).
pub const CONTROL_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Longest network interface name: Linux's IFNAMSIZ is 16 bytes including
/// the terminating NUL.
pub const IFNAME_BYTES: usize = 15;

/// Characters of a hostile value that an error quotes.
pub const EXCERPT_CHARS: usize = 64;

/// A value quoted for an error message: its first [`EXCERPT_CHARS`]
/// characters, escaped as Rust's `{:?}` does, and `…` when there is more.
pub struct Excerpt<'a>(pub &'a str);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = self
            .0
            .char_indices()
            .nth(EXCERPT_CHARS)
            .map_or(self.0.len(), |(i, _)| i);
        let quoted = format!("{:?}", &self.0[..cut]);
        if cut < self.0.len() {
            let (body, close) = quoted.split_at(quoted.len() - 1);
            write!(f, "{body}…{close}")
        } else {
            f.write_str(&quoted)
        }
    }
}

/// [`Excerpt`] of `value`, for error messages.
pub fn excerpt(value: &str) -> Excerpt<'_> {
    Excerpt(value)
}

/// Refuses `value` longer than `cap` bytes: "`what` is N bytes, more than
/// the cap of M (starts with "…")".
pub fn check_len(what: &str, value: &str, cap: usize) -> Result<(), TooLong> {
    if value.len() <= cap {
        return Ok(());
    }
    Err(TooLong {
        what: what.to_owned(),
        len: value.len() as u64,
        cap: cap as u64,
        start: excerpt(value).to_string(),
    })
}

/// A value over its cap.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {len} bytes, more than the cap of {cap} bytes (it starts with {start})")]
pub struct TooLong {
    /// What the value is (an annotation name, "urunc.json", …).
    pub what: String,
    /// Its length.
    pub len: u64,
    /// The cap.
    pub cap: u64,
    /// Its first characters, quoted.
    pub start: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole() {
        assert_eq!(excerpt("plan9").to_string(), "\"plan9\"");
        assert_eq!(excerpt("a\nb").to_string(), "\"a\\nb\"");
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100_000);
        let shown = excerpt(&long).to_string();
        assert_eq!(shown, format!("\"{}…\"", "é".repeat(EXCERPT_CHARS)));
        let controls = "\u{1}".repeat(100_000);
        assert!(excerpt(&controls).to_string().len() < 8 * EXCERPT_CHARS);
    }

    #[test]
    fn check_len_names_the_size_and_the_cap() {
        assert_eq!(check_len("x", "abc", 3), Ok(()));
        let e = check_len("annotation k", &"v".repeat(5000), 4096).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(
                "annotation k is 5000 bytes, more than the cap of 4096 bytes (it starts with \"vvv"
            ),
            "{text}"
        );
        assert!(text.len() < 200, "{text}");
    }

    #[test]
    fn command_line_caps_follow_the_monitor() {
        assert_eq!(cmdline_bytes(Monitor::Qemu), 2047);
        assert_eq!(cmdline_bytes(Monitor::Hvt), 8191);
    }
}
