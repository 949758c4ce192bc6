//! Real CNI plugins (`/usr/lib/cni`, containernetworking-plugins) run the
//! way a container runtime runs them: ADD when attached, DEL when dropped,
//! executed inside the node netns so the host side of the pod network (the
//! bridge, the host veth, its routes and sysctls) lives there. IPAM is
//! host-local with a private data directory, giving the pod [`POD_IP`]
//! behind the gateway [`NODE_IP`].

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::netns::{checked_stdout, Netns};
use crate::topology::{NODE_IP, POD_IP};

/// Where Debian's containernetworking-plugins package puts the plugins.
pub const CNI_PATH: &str = "/usr/lib/cni";

/// The plugin configuration of the `ptp` plugin: a veth pair, the pod IP on
/// the pod side, the gateway as a /32 on the host side.
pub fn ptp(name: &str) -> Value {
    json!({"type": "ptp", "name": name, "ipMasq": false})
}

/// The plugin configuration of the `bridge` plugin: the pod's veth on
/// bridge `bridge` in the node netns, which holds the gateway; `mtu` on
/// both veth ends.
pub fn bridge(name: &str, bridge: &str, mtu: u32) -> Value {
    json!({
        "type": "bridge", "name": name, "bridge": bridge, "isGateway": true,
        "ipMasq": false, "mtu": mtu
    })
}

/// A pod netns attached by a CNI plugin; DEL runs when it drops.
pub struct Attachment {
    node: Netns,
    pod: Netns,
    container_id: String,
    config: String,
    plugin: String,
    data_dir: PathBuf,
}

impl Attachment {
    /// Runs ADD of `plugin` (from [`ptp`] or [`bridge`]) for `pod`, with
    /// host-local IPAM in a data directory of its own.
    pub fn add(node: &Netns, pod: &Netns, container_id: &str, plugin: Value) -> Result<Self> {
        let data_dir =
            std::env::temp_dir().join(format!("ukrun-cni-{container_id}-{}", std::process::id()));
        let mut config = plugin;
        config["cniVersion"] = "1.0.0".into();
        config["ipam"] = json!({
            "type": "host-local",
            "ranges": [[{"subnet": "10.77.0.0/24", "rangeStart": POD_IP, "rangeEnd": POD_IP, "gateway": NODE_IP}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": data_dir,
        });
        let attachment = Attachment {
            node: node.clone(),
            pod: pod.clone(),
            container_id: container_id.to_owned(),
            plugin: config["type"].as_str().unwrap_or_default().to_owned(),
            config: config.to_string(),
            data_dir,
        };
        attachment.invoke("ADD")?;
        Ok(attachment)
    }

    /// Runs the plugin with `CNI_COMMAND=command` and returns its stdout.
    fn invoke(&self, command: &str) -> Result<String> {
        let mut child = self
            .node
            .command(&format!("{CNI_PATH}/{}", self.plugin))
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &self.container_id)
            .env("CNI_NETNS", self.pod.path())
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", CNI_PATH)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running CNI plugin {}", self.plugin))?;
        child
            .stdin
            .take()
            .context("plugin stdin")?
            .write_all(self.config.as_bytes())?;
        let output = child.wait_with_output()?;
        // Plugins report errors as JSON on stdout.
        let what = format!(
            "CNI {command} {} ({})",
            self.plugin,
            String::from_utf8_lossy(&output.stdout).trim()
        );
        checked_stdout(&what, output)
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if let Err(e) = self.invoke("DEL") {
            eprintln!("cni: {e:#}");
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
