//! Golden files for every guest kind on every monitor that runs it: the
//! exact argv and config file for a bridge-style and a Calico-style pod,
//! with one and two resolvers, with no disk, an initrd or a block device
//! (each where the kind takes it). The files are `tests/golden/KIND-MONITOR.txt`;
//! `UKRUN_BLESS=1 cargo test --lib golden` rewrites them after a deliberate
//! change, to be reviewed in the diff.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::launch::{vmm_command, LaunchInputs, Target};
use crate::config::{Config, Machine};
use crate::dns::delivery::{Delivery, DnsPlan};
use crate::dns::pod_dns::PodDns;
use crate::guest::caps::Rootfs;
use crate::guest::fixtures::{bridge, calico, NS1, NS2};
use crate::guest::GuestKind;
use crate::jail::fds;
use crate::jail::limits::VmmLimits;
use crate::names::Named;
use crate::net::plan::{GuestNet, NetworkMode, Wiring};
use crate::spec::unikernel::{Block, Unikernel};
use crate::vmm::input::TapAccess;
use crate::vmm::qemu::ResolvedAccel;
use crate::vmm::Monitor;

/// The image's own command line per kind, as such images ship it.
fn image_cmdline(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Linux => "init=/init",
        GuestKind::Unikraft => "/nginx -c /nginx/conf/nginx.conf",
        GuestKind::Mirage => "--port=8080",
        GuestKind::Rumprun => "/bin/httpd -p 80",
        GuestKind::Osv => "/hello",
        GuestKind::Hermit => "serve 8080",
        GuestKind::Mewz => "",
    }
}

/// What the guest boots with besides its kernel.
#[derive(Clone, Copy)]
pub(super) enum Disk {
    /// Nothing.
    None,
    /// An initrd.
    Initrd,
    /// A block device.
    Block,
}

/// The container's unikernel annotations for `kind` on `monitor`.
pub(super) fn unikernel(kind: GuestKind, monitor: Monitor, disk: Disk) -> Unikernel {
    Unikernel {
        kind,
        monitor,
        kernel: "/rootfs/unikernel/kernel".into(),
        initrd: matches!(disk, Disk::Initrd).then(|| "/rootfs/unikernel/initrd".into()),
        block: matches!(disk, Disk::Block).then(|| Block {
            path: "/rootfs/unikernel/disk.img".into(),
            mount_point: "/data".into(),
        }),
        cmdline: image_cmdline(kind).into(),
        version: (kind == GuestKind::Unikraft).then(|| "0.17.0".into()),
    }
}

/// Launch inputs for a tc-mode pod whose resolvers go on the boot command line.
pub(super) fn inputs(
    kind: GuestKind,
    monitor: Monitor,
    nameservers: &[Ipv4Addr],
    machine: Machine,
) -> LaunchInputs {
    let linux_microvm =
        kind == GuestKind::Linux && monitor == Monitor::Qemu && machine == Machine::Microvm;
    LaunchInputs {
        binary: PathBuf::from(monitor.default_binary()),
        version: Some("1.0.0".into()),
        sandbox: monitor == Monitor::Qemu,
        memory_mib: 256,
        accel: ResolvedAccel::Tcg,
        hostname: Some("web-0".into()),
        tsc_khz: linux_microvm.then_some(2_596_126),
        env: if kind.caps().env {
            vec!["PATH=/bin".into(), "GREETING=hello world".into()]
        } else {
            Vec::new()
        },
        env_withheld: Vec::new(),
        limits: VmmLimits::new(256, 64, None),
        cgroup: None,
        nameservers: nameservers.to_vec(),
        wiring: Wiring {
            mode: NetworkMode::Tc,
            pod_loopback: Ipv4Addr::new(169, 254, 1, 1),
            localhost_ports: Vec::new(),
            dns_relay: false,
        },
        pod_dns: PodDns::default(),
        dns: DnsPlan {
            delivery: Delivery::BootArgs,
            boot_nameservers: nameservers.to_vec(),
            fallback: None,
            reason: None,
        },
    }
}

/// Where every golden command is rendered for: tap `uk-c1` in container `c1`.
pub(super) fn target(net: &GuestNet) -> Target<'_> {
    Target {
        net,
        tap: "uk-c1",
        control_socket: Path::new("qmp.sock"),
    }
}

/// Every variant of one kind on one monitor, rendered as text.
fn render_all(kind: GuestKind, monitor: Monitor) -> String {
    let rootfs = kind.caps().rootfs;
    let mut disks = vec![(Disk::None, "no disk")];
    if rootfs.contains(&Rootfs::Initrd) {
        disks.push((Disk::Initrd, "initrd"));
    }
    if rootfs.contains(&Rootfs::Block) {
        disks.push((Disk::Block, "block device"));
    }
    let machines: &[Machine] = if kind == GuestKind::Linux && monitor == Monitor::Qemu {
        &[Machine::Microvm, Machine::Q35]
    } else {
        &[Machine::Q35]
    };
    let pods: [(&str, GuestNet); 2] = [("bridge pod", bridge()), ("calico pod", calico())];
    let mut out = format!("# {} on {}\n", kind.name(), monitor.name());
    for &machine in machines {
        let mut config = Config::default();
        config.qemu.machine = machine;
        config.guest.vcpus = 2;
        for (pod, net) in &pods {
            for (ns_label, ns) in [("1 resolver", NS1), ("2 resolvers", NS2)] {
                for (disk, disk_label) in &disks {
                    let machine_label = if machines.len() > 1 {
                        format!("{machine:?}, ")
                    } else {
                        String::new()
                    };
                    out.push_str(&format!(
                        "\n== {machine_label}{pod}, {ns_label}, {disk_label} ==\n"
                    ));
                    let command = match vmm_command(
                        &inputs(kind, monitor, ns, machine),
                        &unikernel(kind, monitor, *disk),
                        target(net),
                        &config,
                    ) {
                        Ok(command) => command,
                        Err(e) => {
                            out.push_str(&format!("refused: {e}\n"));
                            continue;
                        }
                    };
                    for word in command.display() {
                        out.push_str(&format!("  {word}\n"));
                    }
                    let tap = match command.tap {
                        TapAccess::Fd(n) => format!("tap: fd {n}\n"),
                        TapAccess::ByName => "tap: opened by name\n".to_owned(),
                    };
                    out.push_str(&tap);
                    let files: Vec<String> = command
                        .files
                        .iter()
                        .map(|f| format!("{f:?} fd {}", f.fd()))
                        .collect();
                    out.push_str(&format!("files: {}\n", files.join(", ")));
                    if let Some(config) = &command.config {
                        out.push_str(&format!("config (fd {}):\n{config}", fds::CONFIG));
                    }
                }
            }
        }
    }
    out
}

/// The golden files' directory, `sub` under `tests/golden`.
pub(super) fn golden_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(sub)
}

/// Rewrites `path` with `rendered` under `UKRUN_BLESS`, else compares
/// them: the first differing line, if any.
fn bless_or_compare(path: &Path, rendered: &str) -> Option<String> {
    if std::env::var_os("UKRUN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("in a directory")).unwrap();
        std::fs::write(path, rendered).unwrap();
        return None;
    }
    let golden = std::fs::read_to_string(path).unwrap_or_default();
    if golden == rendered {
        return None;
    }
    let line = golden
        .lines()
        .zip(rendered.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(golden.lines().count().min(rendered.lines().count()));
    Some(format!(
        "{}: first difference at line {}: golden {:?}, rendered {:?}",
        path.display(),
        line + 1,
        golden.lines().nth(line),
        rendered.lines().nth(line)
    ))
}

/// Blesses or checks every `(path, rendered)` pair, fails on any
/// difference, and returns how many files there were.
pub(super) fn check_golden_files(files: impl IntoIterator<Item = (PathBuf, String)>) -> usize {
    let mut count = 0;
    let mismatches: Vec<String> = files
        .into_iter()
        .inspect(|_| count += 1)
        .filter_map(|(path, rendered)| bless_or_compare(&path, &rendered))
        .collect();
    assert!(
        mismatches.is_empty(),
        "golden files differ (UKRUN_BLESS=1 rewrites them):\n{}",
        mismatches.join("\n")
    );
    count
}

#[test]
fn every_kind_on_every_monitor_matches_its_golden_file() {
    let dir = golden_dir("");
    let files = GuestKind::TABLE.iter().flat_map(|(kind, _)| {
        let dir = &dir;
        kind.caps().monitors.iter().map(move |monitor| {
            let path = dir.join(format!("{}-{}.txt", kind.name(), monitor.name()));
            (path, render_all(*kind, *monitor))
        })
    });
    assert_eq!(check_golden_files(files), 13, "kind × monitor pairs");
}
