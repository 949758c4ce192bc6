//! A client for a test kubelet's HTTPS API (`/pods`, `/containerLogs`,
//! `/stats/summary`), which answers on 127.0.0.1 inside the node netns
//! with a self-signed certificate and anonymous access.
//!
//! It runs `curl -k` through `nsenter`: the workspace has no TLS client
//! crate (hyper is there without one), and adding rustls would bring a
//! crypto backend with a C build for the sake of reading three JSON
//! documents whose certificate is not checked anyway.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::netns::Netns;

/// How long one API call may take.
const CALL_SECONDS: &str = "10";

/// The API of one kubelet.
#[derive(Debug, Clone)]
pub struct KubeletApi {
    netns: Netns,
    base: String,
}

/// A pod as the kubelet reports it (`/pods`: spec and status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodStatus {
    /// The pod's name (a static pod's is `<manifest name>-<node name>`).
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its UID (the kubelet names the pod's cgroup `pod<uid>` after it).
    pub uid: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed` (empty before the first
    /// status).
    pub phase: String,
    /// Whether its `Ready` condition is `True`.
    pub ready: bool,
    /// Its containers' statuses.
    pub containers: Vec<ContainerStatus>,
}

impl PodStatus {
    /// The status of the pod's only container; an error when it has
    /// another number of containers or that one was not created yet.
    pub fn only_container(&self) -> Result<&ContainerStatus> {
        match self.containers.as_slice() {
            [container] if !container.id.is_empty() => Ok(container),
            other => bail!("{}: expected one created container: {other:?}", self.name),
        }
    }
}

/// One entry of a pod's `containerStatuses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// The container's name.
    pub name: String,
    /// Its CRI id (without `containerd://`; empty before it was created).
    pub id: String,
    /// Whether its readiness probe (if any) passed.
    pub ready: bool,
    /// How often the kubelet restarted it.
    pub restart_count: u64,
    /// Its state now.
    pub state: ContainerState,
    /// The exit code of its previous run (`lastState.terminated`), if any.
    pub last_exit_code: Option<i64>,
}

/// A container's state as the kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Not started (yet), with the kubelet's reason.
    Waiting(String),
    /// Running.
    Running,
    /// Ended, with its exit code and the kubelet's reason (`Completed`,
    /// `Error`, ...).
    Terminated {
        /// The exit code.
        exit_code: i64,
        /// The reason.
        reason: String,
    },
    /// No state reported yet.
    Unknown,
}

/// A container's figures from `/stats/summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerStats {
    /// CPU time used since it started (`cpu.usageCoreNanoSeconds`).
    pub cpu_core_nanos: u64,
    /// Memory in use (`memory.workingSetBytes`).
    pub memory_working_set: u64,
}

impl KubeletApi {
    /// The API at `base` (e.g. `https://127.0.0.1:10350`) inside `netns`.
    pub fn new(netns: Netns, base: &str) -> KubeletApi {
        KubeletApi {
            netns,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// GETs `path`; an HTTP error status is an error carrying the body.
    pub fn get(&self, path: &str) -> Result<String> {
        let url = format!("{}{path}", self.base);
        self.netns
            .run(
                "curl",
                &["-sSk", "--fail-with-body", "--max-time", CALL_SECONDS, &url],
            )
            .with_context(|| format!("GET {url}"))
    }

    /// Every pod the kubelet knows, with its status.
    pub fn pods(&self) -> Result<Vec<PodStatus>> {
        Ok(self.pod_objects()?.iter().map(pod_status).collect())
    }

    /// Every pod the kubelet knows as `/pods` lists it (metadata, spec and
    /// status as JSON), for what [`PodStatus`] leaves out.
    pub fn pod_objects(&self) -> Result<Vec<Value>> {
        let mut list: Value = serde_json::from_str(&self.get("/pods")?).context("parsing /pods")?;
        Ok(match list["items"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        })
    }

    /// The pod named `name` (full name), if the kubelet knows it.
    pub fn pod(&self, name: &str) -> Result<Option<PodStatus>> {
        Ok(self.pods()?.into_iter().find(|pod| pod.name == name))
    }

    /// The log of container `container` of pod `namespace/pod`.
    pub fn container_logs(&self, namespace: &str, pod: &str, container: &str) -> Result<String> {
        self.get(&format!("/containerLogs/{namespace}/{pod}/{container}"))
    }

    /// Container `container`'s figures in pod `pod` from `/stats/summary`,
    /// if it lists them.
    pub fn container_stats(&self, pod: &str, container: &str) -> Result<Option<ContainerStats>> {
        let summary: Value =
            serde_json::from_str(&self.get("/stats/summary")?).context("parsing /stats/summary")?;
        Ok(container_stats(&summary, pod, container))
    }
}

/// A [`PodStatus`] from one item of `/pods`.
fn pod_status(pod: &Value) -> PodStatus {
    let status = &pod["status"];
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    PodStatus {
        name: text(&pod["metadata"]["name"]),
        namespace: text(&pod["metadata"]["namespace"]),
        uid: text(&pod["metadata"]["uid"]),
        phase: text(&status["phase"]),
        ready,
        containers: status["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(container_status)
            .collect(),
    }
}

/// A [`ContainerStatus`] from one entry of `containerStatuses`.
fn container_status(status: &Value) -> ContainerStatus {
    let id = text(&status["containerID"]);
    ContainerStatus {
        name: text(&status["name"]),
        id: id.rsplit("://").next().unwrap_or_default().to_string(),
        ready: status["ready"].as_bool().unwrap_or(false),
        restart_count: status["restartCount"].as_u64().unwrap_or(0),
        state: container_state(&status["state"]),
        last_exit_code: status["lastState"]["terminated"]["exitCode"].as_i64(),
    }
}

/// A [`ContainerState`] from a `state` object.
fn container_state(state: &Value) -> ContainerState {
    if let Some(waiting) = state.get("waiting") {
        ContainerState::Waiting(text(&waiting["reason"]))
    } else if state.get("running").is_some() {
        ContainerState::Running
    } else if let Some(ended) = state.get("terminated") {
        ContainerState::Terminated {
            exit_code: ended["exitCode"].as_i64().unwrap_or(-1),
            reason: text(&ended["reason"]),
        }
    } else {
        ContainerState::Unknown
    }
}

/// Container `container` of pod `pod` in a `/stats/summary` document.
fn container_stats(summary: &Value, pod: &str, container: &str) -> Option<ContainerStats> {
    let pod = summary["pods"]
        .as_array()?
        .iter()
        .find(|p| p["podRef"]["name"] == pod)?;
    let stats = pod["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == container)?;
    Some(ContainerStats {
        cpu_core_nanos: stats["cpu"]["usageCoreNanoSeconds"].as_u64().unwrap_or(0),
        memory_working_set: stats["memory"]["workingSetBytes"].as_u64().unwrap_or(0),
    })
}

/// A JSON string's text (empty when it is not a string).
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_restarted_container() {
        let pod = json!({
            "metadata": {"name": "guest-node", "namespace": "default", "uid": "u1"},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{
                    "name": "guest", "containerID": "containerd://abc", "ready": true,
                    "restartCount": 1, "state": {"running": {"startedAt": "x"}},
                    "lastState": {"terminated": {"exitCode": 137, "reason": "Error"}}
                }]
            }
        });
        let status = pod_status(&pod);
        assert!(status.ready);
        assert_eq!(status.phase, "Running");
        assert_eq!(status.uid, "u1");
        let guest = status.only_container().unwrap();
        assert_eq!(guest.id, "abc");
        assert_eq!(guest.restart_count, 1);
        assert_eq!(guest.state, ContainerState::Running);
        assert_eq!(guest.last_exit_code, Some(137));
    }

    #[test]
    fn reads_a_completed_container_and_a_pod_without_status() {
        let state = container_state(&json!({"terminated": {"exitCode": 0, "reason": "Completed"}}));
        assert_eq!(
            state,
            ContainerState::Terminated {
                exit_code: 0,
                reason: "Completed".into()
            }
        );
        let pending = pod_status(&json!({"metadata": {"name": "p", "namespace": "default"}}));
        assert!(!pending.ready && pending.containers.is_empty());
        assert!(pending.only_container().is_err());
    }

    #[test]
    fn finds_container_figures_in_the_summary() {
        let summary = json!({"pods": [{
            "podRef": {"name": "guest-node"},
            "containers": [{"name": "guest",
                "cpu": {"usageCoreNanoSeconds": 3_313_073_509_u64},
                "memory": {"workingSetBytes": 173_686_784_u64}}]
        }]});
        let stats = container_stats(&summary, "guest-node", "guest").unwrap();
        assert_eq!(stats.cpu_core_nanos, 3_313_073_509);
        assert_eq!(stats.memory_working_set, 173_686_784);
        assert!(container_stats(&summary, "guest-node", "other").is_none());
    }
}
