//! End-to-end through containerd's CRI (runtime handler `ukrun`, routed
//! network mode, the default): the pod's DNS reaches the Linux guest, and
//! localhost works both ways between the guest and a sidecar. Each test
//! runs on a throw-away node (see the `ukrun-testbed` crate) and ends by
//! removing its pod and checking that nothing is left behind. They need
//! root, qemu and containerd, and fail (never skip) when something is
//! missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::cri::{ContainerSpec, DnsConfig, ExecOutput};
use ukrun_testbed::dns_server::DnsServer;
use ukrun_testbed::guest::{self, PAGE_TEXT};
use ukrun_testbed::guest_pod::GuestPod;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};
use ukrun_testbed::probes::{self, HttpProbe};
use ukrun_testbed::{cri_log, images, wait};

/// The cluster DNS: the CNI bridge's gateway, in the node netns.
const CLUSTER_DNS: &str = "10.88.0.1";
/// The zone the cluster DNS is authoritative for.
const CLUSTER_ZONE: &str = "cluster.local";
/// The `kubernetes` service's name and ClusterIP.
const KUBERNETES: (&str, &str) = ("kubernetes.default.svc.cluster.local", "10.96.0.1");
/// A hostAlias of the pods (kubelet writes it into the pod's hosts file).
const HOST_ALIAS: (&str, &str) = ("foo.remote", "10.1.2.3");
/// The annotation carrying the guest's kernel command line (the probes).
const CMDLINE: &str = "com.urunc.unikernel.cmdline";
/// The loopback-only sidecar server the guest reaches at the pod-loopback
/// address.
const SIDECAR_PORT: u16 = 9000;
const SIDECAR_PAGE: &str = "from the sidecar on 127.0.0.1 of the pod\n";
/// The pod-loopback address (ukrun's default), the guest's way to the pod's
/// 127.0.0.1.
const POD_LOOPBACK: &str = "169.254.1.1";
/// CRI-side timeout of the ExecSync calls (50 parallel fetches under TCG).
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `scenario` on a fresh node whose `ukrun` handler is this crate's binary.
fn on_node(scenario: impl FnOnce(&Node) -> Result<()>) -> Result<()> {
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), scenario)
}

/// The pod DNS kubelet sends for dnsPolicy ClusterFirst in namespace
/// `default`.
fn cluster_first() -> DnsConfig {
    DnsConfig {
        servers: vec![CLUSTER_DNS.to_string()],
        searches: [
            "default.svc.cluster.local",
            "svc.cluster.local",
            CLUSTER_ZONE,
        ]
        .map(str::to_owned)
        .to_vec(),
        options: vec!["ndots:5".to_string()],
    }
}

/// RunPodSandbox through ukrun with ClusterFirst DNS and the pod
/// annotations `annotations`, then the cluster DNS on the bridge gateway
/// (which exists once the first pod has its network).
fn dns_pod<'n>(
    node: &'n Node,
    name: &str,
    annotations: &[(&str, &str)],
) -> Result<(Pod<'n>, DnsServer)> {
    let pod = Pod::run_with(node, name, UKRUN_HANDLER, |spec| {
        spec.dns = Some(cluster_first());
        spec.annotations = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>();
    })
    .context("RunPodSandbox (ukrun)")?;
    let dns = DnsServer::start(&node.netns(), CLUSTER_DNS, CLUSTER_ZONE, &[KUBERNETES])
        .context("cluster DNS on the bridge gateway")?;
    Ok((pod, dns))
}

/// Writes the hosts file kubelet manages for `pod` (its own name and IP,
/// one hostAlias) beside its logs and returns its path.
fn kubelet_hosts(node: &Node, pod: &Pod) -> Result<(PathBuf, String)> {
    let name = &pod.spec.name;
    let text = format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n\
         {}\t{name}\n\n# Entries added by HostAliases.\n{}\t{}\n",
        pod.ip()?,
        HOST_ALIAS.1,
        HOST_ALIAS.0
    );
    let path = node.pod_log_dir(name)?.join("etc-hosts");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok((path, text))
}

/// The guest container with `probes` on its kernel command line and the
/// pod's hosts file mounted at /etc/hosts, as kubelet mounts it.
fn probing_guest(probes: &[String], hosts: &Path) -> ContainerSpec {
    guest::container()
        .annotation(CMDLINE, &format!("quiet {}", probes.join(" ")))
        .mount(hosts, "/etc/hosts")
}

/// The kernel argument of a guest probe.
fn probe_arg(kind: &str, target: &str) -> String {
    format!("ukrun.probe.{kind}={target}")
}

/// Waits for the guest's report of probe `kind` on `target` in its CRI log.
fn probe_result(pod: &GuestPod, kind: &str, target: &str) -> Result<String> {
    cri_log::wait_for(
        &pod.pod.log_path(&guest::container()),
        &format!("the guest's {kind} probe of {target}"),
        |console| probes::result(console, kind, target).map(str::to_owned),
    )
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

/// Checks that the guest resolved each of `names` to its address.
fn check_resolved(pod: &GuestPod, names: &[(&str, &str)]) -> Result<()> {
    for (name, address) in names {
        let got = probe_result(pod, "dns", name)?;
        ensure!(
            got == format!("addresses={address}"),
            "the guest resolved {name} to {got:?}, not {address}"
        );
    }
    Ok(())
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
        let guest = probing_guest(&probes, &hosts);
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
        let guest = probing_guest(&probes, &hosts);
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

/// ExecSync `sh -c script` in container `id`; fails unless it exits 0.
fn sh(node: &Node, id: &str, script: &str) -> Result<ExecOutput> {
    let out = node
        .cri()
        .exec_sync(id, &["sh", "-c", script], EXEC_TIMEOUT)?;
    ensure!(out.exit_code == 0, "`{script}` in the sidecar: {out:?}");
    Ok(out)
}

/// A busybox sidecar whose HTTP server listens on the pod's 127.0.0.1 only.
fn loopback_sidecar() -> ContainerSpec {
    let script = format!(
        "mkdir -p /tmp/www && printf '{}' >/tmp/www/index.html && \
         exec httpd -f -p 127.0.0.1:{SIDECAR_PORT} -h /tmp/www",
        SIDECAR_PAGE.replace('\n', "\\n")
    );
    ContainerSpec::new("sidecar", images::BUSYBOX).command(&["sh", "-c", &script])
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
        let from_guest = format!("http://{POD_LOOPBACK}:{SIDECAR_PORT}/");
        let guest = guest::container()
            .annotation("ukrun.dev/localhost-ports", "8080")
            .annotation(
                CMDLINE,
                &format!("quiet {}", probe_arg("http", &from_guest)),
            );
        let sidecar_serves = |id: &str| {
            wait::poll(
                "the sidecar's loopback server",
                Duration::from_secs(30),
                Duration::from_millis(250),
                || {
                    let page = sh(
                        node,
                        id,
                        &format!("wget -qO- http://127.0.0.1:{SIDECAR_PORT}/"),
                    )?;
                    Ok((page.stdout == SIDECAR_PAGE).then_some(()))
                },
            )
        };
        let pod =
            GuestPod::start_sidecar_first(node, pod, &loopback_sidecar(), sidecar_serves, &guest)?;
        pod.wait_ready()?;
        let local = format!("http://127.0.0.1:{}", guest::HTTP_PORT);

        let page = sh(node, &pod.sidecar, &format!("wget -qO- {local}/"))?;
        ensure!(
            page.stdout.contains(PAGE_TEXT),
            "127.0.0.1 from the sidecar: {page:?}"
        );

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

        let reached = cri_log::wait_for(&log, "the guest's HTTP probe", |console| {
            probes::http_result(console, &from_guest)
        })?;
        let expected = HttpProbe::Fetched {
            sha256: probes::sha256_hex(SIDECAR_PAGE.as_bytes()),
            bytes: SIDECAR_PAGE.len(),
        };
        ensure!(
            reached == expected,
            "the guest did not get the sidecar's loopback-only page at {from_guest}: {reached:?}"
        );

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
