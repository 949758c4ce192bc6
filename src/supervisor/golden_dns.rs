//! Golden files of the pod's DNS in the guest's boot arguments, for every
//! guest kind on its first monitor (a bridge pod; Linux also with an
//! initrd): one and two IPv4 nameservers, one and two IPv6, IPv4 and IPv6
//! mixed, each without and with the cluster search list, each without a
//! hosts file and with kubelet's (the pod's own name and a hostAlias), in
//! network modes routed and tc, for delivery `auto`, `bootargs` and
//! (routed) `relay`.
//! Each variant goes through the pod's resolv.conf parser and `plan_dns`,
//! then `vmm_command`; the file shows the decision (or why the choice is
//! refused) and the boot arguments alone. The files are
//! `tests/golden/dns/KIND.txt`; `UKRUN_BLESS=1 cargo test --lib golden_dns`
//! rewrites them.

use std::net::Ipv4Addr;

use super::golden::{check_golden_files, golden_dir, inputs, target, unikernel, Disk};
use super::launch::{vmm_command, LaunchInputs};
use crate::config::Config;
use crate::dns::delivery::{plan_dns, Choice, Delivery, DnsPlan, GuestDnsFacts};
use crate::dns::pod_dns::PodDns;
use crate::guest::fixtures::bridge;
use crate::guest::GuestKind;
use crate::names::Named;
use crate::net::plan::{NetworkMode, Wiring};
use crate::spec::hosts::Hosts;
use crate::spec::resolv::ResolvConf;
use crate::vmm::input::VmmCommand;
use crate::vmm::Monitor;

/// The pod's nameserver lines, by label.
const NAMESERVERS: [(&str, &[&str]); 5] = [
    ("1 IPv4", &["10.96.0.10"]),
    ("2 IPv4", &["10.96.0.10", "10.96.0.11"]),
    ("1 IPv6", &["fd00:10:96::a"]),
    ("2 IPv6", &["fd00:10:96::a", "fd00:10:96::b"]),
    ("IPv4 + IPv6", &["10.96.0.10", "fd00:10:96::a"]),
];

/// What kubelet adds to a ClusterFirst pod's resolv.conf in namespace `default`.
const CLUSTER_SEARCH: &str =
    "search default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n";

/// kubelet's hosts file for pod `web-0` with one hostAlias.
const KUBELET_HOSTS: &str = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.88.0.5\tweb-0\n\n# Entries added by HostAliases.\n10.1.2.3\tdb.remote\n";

/// The hosts file variants: the label's suffix and the file, if any.
const HOSTS: [(&str, Option<&str>); 2] = [("", None), (", kubelet hosts", Some(KUBELET_HOSTS))];

/// The pod-loopback address the relay listens on.
const POD_LOOPBACK: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// Network modes and the delivery choices each allows asking for.
const MODES: [(NetworkMode, &[Choice]); 2] = [
    (
        NetworkMode::Routed,
        &[Choice::Auto, Choice::BootArgs, Choice::Relay],
    ),
    (NetworkMode::Tc, &[Choice::Auto, Choice::BootArgs]),
];

/// One resolv.conf variant: its label and text.
fn resolv_variants() -> Vec<(String, String)> {
    let mut variants = Vec::new();
    for (label, servers) in NAMESERVERS {
        let lines: String = servers
            .iter()
            .map(|s| format!("nameserver {s}\n"))
            .collect();
        variants.push((format!("{label}, no search"), lines.clone()));
        variants.push((format!("{label}, search"), lines + CLUSTER_SEARCH));
    }
    variants
}

/// The pod's DNS as the supervisor reads it, from resolv.conf and hosts text.
fn pod_dns(text: &str, hosts: Option<&str>) -> PodDns {
    PodDns {
        resolv: Some(ResolvConf::parse(text.as_bytes()).expect("valid resolv.conf")),
        hosts: hosts.map(|h| Hosts::parse(h.as_bytes()).expect("valid hosts")),
        hostname: None,
    }
}

/// The word after `flag` in `argv`.
fn after<'a>(argv: &'a [String], flag: &str) -> &'a str {
    let at = argv.iter().position(|w| w == flag).expect("flag present");
    &argv[at + 1]
}

/// The guest's boot arguments as `monitor` carries them.
fn boot_args(monitor: Monitor, command: &VmmCommand) -> String {
    match monitor {
        Monitor::Qemu => command
            .config
            .as_deref()
            .and_then(|c| c.lines().find_map(|l| l.strip_prefix("append = \"")))
            .map(|v| v.trim_end_matches('"').to_owned())
            .unwrap_or_else(|| after(&command.argv, "-append").to_owned()),
        Monitor::CloudHypervisor => after(&command.argv, "--cmdline").to_owned(),
        Monitor::Hvt | Monitor::Spt => {
            let end = command.argv.iter().position(|w| w == "--").expect("--");
            command.argv.get(end + 2).cloned().unwrap_or_default()
        }
        Monitor::Firecracker => {
            let text = command.config.as_ref().expect("config");
            let config: serde_json::Value = serde_json::from_str(text).unwrap();
            config["boot-source"]["boot_args"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    }
}

/// The boot arguments the guest gets under `plan`.
fn render(kind: GuestKind, disk: Disk, mode: NetworkMode, pod: PodDns, plan: DnsPlan) -> String {
    let monitor = kind.caps().monitors[0];
    let config = Config::default();
    let base = inputs(kind, monitor, &plan.boot_nameservers, config.qemu.machine);
    let launch = LaunchInputs {
        wiring: Wiring {
            mode,
            pod_loopback: POD_LOOPBACK,
            dns_relay: matches!(plan.delivery, Delivery::Relay { .. }),
            ..base.wiring.clone()
        },
        pod_dns: pod,
        dns: plan,
        // One variable without white space: hermit and osv quote values
        // with spaces, which qemu's configuration cannot carry (golden.rs
        // shows that refusal).
        env: base.env.iter().take(1).cloned().collect(),
        ..base
    };
    let net = bridge();
    let unikernel = unikernel(kind, monitor, disk);
    let command = vmm_command(&launch, &unikernel, target(&net), &config).expect("renders");
    boot_args(monitor, &command)
}

/// One variant: the decision, and the boot arguments when there are any.
fn variant(kind: GuestKind, disk: Disk, mode: NetworkMode, choice: Choice, pod: PodDns) -> String {
    let facts = GuestDnsFacts {
        caps: &kind.caps(),
        linux_initrd: kind == GuestKind::Linux && matches!(disk, Disk::Initrd),
        initrd_data_bytes: 0,
        mode,
        pod_loopback: POD_LOOPBACK,
    };
    match plan_dns(choice, facts, &pod) {
        Err(e) => format!("refused: {e}\n"),
        Ok(plan) => {
            let reason = plan
                .reason
                .as_ref()
                .map(|r| format!(", for {r}"))
                .unwrap_or_default();
            let decision = format!(
                "decision: {:?}, boot nameservers {:?}{reason}\n",
                plan.delivery, plan.boot_nameservers
            );
            decision + &format!("boot args: {}\n", render(kind, disk, mode, pod, plan))
        }
    }
}

/// Every variant of one kind, as text.
fn render_kind(kind: GuestKind) -> String {
    let monitor = kind.caps().monitors[0];
    let mut disks = vec![(Disk::None, "no disk")];
    if kind == GuestKind::Linux {
        disks.push((Disk::Initrd, "initrd"));
    }
    let mut out = format!("# {} on {}, bridge pod\n", kind.name(), monitor.name());
    for (disk, disk_label) in disks {
        for (label, text) in resolv_variants() {
            for (hosts_label, hosts) in HOSTS {
                for (mode, choices) in MODES {
                    for &choice in choices {
                        out.push_str(&format!(
                            "\n== {disk_label}, {label}{hosts_label}, {mode:?}, {choice:?} ==\nresolv.conf: {}\n",
                            text.trim_end().replace('\n', " | ")
                        ));
                        let pod = pod_dns(&text, hosts);
                        out.push_str(&variant(kind, disk, mode, choice, pod));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_kind_renders_the_pods_dns_as_its_golden_file() {
    let dir = golden_dir("dns");
    let files = GuestKind::TABLE
        .iter()
        .map(|(kind, name)| (dir.join(format!("{name}.txt")), render_kind(*kind)));
    assert_eq!(check_golden_files(files), 7, "guest kinds");
}
