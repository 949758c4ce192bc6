//! The example pod manifests in `deploy/examples` that the README shows
//! and the demo runs as they are: a Linux guest pod and a Unikraft pod,
//! each with a busybox sidecar. The checks read what the kubelet made of
//! them ([`KubeletPod`]); the few things they must find by name are here,
//! and a unit test keeps them equal to the files.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::kubelet::Kubelet;
use crate::kubelet_pod::KubeletPod;
use crate::pod_files_in_guest::GuestKind;
use crate::{guest, images, nettest, repo};

/// The guest container's name in every example.
pub const GUEST: &str = "guest";
/// The sidecar's name in every example.
pub const SIDECAR: &str = "sidecar";

/// One example manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// Its file in `deploy/examples`.
    pub file: &'static str,
    /// Its `metadata.name`.
    pub pod: &'static str,
    /// Its guest's kind.
    pub kind: GuestKind,
    /// Its guest's image.
    pub image: &'static str,
    /// The line its guest prints on its console once it serves.
    pub console_line: &'static str,
    /// A phrase of the page its guest serves as `/`.
    pub page_phrase: &'static str,
}

/// The Linux microVM guest pod.
pub const LINUX: Example = Example {
    file: "linux-guest-pod.yaml",
    pod: "linux-guest",
    kind: GuestKind::Linux,
    image: images::LINUX_GUEST,
    console_line: guest::READY_MARKER,
    page_phrase: guest::PAGE_TEXT,
};

/// The Unikraft `nettest` pod.
pub const UNIKRAFT: Example = Example {
    file: "unikraft-pod.yaml",
    pod: "unikraft-guest",
    kind: GuestKind::Unikraft,
    image: images::UNIKRAFT_NETTEST,
    console_line: nettest::READY_LINE,
    page_phrase: "hostname=",
};

/// The folder of the examples.
pub fn dir() -> PathBuf {
    repo::root().join("deploy/examples")
}

impl Example {
    /// The example's file.
    pub fn path(&self) -> PathBuf {
        dir().join(self.file)
    }

    /// Puts the file as it is into `kubelet`'s manifest folder; returns
    /// where it is now.
    pub fn put(&self, kubelet: &Kubelet) -> Result<PathBuf> {
        kubelet.put_file(&self.path())
    }

    /// Waits until the kubelet reports the pod Ready with no container
    /// restarted (its manifest put at `since`); returns the pod and the
    /// time from `since`.
    pub fn wait_ready(
        &self,
        kubelet: &Kubelet,
        since: Instant,
        limit: Duration,
    ) -> Result<(KubeletPod, Duration)> {
        kubelet.wait_for_named(self.pod, "to be Ready", limit, |status| {
            if let Some(c) = status.containers.iter().find(|c| c.restart_count > 0) {
                bail!("container {} was restarted", c.name);
            }
            Ok(status.ready)
        })?;
        let took = since.elapsed();
        Ok((
            KubeletPod::read(kubelet.api(), &kubelet.full_name(self.pod))?,
            took,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Fails unless the file `path` holds what the checks of `example` look for.
    fn holds(path: &Path, example: &Example) -> Result<()> {
        let text = std::fs::read_to_string(path)?;
        let page = crate::cluster_pod::SIDECAR_PAGE.trim_end();
        let wanted = [
            format!("\n  name: {}\n", example.pod),
            format!("image: {}\n", example.image),
            format!("- name: {GUEST}\n"),
            format!("- name: {SIDECAR}\n"),
            format!("echo '{page}'"),
            format!(
                "httpd -f -p 127.0.0.1:{} ",
                crate::cluster_pod::SIDECAR_PORT
            ),
            format!("ukrun.dev/localhost-ports: \"{}\"\n", guest::HTTP_PORT),
            "dnsPolicy: ClusterFirst\n".to_string(),
            "hostAliases:\n".to_string(),
        ];
        for want in wanted {
            if !text.contains(&want) {
                bail!("{} lacks {want:?}", path.display());
            }
        }
        Ok(())
    }

    #[test]
    fn the_files_hold_what_the_checks_look_for() {
        for example in [LINUX, UNIKRAFT] {
            holds(&example.path(), &example).unwrap();
        }
    }
}
