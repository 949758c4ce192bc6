//! `STATE_DIR/node.env`, the file `testbed/node.sh up` writes to say where
//! the node it started lives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::containerd_version::Containerd;
use crate::pod_network::PodNetwork;

/// The node's coordinates as written by `node.sh up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEnv {
    /// Name of the node network namespace (for `ip -n`).
    pub netns: String,
    /// Path of the node network namespace (for `nsenter --net` / `setns`).
    pub netns_path: PathBuf,
    /// containerd's CRI unix socket.
    pub containerd_socket: PathBuf,
    /// containerd's process id (the one process of the node allowed to
    /// stay in the node netns after every pod is gone).
    pub containerd_pid: u32,
    /// The containerd binary the node runs (its folder also holds its
    /// `ctr` and runc shim).
    pub containerd_bin: PathBuf,
    /// The shape the node's CNI gives pods.
    pub pod_network: PodNetwork,
    /// The containerd `node.sh up` was asked to run.
    pub containerd: Containerd,
    /// The version the running containerd reported (`ctr version`'s
    /// server version, e.g. `v2.3.4`).
    pub containerd_server_version: String,
    /// containerd's default runtime handler (`runc` or `ukrun`): what a pod
    /// without a runtime handler runs on.
    pub default_runtime: String,
}

impl NodeEnv {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<NodeEnv> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        NodeEnv::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses the lines `node.sh up` writes (see [`vars`]).
    pub fn parse(text: &str) -> Result<NodeEnv> {
        let vars = vars(text);
        let get = |key: &str| {
            vars.get(key)
                .copied()
                .with_context(|| format!("{key} is missing"))
        };
        Ok(NodeEnv {
            netns: get("NODE_NETNS")?.to_string(),
            netns_path: get("NODE_NETNS_PATH")?.into(),
            containerd_socket: get("CONTAINERD_SOCKET")?.into(),
            containerd_pid: get("CONTAINERD_PID")?
                .parse()
                .context("CONTAINERD_PID is not a number")?,
            containerd_bin: get("CONTAINERD_BIN")?.into(),
            pod_network: get("POD_NETWORK")?.parse()?,
            containerd: get("CONTAINERD_VERSION")?.parse()?,
            containerd_server_version: get("CONTAINERD_SERVER_VERSION")?.to_string(),
            default_runtime: get("DEFAULT_RUNTIME")?.to_string(),
        })
    }
}

/// The variables of shell-style `KEY=value` lines (optional `export`,
/// optional single or double quotes, `#` comments), as the test bed's
/// scripts write their `*.env` files.
pub fn vars(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("export ").unwrap_or(line).split_once('='))
        .map(|(key, value)| (key.trim(), unquote(value.trim())))
        .collect()
}

/// `value` without one pair of surrounding quotes.
fn unquote(value: &str) -> &str {
    ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_and_exported_lines() {
        let env = NodeEnv::parse(
            "# node\nexport NODE_NETNS=n1a\nNODE_NETNS_PATH='/run/netns/n1a'\n\
             CONTAINERD_SOCKET=\"/tmp/n1a/c.sock\"\nCONTAINERD_PID=42\nPOD_NETWORK=calico\n\
             CONTAINERD_BIN=/usr/bin/containerd\n\
             CONTAINERD_VERSION=2.3\nCONTAINERD_SERVER_VERSION=v2.3.4\nDEFAULT_RUNTIME=ukrun\n",
        )
        .unwrap();
        assert_eq!(env.netns, "n1a");
        assert_eq!(env.netns_path, PathBuf::from("/run/netns/n1a"));
        assert_eq!(env.containerd_socket, PathBuf::from("/tmp/n1a/c.sock"));
        assert_eq!(env.containerd_pid, 42);
        assert_eq!(env.containerd_bin, PathBuf::from("/usr/bin/containerd"));
        assert_eq!(env.pod_network, PodNetwork::Calico);
        assert_eq!(env.containerd, Containerd::V2_3);
        assert_eq!(env.containerd_server_version, "v2.3.4");
        assert_eq!(env.default_runtime, "ukrun");
    }

    #[test]
    fn names_the_missing_key() {
        let err = NodeEnv::parse("NODE_NETNS=x\n").unwrap_err();
        assert!(format!("{err:#}").contains("NODE_NETNS_PATH"));
    }
}
