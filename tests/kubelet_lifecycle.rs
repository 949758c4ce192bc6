//! A guest's life under a real kubelet (v1.36.2, standalone, static pods;
//! ukrun as containerd's default runtime handler): probes keep it, a
//! liveness probe restarts a guest whose server hangs, the kubelet restarts
//! a guest whose VMM was killed in the same pod (its network undone once),
//! a removed manifest ends each kind of guest as ukrun's stop rules say,
//! and ten guest pods come and go together leaving nothing behind. Each
//! test starts its own node and kubelet; they need root, qemu, containerd
//! and the kubelet (see `tests/kubelet_pod.rs`).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use ukrun_testbed::guest::{self, HTTP_PORT};
use ukrun_testbed::kubelet::Kubelet;
use ukrun_testbed::kubelet_api::{ContainerState, PodStatus};
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::netns::Netns;
use ukrun_testbed::static_pod::{http_probe, StaticPod};
use ukrun_testbed::unikraft::NETTEST_PORT;
use ukrun_testbed::{netstate, nettest, procs, wait};

/// How long a Linux guest pod may take to be Ready (a TCG boot is 3–15 s
/// on a busy machine).
const GUEST_READY: Duration = Duration::from_secs(120);
/// How long a restarted guest may take to be Ready again: the kubelet's
/// reaction, the old guest's end, a new boot.
const RESTARTED_READY: Duration = Duration::from_secs(120);
/// How long the kubelet may take to remove deleted pods: its container
/// garbage collection runs once a minute.
const PODS_GONE: Duration = Duration::from_secs(120);
/// How long the probes are watched keeping a healthy guest as it is.
const KEPT_FOR: Duration = Duration::from_secs(6);
/// How long a stopped container may take to be reported exited.
const EXIT_WAIT: Duration = Duration::from_secs(90);
/// How often stopping containers are polled.
const EXIT_POLL: Duration = Duration::from_millis(50);

/// The runtime binary under test.
fn ukrun() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ukrun"))
}

/// The Linux guest pod `name` with a grace period of `grace_seconds` and
/// HTTP probes on its page: a startup probe that waits out the boot, then
/// readiness and liveness every second (liveness failing after 3 misses).
fn probed_guest(name: &str, grace_seconds: u32) -> StaticPod {
    StaticPod::new(name, grace_seconds).container(
        &guest::container(),
        &[
            ("startupProbe", http_probe(HTTP_PORT, 1, 120)),
            ("readinessProbe", http_probe(HTTP_PORT, 1, 1)),
            ("livenessProbe", http_probe(HTTP_PORT, 1, 3)),
        ],
    )
}

/// A Ready pod as the node sees it.
struct Placed {
    /// Its sandbox's CRI id.
    sandbox: String,
    /// Its IP.
    ip: String,
    /// Its network namespace.
    netns: Netns,
    /// Its only container's CRI id.
    container: String,
}

/// Where the kubelet placed the pod of `status`.
fn placed(kubelet: &Kubelet, status: &PodStatus) -> Result<Placed> {
    let cri = kubelet.node().cri();
    let sandbox = cri.ready_pod_named(&status.name)?;
    Ok(Placed {
        ip: cri.pod_ip(&sandbox)?,
        netns: cri.pod_netns(&sandbox)?,
        container: status.only_container()?.id.clone(),
        sandbox,
    })
}

/// Waits until the pod's container was restarted once and is running and
/// Ready again; a second restart fails at once.
fn wait_restarted_ready(kubelet: &Kubelet, pod: &StaticPod) -> Result<PodStatus> {
    kubelet.wait_for(
        pod,
        "to restart once and be Ready",
        RESTARTED_READY,
        |status| {
            let container = status.only_container()?;
            if container.restart_count > 1 {
                bail!("restarted {} times", container.restart_count);
            }
            Ok(container.restart_count == 1
                && container.state == ContainerState::Running
                && status.ready)
        },
    )
}

/// Probes keep a healthy guest Ready with no restart; when its HTTP server
/// hangs (accepts, never answers), the liveness probe has the kubelet stop
/// it (the Linux guest powers off: exit 0) and start it again in the same
/// pod, where the new guest becomes Ready and serves.
#[test]
fn the_liveness_probe_restarts_a_guest_whose_server_hangs() -> Result<()> {
    Kubelet::run(ukrun(), |kubelet| {
        let pod = probed_guest("hangs", 10);
        let (status, _) = kubelet.put_ready(&pod, GUEST_READY)?;
        let first = placed(kubelet, &status)?;
        let watched = Instant::now();
        kubelet.wait_for(&pod, "to stay Ready", KEPT_FOR * 3, |status| {
            let container = status.only_container()?;
            ensure!(
                container.restart_count == 0 && status.ready,
                "a healthy guest lost Ready or was restarted"
            );
            Ok(watched.elapsed() >= KEPT_FOR)
        })?;

        let node_netns = kubelet.node().netns();
        guest::hang(&node_netns, &first.ip)?;
        let hung = Instant::now();
        let status = wait_restarted_ready(kubelet, &pod)?;
        eprintln!(
            "hung guest restarted and Ready again {:.1} s after its server hung",
            hung.elapsed().as_secs_f64()
        );
        let again = placed(kubelet, &status)?;
        let container = status.only_container()?;
        ensure!(
            container.last_exit_code == Some(0),
            "the hung guest was asked to power off and did: {container:?}"
        );
        ensure!(
            again.sandbox == first.sandbox && again.container != first.container,
            "a new container in the same sandbox: before {}/{}, after {}/{}",
            first.sandbox,
            first.container,
            again.sandbox,
            again.container
        );
        guest::fetch_page(&node_netns, &again.ip)?;
        Ok(())
    })
}

/// `kill -9` of a guest's qemu: the kubelet starts the container again in
/// the same sandbox (restart count 1, the last run ended 137, as a process
/// killed by SIGKILL) and the new guest serves. The dead container's
/// network changes are undone exactly once: after the restart the pod
/// netns holds one guest's plumbing, as before the kill (not two, not
/// none), and removing the dead container (what the kubelet's garbage
/// collection does later) leaves it so.
#[test]
fn a_guest_whose_vmm_was_killed_is_restarted_in_its_pod() -> Result<()> {
    Kubelet::run(ukrun(), |kubelet| {
        let node = kubelet.node();
        let pod = probed_guest("killed", 10);
        let (status, _) = kubelet.put_ready(&pod, GUEST_READY)?;
        let first = placed(kubelet, &status)?;
        let one_guest = netstate::plumbing(&first.netns)?;
        ensure!(
            netstate::tap_count(&one_guest) == 1,
            "one guest has one tap: {one_guest:#?}"
        );

        let vmm = match procs::in_container(&first.container, "qemu-system").as_slice() {
            [vmm] => vmm.pid,
            other => bail!("expected one qemu in {}: {other:?}", first.container),
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(vmm)?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)
            .with_context(|| format!("kill -9 {vmm}"))?;
        let killed = Instant::now();
        let status = wait_restarted_ready(kubelet, &pod)?;
        eprintln!(
            "guest Ready again {:.1} s after its VMM was killed",
            killed.elapsed().as_secs_f64()
        );
        let again = placed(kubelet, &status)?;
        let container = status.only_container()?;
        ensure!(
            container.last_exit_code == Some(137),
            "the killed run ended as killed by SIGKILL: {container:?}"
        );
        ensure!(
            node.cri().list_pods()? == vec![first.sandbox.clone()]
                && again.container != first.container,
            "the container was restarted in its sandbox {}",
            first.sandbox
        );
        guest::fetch_page(&node.netns(), &again.ip)?;
        same_plumbing(&one_guest, &again.netns, "after the restart")?;

        node.cri().remove_container(&first.container)?;
        same_plumbing(
            &one_guest,
            &again.netns,
            "after the dead container's removal",
        )?;
        guest::fetch_page(&node.netns(), &again.ip)?;
        Ok(())
    })
}

/// Fails unless `netns` holds the plumbing `one_guest` (one guest's).
fn same_plumbing(one_guest: &[String], netns: &Netns, when: &str) -> Result<()> {
    let now = netstate::plumbing(netns)?;
    let changed = netstate::diff(one_guest, &now);
    ensure!(
        changed.is_empty(),
        "{when}, the pod netns does not hold one guest's plumbing:\n{}",
        changed.join("\n")
    );
    Ok(())
}

/// One guest of [`a_removed_manifest_ends_each_guest_as_the_stop_rules_say`]:
/// its pod, how long it takes to power off (a Linux guest), the container's
/// exit code expected, and the bounds on the time from the manifest's
/// removal to the container's exit.
struct Ending {
    pod: StaticPod,
    poweroff: Option<Duration>,
    exit_code: i32,
    at_least: Duration,
    below: Duration,
}

/// Removing a manifest stops its guest within the pod's grace period, as
/// ukrun's stop rules say: a Linux guest is asked to power off and given
/// the grace (powering off in 5 s within a 20 s grace, it ends by itself:
/// exit 0; taking 60 s with a 3 s grace, it is killed at the grace's end:
/// 137); a Unikraft guest cannot power off on request and ends at once
/// (143) whatever its grace (30 s). Measured from the manifest's removal
/// to the container's exit as containerd recorded it.
#[test]
fn a_removed_manifest_ends_each_guest_as_the_stop_rules_say() -> Result<()> {
    Kubelet::run(ukrun(), |kubelet| {
        let node = kubelet.node();
        if !node.has_unikraft() {
            return Ok(());
        }
        let poweroff = Duration::from_secs(5);
        let endings = [
            Ending {
                pod: probed_guest("in-time", 20),
                poweroff: Some(poweroff),
                exit_code: 0,
                at_least: poweroff,
                below: Duration::from_secs(20),
            },
            Ending {
                pod: probed_guest("too-slow", 3),
                poweroff: Some(Duration::from_secs(60)),
                exit_code: 137,
                at_least: Duration::from_secs(3),
                below: Duration::from_secs(15),
            },
            Ending {
                pod: nettest_pod("unikraft", 30),
                poweroff: None,
                exit_code: 143,
                at_least: Duration::ZERO,
                below: Duration::from_secs(5),
            },
        ];
        let pods: Vec<StaticPod> = endings.iter().map(|e| e.pod.clone()).collect();
        let ready = kubelet.put_all_ready(&pods, GUEST_READY)?;
        let mut containers = Vec::new();
        for (ending, (status, _)) in endings.iter().zip(&ready) {
            let at = placed(kubelet, status)?;
            if let Some(delay) = ending.poweroff {
                guest::set_poweroff_delay(&node.netns(), &at.ip, delay)?;
            }
            containers.push(at.container);
        }

        let removed = SystemTime::now();
        for pod in &pods {
            kubelet.remove(pod)?;
        }
        let ends = wait_all_exited(kubelet, &containers, removed)?;
        for (ending, (code, took)) in endings.iter().zip(ends) {
            eprintln!(
                "{}: exit code {code} {:.2} s after its manifest was removed",
                ending.pod.name(),
                took.as_secs_f64()
            );
            ensure!(
                code == ending.exit_code && took >= ending.at_least && took < ending.below,
                "{}: expected exit code {} after {:?} to {:?}, got {code} after {took:?}",
                ending.pod.name(),
                ending.exit_code,
                ending.at_least,
                ending.below
            );
        }
        Ok(())
    })
}

/// Waits until every container of `ids` has exited; returns, for each, its
/// exit code and the time from `since` to its end as containerd recorded
/// it. They are polled together and often: the kubelet removes a deleted
/// pod's container soon after it ended.
fn wait_all_exited(
    kubelet: &Kubelet,
    ids: &[String],
    since: SystemTime,
) -> Result<Vec<(i32, Duration)>> {
    let cri = kubelet.node().cri();
    let mut ends: Vec<Option<(i32, i64)>> = vec![None; ids.len()];
    wait::poll("the containers to exit", EXIT_WAIT, EXIT_POLL, || {
        for (id, end) in ids.iter().zip(ends.iter_mut()) {
            if end.is_none() {
                let status = cri.container_status(id)?;
                *end = (status.finished_at > 0).then_some((status.exit_code, status.finished_at));
            }
        }
        Ok(ends.iter().all(Option::is_some).then_some(()))
    })?;
    ends.into_iter()
        .flatten()
        .map(|(code, finished_at)| {
            let finished =
                SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(finished_at)?);
            let took = finished
                .duration_since(since)
                .context("a container ended before its manifest was removed")?;
            Ok((code, took))
        })
        .collect()
}

/// The Unikraft `nettest` pod `name` with a grace period of
/// `grace_seconds` and a readiness probe on its HTTP port.
fn nettest_pod(name: &str, grace_seconds: u32) -> StaticPod {
    StaticPod::new(name, grace_seconds).container(
        &nettest::container(),
        &[("readinessProbe", http_probe(NETTEST_PORT, 1, 3))],
    )
}

/// Ten Unikraft guest pods whose manifests appear together all become
/// Ready; removed together, the kubelet removes them and nothing is left:
/// no process, container state, tap or added qdisc, cgroup or mount.
#[test]
fn ten_guest_pods_come_and_go_together() -> Result<()> {
    Kubelet::run(ukrun(), |kubelet| {
        let node = kubelet.node();
        if !node.has_unikraft() {
            return Ok(());
        }
        let pods: Vec<StaticPod> = (0..10)
            .map(|i| nettest_pod(&format!("uk{i}"), 30))
            .collect();
        let ready = kubelet.put_all_ready(&pods, GUEST_READY)?;
        let mut times: Vec<Duration> = ready.iter().map(|(_, took)| *took).collect();
        times.sort();
        eprintln!(
            "10 guest pods Ready after {:.2} s (first) to {:.2} s (last)",
            times[0].as_secs_f64(),
            times[times.len() - 1].as_secs_f64()
        );
        let mut footprint = Footprint::new(node)?;
        for (status, _) in &ready {
            footprint.add_kubelet_pod(node, status)?;
        }
        let (cgroups, mounts) = (footprint.cgroups().len(), footprint.mounts().len());
        ensure!(
            cgroups >= pods.len() && mounts >= pods.len(),
            "the running pods' cgroups ({cgroups}) and mounts ({mounts}) are seen"
        );
        let all: Vec<&StaticPod> = pods.iter().collect();
        kubelet.remove_all_and_wait_empty(&all, PODS_GONE)?;
        footprint.assert_gone()
    })
}
