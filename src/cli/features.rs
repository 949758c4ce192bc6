//! `features`: the OCI runtime features document (runtime-spec features.md).

use super::Outcome;

/// Prints the features JSON.
pub(crate) fn features() -> Result<Outcome, String> {
    println!(
        "{}",
        serde_json::to_string_pretty(&document()).expect("features serialize")
    );
    Ok(Outcome::Exit(0))
}

/// The features document: what ukrun honours for unikernel containers
/// (ordinary containers get runc's features).
pub(crate) fn document() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": [],
        "mountOptions": [],
        "linux": {
            "namespaces": ["network", "ipc", "uts"],
            "capabilities": [],
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false }
        },
        "annotations": {
            "io.github.ukrun.runc.delegate": "true"
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn features_document_has_the_required_fields() {
        let d = super::document();
        assert_eq!(d["ociVersionMin"], "1.0.0");
        assert!(d["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "network"));
    }
}
