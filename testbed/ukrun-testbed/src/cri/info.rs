//! Reading containerd's verbose sandbox info (`info` key of a verbose
//! PodSandboxStatus): a JSON blob with the sandbox pid and its OCI spec.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

/// The pod's network namespace path: the `network` namespace of the
/// sandbox's OCI spec, else `/proc/<sandbox pid>/ns/net`.
pub fn pod_netns_path(info: &HashMap<String, String>) -> Result<PathBuf> {
    let raw = info
        .get("info")
        .context("verbose PodSandboxStatus has no `info`")?;
    let json: Value = serde_json::from_str(raw).context("parsing the sandbox info JSON")?;
    let spec_path = json
        .pointer("/runtimeSpec/linux/namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|ns| ns["type"] == "network")
        .and_then(|ns| ns["path"].as_str())
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    let from_pid = || {
        json["pid"]
            .as_u64()
            .filter(|pid| *pid > 0)
            .map(|pid| PathBuf::from(format!("/proc/{pid}/ns/net")))
    };
    spec_path
        .or_else(from_pid)
        .context("the sandbox info names neither a netns path nor a pid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(json: &str) -> HashMap<String, String> {
        HashMap::from([("info".to_string(), json.to_string())])
    }

    #[test]
    fn prefers_the_spec_path() {
        let json = r#"{"pid":7,"runtimeSpec":{"linux":{"namespaces":[
            {"type":"pid"},{"type":"network","path":"/s/netns/cni-1"}]}}}"#;
        assert_eq!(
            pod_netns_path(&info(json)).unwrap(),
            PathBuf::from("/s/netns/cni-1")
        );
    }

    #[test]
    fn falls_back_to_the_pid() {
        assert_eq!(
            pod_netns_path(&info(r#"{"pid":7}"#)).unwrap(),
            PathBuf::from("/proc/7/ns/net")
        );
    }
}
