//! `state`: runc's JSON state document.

use std::collections::BTreeMap;

use super::{print_out, Global, Outcome};
use crate::state::{ContainerState, Status};

/// OCI runtime spec version of the state document.
const OCI_VERSION: &str = "1.0.2";

/// Prints the state of a unikernel container; other ids are runc's.
pub(crate) fn state(g: &Global, id: &str) -> Result<Outcome, String> {
    if !g.store.owns(id) {
        return Ok(Outcome::Delegate);
    }
    let state = g.store.load(id).map_err(|e| e.to_string())?;
    let doc = document(&state, state.status());
    let text = serde_json::to_string_pretty(&doc).expect("state document serializes");
    print_out(&format!("{text}\n"))?;
    Ok(Outcome::Exit(0))
}

/// The document in runc's shape (pid 0 once stopped, no `annotations`
/// when there are none).
pub(crate) fn document(state: &ContainerState, status: Status) -> serde_json::Value {
    let pid = match status {
        Status::Stopped => 0,
        _ => state.supervisor.map(|p| p.pid).unwrap_or(0),
    };
    let doc = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "pid": pid,
        "status": status.as_str(),
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": "",
    });
    with_annotations(doc, &state.annotations)
}

/// Adds `annotations` to a state document unless there are none (runc
/// omits the empty field).
fn with_annotations(
    mut doc: serde_json::Value,
    annotations: &BTreeMap<String, String>,
) -> serde_json::Value {
    if !annotations.is_empty() {
        doc["annotations"] = serde_json::json!(annotations);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_annotations_are_left_out_as_runc_does() {
        let doc = serde_json::json!({"id": "c"});
        let none = with_annotations(doc.clone(), &BTreeMap::new());
        assert_eq!(none, doc, "no annotations field");
        let some = BTreeMap::from([("a".to_owned(), "b".to_owned())]);
        assert_eq!(
            with_annotations(doc, &some)["annotations"],
            serde_json::json!({"a": "b"})
        );
    }
}
