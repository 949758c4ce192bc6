//! OCI bundles for driving ukrun directly (no containerd): a Linux guest
//! bundle whose rootfs holds the test bed's kernel and initrd, with urunc's
//! annotations, joined to a given pod netns.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// A bundle directory that is removed when dropped.
pub struct Bundle {
    /// Bundle directory.
    pub dir: PathBuf,
}

impl Bundle {
    /// A Linux guest bundle in `dir`, joined to `netns_path`, using the
    /// guest built in `guest_dir` (vmlinux, initrd.img; hard-linked).
    pub fn linux_guest(dir: &Path, guest_dir: &Path, netns_path: &Path) -> Result<Self> {
        let boot = dir.join("rootfs/boot");
        std::fs::create_dir_all(&boot).with_context(|| format!("creating {}", boot.display()))?;
        for file in ["vmlinux", "initrd.img"] {
            let (from, to) = (guest_dir.join(file), boot.join(file));
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
            }
        }
        let bundle = Bundle {
            dir: dir.to_path_buf(),
        };
        bundle.write_config(&Self::linux_guest_config(netns_path))?;
        Ok(bundle)
    }

    /// The config.json of a Linux guest joined to `netns_path`.
    pub fn linux_guest_config(netns_path: &Path) -> Value {
        json!({
            "ociVersion": "1.0.2",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["/boot/vmlinux"], "cwd": "/", "terminal": false},
            "root": {"path": "rootfs"},
            "hostname": "guest-pod",
            "annotations": {
                "com.urunc.unikernel.unikernelType": "linux",
                "com.urunc.unikernel.hypervisor": "qemu",
                "com.urunc.unikernel.binary": "/boot/vmlinux",
                "com.urunc.unikernel.initrd": "/boot/initrd.img",
                "com.urunc.unikernel.cmdline": "quiet"
            },
            "linux": {"namespaces": [{"type": "network", "path": netns_path}, {"type": "uts"}, {"type": "ipc"}]}
        })
    }

    /// The current config.json.
    pub fn config(&self) -> Result<Value> {
        let text = std::fs::read_to_string(self.dir.join("config.json"))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// Replaces config.json.
    pub fn write_config(&self, config: &Value) -> Result<()> {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(config)?,
        )
        .with_context(|| format!("writing config.json in {}", self.dir.display()))
    }

    /// Edits config.json in place.
    pub fn edit(&self, change: impl FnOnce(&mut Value)) -> Result<()> {
        let mut config = self.config()?;
        change(&mut config);
        self.write_config(&config)
    }

    /// Writes each `(destination, contents)` pod file (e.g. kubelet's
    /// `/etc/resolv.conf`) beside config.json and makes the spec's mounts
    /// exactly those bind mounts, read-only, as containerd mounts them.
    pub fn mount_pod_files(&self, files: &[(&str, &str)]) -> Result<()> {
        let mut mounts = Vec::new();
        for (destination, contents) in files {
            let source = self.dir.join(destination.trim_start_matches("/etc/"));
            std::fs::write(&source, contents)
                .with_context(|| format!("writing {}", source.display()))?;
            mounts.push(json!({"destination": destination, "type": "bind", "source": source, "options": ["rbind", "ro"]}));
        }
        self.edit(|c| c["mounts"] = json!(mounts))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
