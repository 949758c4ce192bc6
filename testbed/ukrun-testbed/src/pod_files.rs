//! The pod's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` as
//! files the test writes and mounts itself, as kubelet mounts the pod's
//! `/etc/hosts`: containerd then adds none of its own at those paths (in
//! a pod with a user namespace, containerd 2.x ID-maps its own, which
//! needs a runc that can make ID-mapped mounts).

use anyhow::{Context, Result};

use crate::cluster_pod::{kubelet_hosts, CLUSTER_DNS};
use crate::cri::ContainerSpec;
use crate::node::Node;
use crate::pod::Pod;

/// `container` with the pod's three files mounted from files written
/// beside the pod's logs: kubelet's hosts file, the pod's name, and a
/// resolv.conf naming the node's cluster DNS address.
pub fn mounted_by_the_test(
    node: &Node,
    pod: &Pod,
    container: ContainerSpec,
) -> Result<ContainerSpec> {
    let (hosts, _) = kubelet_hosts(node, pod)?;
    let dir = node.pod_log_dir(&pod.spec.name)?;
    let hostname = dir.join("etc-hostname");
    let resolv_conf = dir.join("etc-resolv.conf");
    for (path, text) in [
        (&hostname, format!("{}\n", pod.spec.name)),
        (&resolv_conf, format!("nameserver {CLUSTER_DNS}\n")),
    ] {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(container
        .mount(&hosts, "/etc/hosts")
        .mount(&hostname, "/etc/hostname")
        .mount(&resolv_conf, "/etc/resolv.conf"))
}
