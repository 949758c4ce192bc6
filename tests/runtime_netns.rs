//! ukrun driven directly (as the shim drives it) on real network namespaces
//! shaped like CNI pods, with the Linux guest under qemu TCG: lifecycle,
//! data path, cleanup after crashes, and refusals of bad input.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::guest::PAGE_TEXT;
use ukrun_testbed::topology::{Shape, POD_IP};
use ukrun_testbed::{netstate, procs, sidecar, wait};

/// A guest fixture driven by this build's ukrun binary.
fn fixture(tag: &str, shape: Shape) -> Result<Fixture> {
    Fixture::new(Path::new(env!("CARGO_BIN_EXE_ukrun")), tag, shape)
}

#[test]
fn bridge_pod_guest_serves_pod_ip_and_stops_cleanly() -> Result<()> {
    let fx = fixture("br", Shape::Bridge { mtu: 1450 })?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    assert_eq!(fx.runtime.state("g1")?["status"], "created");
    let pid: i32 = std::fs::read_to_string(fx.runtime.dir.join("g1.pid"))?
        .trim()
        .parse()?;
    assert_eq!(fx.runtime.state("g1")?["pid"], pid);
    fx.start("g1")?;
    assert_eq!(fx.runtime.state("g1")?["status"], "running");
    fx.wait_ready("g1")?;
    assert!(fx.fetch_from_node()?.contains(PAGE_TEXT));
    let argv = std::fs::read_to_string(fx.runtime.log_path())?;
    assert!(
        argv.contains("host_mtu=1450"),
        "the guest learns the pod MTU: {argv}"
    );
    let out = fx.runtime.run(&["kill", "g1", "TERM"])?;
    assert!(out.status.success(), "{}", fx.runtime.last_error());
    wait::poll(
        "the container to stop",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || Ok((fx.runtime.state("g1")?["status"] == "stopped").then_some(())),
    )?;
    let log = std::fs::read_to_string(fx.runtime.log_path())?;
    assert!(
        !log.contains("graceful shutdown request failed"),
        "QMP power-down reached qemu: {log}"
    );
    let out = fx.runtime.run(&["delete", "g1"])?;
    assert!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)
}

#[test]
fn tc_mode_guest_serves_on_both_shapes() -> Result<()> {
    for (tag, shape) in [("tb", Shape::Bridge { mtu: 1450 }), ("tk", Shape::Calico)] {
        let fx = fixture(tag, shape)?;
        fx.bundle
            .edit(|c| c["annotations"]["ukrun.dev/network-mode"] = "tc".into())?;
        let before = fx.topo.pod_network_view()?;
        fx.create("g1")?;
        let view = fx.topo.pod_network_view()?;
        ensure!(
            view.contains("ingress"),
            "{tag}: tc mode adds ingress qdiscs: {view}"
        );
        fx.start("g1")?;
        fx.wait_ready("g1")?;
        ensure!(
            fx.fetch_from_node()?.contains(PAGE_TEXT),
            "{tag}: guest page"
        );
        let out = fx.runtime.run(&["delete", "--force", "g1"])?;
        ensure!(out.status.success(), "{}", fx.runtime.last_error());
        fx.assert_nothing_left(&before)?;
    }
    Ok(())
}

#[test]
fn routed_mode_sidecars_keep_their_network_and_netfilter_sees_the_guest() -> Result<()> {
    let fx = fixture("sc", Shape::Bridge { mtu: 1500 })?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    fx.start("g1")?;
    fx.wait_ready("g1")?;
    assert!(fx.fetch_from_node()?.contains(PAGE_TEXT));
    let pod = fx.topo.pod_netns();
    let node = fx.topo.node_netns();
    pod.run("nft", &["add table ip probe; add chain ip probe guest_in { type filter hook forward priority 0; }; add rule ip probe guest_in ip daddr 10.77.0.2 counter"])?;
    // (1) a sidecar opens a TCP connection to a node service and gets its answer
    let node_service = sidecar::serve_tcp_once(&node, "10.77.0.1:7001", b"from-node")?;
    let answer = pod.within(|| sidecar::read_tcp("10.77.0.1:7001".parse()?))?;
    assert_eq!(answer, "from-node");
    node_service.join().expect("node service")?;
    // (2) a sidecar listens on a port that the node reaches
    let sidecar_listener = sidecar::serve_tcp_once(&pod, "0.0.0.0:7002", b"from-sidecar")?;
    let answer = node.within(|| sidecar::read_tcp(format!("{POD_IP}:7002").parse()?))?;
    assert_eq!(answer, "from-sidecar");
    sidecar_listener.join().expect("sidecar listener")?;
    // (3) a sidecar's UDP exchange (a DNS-like query) is answered to the sidecar, not the guest
    let node_udp = sidecar::echo_udp_once(&node, "10.77.0.1:7053")?;
    let echoed = pod.within(|| sidecar::ask_udp("10.77.0.1:7053".parse()?, b"query"))?;
    assert_eq!(echoed, "query");
    node_udp.join().expect("node udp")?;
    // the guest still serves, and netfilter in the pod netns counted its packets
    assert!(fx.fetch_from_node()?.contains(PAGE_TEXT));
    let counters = pod.run("nft", &["list", "table", "ip", "probe"])?;
    let packets: u64 = counters
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        packets > 0,
        "forwarded guest packets are counted: {counters}"
    );
    pod.run("nft", &["delete", "table", "ip", "probe"])?;
    let out = fx.runtime.run(&["delete", "--force", "g1"])?;
    assert!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)
}

#[test]
fn calico_pod_guest_serves_pod_ip() -> Result<()> {
    let fx = fixture("ca", Shape::Calico)?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    fx.start("g1")?;
    fx.wait_ready("g1")?;
    assert!(fx.fetch_from_node()?.contains(PAGE_TEXT));
    let out = fx.runtime.run(&["delete", "--force", "g1"])?;
    assert!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)
}

#[test]
fn q35_machine_guest_serves_pod_ip() -> Result<()> {
    let fx = fixture("q3", Shape::Bridge { mtu: 1450 })?;
    fx.runtime.configure("machine = \"q35\"\n")?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    fx.start("g1")?;
    fx.wait_ready("g1")?;
    assert!(fx.fetch_from_node()?.contains(PAGE_TEXT));
    let log = std::fs::read_to_string(fx.runtime.log_path())?;
    assert!(
        log.contains("-M q35")
            && log.contains("virtio-net-pci,netdev=net0,mac=")
            && log.contains("host_mtu=1450"),
        "q35 with a PCI NIC that carries the pod MTU: {log}"
    );
    let out = fx.runtime.run(&["delete", "--force", "g1"])?;
    assert!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)
}

/// A stand-in for Firecracker (which needs a KVM this host cannot give):
/// it answers `--version`, reads its config file and attaches to the tap
/// by name, as Firecracker does, then waits to be killed.
const FAKE_FIRECRACKER: &str = r#"#!/usr/bin/python3
import fcntl, json, os, struct, sys, time
if sys.argv[1:] == ["--version"]:
    print("Firecracker v1.7.0")
    sys.exit(0)
config = json.load(open(sys.argv[sys.argv.index("--config-file") + 1]))
tap = config["network-interfaces"][0]["host_dev_name"]
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH22x", tap.encode(), 0x0002 | 0x1000 | 0x4000))
print("fake-firecracker attached to", tap, "with", config["boot-source"]["boot_args"], flush=True)
while True:
    time.sleep(1)
"#;

#[test]
fn monitor_that_opens_the_tap_by_name_gets_it_and_delete_removes_it() -> Result<()> {
    if !Path::new("/dev/kvm").exists() {
        eprintln!("skipped: no /dev/kvm, so ukrun refuses firecracker before the tap hand-off");
        return Ok(());
    }
    let fx = fixture("fc", Shape::Calico)?;
    let fake = fx.runtime.dir.join("firecracker");
    std::fs::write(&fake, FAKE_FIRECRACKER)?;
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    fx.runtime
        .configure(&format!("[firecracker]\nbinary = \"{}\"\n", fake.display()))?;
    fx.bundle
        .edit(|c| c["annotations"]["com.urunc.unikernel.hypervisor"] = "firecracker".into())?;
    let before = fx.topo.pod_network_view()?;
    fx.create("g1")?;
    fx.start("g1")?;
    let console = fx.runtime.console_path("g1");
    let attached = wait::poll(
        "the monitor to attach to the tap by name",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let text = std::fs::read_to_string(&console)?;
            Ok(text
                .lines()
                .find(|l| l.starts_with("fake-firecracker attached to uk-g1 with "))
                .map(str::to_owned))
        },
    )?;
    // The /32 pod's link-local gateway becomes a neighbour in a /30, which
    // the kernel's ip= accepts and the tap answers by proxy ARP.
    assert!(
        attached.contains(&format!(" ip={POD_IP}::10.77.0.1:255.255.255.252:")),
        "the config file carries the guest's network: {attached}"
    );
    let out = fx.runtime.run(&["kill", "g1", "9"])?;
    assert!(out.status.success(), "{}", fx.runtime.last_error());
    let fake_path = fake.to_string_lossy().into_owned();
    wait::poll(
        "the monitor to die with its supervisor",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || {
            let monitor_alive = procs::all().iter().any(|p| p.cmdline.contains(&fake_path));
            Ok((fx.processes().is_empty() && !monitor_alive).then_some(()))
        },
    )?;
    let out = fx.runtime.run(&["delete", "g1"])?;
    assert!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)
}

#[test]
fn killed_supervisor_takes_the_vmm_and_delete_undoes_the_rest() -> Result<()> {
    let fx = fixture("kl", Shape::Bridge { mtu: 1500 })?;
    let before = fx.topo.pod_network_view()?;
    kill_supervisor(&fx, "g1")?;
    let out = fx.runtime.run(&["delete", "g1"])?;
    assert!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)?;
    fx.create("g2")?;
    fx.start("g2")?;
    fx.wait_ready("g2")?;
    assert!(
        fx.fetch_from_node()?.contains(PAGE_TEXT),
        "a new container in the same pod netns serves"
    );
    Ok(())
}

/// A pod sandbox recreated after a crash gets a new netns at the same path:
/// the late delete of the killed container must undo nothing in it, where
/// another container wired another guest.
#[test]
fn delete_of_a_killed_container_leaves_a_recreated_pod_netns_alone() -> Result<()> {
    let shape = Shape::Bridge { mtu: 1500 };
    let mut fx = fixture("rn", shape)?;
    kill_supervisor(&fx, "g1")?;
    // Held open, the old namespace keeps its inode: the new one gets another.
    let old = std::fs::File::open(fx.topo.pod_netns().path())?;
    fx.topo.rebuild(shape)?;
    drop(old);
    let before = fx.settled_view()?;
    fx.create("g2")?;
    fx.start("g2")?;
    fx.wait_ready("g2")?;
    ensure!(fx.fetch_from_node()?.contains(PAGE_TEXT), "g2 serves");
    let wired = fx.topo.pod_network_view()?;
    let out = fx.runtime.run(&["delete", "g1"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    ensure!(
        !fx.runtime.leftover_state().contains(&"g1".to_owned()),
        "g1's state is gone"
    );
    let lines = |view: String| view.lines().map(str::to_owned).collect::<Vec<_>>();
    let changed = netstate::diff(&lines(wired), &lines(fx.topo.pod_network_view()?));
    ensure!(
        changed.is_empty(),
        "deleting g1 changed the new pod netns:\n{}",
        changed.join("\n")
    );
    let log = std::fs::read_to_string(fx.runtime.log_path())?;
    ensure!(
        log.contains("is not the one container g1 was wired in"),
        "delete says why it undid nothing: {log}"
    );
    ensure!(fx.fetch_from_node()?.contains(PAGE_TEXT), "g2 still serves");
    fx.delete_and_check("g2", &before)
}

/// The kernel gives a freed namespace's inode to the next namespace: a pod
/// netns recreated with the inode of the killed container's is still
/// another namespace (its cookie tells), and the late delete leaves what
/// its CNI set alone. Which inode the kernel gives cannot be chosen, so the
/// killed container's record is moved to the new inode, as reuse leaves it.
#[test]
fn delete_of_a_killed_container_leaves_a_netns_that_reuses_its_inode_alone() -> Result<()> {
    let shape = Shape::Bridge { mtu: 1500 };
    let mut fx = fixture("ri", shape)?;
    kill_supervisor(&fx, "g1")?;
    let old = procs::netns_inode(fx.topo.pod_netns().path())?;
    fx.topo.rebuild(shape)?;
    let new = procs::netns_inode(fx.topo.pod_netns().path())?;
    as_if_reused(&fx, "g1", old, new)?;
    fx.topo
        .pod_netns()
        .run("sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
    let before = fx.settled_view()?;
    let out = fx.runtime.run(&["delete", "g1"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    fx.assert_nothing_left(&before)?;
    let log = std::fs::read_to_string(fx.runtime.log_path())?;
    ensure!(
        log.contains("is not the one container g1 was wired in"),
        "delete says why it undid nothing: {log}"
    );
    Ok(())
}

/// Moves container `id`'s record of its pod netns (state and owner record)
/// from inode `old` to `new`, keeping the recorded cookie.
fn as_if_reused(fx: &Fixture, id: &str, old: u64, new: u64) -> Result<()> {
    let root = fx.runtime.dir.join("root/.ukrun");
    let path = root.join(id).join("state.json");
    let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    ensure!(state["netns_cookie"].is_u64(), "{id} recorded a cookie");
    state["netns_inode"] = new.into();
    std::fs::write(&path, serde_json::to_vec(&state)?)?;
    std::fs::rename(
        root.join(format!("@netns/{old}")),
        root.join(format!("@netns/{new}")),
    )?;
    Ok(())
}

/// Creates and starts `id`, then kills its supervisor with SIGKILL and
/// waits until the VMM died with it: the pod netns keeps what it wired.
fn kill_supervisor(fx: &Fixture, id: &str) -> Result<()> {
    fx.create(id)?;
    fx.start(id)?;
    let out = fx.runtime.run(&["kill", id, "9"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    wait::poll(
        "the VMM to die with its supervisor",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || Ok(fx.processes().is_empty().then_some(())),
    )?;
    ensure!(fx.runtime.state(id)?["status"] == "stopped");
    Ok(())
}

/// As kubelet does after a crash: the pod's next container is created while
/// the dead one is kept (deleted later): it undoes what the dead one left
/// and serves, and the late delete of the dead one does not touch it.
fn next_container_takes_over_from_a_killed_one(mode: &str, tag: &str) -> Result<()> {
    let fx = fixture(tag, Shape::Bridge { mtu: 1500 })?;
    fx.bundle
        .edit(|c| c["annotations"]["ukrun.dev/network-mode"] = mode.into())?;
    let before = fx.topo.pod_network_view()?;
    kill_supervisor(&fx, "g1")?;
    fx.create("g2")?;
    fx.start("g2")?;
    fx.wait_ready("g2")?;
    ensure!(
        fx.fetch_from_node()?.contains(PAGE_TEXT),
        "{mode}: the next container serves"
    );
    let out = fx.runtime.run(&["delete", "g1"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    ensure!(
        fx.fetch_from_node()?.contains(PAGE_TEXT),
        "{mode}: deleting the dead container leaves the next one serving"
    );
    fx.delete_and_check("g2", &before)
}

#[test]
fn next_container_takes_over_from_a_killed_one_routed() -> Result<()> {
    next_container_takes_over_from_a_killed_one("routed", "kr")
}

#[test]
fn next_container_takes_over_from_a_killed_one_tc() -> Result<()> {
    next_container_takes_over_from_a_killed_one("tc", "kt")
}

#[test]
fn exec_is_refused_at_once_and_unknown_ids_go_to_runc() -> Result<()> {
    let fx = fixture("ex", Shape::Bridge { mtu: 1500 })?;
    fx.create("g1")?;
    let started = Instant::now();
    let out = fx
        .runtime
        .run(&["exec", "--process", "/nonexistent.json", "--detach", "g1"])?;
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(fx
        .runtime
        .last_error()
        .contains("exec is not supported for unikernel containers"));
    let out = fx.runtime.run(&["pause", "g1"])?;
    assert!(!out.status.success());
    assert!(fx
        .runtime
        .last_error()
        .contains("pause is not supported for unikernel containers"));
    let out = fx.runtime.run(&["state", "not-ours"])?;
    assert!(
        !out.status.success(),
        "runc answers for ids ukrun does not own"
    );
    assert!(
        fx.runtime.last_error().contains("container does not exist"),
        "{}",
        fx.runtime.last_error()
    );
    let features: serde_json::Value =
        serde_json::from_slice(&fx.runtime.run(&["features"])?.stdout)?;
    assert!(features["ociVersionMax"].is_string());
    Ok(())
}

/// What the pod netns held before ukrun came stays when a step finds it
/// taken: a traffic shaper's ingress qdisc on the pod interface fails a
/// tc-mode create, the kernel's local rule moved by someone else fails a
/// routed one, and both are as they were after.
#[test]
fn a_step_that_finds_its_object_taken_leaves_that_object_alone() -> Result<()> {
    let cases: [(&str, &str, &[&[&str]], &str); 2] = [
        (
            "tq",
            "tc",
            &[&["tc", "qdisc", "add", "dev", "eth0", "ingress"]],
            "eth0 already has an ingress qdisc",
        ),
        (
            "tr",
            "routed",
            &[
                &["ip", "rule", "add", "pref", "50", "lookup", "local"],
                &["ip", "rule", "del", "pref", "0"],
            ],
            "no `lookup local` rule at priority 0",
        ),
    ];
    for (tag, mode, taken, expect) in cases {
        let fx = fixture(tag, Shape::Bridge { mtu: 1500 })?;
        fx.bundle
            .edit(|c| c["annotations"]["ukrun.dev/network-mode"] = mode.into())?;
        for command in taken {
            fx.topo.pod_netns().run(command[0], &command[1..])?;
        }
        let before = fx.settled_view()?;
        let out = fx.runtime.create(&fx.bundle.dir, "g1")?;
        ensure!(!out.status.success(), "{mode}: create fails");
        let error = fx.runtime.last_error();
        ensure!(error.contains(expect), "{mode}: create says why: {error}");
        fx.assert_nothing_left(&before)
            .with_context(|| format!("{mode} mode"))?;
    }
    Ok(())
}

/// A bad input: how to break the bundle or the pod, and what the error says.
struct BadCase {
    tag: &'static str,
    shape: Shape,
    edit: fn(&mut serde_json::Value),
    /// Lines for ukrun's config file (in `[qemu]`, then other sections).
    config: &'static str,
    expect: &'static str,
}

fn annotation(key: &'static str, value: &'static str) -> impl Fn(&mut serde_json::Value) {
    move |c| c["annotations"][format!("com.urunc.unikernel.{key}")] = value.into()
}

#[test]
fn bad_inputs_fail_create_with_one_line_and_leave_nothing() -> Result<()> {
    let cases = [
        BadCase {
            tag: "b1",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| annotation("hypervisor", "bogus")(c),
            config: "",
            expect: "unknown hypervisor \"bogus\"",
        },
        BadCase {
            tag: "b2",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| annotation("binary", "/boot/../../etc/passwd")(c),
            config: "",
            expect: "contains `..`",
        },
        BadCase {
            tag: "b3",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| annotation("initrd", "/boot/missing.img")(c),
            config: "",
            expect: "\"/boot/missing.img\" is missing",
        },
        BadCase {
            tag: "b4",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| annotation("unikernelType", "rumprun")(c),
            config: "",
            expect: "unikernel type \"rumprun\" does not run on hypervisor \"qemu\" (rumprun runs on: hvt, spt)",
        },
        BadCase {
            tag: "b5",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| c["linux"]["namespaces"][0] = serde_json::json!({"type": "network"}),
            config: "",
            expect: "no network namespace path",
        },
        BadCase {
            tag: "b6",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 16777216}}),
            config: "",
            expect: "memory limit of 16 MiB is below",
        },
        BadCase {
            tag: "b7",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| c["process"]["terminal"] = true.into(),
            config: "",
            expect: "terminal (tty) mode is not supported",
        },
        BadCase {
            tag: "b8",
            shape: Shape::Empty,
            edit: |_| {},
            config: "",
            expect: "no interface besides loopback",
        },
        BadCase {
            tag: "b9",
            shape: Shape::NoAddress,
            edit: |_| {},
            config: "",
            expect: "pod interface eth0 has no IPv4 address",
        },
        BadCase {
            tag: "ba",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| c["hostname"] = "bad host".into(),
            config: "",
            expect: "pod hostname \"bad host\" is not a valid DNS name",
        },
        BadCase {
            tag: "bb",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| c["linux"]["namespaces"][0]["path"] = "/run/netns/ukrun-missing".into(),
            config: "",
            expect: "cannot open namespace /run/netns/ukrun-missing",
        },
        BadCase {
            tag: "bc",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| annotation("unikernelType", "plan9")(c),
            config: "",
            expect: "unknown unikernel type \"plan9\" in com.urunc.unikernel.unikernelType",
        },
        BadCase {
            tag: "bd",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| annotation("hypervisor", "firecracker")(c),
            config: "[firecracker]\nbinary = \"/nonexistent/firecracker\"\n",
            expect: "/nonexistent/firecracker not found: install it or set [firecracker] binary in ",
        },
        BadCase {
            tag: "be",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| annotation("unikernelVersion", "banana")(c),
            config: "",
            expect: "com.urunc.unikernel.unikernelVersion \"banana\" is not a version",
        },
        BadCase {
            tag: "bf",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |_| {},
            config: "binary = \"/bin/false\"\n",
            expect: "/bin/false cannot run here: -help exited with exit status: 1",
        },
        BadCase {
            tag: "bg",
            shape: Shape::Bridge { mtu: 1500 },
            edit: |c| annotation("unikernelType", "mewz")(c),
            config: "",
            expect: "unikernel type \"mewz\" cannot use an initrd (com.urunc.unikernel.initrd)",
        },
    ];
    let mut failures = Vec::new();
    for case in cases {
        let fx = fixture(case.tag, case.shape)?;
        fx.bundle.edit(case.edit)?;
        fx.runtime.configure(case.config)?;
        let before = fx.settled_view()?;
        let out = fx.runtime.create(&fx.bundle.dir, "bad")?;
        let error = fx.runtime.last_error();
        if out.status.success() || !error.contains(case.expect) || error.contains('\n') {
            failures.push(format!(
                "{}: exit {:?}, error {error:?}, expected {:?}",
                case.tag,
                out.status.code(),
                case.expect
            ));
        }
        if let Err(e) = fx.assert_nothing_left(&before) {
            failures.push(format!("{}: {e:#}", case.tag));
        }
    }
    ensure!(failures.is_empty(), "bad inputs:\n{}", failures.join("\n"));
    Ok(())
}
