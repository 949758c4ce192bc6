//! End-to-end: a real kubelet (v1.36.2, standalone, static pods) drives
//! the test bed's containerd node, whose default runtime handler is ukrun:
//! the path users get. Ordinary containers are handed to runc, guest images
//! run under qemu. Each test starts its own node and kubelet; they need
//! root, qemu, containerd and the kubelet (`../shared/kubelet-1.36.2`, or
//! `UKRUN_KUBELET_DIR`); without the kubelet a test says so in one line and
//! does nothing, except in CI, where its absence fails the run.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use ukrun_testbed::cri::ContainerSpec;
use ukrun_testbed::guest::{self, HTTP_PORT, READY_MARKER};
use ukrun_testbed::kubelet::Kubelet;
use ukrun_testbed::kubelet_api::ContainerState;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::static_pod::{http_probe, StaticPod};
use ukrun_testbed::{images, wait};

/// The busybox httpd's port.
const HTTPD_PORT: u16 = 8080;
/// How long the httpd pod may take to be Ready.
const HTTPD_READY: Duration = Duration::from_secs(30);
/// How long the guest pod may take to be Ready (a TCG boot is 3–5 s).
const GUEST_READY: Duration = Duration::from_secs(60);
/// How long `/stats/summary` may take to report the guest's figures.
const STATS_WAIT: Duration = Duration::from_secs(30);
/// How long the kubelet may take to remove a deleted pod's sandbox: its
/// container garbage collection runs once a minute.
const SANDBOX_GONE: Duration = Duration::from_secs(90);
/// How long a Unikraft `helloworld` may take to end.
const HELLO_DONE: Duration = Duration::from_secs(60);

/// The runtime binary under test.
fn ukrun() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ukrun"))
}

/// A busybox httpd pod (runc, through ukrun) and a Linux guest pod with
/// readiness and liveness probes on the guest's HTTP port become Ready;
/// the kubelet's `/containerLogs` holds the guest's console and
/// `/stats/summary` its CPU time and memory; removing the manifests ends
/// both pods and the kubelet removes them: CRI lists no pod, and no
/// process, container state or guest plumbing is left.
#[test]
fn httpd_and_guest_pods_run_and_go_with_their_manifests() -> Result<()> {
    Kubelet::run(ukrun(), |kubelet| {
        let node = kubelet.node();
        let httpd = StaticPod::new("httpd", 1).container(
            &images::busybox_httpd("httpd", HTTPD_PORT, "hello from httpd"),
            &[("readinessProbe", http_probe(HTTPD_PORT, 1, 3))],
        );
        let guest_pod = StaticPod::new("guest", 10).container(
            &guest::container(),
            &[
                ("readinessProbe", http_probe(HTTP_PORT, 1, 3)),
                ("livenessProbe", http_probe(HTTP_PORT, 2, 10)),
            ],
        );
        let (httpd_status, _) = kubelet.put_ready(&httpd, HTTPD_READY)?;
        let httpd_id = httpd_status.only_container()?.id.clone();
        ensure!(
            node.delegated_to_runc(&httpd_id),
            "ukrun did not hand the httpd container to runc"
        );
        let (guest_status, _) = kubelet.put_ready(&guest_pod, GUEST_READY)?;
        let guest_id = guest_status.only_container()?.id.clone();
        ensure!(
            !node.delegated_to_runc(&guest_id),
            "the guest container went to runc"
        );

        let guest_name = kubelet.pod_name(&guest_pod);
        let console = kubelet
            .api()
            .container_logs("default", &guest_name, "guest")?;
        ensure!(
            console.contains(READY_MARKER),
            "/containerLogs has no {READY_MARKER}: {console}"
        );
        let stats = wait::poll(
            "the guest's CPU and memory in /stats/summary",
            STATS_WAIT,
            Duration::from_millis(500),
            || {
                let stats = kubelet.api().container_stats(&guest_name, "guest")?;
                Ok(stats.filter(|s| s.cpu_core_nanos > 0 && s.memory_working_set > 0))
            },
        )?;
        eprintln!("guest stats: {stats:?}");

        let mut footprint = Footprint::new(node)?;
        for status in [&httpd_status, &guest_status] {
            footprint.add_kubelet_pod(node, status)?;
        }
        kubelet.remove_all_and_wait_empty(&[&guest_pod, &httpd], SANDBOX_GONE)?;
        footprint.assert_gone()
    })
}

/// Unikraft `helloworld` with `restartPolicy: Never` prints its greeting
/// and ends `Completed` with exit code 0; the pod `Succeeded`.
#[test]
fn unikraft_helloworld_completes() -> Result<()> {
    Kubelet::run(ukrun(), |kubelet| {
        if !kubelet.node().has_unikraft() {
            return Ok(());
        }
        let hello = StaticPod::new("hello", 1)
            .container(
                &ContainerSpec::new("hello", images::UNIKRAFT_HELLOWORLD),
                &[],
            )
            .restart_policy("Never");
        kubelet.put(&hello)?;
        let status = kubelet.wait_for(&hello, "to end", HELLO_DONE, |status| {
            match status.phase.as_str() {
                "Succeeded" => Ok(true),
                "Failed" => bail!("the pod failed"),
                _ => Ok(false),
            }
        })?;
        let [container] = status.containers.as_slice() else {
            bail!("expected one container: {status:?}");
        };
        let completed = ContainerState::Terminated {
            exit_code: 0,
            reason: "Completed".into(),
        };
        ensure!(
            container.state == completed && container.restart_count == 0,
            "{container:?}"
        );
        let log = kubelet
            .api()
            .container_logs("default", &kubelet.pod_name(&hello), "hello")?;
        ensure!(log.contains("Hello world!"), "log: {log}");
        Ok(())
    })
}
