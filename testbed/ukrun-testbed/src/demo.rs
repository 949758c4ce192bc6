//! `ukrun-testbed demo`: the README's example pods (`deploy/examples`: a
//! Linux microVM guest and a Unikraft unikernel, each with a busybox
//! sidecar) run as they are by a real kubelet (v1.36.2, standalone, static
//! pods) on a fresh node whose default runtime handler is ukrun. What a
//! user relies on is checked through the kubelet's API and the pods'
//! behaviour, one PASS/FAIL line each: Ready, the pod's DNS and files in
//! the guest, localhost both ways, logs, stats, a restart after a crash,
//! and a graceful delete.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cluster_pod::CLUSTER_DNS;
use crate::demo_checks as checks;
use crate::dns_server::DnsServer;
use crate::examples::{self, Example};
use crate::kubelet::{self, Kubelet};
use crate::kubelet_pod::KubeletPod;
use crate::node::Node;
use crate::pod::UKRUN_HANDLER;
use crate::pod_files_in_guest::{self as files, GuestView};
use crate::{diagnostics, guest};

/// How long a pod may take from its manifest to Ready.
const READY: Duration = Duration::from_secs(120);

/// Runs the demo against the ukrun binary at `ukrun`; true when every check
/// passed. Everything is torn down before it returns.
pub fn run(ukrun: &Path) -> bool {
    let mut report = Report::default();
    let Some(dir) = report.check("kubelet v1.36.2 found", || {
        let dir = kubelet::binary_dir()?.context("no kubelet (see the line above)")?;
        Ok((dir.clone(), dir.display().to_string()))
    }) else {
        return report.finish();
    };
    let Some(node) = report.check(
        "node up: containerd + CNI in its own netns, ukrun the default runtime handler",
        || {
            let node = Node::start_with_default_runtime(ukrun, UKRUN_HANDLER)?;
            let detail = node.state_dir().display().to_string();
            Ok((node, detail))
        },
    ) else {
        return report.finish();
    };
    let Some(kubelet) = report.check(
        "kubelet up: standalone, static pods, clusterDNS the node's DNS",
        || {
            let kubelet = Kubelet::start(&node, &dir)?;
            let detail = format!("clusterDNS {CLUSTER_DNS}, clusterDomain cluster.local");
            Ok((kubelet, detail))
        },
    ) else {
        diagnostics::print(node.state_dir());
        return report.finish();
    };
    run_pods(&mut report, &kubelet, &node);
    if report.failed > 0 {
        diagnostics::print(node.state_dir());
    }
    report.check(
        "teardown: kubelet stopped, host unchanged, pods removed",
        || {
            kubelet.stop()?;
            Ok(((), "the node goes next"))
        },
    );
    drop(node);
    report.finish()
}

/// The examples this node can run: the Unikraft one needs its images.
fn examples_for(node: &Node) -> Vec<Example> {
    if node.has_unikraft() {
        vec![examples::LINUX, examples::UNIKRAFT]
    } else {
        println!(
            "SKIP  {}: no Unikraft images (see the line above)",
            examples::UNIKRAFT.pod
        );
        vec![examples::LINUX]
    }
}

/// Puts the examples into the kubelet's manifest folder and checks them.
fn run_pods(report: &mut Report, kubelet: &Kubelet, node: &Node) {
    let examples = examples_for(node);
    println!(
        "manifests: {} (copies of {})",
        kubelet.manifests().display(),
        examples::dir().display()
    );
    let put = Instant::now();
    let mut manifests: Vec<PathBuf> = Vec::new();
    for example in &examples {
        if let Some(path) = report.check(&format!("{} manifest written", example.pod), || {
            let path = example.put(kubelet)?;
            let detail = path.display().to_string();
            Ok((path, detail))
        }) {
            manifests.push(path);
        }
    }
    let mut ready = Vec::new();
    for example in &examples {
        if let Some(pod) = report.check(&format!("{} Ready", example.pod), || {
            let (pod, took) = example.wait_ready(kubelet, put, READY)?;
            let detail = format!(
                "{:.1} s after its manifest appeared, pod IP {}",
                took.as_secs_f64(),
                pod.ip
            );
            Ok((pod, detail))
        }) {
            ready.push((*example, pod));
        }
    }
    let dns = report.check(
        "cluster DNS up in the node netns (the kubelet's clusterDNS)",
        || {
            let dns = DnsServer::cluster(&node.netns(), CLUSTER_DNS)?;
            Ok((
                dns,
                format!("dnsmasq on {CLUSTER_DNS}:53, zone cluster.local"),
            ))
        },
    );
    for (example, pod) in &ready {
        check_pod(report, kubelet, node, example, pod);
    }
    for (example, pod) in &ready {
        report.check(
            &format!("{}: restart after a crash (VMM killed)", example.pod),
            || Ok(((), checks::restarts_after_crash(kubelet, example, pod)?)),
        );
    }
    report.check(
        "graceful delete: manifests removed → pods gone (the kubelet's garbage collection runs once a minute: up to ~1 min)",
        || Ok(((), checks::deleted_with_manifests(kubelet, &manifests)?)),
    );
    drop(dns);
}

/// The checks of one Ready pod.
fn check_pod(
    report: &mut Report,
    kubelet: &Kubelet,
    node: &Node,
    example: &Example,
    pod: &KubeletPod,
) {
    let name = example.pod;
    let Some(guest) = report.check(&format!("{name}: the guest answers at its pod IP"), || {
        let guest = GuestView::of(example.kind, node.netns(), pod)?;
        Ok((guest, format!("{}:{}", pod.ip, guest::HTTP_PORT)))
    }) else {
        return;
    };
    report.check(
        &format!("{name}: DNS short name via the search list"),
        || Ok(((), files::short_name_resolves(&guest)?)),
    );
    report.check(&format!("{name}: DNS hostAliases"), || {
        Ok(((), files::host_aliases_resolve(&guest, pod)?))
    });
    report.check(
        &format!("{name}: hostname and FQDN (hostname + subdomain)"),
        || Ok(((), files::hostname_is_the_pods(&guest, pod)?)),
    );
    if let GuestView::Linux(answers) = &guest {
        report.check(
            &format!("{name}: the kubelet's pod files in the guest"),
            || {
                Ok((
                    (),
                    files::linux_files_are_the_kubelets(answers, kubelet, pod)?,
                ))
            },
        );
    }
    report.check(&format!("{name}: localhost sidecar → guest"), || {
        Ok(((), checks::sidecar_reaches_guest(kubelet, example, pod)?))
    });
    report.check(
        &format!("{name}: localhost guest → sidecar's loopback-only server"),
        || Ok(((), checks::guest_reaches_sidecar(&guest)?)),
    );
    report.check(
        &format!("{name}: /containerLogs has the guest's console"),
        || Ok(((), checks::console_in_logs(kubelet, example, pod)?)),
    );
    report.check(
        &format!("{name}: /stats/summary has the guest's CPU and memory"),
        || Ok(((), checks::figures_in_stats(kubelet, pod)?)),
    );
}

/// PASS/FAIL lines as the checks run, and whether all passed.
#[derive(Default)]
struct Report {
    failed: usize,
    passed: usize,
}

impl Report {
    /// Runs one check, prints its line, and hands back its value if it passed.
    fn check<T, D: Display>(
        &mut self,
        name: &str,
        work: impl FnOnce() -> Result<(T, D)>,
    ) -> Option<T> {
        match work() {
            Ok((value, detail)) => {
                self.passed += 1;
                println!("PASS  {name}  {detail}");
                Some(value)
            }
            Err(err) => {
                self.failed += 1;
                println!(
                    "FAIL  {name}\n      {}",
                    format!("{err:#}").replace('\n', "\n      ")
                );
                None
            }
        }
    }

    /// Prints the totals; true when nothing failed.
    fn finish(self) -> bool {
        println!("{} passed, {} failed", self.passed, self.failed);
        self.failed == 0
    }
}
