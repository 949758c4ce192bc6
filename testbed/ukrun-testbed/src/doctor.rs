//! `ukrun doctor --json` on a container of a node, as an operator runs it
//! on a real node: through the root the runc shim gives ukrun
//! (`<Root>/<namespace>`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::node::Node;

/// The containerd namespace of the CRI's containers.
const CRI_NAMESPACE: &str = "k8s.io";

/// Runs `ukrun doctor --json ID` (`ukrun` being the node's runtime binary)
/// on `node`; returns its exit code and its report.
pub fn report(ukrun: &Path, node: &Node, id: &str) -> Result<(i32, Value)> {
    let root = node.ukrun_root().join(CRI_NAMESPACE);
    let out = Command::new(ukrun)
        .arg("--root")
        .arg(&root)
        .args(["doctor", "--json", id])
        .output()
        .context("running ukrun doctor")?;
    let code = out.status.code().context("ukrun doctor was killed")?;
    let doc = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "ukrun doctor {id} printed no JSON (exit {code}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((code, doc))
}

/// The names of the checks of `doc` with `verdict` (`PASS`, `WARN`, `FAIL`).
pub fn checks_with(doc: &Value, verdict: &str) -> Vec<String> {
    doc["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|check| check["verdict"] == verdict)
        .filter_map(|check| check["name"].as_str().map(str::to_owned))
        .collect()
}
