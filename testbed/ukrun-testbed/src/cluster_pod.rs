//! A guest pod as a cluster runs it, for the two things ukrun exists for:
//! the pod's DNS (kubelet's ClusterFirst config, a cluster DNS in the node
//! netns, kubelet's hosts file with a hostAlias) reaching the guest, and
//! localhost both ways between the guest and a sidecar. The guest reports
//! what it saw through its boot probes (see [`crate::probes`]), the sidecar
//! through ExecSync. Shared by `tests/cri_network.rs`, `tests/cri_unikraft.rs`
//! and the demo, so they check the same things the same way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::cri::{ContainerSpec, DnsConfig, ExecOutput};
use crate::dns_server::DnsServer;
use crate::guest::{self, PAGE_TEXT};
use crate::guest_pod::GuestPod;
use crate::node::Node;
use crate::pod::{Pod, UKRUN_HANDLER};
use crate::probes::{self, HttpProbe};
use crate::{cri_log, images, wait};

/// The cluster DNS: the node's own address in the node netns (the CNI
/// bridge's gateway, or the Calico-style node's uplink stand-in).
pub const CLUSTER_DNS: &str = "10.88.0.1";
pub use crate::dns_server::{CLUSTER_ZONE, KUBERNETES};
/// A hostAlias of the pods (kubelet writes it into the pod's hosts file),
/// to show the pod's hosts file reaches the guest.
pub const HOST_ALIAS: (&str, &str) = ("foo.remote", "10.1.2.3");
/// The pod-loopback address (ukrun's default), the guest's way to the pod's
/// 127.0.0.1.
pub const POD_LOOPBACK: &str = "169.254.1.1";

/// The pod DNS kubelet sends for dnsPolicy ClusterFirst in namespace
/// `default`: what a guest must honour to resolve service names.
pub fn cluster_first() -> DnsConfig {
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
/// (which exists once the first pod has its network). The server stops
/// when the returned [`DnsServer`] drops.
pub fn dns_pod<'n>(
    node: &'n Node,
    name: &str,
    annotations: &[(&str, &str)],
) -> Result<(Pod<'n>, DnsServer)> {
    let pod = Pod::run_with(node, name, UKRUN_HANDLER, |spec| {
        spec.dns = Some(cluster_first());
        spec.annotations = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    })
    .context("RunPodSandbox (ukrun)")?;
    let dns = DnsServer::cluster(&node.netns(), CLUSTER_DNS)
        .context("cluster DNS on the bridge gateway")?;
    Ok((pod, dns))
}

/// Writes the hosts file kubelet manages for `pod` (its own name and IP,
/// one hostAlias) beside its logs; returns its path and its text. Mount it
/// at /etc/hosts as kubelet does (see [`probing_guest`]).
pub fn kubelet_hosts(node: &Node, pod: &Pod) -> Result<(PathBuf, String)> {
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

/// The annotation carrying the guest's kernel command line (the probes).
const CMDLINE: &str = "com.urunc.unikernel.cmdline";

/// The guest container with `probes` on its kernel command line and, if
/// given, the pod's hosts file mounted at /etc/hosts, as kubelet mounts it.
pub fn probing_guest(probes: &[String], hosts: Option<&Path>) -> ContainerSpec {
    let guest = guest::container().annotation(CMDLINE, &format!("quiet {}", probes.join(" ")));
    match hosts {
        Some(hosts) => guest.mount(hosts, "/etc/hosts"),
        None => guest,
    }
}

/// The kernel argument of a guest probe of `kind` (`dns`, `http`, `file`,
/// `ping`) on `target`.
pub fn probe_arg(kind: &str, target: &str) -> String {
    format!("ukrun.probe.{kind}={target}")
}

/// Waits for the guest's report of probe `kind` on `target` in its CRI log
/// (the guest's console): the only way to see what the guest observed.
pub fn probe_result(pod: &GuestPod, kind: &str, target: &str) -> Result<String> {
    cri_log::wait_for(
        &pod.pod.log_path(&guest::container()),
        &format!("the guest's {kind} probe of {target}"),
        |console| probes::result(console, kind, target).map(str::to_owned),
    )
}

/// Checks that the guest resolved each of `names` to its address; returns
/// what it reported, one `name → addresses` a name.
pub fn check_resolved(pod: &GuestPod, names: &[(&str, &str)]) -> Result<String> {
    let mut seen = Vec::new();
    for (name, address) in names {
        let got = probe_result(pod, "dns", name)?;
        ensure!(
            got == format!("addresses={address}"),
            "the guest resolved {name} to {got:?}, not {address}"
        );
        seen.push(format!("{name} → {}", got.trim_start_matches("addresses=")));
    }
    Ok(seen.join(", "))
}

/// The port of the sidecar's loopback-only server, which the guest reaches
/// at the pod-loopback address.
pub const SIDECAR_PORT: u16 = 9000;
/// The page of the sidecar's loopback-only server, to recognise it in the
/// guest's probe result.
pub const SIDECAR_PAGE: &str = "from the sidecar on 127.0.0.1 of the pod\n";
/// CRI-side timeout of the ExecSync calls in the sidecar (50 parallel
/// fetches under TCG).
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// ExecSync `sh -c script` in the sidecar `id`; fails unless it exits 0.
pub fn sh(node: &Node, id: &str, script: &str) -> Result<ExecOutput> {
    let out = node
        .cri()
        .exec_sync(id, &["sh", "-c", script], EXEC_TIMEOUT)?;
    ensure!(out.exit_code == 0, "`{script}` in the sidecar: {out:?}");
    Ok(out)
}

/// A busybox sidecar whose HTTP server listens on the pod's 127.0.0.1
/// only: what the guest can reach only through ukrun's pod-loopback path.
pub fn loopback_sidecar() -> ContainerSpec {
    let script = format!(
        "mkdir -p /tmp/www && printf '{}' >/tmp/www/index.html && \
         exec httpd -f -p 127.0.0.1:{SIDECAR_PORT} -h /tmp/www",
        SIDECAR_PAGE.replace('\n', "\\n")
    );
    ContainerSpec::new("sidecar", images::BUSYBOX).command(&["sh", "-c", &script])
}

/// Where the guest finds the sidecar's loopback-only server.
pub fn sidecar_url_from_guest() -> String {
    format!("http://{POD_LOOPBACK}:{SIDECAR_PORT}/")
}

/// Where the sidecar finds the guest's HTTP port on the pod's 127.0.0.1
/// (the port must be in `ukrun.dev/localhost-ports`).
pub fn guest_url_on_localhost() -> String {
    format!("http://127.0.0.1:{}", guest::HTTP_PORT)
}

/// Starts [`loopback_sidecar`], waits until it serves, then starts `guest`
/// in `pod`: the guest's probes run once at boot, so the sidecar's server
/// must be up first.
pub fn start_with_loopback_sidecar<'n>(
    node: &'n Node,
    pod: Pod<'n>,
    guest: &ContainerSpec,
) -> Result<GuestPod<'n>> {
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
    GuestPod::start_sidecar_first(node, pod, &loopback_sidecar(), sidecar_serves, guest)
}

/// Sidecar → guest on localhost: ExecSync `wget` of the guest's page at
/// the pod's 127.0.0.1 in the sidecar; returns the page.
pub fn sidecar_fetches_guest(node: &Node, pod: &GuestPod) -> Result<String> {
    let page = sh(
        node,
        &pod.sidecar,
        &format!("wget -qO- {}/", guest_url_on_localhost()),
    )?;
    ensure!(
        page.stdout.contains(PAGE_TEXT),
        "127.0.0.1 from the sidecar: {page:?}"
    );
    Ok(page.stdout)
}

/// Guest → pod's 127.0.0.1: the guest's HTTP probe of
/// [`sidecar_url_from_guest`] must have fetched the sidecar's page (the
/// guest needs `ukrun.probe.http` of that URL on its command line);
/// returns the size of what it fetched.
pub fn guest_fetched_sidecar(pod: &GuestPod) -> Result<usize> {
    let url = sidecar_url_from_guest();
    let reached = cri_log::wait_for(
        &pod.pod.log_path(&guest::container()),
        "the guest's HTTP probe",
        |console| probes::http_result(console, &url),
    )?;
    let expected = HttpProbe::Fetched {
        sha256: probes::sha256_hex(SIDECAR_PAGE.as_bytes()),
        bytes: SIDECAR_PAGE.len(),
    };
    ensure!(
        reached == expected,
        "the guest did not get the sidecar's loopback-only page at {url}: {reached:?}"
    );
    Ok(SIDECAR_PAGE.len())
}
