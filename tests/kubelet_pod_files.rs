//! End-to-end: the pod files a real kubelet (v1.36.2, standalone, static
//! pods) writes reach the guest. The kubelet's clusterDNS is the node's
//! address, where the test runs the cluster DNS in the node netns; the
//! pods are the README's examples (`deploy/examples`, `dnsPolicy:
//! ClusterFirst`, `hostAliases`, `hostname` + `subdomain`), run as they
//! are on a node whose default runtime handler is ukrun. From inside each
//! guest, through what it answers: the short service name `kubernetes`
//! resolves through the kubelet's search list, every hostAlias resolves,
//! the guest reports the pod's hostname and resolves the pod's FQDN to the
//! pod IP; the Linux guest's resolv.conf is ClusterFirst's (search list,
//! ndots:5) and its /etc/hosts the kubelet's file, byte for byte. Without
//! the kubelet (or the Unikraft images) outside CI, a test says so in one
//! line and does nothing; in CI their absence fails the run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ukrun_testbed::cluster_pod::CLUSTER_DNS;
use ukrun_testbed::dns_server::DnsServer;
use ukrun_testbed::examples::{self, Example};
use ukrun_testbed::kubelet::Kubelet;
use ukrun_testbed::pod_files_in_guest::{self as files, GuestView};

/// How long a guest pod may take to be Ready (a Linux TCG boot is 3–5 s;
/// the machine may be busy).
const READY: Duration = Duration::from_secs(90);

/// The runtime binary under test.
fn ukrun() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ukrun"))
}

/// Runs `example` with the kubelet, starts the cluster DNS on the node's
/// address (there once the pod network is), and checks the pod's files
/// from inside its guest.
fn pod_files_reach_the_guest(example: Example) -> Result<()> {
    Kubelet::run(ukrun(), |kubelet| {
        let node = kubelet.node();
        if example == examples::UNIKRAFT && !node.has_unikraft() {
            return Ok(());
        }
        let put = Instant::now();
        example.put(kubelet)?;
        let (pod, took) = example.wait_ready(kubelet, put, READY)?;
        eprintln!(
            "{} Ready {:.2} s after its manifest appeared",
            pod.name,
            took.as_secs_f64()
        );
        let _dns = DnsServer::cluster(&node.netns(), CLUSTER_DNS)
            .context("the cluster DNS on the node's address")?;
        let guest = GuestView::of(example.kind, node.netns(), &pod)?;
        eprintln!("search list: {}", files::short_name_resolves(&guest)?);
        eprintln!(
            "hostAliases: {}",
            files::host_aliases_resolve(&guest, &pod)?
        );
        eprintln!("hostname: {}", files::hostname_is_the_pods(&guest, &pod)?);
        if let GuestView::Linux(answers) = &guest {
            eprintln!(
                "files: {}",
                files::linux_files_are_the_kubelets(answers, kubelet, &pod)?
            );
        }
        Ok(())
    })
}

/// The Linux guest pod: files delivered byte for byte, its resolver
/// applies the search list, its hosts file has the hostAliases and FQDN.
#[test]
fn linux_guest_gets_the_kubelets_pod_files() -> Result<()> {
    pod_files_reach_the_guest(examples::LINUX)
}

/// The Unikraft pod: lwIP through ukrun's relay resolves the short name,
/// the hostAliases and the FQDN; gethostname() is the pod's hostname.
#[test]
fn unikraft_guest_gets_the_kubelets_pod_files() -> Result<()> {
    pod_files_reach_the_guest(examples::UNIKRAFT)
}
