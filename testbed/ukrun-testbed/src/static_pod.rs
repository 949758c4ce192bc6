//! Static pod manifests for a test kubelet ([`crate::kubelet`]): the pod
//! JSON a kubelet reads from its manifest folder, built from the test
//! bed's container specs so a kubelet pod runs what a CRI test runs.

use serde_json::{json, Value};

use crate::cri::ContainerSpec;

/// A static pod manifest (namespace `default`).
#[derive(Debug, Clone)]
pub struct StaticPod {
    manifest: Value,
}

impl StaticPod {
    /// A pod `name` with no container yet, restart policy `Always` and a
    /// termination grace period of `grace_seconds`.
    pub fn new(name: &str, grace_seconds: u32) -> StaticPod {
        StaticPod {
            manifest: json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"terminationGracePeriodSeconds": grace_seconds, "containers": []},
            }),
        }
    }

    /// Adds `container` with `probes` (e.g. [`http_probe`] under
    /// `readinessProbe` or `livenessProbe`). The images are imported, not
    /// pulled: the pull policy is `IfNotPresent`, which `:latest` images
    /// need.
    pub fn container(mut self, container: &ContainerSpec, probes: &[(&str, Value)]) -> StaticPod {
        let mut entry = json!({
            "name": container.name,
            "image": container.image,
            "imagePullPolicy": "IfNotPresent",
        });
        if !container.command.is_empty() {
            entry["command"] = json!(container.command);
        }
        if !container.args.is_empty() {
            entry["args"] = json!(container.args);
        }
        for (kind, probe) in probes {
            entry[*kind] = probe.clone();
        }
        if let Some(containers) = self.manifest["spec"]["containers"].as_array_mut() {
            containers.push(entry);
        }
        self
    }

    /// Sets the restart policy (`Always`, `OnFailure`, `Never`).
    pub fn restart_policy(mut self, policy: &str) -> StaticPod {
        self.manifest["spec"]["restartPolicy"] = json!(policy);
        self
    }

    /// The pod's name as written in the manifest (the kubelet appends
    /// `-<node name>`).
    pub fn name(&self) -> &str {
        self.manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
    }

    /// The manifest as the kubelet reads it (JSON is YAML).
    pub fn to_json(&self) -> String {
        self.manifest.to_string()
    }
}

/// An HTTP GET probe of `/` on `port` every `period_seconds`, failing
/// after `failure_threshold` misses in a row.
pub fn http_probe(port: u16, period_seconds: u32, failure_threshold: u32) -> Value {
    json!({
        "httpGet": {"path": "/", "port": port},
        "periodSeconds": period_seconds,
        "failureThreshold": failure_threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_the_container_spec_and_probes() {
        let spec = ContainerSpec::new("web", "localhost/x:latest").command(&["sh", "-c", "true"]);
        let pod = StaticPod::new("web", 3)
            .container(&spec, &[("readinessProbe", http_probe(8080, 1, 3))])
            .restart_policy("Never");
        let manifest: Value = serde_json::from_str(&pod.to_json()).unwrap();
        let container = &manifest["spec"]["containers"][0];
        assert_eq!(pod.name(), "web");
        assert_eq!(container["command"], json!(["sh", "-c", "true"]));
        assert_eq!(container["imagePullPolicy"], "IfNotPresent");
        assert_eq!(container["readinessProbe"]["httpGet"]["port"], 8080);
        assert!(container.get("args").is_none());
        assert_eq!(manifest["spec"]["restartPolicy"], "Never");
        assert_eq!(manifest["spec"]["terminationGracePeriodSeconds"], 3);
    }
}
