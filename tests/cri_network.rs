//! End-to-end through containerd's CRI (runtime handler `ukrun`, routed
//! network mode, the default): the pod's DNS reaches the Linux guest, and
//! localhost works both ways between the guest and a sidecar. Each test
//! runs on a throw-away node (see the `ukrun-testbed` crate) and ends by
//! removing its pod and checking that nothing is left behind. They need
//! root, qemu and containerd, and fail (never skip) when something is
//! missing.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::cluster_pod::{
    check_resolved, dns_pod, guest_fetched_sidecar, guest_url_on_localhost, kubelet_hosts,
    probe_arg, probe_result, probing_guest, sh, sidecar_fetches_guest, sidecar_url_from_guest,
    start_with_loopback_sidecar, CLUSTER_DNS, HOST_ALIAS, KUBERNETES, POD_LOOPBACK,
};
use ukrun_testbed::guest::{self, PAGE_TEXT};
use ukrun_testbed::guest_pod::GuestPod;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};
use ukrun_testbed::{cri_log, probes};

/// Runs `scenario` on a fresh node whose `ukrun` handler is this crate's binary.
fn on_node(scenario: impl FnOnce(&Node) -> Result<()>) -> Result<()> {
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), scenario)
}

/// What ukrun wrote to its `--log` for container `id` (the task's
/// log.json, kept while the container exists).
fn runtime_log(node: &Node, id: &str) -> Result<String> {
    let path = node
        .state_dir()
        .join("state/io.containerd.runtime.v2.task/k8s.io")
        .join(id)
        .join("log.json");
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// The pod's DNS reaches the guest as files (the default for a Linux
/// initrd): /etc/resolv.conf is the one containerd generated for the pod,
/// byte for byte, /etc/hosts is kubelet's, and the guest's own resolver
/// applies the search list (busybox: to dot-less names only).
#[test]
fn pod_dns_reaches_the_guest_as_files() -> Result<()> {
    on_node(|node| {
        let (pod, _dns) = dns_pod(node, "dns-files", &[])?;
        let (hosts, hosts_text) = kubelet_hosts(node, &pod)?;
        let probes = [
            probe_arg("file", "/etc/resolv.conf"),
            probe_arg("file", "/etc/hosts"),
            probe_arg("dns", KUBERNETES.0),
            probe_arg("dns", "kubernetes"),
        ];
        let guest = probing_guest(&probes, Some(&hosts));
        let pod = GuestPod::start_in(node, pod, &guest, &guest::sidecar())?;
        let resolv_path = node
            .cri()
            .container_mount_source(&pod.guest, "/etc/resolv.conf")?;
        let resolv = std::fs::read(&resolv_path)
            .with_context(|| format!("reading {}", resolv_path.display()))?;
        ensure!(
            String::from_utf8_lossy(&resolv).contains(&format!("nameserver {CLUSTER_DNS}\n")),
            "containerd's resolv.conf for the pod ({}) lacks the DnsConfig: {:?}",
            resolv_path.display(),
            String::from_utf8_lossy(&resolv)
        );
        for (path, bytes) in [
            ("/etc/resolv.conf", resolv.as_slice()),
            ("/etc/hosts", hosts_text.as_bytes()),
        ] {
            let got = probe_result(&pod, "file", path)?;
            ensure!(
                got == format!("sha256={}", probes::sha256_hex(bytes)),
                "the guest's {path} is not the pod's byte for byte: {got} (the pod's: {:?})",
                String::from_utf8_lossy(bytes)
            );
        }
        check_resolved(&pod, &[KUBERNETES, ("kubernetes", KUBERNETES.1)])?;
        let log = runtime_log(node, &pod.guest)?;
        ensure!(
            log.contains("appended to the initrd"),
            "ukrun's log does not say the files were delivered: {log}"
        );
        pod.remove_and_check()
    })
}

/// With `ukrun.dev/dns-delivery: relay` on the pod, the guest asks ukrun's
/// relay at the pod-loopback address, which applies the pod's search list
/// and answers from the pod's hosts file (hostAliases, the pod's own name).
#[test]
fn pod_dns_reaches_the_guest_through_the_relay() -> Result<()> {
    on_node(|node| {
        let (pod, _dns) = dns_pod(node, "dns-relay", &[("ukrun.dev/dns-delivery", "relay")])?;
        let (hosts, _) = kubelet_hosts(node, &pod)?;
        let pod_name = pod.spec.name.clone();
        let pod_ip = pod.ip()?;
        let names = [
            ("kubernetes.default", KUBERNETES.1),
            HOST_ALIAS,
            (pod_name.as_str(), pod_ip.as_str()),
        ];
        let probes: Vec<String> = names
            .iter()
            .map(|(name, _)| probe_arg("dns", name))
            .collect();
        let guest = probing_guest(&probes, Some(&hosts));
        let pod = GuestPod::start_in(node, pod, &guest, &guest::sidecar())?;
        check_resolved(&pod, &names)?;
        let log = runtime_log(node, &pod.guest)?;
        ensure!(
            log.contains(&format!("DNS: relay on {POD_LOOPBACK}:53")),
            "ukrun's log does not say the relay serves the guest: {log}"
        );
        pod.remove_and_check()
    })
}

/// Localhost both ways: the sidecar reaches the guest's declared port on
/// 127.0.0.1 (the page, the 4 MiB blob intact, 50 connections at once),
/// the guest reaches the sidecar's loopback-only server at the
/// pod-loopback address, and CRI PortForward (which dials localhost in the
/// pod netns) reaches the guest.
#[test]
fn localhost_both_ways_between_the_guest_and_a_sidecar() -> Result<()> {
    on_node(|node| {
        let pod = Pod::run(node, "localhost", UKRUN_HANDLER).context("RunPodSandbox (ukrun)")?;
        let guest = probing_guest(&[probe_arg("http", &sidecar_url_from_guest())], None)
            .annotation("ukrun.dev/localhost-ports", "8080");
        let pod = start_with_loopback_sidecar(node, pod, &guest)?;
        pod.wait_ready()?;
        sidecar_fetches_guest(node, &pod)?;
        let local = guest_url_on_localhost();

        let log = pod.pod.log_path(&guest::container());
        let blob = cri_log::wait_for(&log, "the guest's blob checksum", probes::blob_sha256)?;
        let fetched = sh(
            node,
            &pod.sidecar,
            &format!("wget -qO- {local}{} | sha256sum", probes::BLOB_PATH),
        )?;
        ensure!(
            fetched.stdout.split_whitespace().next() == Some(blob.as_str()),
            "the 4 MiB blob through 127.0.0.1 is not intact: {} (the guest's: {blob})",
            fetched.stdout
        );

        let parallel = sh(
            node,
            &pod.sidecar,
            &format!(
                "mkdir -p /tmp/par && rm -f /tmp/par/* && \
                 for i in $(seq 50); do \
                 (wget -qO- {local}/ | grep -q '{PAGE_TEXT}'; echo $? >/tmp/par/$i) & \
                 done; wait; cat /tmp/par/*"
            ),
        )?;
        let ok = parallel.stdout.lines().filter(|l| l.trim() == "0").count();
        ensure!(
            ok == 50,
            "{ok} of 50 parallel connections through 127.0.0.1 completed: {parallel:?}"
        );

        guest_fetched_sidecar(&pod)?;

        let answer = node.cri().port_forward(
            &node.netns(),
            &pod.pod.id,
            guest::HTTP_PORT,
            b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
        )?;
        let answer = String::from_utf8_lossy(&answer);
        ensure!(
            answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.contains(PAGE_TEXT),
            "CRI PortForward to port {}: {answer:?}",
            guest::HTTP_PORT
        );
        pod.remove_and_check()
    })
}
