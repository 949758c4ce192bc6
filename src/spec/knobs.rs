//! ukrun's own annotations (`ukrun.dev/…`): per-container choices that
//! override ukrun's configuration file.

use std::collections::BTreeMap;

use crate::net::plan::NetworkMode;

/// Network mode annotation: `tc` or `routed`.
pub const NETWORK_MODE: &str = "ukrun.dev/network-mode";

/// The knobs one container sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// Network mode, when the container chooses one.
    pub network_mode: Option<NetworkMode>,
}

/// Why a knob was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KnobError {
    /// Unknown network mode.
    #[error("annotation {NETWORK_MODE}: unknown network mode {0:?} (use tc or routed)")]
    NetworkMode(String),
}

/// Reads the knobs from the spec's annotations.
pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Result<Knobs, KnobError> {
    let network_mode = annotations
        .get(NETWORK_MODE)
        .map(|v| NetworkMode::parse(v.trim()).ok_or_else(|| KnobError::NetworkMode(v.clone())))
        .transpose()?;
    Ok(Knobs { network_mode })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn network_mode_values() {
        assert_eq!(from_annotations(&ann(&[])).unwrap(), Knobs::default());
        assert_eq!(
            from_annotations(&ann(&[(NETWORK_MODE, "tc")]))
                .unwrap()
                .network_mode,
            Some(NetworkMode::Tc)
        );
        assert_eq!(
            from_annotations(&ann(&[(NETWORK_MODE, "routed")]))
                .unwrap()
                .network_mode,
            Some(NetworkMode::Routed)
        );
        let e = from_annotations(&ann(&[(NETWORK_MODE, "bridge")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "annotation ukrun.dev/network-mode: unknown network mode \"bridge\" (use tc or routed)"
        );
    }
}
