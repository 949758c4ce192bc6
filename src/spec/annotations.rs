//! urunc's image annotations, read from the OCI spec and from `urunc.json` in
//! the rootfs (base64 values), so images built for urunc run unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;

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

/// Why urunc.json could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UruncJsonError {
    /// The file exists but cannot be read.
    #[error("cannot read /urunc.json in the rootfs: {0}")]
    Read(String),
    /// Not a JSON object of strings.
    #[error("/urunc.json in the rootfs is not a JSON object of strings: {0}")]
    Json(String),
    /// A value is not base64.
    #[error("/urunc.json: value of {0} is not valid base64")]
    Base64(String),
    /// A decoded value is not UTF-8.
    #[error("/urunc.json: value of {0} is not UTF-8 text")]
    Utf8(String),
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
    let text = std::fs::read_to_string(&path).map_err(|e| UruncJsonError::Read(e.to_string()))?;
    decode_urunc_json(&text).map(Some)
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
            format!("/urunc.json: value of {BINARY} is not valid base64")
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
