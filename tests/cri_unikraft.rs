//! A real Unikraft 0.16.3 unikernel (the `nettest` probe, lwIP, no
//! resolv.conf, no hosts file, no loopback of its own) as a pod container
//! through containerd's CRI, with a busybox sidecar: everything the Linux
//! guest gets, checked from what the guest itself answers. Needs root,
//! qemu, containerd and the Unikraft images (`../shared/unikernels`, or
//! `UKRUN_UNIKRAFT_DIR`); without the images a test says so in one line
//! and does nothing, except in CI, where their absence fails the run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use ukrun_testbed::cluster_pod::{
    dns_pod, kubelet_hosts, sh, start_with_loopback_sidecar, CLUSTER_DNS, HOST_ALIAS, KUBERNETES,
    POD_LOOPBACK,
};
use ukrun_testbed::cri::{DnsConfig, LinuxContainerResources};
use ukrun_testbed::cri_log;
use ukrun_testbed::dns_server::DnsServer;
use ukrun_testbed::doctor;
use ukrun_testbed::guest::{self, EXEC_REFUSAL};
use ukrun_testbed::guest_pod::GuestPod;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::nettest::{self, Nettest, BIG_SHA256};
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};
use ukrun_testbed::pod_network::PodNetwork;
use ukrun_testbed::procs;
use ukrun_testbed::unikraft::{self, NETTEST_PORT};

/// The runtime binary under test.
fn ukrun() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ukrun"))
}

/// Runs `scenario` on a fresh node that has the Unikraft images (see the
/// module doc for when it has not).
fn on_node(scenario: impl FnOnce(&Node) -> Result<()>) -> Result<()> {
    Node::run(ukrun(), |node| {
        if !node.has_unikraft() {
            return Ok(());
        }
        scenario(node)
    })
}

/// The sidecar's loopback-only server (see `cluster_pod::loopback_sidecar`).
const SIDECAR_PORT: u16 = 9000;
/// The short service name a pod resolves through its search list.
const SERVICE_SHORT: &str = "kubernetes.default";

/// The guest's HTTP answer `GET path` from the sidecar, on the pod's
/// 127.0.0.1, piped through `filter` (a shell pipeline stage).
fn from_sidecar(node: &Node, pod: &GuestPod, path: &str, filter: &str) -> Result<String> {
    let out = sh(
        node,
        &pod.sidecar,
        &format!("wget -qO- http://127.0.0.1:{NETTEST_PORT}{path} | {filter}"),
    )?;
    Ok(out.stdout.trim().to_owned())
}

/// Removes container `id` and `pod` and checks that neither left anything
/// on the node (process, state, tap, rule, qdisc).
fn remove_and_check(node: &Node, pod: Pod, id: &str) -> Result<()> {
    let mut footprint = Footprint::new(node)?;
    footprint.add_pod(&pod)?;
    footprint.add_container(id);
    node.cri().remove_container(id)?;
    pod.remove()?;
    footprint.assert_gone()
}

/// The whole acceptance list of a routed pod on the default bridge: the
/// image has an empty `cmdline` (urunc.json form) and still gets its
/// network; it answers at the pod IP with the pod's hostname; `/big`
/// arrives whole from the node and through the pod's 127.0.0.1; lwIP
/// resolves a service short name (search list, ndots:5), a hostAlias and
/// the pod's own name as glibc would in the pod; the sidecar and CRI
/// PortForward reach it on 127.0.0.1:8080; it reaches the sidecar's
/// loopback-only server at the pod-loopback address; doctor passes; exec
/// is refused; teardown leaves nothing.
#[test]
fn unikraft_guest_is_a_full_member_of_its_pod() -> Result<()> {
    on_node(|node| {
        let (pod, _dns) = dns_pod(node, "uk-routed", &[])?;
        let (hosts, _) = kubelet_hosts(node, &pod)?;
        let pod_name = pod.spec.name.clone();
        let pod_ip = pod.ip()?;
        let guest = nettest::container()
            .annotation("ukrun.dev/localhost-ports", &NETTEST_PORT.to_string())
            .mount(&hosts, "/etc/hosts");
        let pod = start_with_loopback_sidecar(node, pod, &guest)?;
        nettest::wait_ready(&pod.pod.log_path(&guest))?;
        let probe = Nettest::at(node.netns(), &pod_ip)?;

        ensure!(
            probe.hostname()? == pod_name,
            "the guest's hostname is not the pod's"
        );
        probe.big_arrives_whole()?;
        for (name, address) in [
            (SERVICE_SHORT, KUBERNETES.1),
            HOST_ALIAS,
            (pod_name.as_str(), pod_ip.as_str()),
        ] {
            let got = probe.resolve(name)?;
            ensure!(
                got == address,
                "lwIP in the guest resolved {name} to {got}, where glibc in the pod gives {address}"
            );
        }

        let page = from_sidecar(node, &pod, "/", "cat")?;
        ensure!(
            page == format!("hostname={pod_name}"),
            "the sidecar's GET of 127.0.0.1:{NETTEST_PORT}: {page:?}"
        );
        let big = from_sidecar(node, &pod, "/big", "sha256sum")?;
        ensure!(
            big.split_whitespace().next() == Some(BIG_SHA256),
            "/big through 127.0.0.1 is not intact: {big}"
        );
        let answer = node.cri().port_forward(
            &node.netns(),
            &pod.pod.id,
            NETTEST_PORT,
            b"GET / HTTP/1.0\r\n\r\n",
        )?;
        let answer = String::from_utf8_lossy(&answer);
        ensure!(
            answer.starts_with("HTTP/1.") && answer.contains(&format!("hostname={pod_name}")),
            "CRI PortForward to port {NETTEST_PORT}: {answer:?}"
        );
        let reached = probe.connect(POD_LOOPBACK, SIDECAR_PORT)?;
        ensure!(
            reached.starts_with("OK HTTP/1."),
            "the guest → the sidecar's 127.0.0.1:{SIDECAR_PORT} at {POD_LOOPBACK}: {reached}"
        );

        let (code, report) = doctor::report(ukrun(), node, &pod.guest)?;
        ensure!(
            code == 0 && doctor::checks_with(&report, "FAIL").is_empty(),
            "doctor on a healthy Unikraft pod exited {code}:\n{report:#}"
        );
        let kind = report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|check| check["name"] == "guest.kind")
            .context("doctor has no guest.kind check")?;
        ensure!(
            kind["expected"] == "unikraft on qemu"
                && [
                    "search list not applied",
                    "cannot power off on request",
                    "134 when the guest crashed"
                ]
                .iter()
                .all(|fact| kind["found"].as_str().unwrap_or_default().contains(fact)),
            "doctor's guest.kind does not say what a Unikraft guest cannot do: {kind:#}"
        );
        let refused = node
            .cri()
            .exec_sync(&pod.guest, &["true"], Duration::from_secs(10));
        ensure!(
            refused
                .as_ref()
                .is_err_and(|e| format!("{e:#}").contains(EXEC_REFUSAL)),
            "exec into the unikernel: {refused:?}"
        );
        pod.remove_and_check()
    })
}

/// urunc's annotation form: an image without urunc.json, described by the
/// container's annotations. Its `cmdline` reaches the application as its
/// arguments, even words that look like Unikraft's own parameters: the
/// guest keeps the network ukrun gave it.
#[test]
fn annotated_image_gets_its_cmdline_as_arguments_only() -> Result<()> {
    on_node(|node| {
        let pod = Pod::run(node, "uk-annotated", UKRUN_HANDLER)?;
        let pod_ip = pod.ip()?;
        let cmdline = "probe.example netdev.ip=10.9.9.9/8 -- env.vars=[X=1]";
        let guest = nettest::annotated_container(cmdline);
        let pod = GuestPod::start_in(node, pod, &guest, &guest::sidecar())?;
        let log = pod.pod.log_path(&guest);
        nettest::wait_ready(&log)?;
        let argv = cri_log::wait_for(&log, "nettest's argv line", |console| {
            console
                .lines()
                .find(|line| line.contains("nettest: argc="))
                .map(str::to_owned)
        })?;
        for word in cmdline.split(' ') {
            ensure!(
                argv.contains(&format!("\"{word}\"")),
                "the image's word {word:?} is not among the application's arguments: {argv}"
            );
        }
        let probe = Nettest::at(node.netns(), &pod_ip)?;
        ensure!(
            probe.hostname()? == pod.pod.spec.name,
            "the guest's hostname"
        );
        pod.remove_and_check()
    })
}

/// A pod whose only nameserver is a loopback resolver (Docker's
/// 127.0.0.11), which the guest could never reach itself: the relay
/// forwards to it.
#[test]
fn loopback_resolver_reaches_the_guest() -> Result<()> {
    on_node(|node| {
        const LOOPBACK_DNS: &str = "127.0.0.11";
        const RECORD: (&str, &str) = ("web.docker.test", "10.5.5.5");
        let pod = Pod::run_with(node, "uk-docker-dns", UKRUN_HANDLER, |spec| {
            spec.dns = Some(DnsConfig {
                servers: vec![LOOPBACK_DNS.to_owned()],
                searches: Vec::new(),
                options: vec!["ndots:0".to_owned()],
            });
        })?;
        let dns = DnsServer::start(&pod.netns()?, LOOPBACK_DNS, "docker.test", &[RECORD])
            .context("the loopback resolver in the pod")?;
        let pod_ip = pod.ip()?;
        let pod = GuestPod::start_in(node, pod, &nettest::container(), &guest::sidecar())?;
        nettest::wait_ready(&pod.pod.log_path(&nettest::container()))?;
        let got = Nettest::at(node.netns(), &pod_ip)?.resolve(RECORD.0)?;
        ensure!(
            got == RECORD.1,
            "through {LOOPBACK_DNS}: {} resolved to {got}",
            RECORD.0
        );
        drop(dns);
        pod.remove_and_check()
    })
}

/// tc mode: the guest owns the pod IP; the pod's nameserver reaches it as
/// a boot argument, so fully qualified names resolve and short names do
/// not (no relay exists in tc mode to apply the search list); doctor says
/// so and warns that sidecars have no network, and fails nothing.
#[test]
fn unikraft_guest_in_tc_mode() -> Result<()> {
    on_node(|node| {
        let (pod, _dns) = dns_pod(node, "uk-tc", &[("ukrun.dev/network-mode", "tc")])?;
        let pod_ip = pod.ip()?;
        let pod = GuestPod::start_in(node, pod, &nettest::container(), &guest::sidecar())?;
        nettest::wait_ready(&pod.pod.log_path(&nettest::container()))?;
        let probe = Nettest::at(node.netns(), &pod_ip)?;
        ensure!(
            probe.hostname()? == pod.pod.spec.name,
            "the guest's hostname"
        );
        probe.big_arrives_whole()?;
        ensure!(
            probe.resolve(KUBERNETES.0)? == KUBERNETES.1,
            "the cluster DNS ({CLUSTER_DNS}) as a boot argument"
        );
        ensure!(
            probe.resolve(SERVICE_SHORT)? == "FAILED",
            "a short name resolved in tc mode, where nothing applies the search list"
        );
        let (code, report) = doctor::report(ukrun(), node, &pod.guest)?;
        let warned = doctor::checks_with(&report, "WARN");
        ensure!(
            code == 0 && ["tc.sidecars", "dns.search"].iter().all(|c| warned.iter().any(|w| w == c)),
            "doctor on a tc-mode Unikraft pod (exit {code}) must warn about sidecars and the search list:\n{report:#}"
        );
        pod.remove_and_check()
    })
}

/// `helloworld` prints and returns: the container ends by itself with exit
/// code 0 and reason `Completed`, its output in the container's log.
#[test]
fn helloworld_runs_to_completion() -> Result<()> {
    on_node(|node| {
        let pod = Pod::run(node, "uk-hello", UKRUN_HANDLER)?;
        let id = unikraft::run_helloworld(&pod)?;
        remove_and_check(node, pod, &id)
    })
}

/// StopContainer with kubelet's default grace (30 s) on a guest that cannot
/// power off on request ends it at once with SIGTERM's status, instead of
/// waiting out the grace for nothing.
#[test]
fn stopping_a_unikraft_guest_does_not_wait_out_the_grace_period() -> Result<()> {
    on_node(|node| {
        const GRACE: Duration = Duration::from_secs(30);
        let pod = Pod::run(node, "uk-stop", UKRUN_HANDLER)?;
        let id = pod.start(&nettest::container())?;
        nettest::wait_ready(&pod.log_path(&nettest::container()))?;
        let asked = Instant::now();
        node.cri().stop_container(&id, GRACE)?;
        let took = asked.elapsed();
        let status = node.cri().container_status(&id)?;
        ensure!(
            status.exit_code == 143 && took < GRACE / 3,
            "StopContainer took {took:?} (grace {GRACE:?}); exit code {}, reason {:?}",
            status.exit_code,
            status.reason
        );
        eprintln!("StopContainer of a Unikraft guest: {took:?}");
        remove_and_check(node, pod, &id)
    })
}

/// UpdateContainerResources, as kubelet sends it for an in-place resize,
/// reaches the guest's VMM through the shim's `update`: a new CPU quota is
/// in the VMM's cgroup, and a memory limit the booted guest cannot take is
/// refused with the reason, leaving the quota as it was.
#[test]
fn an_in_place_cpu_resize_reaches_the_vmm_and_a_memory_resize_is_refused() -> Result<()> {
    on_node(|node| {
        let pod = Pod::run(node, "uk-resize", UKRUN_HANDLER)?;
        let id = pod.start(&nettest::container())?;
        nettest::wait_ready(&pod.log_path(&nettest::container()))?;
        let vmm = procs::in_container(&id, "qemu-system");
        let vmm = vmm.first().context("the guest's VMM")?.pid;
        let cpu = LinuxContainerResources {
            cpu_period: 100_000,
            cpu_quota: 20_000,
            ..Default::default()
        };
        node.cri().update_container_resources(&id, cpu.clone())?;
        let quota = procs::cgroup_value(vmm, "cpu.cfs_quota_us")?;
        ensure!(
            quota == "20000",
            "the VMM's quota after the resize: {quota}"
        );
        let memory = LinuxContainerResources {
            memory_limit_in_bytes: 1 << 30,
            cpu_quota: 30_000,
            ..cpu
        };
        let refused = node.cri().update_container_resources(&id, memory);
        let reason = format!("{:#}", refused.err().context("a memory resize succeeded")?);
        ensure!(
            reason.contains("the guest's memory is fixed at boot"),
            "the refusal names the reason: {reason}"
        );
        let quota = procs::cgroup_value(vmm, "cpu.cfs_quota_us")?;
        ensure!(
            quota == "20000",
            "a refused resize changed the quota to {quota}"
        );
        ensure!(Nettest::at(node.netns(), &node.cri().pod_ip(&pod.id)?)?
            .hostname()
            .is_ok());
        remove_and_check(node, pod, &id)
    })
}

/// The guest on pod network `network` in network `mode` (`routed` or
/// `tc`): it answers at the pod IP with the pod's hostname, `/big` arrives
/// whole from the node (through the pod interface's MTU), the cluster DNS
/// reaches it (short names through the relay in routed mode, fully
/// qualified ones as a boot argument in tc mode), and in routed mode the
/// sidecar gets `/big` whole on 127.0.0.1 and the guest reaches the
/// sidecar's loopback-only server; doctor fails nothing; teardown leaves
/// nothing.
fn serves_on(network: PodNetwork, mode: &str) -> Result<()> {
    Node::run_on(ukrun(), network, |node| {
        if !node.has_unikraft() {
            return Ok(());
        }
        let name = format!("uk-{}-{mode}", network.to_string().replace(':', "-"));
        let (pod, _dns) = dns_pod(node, &name, &[("ukrun.dev/network-mode", mode)])?;
        let pod_ip = pod.ip()?;
        let (hosts, _) = kubelet_hosts(node, &pod)?;
        let routed = mode == "routed";
        let guest = nettest::container().mount(&hosts, "/etc/hosts");
        let guest = if routed {
            guest.annotation("ukrun.dev/localhost-ports", &NETTEST_PORT.to_string())
        } else {
            guest
        };
        let pod = start_with_loopback_sidecar(node, pod, &guest)?;
        nettest::wait_ready(&pod.pod.log_path(&guest))?;
        let probe = Nettest::at(node.netns(), &pod_ip)?;
        ensure!(probe.hostname()? == name, "the guest's hostname");
        probe.big_arrives_whole()?;
        let (asked, expected) = if routed {
            (SERVICE_SHORT, KUBERNETES.1)
        } else {
            KUBERNETES
        };
        let got = probe.resolve(asked)?;
        ensure!(
            got == expected,
            "{asked} resolved to {got} on {network} ({mode})"
        );
        if routed {
            let big = from_sidecar(node, &pod, "/big", "sha256sum")?;
            ensure!(
                big.split_whitespace().next() == Some(BIG_SHA256),
                "/big through 127.0.0.1 on {network}: {big}"
            );
            let reached = probe.connect(POD_LOOPBACK, SIDECAR_PORT)?;
            ensure!(
                reached.starts_with("OK HTTP/1."),
                "the guest → the sidecar at {POD_LOOPBACK} on {network}: {reached}"
            );
        }
        let (code, report) = doctor::report(ukrun(), node, &pod.guest)?;
        ensure!(
            code == 0,
            "doctor on {network} ({mode}) exited {code}:\n{report:#}"
        );
        pod.remove_and_check()
    })
}

#[test]
fn serves_on_a_bridge_with_mtu_1450_routed() -> Result<()> {
    serves_on(PodNetwork::Bridge { mtu: 1450 }, "routed")
}

#[test]
fn serves_on_a_bridge_with_mtu_1450_tc() -> Result<()> {
    serves_on(PodNetwork::Bridge { mtu: 1450 }, "tc")
}

#[test]
fn serves_on_a_calico_style_pod_routed() -> Result<()> {
    serves_on(PodNetwork::Calico, "routed")
}

#[test]
fn serves_on_a_calico_style_pod_tc() -> Result<()> {
    serves_on(PodNetwork::Calico, "tc")
}
