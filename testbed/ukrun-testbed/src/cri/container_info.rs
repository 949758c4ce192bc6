//! Reading containerd's verbose container info (`info` key of a verbose
//! ContainerStatus): the container's OCI spec as the runtime got it, e.g.
//! to find the node file behind one of its mounts.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use k8s_cri::v1::ContainerStatusRequest;
use serde_json::Value;

use super::{Cri, CALL_DEADLINE};

impl Cri {
    /// The OCI spec containerd handed the runtime for container `id`
    /// (verbose ContainerStatus).
    pub fn container_runtime_spec(&self, id: &str) -> Result<Value> {
        let mut client = self.runtime.clone();
        let request = ContainerStatusRequest {
            container_id: id.to_string(),
            verbose: true,
        };
        let answer = self.call(
            "ContainerStatus (verbose)",
            CALL_DEADLINE,
            client.container_status(request),
        )?;
        runtime_spec(&answer.info).with_context(|| format!("container {id}"))
    }

    /// The node file mounted at `destination` in container `id` (e.g. the
    /// resolv.conf containerd generated for the pod).
    pub fn container_mount_source(&self, id: &str, destination: &str) -> Result<PathBuf> {
        let spec = self.container_runtime_spec(id)?;
        mount_source(&spec, destination)
            .with_context(|| format!("container {id} has no mount at {destination}"))
    }
}

/// The `runtimeSpec` of a verbose ContainerStatus's `info` JSON.
fn runtime_spec(info: &HashMap<String, String>) -> Result<Value> {
    let raw = info
        .get("info")
        .context("verbose ContainerStatus has no `info`")?;
    let mut json: Value = serde_json::from_str(raw).context("parsing the container info JSON")?;
    match json.get_mut("runtimeSpec") {
        Some(spec) => Ok(spec.take()),
        None => anyhow::bail!("the container info has no runtimeSpec"),
    }
}

/// The source of the last mount at `destination` in an OCI spec (the last
/// one wins, as it is mounted over the others).
fn mount_source(spec: &Value, destination: &str) -> Option<PathBuf> {
    spec["mounts"]
        .as_array()?
        .iter()
        .rev()
        .filter(|m| m["destination"] == destination)
        .find_map(|m| m["source"].as_str())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_source_behind_a_destination() {
        let info = HashMap::from([(
            "info".to_string(),
            r#"{"runtimeSpec":{"mounts":[
                {"destination":"/proc","source":"proc"},
                {"destination":"/etc/resolv.conf","source":"/s/a/resolv.conf"},
                {"destination":"/etc/resolv.conf","source":"/s/b/resolv.conf"}]}}"#
                .to_string(),
        )]);
        let spec = runtime_spec(&info).unwrap();
        assert_eq!(
            mount_source(&spec, "/etc/resolv.conf"),
            Some(PathBuf::from("/s/b/resolv.conf"))
        );
        assert_eq!(mount_source(&spec, "/etc/hosts"), None);
        assert!(runtime_spec(&HashMap::new()).is_err());
    }
}
