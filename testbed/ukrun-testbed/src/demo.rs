//! `ukrun-testbed demo`: one guest pod end to end on a fresh node, each
//! step printed as a PASS/FAIL line, so a human can see what works: the
//! basics (guest up, HTTP, exec, teardown) and what ukrun exists for, the
//! pod's DNS reaching the guest and localhost both ways between the guest
//! and a sidecar (see [`crate::cluster_pod`]).

use std::fmt::Display;
use std::path::Path;

use anyhow::Result;

use crate::cluster_pod::{self, probe_arg, CLUSTER_DNS, HOST_ALIAS, KUBERNETES};
use crate::diagnostics;
use crate::dns_server::DnsServer;
use crate::guest_pod::GuestPod;
use crate::node::Node;

/// Runs the demo against the ukrun binary at `ukrun`; true when every check
/// passed. Everything is torn down before it returns.
pub fn run(ukrun: &Path) -> bool {
    let mut report = Report::default();
    let Some(node) = report.check("node up (containerd + CNI in its own netns)", || {
        let node = Node::start(ukrun)?;
        let detail = node.state_dir().display().to_string();
        Ok((node, detail))
    }) else {
        return report.finish();
    };
    let Some((pod, cluster_dns)) = report.check(
        "pod RUNNING: sandbox (ClusterFirst DNS), busybox sidecar, guest",
        || start_pod(&node),
    ) else {
        diagnostics::print(node.state_dir());
        return report.finish();
    };
    report.check("guest readiness line in its CRI log", || {
        let ip = pod.wait_ready()?;
        Ok(((), format!("ip={ip}")))
    });
    report.check("HTTP GET pod IP:8080 from the node netns", || {
        let body = pod.fetch_page()?;
        Ok(((), format!("{:?}", first_line(&body))))
    });
    report.check(
        "pod DNS in the guest: service short name (search list)",
        || {
            let seen = cluster_pod::check_resolved(&pod, &[SERVICE])?;
            Ok(((), format!("{seen} (cluster DNS {CLUSTER_DNS})")))
        },
    );
    report.check(
        "pod DNS in the guest: hostAlias of the pod's hosts file",
        || Ok(((), cluster_pod::check_resolved(&pod, &[HOST_ALIAS])?)),
    );
    report.check(
        "localhost sidecar → guest: ExecSync wget 127.0.0.1:8080",
        || {
            let page = cluster_pod::sidecar_fetches_guest(&node, &pod)?;
            Ok(((), format!("{:?}", first_line(&page))))
        },
    );
    report.check(
        "localhost guest → sidecar: loopback-only server at 169.254.1.1",
        || {
            let bytes = cluster_pod::guest_fetched_sidecar(&pod)?;
            let detail = format!(
                "{} → the sidecar's page ({bytes} bytes, sha256 equal)",
                cluster_pod::sidecar_url_from_guest()
            );
            Ok(((), detail))
        },
    );
    report.check("ExecSync `echo hi` in the sidecar", || {
        pod.exec_in_sidecar()?;
        Ok(((), "hi".to_string()))
    });
    report.check("ExecSync in the guest refused fast", || {
        let took = pod.exec_in_guest_is_refused()?;
        Ok(((), format!("{} ms", took.as_millis())))
    });
    report.check("teardown leaves nothing behind", || {
        pod.remove_and_check()?;
        Ok(((), "no process, container state or guest plumbing left"))
    });
    if report.failed > 0 {
        diagnostics::print(node.state_dir());
    }
    drop(cluster_dns);
    drop(node);
    report.finish()
}

/// A service name the guest resolves only through the pod's search list.
const SERVICE: (&str, &str) = ("kubernetes.default", KUBERNETES.1);

/// Runs the demo's pod: ClusterFirst DNS with the cluster DNS up, kubelet's
/// hosts file, the guest's port 8080 on the pod's localhost, DNS through
/// ukrun's relay (busybox applies the search list to dot-less names only),
/// a sidecar serving on 127.0.0.1 only, and a guest that resolves
/// [`SERVICE`] and [`HOST_ALIAS`] and fetches the sidecar's page at boot.
fn start_pod(node: &Node) -> Result<((GuestPod<'_>, DnsServer), String)> {
    let annotations = [
        ("ukrun.dev/dns-delivery", "relay"),
        ("ukrun.dev/localhost-ports", "8080"),
    ];
    let (pod, dns) = cluster_pod::dns_pod(node, "demo", &annotations)?;
    let (hosts, _) = cluster_pod::kubelet_hosts(node, &pod)?;
    let probes = [
        probe_arg("dns", SERVICE.0),
        probe_arg("dns", HOST_ALIAS.0),
        probe_arg("http", &cluster_pod::sidecar_url_from_guest()),
    ];
    let guest = cluster_pod::probing_guest(&probes, Some(&hosts));
    let pod = cluster_pod::start_with_loopback_sidecar(node, pod, &guest)?;
    let detail = annotations
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(((pod, dns), format!("handler ukrun, {detail}")))
}

/// The first line of `text`, enough to recognise a page.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
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
