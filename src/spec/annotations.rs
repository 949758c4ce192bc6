//! urunc's image annotations, read from the OCI spec and from `urunc.json` in
//! the rootfs (base64 values), so images built for urunc run unchanged.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use base64::Engine;

use crate::limits::{self, excerpt, TooLong};

/// Prefix shared by every urunc annotation.
pub const URUNC_PREFIX: &str = "com.urunc.unikernel.";
/// Guest framework (`linux`, `unikraft`, …).
pub const UNIKERNEL_TYPE: &str = "com.urunc.unikernel.unikernelType";
/// Monitor (`qemu`, `firecracker`, `hvt`, `spt`).
pub const HYPERVISOR: &str = "com.urunc.unikernel.hypervisor";
/// Kernel / unikernel binary inside the rootfs.
pub const BINARY: &str = "com.urunc.unikernel.binary";
/// Guest command line.
pub const CMDLINE: &str = "com.urunc.unikernel.cmdline";
/// Initrd inside the rootfs.
pub const INITRD: &str = "com.urunc.unikernel.initrd";
/// Block image inside the rootfs.
pub const BLOCK: &str = "com.urunc.unikernel.block";
/// Where the guest mounts the block image.
pub const BLK_MNT_POINT: &str = "com.urunc.unikernel.blkMntPoint";
/// Framework version (Unikraft syntax changes with it).
pub const UNIKERNEL_VERSION: &str = "com.urunc.unikernel.unikernelVersion";
/// Whether the rootfs is passed as a device-mapper block device.
pub const USE_DM_BLOCK: &str = "com.urunc.unikernel.useDMBlock";

/// Name of urunc's file in the image rootfs.
pub const URUNC_JSON: &str = "urunc.json";
/// Prefix of ukrun's own annotations.
pub const UKRUN_PREFIX: &str = "ukrun.dev/";

/// Why urunc.json could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UruncJsonError {
    /// The file exists but cannot be read.
    #[error("cannot read /urunc.json in the rootfs: {0}")]
    Read(String),
    /// The file is over its cap.
    #[error("/urunc.json in the rootfs is {0} bytes, more than the cap of {cap} bytes", cap = limits::URUNC_JSON_BYTES)]
    TooLarge(u64),
    /// Not a JSON object of strings.
    #[error("/urunc.json in the rootfs is not a JSON object of strings: {}", excerpt(.0))]
    Json(String),
    /// A value is not base64.
    #[error("/urunc.json: value of {} is not valid base64", excerpt(.0))]
    Base64(String),
    /// A decoded value is not UTF-8.
    #[error("/urunc.json: value of {} is not UTF-8 text", excerpt(.0))]
    Utf8(String),
}

/// Why the annotations ukrun reads are refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnnotationError {
    /// The spec's annotations together are over their cap.
    #[error("the spec's annotations total {0} bytes, more than the cap of {cap} bytes", cap = limits::ANNOTATIONS_TOTAL_BYTES)]
    TotalTooLarge(usize),
    /// One value is over its cap.
    #[error(transparent)]
    TooLong(#[from] TooLong),
}

/// urunc's values for one container: annotations win over urunc.json, key by key.
pub type UruncValues = BTreeMap<String, String>;

/// Reads `<rootfs>/urunc.json`; `Ok(None)` when the image has none.
pub fn read_urunc_json(rootfs: &Path) -> Result<Option<UruncValues>, UruncJsonError> {
    let path = rootfs.join(URUNC_JSON);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
        return Err(UruncJsonError::Read("not a regular file".into()));
    }
    let read = |e: std::io::Error| UruncJsonError::Read(e.to_string());
    let file = std::fs::File::open(&path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(limits::URUNC_JSON_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > limits::URUNC_JSON_BYTES {
        let size = std::fs::metadata(&path).map_or(bytes.len() as u64, |m| m.len());
        return Err(UruncJsonError::TooLarge(size));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| UruncJsonError::Json("the file is not UTF-8 text".into()))?;
    decode_urunc_json(&text).map(Some)
}

/// Checks each value ukrun reads (urunc's and ukrun's own) against its
/// cap, then the spec's annotations together against theirs.
pub fn check_sizes(annotations: &BTreeMap<String, String>) -> Result<(), AnnotationError> {
    check_values(annotations.iter())?;
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > limits::ANNOTATIONS_TOTAL_BYTES {
        return Err(AnnotationError::TotalTooLarge(total));
    }
    Ok(())
}

/// Checks each value ukrun reads against its cap: the longest command line
/// any guest takes for the command line (its own guest's cap is checked
/// with the guest), [`limits::ANNOTATION_VALUE_BYTES`] for the others.
pub fn check_values<'a>(
    values: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), AnnotationError> {
    for (key, value) in values {
        if !(key.starts_with(URUNC_PREFIX) || key.starts_with(UKRUN_PREFIX)) {
            continue;
        }
        let cap = if key == CMDLINE {
            limits::SOLO5_CMDLINE_BYTES
        } else {
            limits::ANNOTATION_VALUE_BYTES
        };
        limits::check_len(&format!("annotation {}", excerpt(key)), value, cap)?;
    }
    Ok(())
}

/// Decodes urunc.json text: a JSON object whose values are base64 strings.
pub fn decode_urunc_json(text: &str) -> Result<UruncValues, UruncJsonError> {
    let raw: BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|e| UruncJsonError::Json(e.to_string()))?;
    raw.into_iter()
        .map(|(key, encoded)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| UruncJsonError::Base64(key.clone()))?;
            let value = String::from_utf8(bytes).map_err(|_| UruncJsonError::Utf8(key.clone()))?;
            Ok((key, value))
        })
        .collect()
}

/// Merges urunc.json values under the spec's annotations (annotations win).
pub fn merge(annotations: &BTreeMap<String, String>, file: Option<UruncValues>) -> UruncValues {
    let mut merged = file.unwrap_or_default();
    merged.retain(|k, _| k.starts_with(URUNC_PREFIX));
    for (k, v) in annotations
        .iter()
        .filter(|(k, _)| k.starts_with(URUNC_PREFIX))
    {
        merged.insert(k.clone(), v.clone());
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn decodes_base64_values() {
        let text = format!(
            "{{\"{UNIKERNEL_TYPE}\":\"{}\",\"{CMDLINE}\":\"{}\"}}",
            b64("linux"),
            b64("")
        );
        let v = decode_urunc_json(&text).unwrap();
        assert_eq!(v[UNIKERNEL_TYPE], "linux");
        assert_eq!(v[CMDLINE], "");
    }

    #[test]
    fn bad_files_are_named_errors() {
        assert!(matches!(
            decode_urunc_json("[1]"),
            Err(UruncJsonError::Json(_))
        ));
        let e = decode_urunc_json(&format!("{{\"{BINARY}\":\"@@@\"}}")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("/urunc.json: value of \"{BINARY}\" is not valid base64")
        );
        let bad_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe]);
        assert!(matches!(
            decode_urunc_json(&format!("{{\"{BINARY}\":\"{bad_utf8}\"}}")),
            Err(UruncJsonError::Utf8(_))
        ));
    }

    #[test]
    fn annotations_win_over_file_and_foreign_keys_are_dropped() {
        let mut file = UruncValues::new();
        file.insert(HYPERVISOR.into(), "qemu".into());
        file.insert(BINARY.into(), "/boot/vmlinux".into());
        file.insert("other".into(), "x".into());
        let mut ann = BTreeMap::new();
        ann.insert(HYPERVISOR.to_string(), "bogus".to_string());
        ann.insert(
            "io.kubernetes.cri.container-type".to_string(),
            "container".to_string(),
        );
        let m = merge(&ann, Some(file));
        assert_eq!(m[HYPERVISOR], "bogus");
        assert_eq!(m[BINARY], "/boot/vmlinux");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn a_huge_urunc_json_is_refused_by_its_size() {
        let dir = std::env::temp_dir().join(format!("ukrun-uj-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let value = b64(&"x".repeat(1 << 20));
        let text = format!("{{\"{CMDLINE}\":\"{value}\"}}");
        std::fs::write(dir.join(URUNC_JSON), &text).unwrap();
        let e = read_urunc_json(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        let size = text.len();
        assert_eq!(
            e.to_string(),
            format!("/urunc.json in the rootfs is {size} bytes, more than the cap of 65536 bytes")
        );
    }

    #[test]
    fn errors_quote_a_short_prefix_of_hostile_keys_and_values() {
        let key = "k".repeat(100_000);
        let e = decode_urunc_json(&format!("{{\"{key}\":\"@@\"}}")).unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
        let e = decode_urunc_json(&format!("{{\"{BINARY}\":[\"{key}\"]}}")).unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
        let e = decode_urunc_json(&format!("{{\"{BINARY}\":{{\"{key}\":1}}}}")).unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }

    #[test]
    fn each_value_ukrun_reads_and_their_total_are_capped() {
        let ann = |pairs: &[(&str, String)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        let ok = ann(&[
            (BINARY, "/".repeat(4096)),
            (CMDLINE, "x".repeat(8191)),
            ("io.kubernetes.cri.sandbox-name", "n".repeat(100_000)),
        ]);
        assert_eq!(check_sizes(&ok), Ok(()));
        let e = check_sizes(&ann(&[(BINARY, "/".repeat(4097))])).unwrap_err();
        assert!(
            e.to_string().starts_with("annotation \"com.urunc.unikernel.binary\" is 4097 bytes, more than the cap of 4096 bytes (it starts with \"//"),
            "{e}"
        );
        assert!(e.to_string().len() < 200, "{e}");
        let e = check_sizes(&ann(&[("ukrun.dev/localhost-ports", "1,".repeat(3000))])).unwrap_err();
        assert!(e.to_string().contains("is 6000 bytes"), "{e}");
        let e = check_sizes(&ann(&[(CMDLINE, "x".repeat(1 << 20))])).unwrap_err();
        assert!(
            e.to_string()
                .contains("is 1048576 bytes, more than the cap of 8191 bytes"),
            "{e}"
        );
        let big = ann(&[("a", "x".repeat(300_000)), ("b", "y".repeat(300_000))]);
        assert_eq!(
            check_sizes(&big).unwrap_err().to_string(),
            "the spec's annotations total 600002 bytes, more than the cap of 524288 bytes"
        );
    }

    #[test]
    fn missing_file_is_none_and_directory_is_error() {
        let dir = std::env::temp_dir().join(format!("ukrun-uj-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_urunc_json(&dir).unwrap(), None);
        std::fs::create_dir_all(dir.join(URUNC_JSON)).unwrap();
        let e = read_urunc_json(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(e, UruncJsonError::Read(_)));
    }
}
