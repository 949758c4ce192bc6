//! The demo's checks of one example pod that the pod-file checks
//! ([`crate::pod_files_in_guest`]) leave out: localhost both ways between
//! the guest and its sidecar, the guest's console and figures through the
//! kubelet's API, a restart after the VMM crashed, and a graceful delete.
//! Each returns the detail of its PASS line.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cluster_pod::{self, POD_LOOPBACK, SIDECAR_PAGE, SIDECAR_PORT};
use crate::examples::{Example, GUEST, SIDECAR};
use crate::kubelet::Kubelet;
use crate::kubelet_api::ContainerState;
use crate::kubelet_pod::KubeletPod;
use crate::pod_files_in_guest::GuestView;
use crate::{procs, wait};

/// How long `/stats/summary` may take to report the guest's figures.
const STATS_WAIT: Duration = Duration::from_secs(30);
/// How long the kubelet may take to restart a crashed guest until the pod
/// is Ready again.
const RESTART_WAIT: Duration = Duration::from_secs(90);
/// How long the kubelet may take to remove deleted pods: its container
/// garbage collection runs once a minute.
const GONE_WAIT: Duration = Duration::from_secs(120);
/// How often the kubelet and the CRI are polled.
const POLL: Duration = Duration::from_millis(500);

/// The sidecar gets the guest's page at the pod's 127.0.0.1 (ExecSync
/// `wget` in the sidecar, through the CRI).
pub fn sidecar_reaches_guest(
    kubelet: &Kubelet,
    example: &Example,
    pod: &KubeletPod,
) -> Result<String> {
    let sidecar = pod.container_id(SIDECAR)?;
    let url = format!("{}/", cluster_pod::guest_url_on_localhost());
    let page = cluster_pod::sh(kubelet.node(), &sidecar, &format!("wget -qO- {url}"))?;
    ensure!(
        page.stdout.contains(example.page_phrase),
        "the sidecar's GET {url}: {page:?}"
    );
    Ok(format!(
        "{url} → {:?}",
        page.stdout.lines().next().unwrap_or_default()
    ))
}

/// The guest reaches the sidecar's loopback-only server at the
/// pod-loopback address.
pub fn guest_reaches_sidecar(guest: &GuestView) -> Result<String> {
    let target = format!("{POD_LOOPBACK}:{SIDECAR_PORT}");
    match guest {
        GuestView::Linux(answers) => {
            let page = answers.fetch(&cluster_pod::sidecar_url_from_guest())?;
            ensure!(page == SIDECAR_PAGE, "the guest got {page:?} from {target}");
            Ok(format!("{target} → {:?}", page.trim_end()))
        }
        GuestView::Unikraft(nettest) => {
            let reached = nettest.connect(POD_LOOPBACK, SIDECAR_PORT)?;
            ensure!(
                reached.starts_with("OK HTTP/") && reached.contains(" 200 "),
                "the guest's connection to {target}: {reached}"
            );
            Ok(format!("{target} → {reached}"))
        }
    }
}

/// The kubelet's `/containerLogs` of the guest hold its console's
/// readiness line.
pub fn console_in_logs(kubelet: &Kubelet, example: &Example, pod: &KubeletPod) -> Result<String> {
    let log = kubelet
        .api()
        .container_logs(&pod.namespace, &pod.name, GUEST)?;
    let line = log
        .lines()
        .find(|line| line.contains(example.console_line))
        .with_context(|| format!("/containerLogs has no {:?}", example.console_line))?;
    Ok(format!("{:?}", line.trim()))
}

/// The kubelet's `/stats/summary` has the guest's CPU time and memory.
pub fn figures_in_stats(kubelet: &Kubelet, pod: &KubeletPod) -> Result<String> {
    let stats = wait::poll(
        "the guest's CPU and memory in /stats/summary",
        STATS_WAIT,
        POLL,
        || {
            let stats = kubelet.api().container_stats(&pod.name, GUEST)?;
            Ok(stats.filter(|s| s.cpu_core_nanos > 0 && s.memory_working_set > 0))
        },
    )?;
    Ok(format!(
        "CPU {:.2} s, memory {} MiB (the VMM's cgroup)",
        stats.cpu_core_nanos as f64 / 1e9,
        stats.memory_working_set >> 20
    ))
}

/// SIGKILLs the guest's VMM; the kubelet sees the container end, starts
/// it again, and the pod is Ready again.
pub fn restarts_after_crash(
    kubelet: &Kubelet,
    example: &Example,
    pod: &KubeletPod,
) -> Result<String> {
    let id = pod.container_id(GUEST)?;
    let vmm = match procs::in_container(&id, "qemu-system").as_slice() {
        [vmm] => vmm.pid,
        other => bail!("expected one VMM in container {id}: {other:?}"),
    };
    let killed = Instant::now();
    kill(Pid::from_raw(vmm as i32), Signal::SIGKILL).context("killing the VMM")?;
    let status = kubelet.wait_for_named(example.pod, "to be Ready again", RESTART_WAIT, |s| {
        let restarted = s
            .containers
            .iter()
            .any(|c| c.name == GUEST && c.restart_count >= 1 && c.state == ContainerState::Running);
        Ok(restarted && s.ready)
    })?;
    let exit = status
        .containers
        .iter()
        .find(|c| c.name == GUEST)
        .and_then(|c| c.last_exit_code);
    Ok(format!(
        "qemu (pid {vmm}) killed; restarted (exit code {}), Ready again {:.1} s later",
        exit.map_or("?".to_string(), |code| code.to_string()),
        killed.elapsed().as_secs_f64()
    ))
}

/// Removes the `manifests` and waits until the kubelet knows no pod and
/// the CRI lists none.
pub fn deleted_with_manifests(kubelet: &Kubelet, manifests: &[PathBuf]) -> Result<String> {
    let removed = Instant::now();
    for manifest in manifests {
        std::fs::remove_file(manifest)
            .with_context(|| format!("removing {}", manifest.display()))?;
    }
    let mut left_kubelet = None;
    wait::poll(
        "the kubelet to remove the pods (CRI lists none)",
        GONE_WAIT,
        POLL,
        || {
            let known = kubelet.api().pods()?;
            if known.is_empty() && left_kubelet.is_none() {
                left_kubelet = Some(removed.elapsed());
            }
            let sandboxes = kubelet.node().cri().list_pods()?;
            Ok((known.is_empty() && sandboxes.is_empty()).then_some(()))
        },
    )?;
    Ok(format!(
        "the kubelet dropped them after {:.1} s, containerd lists none after {:.1} s",
        left_kubelet.unwrap_or_default().as_secs_f64(),
        removed.elapsed().as_secs_f64()
    ))
}
