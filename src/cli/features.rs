//! `features`: the OCI runtime features document (runtime-spec
//! features.md). containerd asks once per runtime handler and derives what
//! every container on the handler may use from the answer alone, the pod
//! sandbox and the sidecars that ukrun hands to runc included. So ukrun
//! answers with runc's own document plus ukrun's annotations, and refuses
//! at `create` what a guest cannot do (`spec/guest_limits.rs`). When runc
//! gives no document, ukrun prints its own (what it honours for guests)
//! and says why on standard error, which containerd does not read.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{print_out, Outcome};
use crate::bounded_command;
use crate::config::Config;

/// How long runc may take to answer (it prints a constant document).
const RUNC_TIMEOUT: Duration = Duration::from_secs(5);

/// Annotation saying that ordinary containers are handed to runc.
const DELEGATE_ANNOTATION: &str = "io.github.ukrun.runc.delegate";
/// Annotation carrying ukrun's version.
const VERSION_ANNOTATION: &str = "io.github.ukrun.version";

/// Prints the features JSON: runc's (asked without global flags: the
/// document does not depend on them), else ukrun's own.
pub(crate) fn features(config: &Config) -> Result<Outcome, String> {
    let runc = config.runc_binary();
    let (document, fallback) = choose(bounded_command::output(&runc, &["features"], RUNC_TIMEOUT));
    if let Some(reason) = fallback {
        eprintln!(
            "ukrun: no features from {} ({reason}); printing ukrun's own, without what runc offers ordinary containers",
            runc.display()
        );
    }
    let text = serde_json::to_string_pretty(&document).expect("features serialize");
    print_out(&format!("{text}\n"))?;
    Ok(Outcome::Exit(0))
}

/// The document to print for runc's answer (its standard output, or why
/// there is none), with ukrun's annotations; and, when it is ukrun's own
/// document, why runc's was not used.
fn choose(runc: Result<String, String>) -> (Value, Option<String>) {
    match runc.and_then(|text| runc_document(&text)) {
        Ok(document) => (with_ukrun_annotations(document), None),
        Err(reason) => (with_ukrun_annotations(own_document()), Some(reason)),
    }
}

/// runc's answer, if it is a features document: a JSON object with the
/// two fields the spec requires, and annotations (if any) that are text.
/// Kept as JSON, not oci-spec's `Features`, so that fields a newer runc
/// adds pass through unchanged.
fn runc_document(text: &str) -> Result<Value, String> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| format!("its output is not JSON: {e}"))?;
    let object = document
        .as_object()
        .ok_or("its output is not a JSON object")?;
    for field in ["ociVersionMin", "ociVersionMax"] {
        if !object.get(field).is_some_and(Value::is_string) {
            return Err(format!("its output has no {field}"));
        }
    }
    match object.get("annotations") {
        None => Ok(document),
        Some(Value::Object(map)) if map.values().all(Value::is_string) => Ok(document),
        Some(_) => Err("its annotations are not a map of strings".to_owned()),
    }
}

/// `document` with ukrun's annotations added to its own (ukrun's win on
/// a shared key, which only ukrun's prefix can be).
fn with_ukrun_annotations(mut document: Value) -> Value {
    let ours = [
        (DELEGATE_ANNOTATION, "true"),
        (VERSION_ANNOTATION, env!("CARGO_PKG_VERSION")),
    ];
    if let Value::Object(fields) = &mut document {
        let annotations = fields
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = annotations {
            for (key, value) in ours {
                map.insert(key.to_owned(), value.into());
            }
        }
    }
    document
}

/// ukrun's own document: what it honours for unikernel containers.
fn own_document() -> Value {
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
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runc 1.1-shaped answer, shortened.
    const RUNC: &str = r#"{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2-dev",
        "mountOptions":["ro","rro"],"linux":{"namespaces":["mount","user"]},
        "potentiallyUnsafeConfigAnnotations":["run.oci."],
        "annotations":{"org.opencontainers.runc.version":"1.1.5"}}"#;

    #[test]
    fn runcs_document_is_kept_whole_with_ukruns_annotations_added() {
        let (document, fallback) = choose(Ok(RUNC.to_owned()));
        assert_eq!(fallback, None);
        let mut expected: Value = serde_json::from_str(RUNC).unwrap();
        expected["annotations"][DELEGATE_ANNOTATION] = "true".into();
        expected["annotations"][VERSION_ANNOTATION] = env!("CARGO_PKG_VERSION").into();
        assert_eq!(
            document, expected,
            "fields ukrun does not know pass through"
        );
    }

    #[test]
    fn annotations_are_created_when_runc_has_none() {
        let (document, _) = choose(Ok(
            r#"{"ociVersionMin":"1.0.0","ociVersionMax":"1.2.0"}"#.into()
        ));
        assert_eq!(document["annotations"][DELEGATE_ANNOTATION], "true");
        assert_eq!(document["annotations"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn anything_but_a_features_document_falls_back_to_ukruns_own_with_a_reason() {
        let cases = [
            (
                Err("exited with exit status: 1".to_owned()),
                "exit status: 1",
            ),
            (Ok(String::new()), "not JSON"),
            (Ok("Incorrect Usage.".into()), "not JSON"),
            (Ok("[1]".into()), "not a JSON object"),
            (
                Ok(r#"{"ociVersionMin":"1.0.0"}"#.into()),
                "no ociVersionMax",
            ),
            (
                Ok(
                    r#"{"ociVersionMin":"1.0.0","ociVersionMax":"1.1.0","annotations":{"a":1}}"#
                        .into(),
                ),
                "not a map of strings",
            ),
        ];
        for (answer, why) in cases {
            let (document, fallback) = choose(answer);
            let reason = fallback.expect("a reason");
            assert!(reason.contains(why), "{reason:?} lacks {why:?}");
            assert!(!reason.contains('\n'), "one line: {reason:?}");
            assert_eq!(document["mountOptions"], serde_json::json!([]));
            assert_eq!(document["linux"]["namespaces"][0], "network");
            assert_eq!(document["annotations"][DELEGATE_ANNOTATION], "true");
            assert_eq!(
                document["annotations"][VERSION_ANNOTATION],
                env!("CARGO_PKG_VERSION")
            );
        }
    }
}
