//! A pod as a test kubelet runs it, read from its `/pods` entry: what the
//! kubelet made of the manifest (the pod's IP, hostname, subdomain,
//! hostAliases, containers' ids), so checks follow the manifest instead of
//! repeating it.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::kubelet_api::KubeletApi;

/// The pods' cluster domain (the kubelet's `clusterDomain`).
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The longest hostname the kubelet gives a pod.
const HOSTNAME_MAX: usize = 63;

/// One pod of the kubelet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletPod {
    /// Its full name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its UID (the kubelet's folder of the pod is named after it).
    pub uid: String,
    /// Its IP (empty before it has one).
    pub ip: String,
    /// Its hostname: `spec.hostname`, else its name cut to 63 characters.
    pub hostname: String,
    /// `spec.subdomain`, if set.
    pub subdomain: Option<String>,
    /// `spec.hostAliases`, one (IP, hostname) a name.
    pub host_aliases: Vec<(String, String)>,
    /// Its containers' names and CRI ids (empty before they are created).
    pub containers: Vec<(String, String)>,
}

impl KubeletPod {
    /// Pod `name` (full name) as the kubelet reports it now.
    pub fn read(api: &KubeletApi, name: &str) -> Result<KubeletPod> {
        api.pod_objects()?
            .iter()
            .find(|pod| pod["metadata"]["name"] == name)
            .map(KubeletPod::from_json)
            .with_context(|| format!("the kubelet knows no pod {name}"))
    }

    /// A pod from one item of `/pods`.
    pub fn from_json(pod: &Value) -> KubeletPod {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        let spec = &pod["spec"];
        let name = text(&pod["metadata"]["name"]);
        let hostname = match spec["hostname"].as_str() {
            Some(hostname) => hostname.to_string(),
            None => name
                .chars()
                .take(HOSTNAME_MAX)
                .collect::<String>()
                .trim_end_matches(['-', '.'])
                .to_string(),
        };
        let host_aliases = spec["hostAliases"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|alias| {
                let ip = text(&alias["ip"]);
                alias["hostnames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |host| (ip.clone(), text(host)))
            })
            .collect();
        let containers = pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let id = text(&c["containerID"]);
                let id = id.rsplit("://").next().unwrap_or_default().to_string();
                (text(&c["name"]), id)
            })
            .collect();
        KubeletPod {
            namespace: text(&pod["metadata"]["namespace"]),
            uid: text(&pod["metadata"]["uid"]),
            ip: text(&pod["status"]["podIP"]),
            hostname,
            subdomain: spec["subdomain"].as_str().map(str::to_owned),
            host_aliases,
            containers,
            name,
        }
    }

    /// The pod's FQDN when it has a subdomain, as the kubelet writes it
    /// into the pod's hosts file: `HOSTNAME.SUBDOMAIN.NAMESPACE.svc.DOMAIN`.
    pub fn fqdn(&self) -> Option<String> {
        let subdomain = self.subdomain.as_ref()?;
        Some(format!(
            "{}.{subdomain}.{}.svc.{CLUSTER_DOMAIN}",
            self.hostname, self.namespace
        ))
    }

    /// The CRI id of container `name`.
    pub fn container_id(&self, name: &str) -> Result<String> {
        self.containers
            .iter()
            .find(|(n, id)| n == name && !id.is_empty())
            .map(|(_, id)| id.clone())
            .with_context(|| format!("{}: no created container {name}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_the_kubelet_made_of_the_manifest() {
        let pod = KubeletPod::from_json(&json!({
            "metadata": {"name": "web-node", "namespace": "default", "uid": "u1"},
            "spec": {"hostname": "web", "subdomain": "guests",
                     "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["a.remote", "b.remote"]}]},
            "status": {"podIP": "10.88.0.4", "containerStatuses": [
                {"name": "guest", "containerID": "containerd://abc"},
                {"name": "sidecar"}]}
        }));
        assert_eq!(pod.ip, "10.88.0.4");
        assert_eq!(
            pod.fqdn().as_deref(),
            Some("web.guests.default.svc.cluster.local")
        );
        assert_eq!(
            pod.host_aliases,
            [
                ("10.1.2.3".into(), "a.remote".into()),
                ("10.1.2.3".into(), "b.remote".into())
            ]
        );
        assert_eq!(pod.container_id("guest").unwrap(), "abc");
        assert!(pod.container_id("sidecar").is_err());
    }

    #[test]
    fn a_pod_without_hostname_is_named_after_itself() {
        let long = "x".repeat(62) + "-y";
        let pod = KubeletPod::from_json(&json!({"metadata": {"name": long}}));
        assert_eq!(pod.hostname, "x".repeat(62));
        assert_eq!(pod.fqdn(), None);
    }
}
