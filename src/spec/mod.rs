//! The bundle as the shim gives it: config.json, rootfs, and whether it is a
//! unikernel (urunc's annotations or urunc.json) or a container for runc.

pub mod annotations;
pub mod guest_limits;
pub mod hosts;
pub mod knobs;
pub mod pod_files;
pub mod ports;
pub mod resolv;
pub mod rootfs_path;
#[cfg(test)]
pub mod test_rootfs;
pub mod unikernel;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

pub use unikernel::{Unikernel, UnikernelError};

/// A loaded OCI bundle.
pub struct Bundle {
    /// Bundle directory (absolute).
    pub dir: PathBuf,
    /// Parsed config.json.
    pub spec: Spec,
    /// Root filesystem (absolute).
    pub rootfs: PathBuf,
}

/// Why a bundle could not be loaded or classified.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// config.json is missing or malformed.
    #[error("cannot load {path}: {message}")]
    Spec {
        /// config.json path.
        path: PathBuf,
        /// Parser's explanation.
        message: String,
    },
    /// The unikernel request is invalid.
    #[error(transparent)]
    Unikernel(#[from] UnikernelError),
    /// The bundle asks for what a guest cannot be given.
    #[error(transparent)]
    GuestLimit(#[from] guest_limits::GuestLimitError),
}

/// Whether a bundle whose config.json the strict parser refused still asks
/// for a unikernel (so its error is reported instead of handing it to runc).
pub fn raw_is_unikernel(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("annotations")?
                .get(annotations::UNIKERNEL_TYPE)
                .cloned()
        })
        .is_some()
}

impl Bundle {
    /// Loads `<dir>/config.json` and locates the rootfs.
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let path = dir.join("config.json");
        let spec = Spec::load(&path).map_err(|e| BundleError::Spec {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let root = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_else(|| PathBuf::from("rootfs"));
        let rootfs = if root.is_absolute() {
            root
        } else {
            dir.join(root)
        };
        Ok(Self { dir, spec, rootfs })
    }

    /// The spec's annotations (empty when none).
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.spec
            .annotations()
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Refuses a unikernel bundle that asks for what a guest cannot be
    /// given (a user namespace, ID-mapped ids or mounts); reads config.json
    /// again as JSON, for the fields oci-spec drops.
    pub fn check_guest_limits(&self) -> Result<(), BundleError> {
        let path = self.dir.join("config.json");
        let document: serde_json::Value = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|message| BundleError::Spec { path, message })?;
        Ok(guest_limits::check(&document)?)
    }

    /// `Ok(None)` for a bundle runc should run; the validated request for a
    /// unikernel bundle; an error for a unikernel bundle that cannot run.
    pub fn unikernel(&self) -> Result<Option<Unikernel>, BundleError> {
        let annotations = self.annotations();
        let file = annotations::read_urunc_json(&self.rootfs).map_err(UnikernelError::from)?;
        if file.is_none() && !annotations.contains_key(annotations::UNIKERNEL_TYPE) {
            return Ok(None);
        }
        annotations::check_sizes(&annotations).map_err(UnikernelError::from)?;
        let values = annotations::merge(&annotations, file);
        annotations::check_values(&values).map_err(UnikernelError::from)?;
        Ok(Some(unikernel::from_values(&values, &self.rootfs)?))
    }
}
