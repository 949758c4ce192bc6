//! Pod network checks: the pod interface, the mode, the tap (present, up,
//! MTU), the guest's MTU against the pod interface's, and tc mode's cost
//! to sidecars.

use super::{in_pod, Input};
use crate::doctor::check::{Check, Verdict};
use crate::net::observe::ObserveError;
use crate::net::plan::NetworkMode;
use crate::net::steps::NetStep;
use crate::net::{format_mac, PodInterface};

/// The MTU a guest keeps when its monitor passes none.
const DEFAULT_GUEST_MTU: u32 = 1500;

/// The pod network checks.
pub fn checks(input: &Input<'_>, pod: &Result<PodInterface, ObserveError>) -> Vec<Check> {
    let mut checks = vec![interface(pod), mode(input)];
    let recorded_mtu = input.expect.steps.iter().find_map(|s| match s {
        NetStep::Tap { name, mtu } => Some((name.as_str(), *mtu)),
        _ => None,
    });
    if let Some((tap, mtu)) = recorded_mtu {
        checks.extend(tap_checks(input, tap, mtu, pod.as_ref().ok()));
        if let Ok(pod) = pod {
            checks.push(guest_mtu(input, mtu, pod));
        }
    }
    if input.expect.mode == Some(NetworkMode::Tc) {
        let name = pod
            .as_ref()
            .map_or("the pod interface", |p| p.name.as_str());
        checks.push(Check::new(
            "tc.sidecars",
            Verdict::Warn,
            "sidecars keep their network",
            format!("tc mode redirects every packet of {name} to the guest: sidecars have no network beyond the pod's loopback"),
            "use the annotation ukrun.dev/network-mode: routed when the pod has sidecars",
        ));
    }
    checks
}

fn interface(pod: &Result<PodInterface, ObserveError>) -> Check {
    let expected = "the default route's interface (else the only one) with an IPv4 address";
    match pod {
        Ok(p) => Check::pass(
            "pod.interface",
            expected,
            format!(
                "{} {}/{} mtu {} mac {}",
                p.name,
                p.ipv4,
                p.prefix,
                p.mtu,
                format_mac(&p.mac)
            ),
        ),
        Err(e) => Check::new(
            "pod.interface",
            Verdict::Fail,
            expected,
            e.to_string(),
            "the CNI's interface or address is gone: the pod network is broken outside ukrun; recreate the pod",
        ),
    }
}

fn mode(input: &Input<'_>) -> Check {
    let expected = "a ukrun guest wired in tc or routed mode";
    match (input.expect.mode, &input.expect.tap) {
        (Some(mode), Some(tap)) => Check::pass(
            "pod.mode",
            expected,
            format!("{} (tap {tap})", if mode == NetworkMode::Tc { "tc" } else { "routed" }),
        ),
        (_, tap) => Check::new(
            "pod.mode",
            Verdict::Fail,
            expected,
            match tap {
                Some(tap) => format!("tap {tap}, but the pod interface cannot be told"),
                None => "no ukrun tap (uk-…) and no recorded network steps".to_owned(),
            },
            "no unikernel container is wired to this pod netns: is it created? `ukrun doctor ID` names one",
        ),
    }
}

fn tap_checks(
    input: &Input<'_>,
    tap: &str,
    recorded_mtu: u32,
    pod: Option<&PodInterface>,
) -> Vec<Check> {
    let Some(link) = input.snap.view.link(tap) else {
        return vec![Check::new(
            "tap.present",
            Verdict::Fail,
            format!("tap {tap}"),
            "no such interface",
            "the tap lives while the supervisor and the VMM hold it: it is gone, so is the guest's link; recreate the container",
        )];
    };
    let present = Check::judge(
        "tap.present",
        link.tun,
        format!("tap {tap}"),
        format!(
            "{tap}, index {}, {}",
            link.summary.index,
            if link.tun {
                "tun/tap"
            } else {
                "not a tun/tap device"
            }
        ),
        format!("another interface took the name {tap}: delete it and recreate the container"),
    );
    let up = Check::judge(
        "tap.up",
        link.up,
        "up",
        match (link.up, link.lower_up) {
            (true, true) => "up, carrier (the VMM or supervisor holds it)",
            (true, false) => "up, no carrier (nothing holds it)",
            (false, _) => "down",
        },
        in_pod(input.netns, &format!("ip link set {tap} up")),
    );
    let found = link.summary.mtu;
    let pod_mtu = pod.map_or(found, |p| p.mtu);
    let (verdict, hint) = if found != recorded_mtu {
        (
            Verdict::Fail,
            in_pod(
                input.netns,
                &format!("ip link set {tap} mtu {recorded_mtu}"),
            ),
        )
    } else if found != pod_mtu {
        (
            Verdict::Warn,
            format!("the pod interface's MTU changed to {pod_mtu} after create: see guest.mtu"),
        )
    } else {
        (Verdict::Pass, String::new())
    };
    let mtu = Check::new(
        "tap.mtu",
        verdict,
        format!("{recorded_mtu}, the pod interface's MTU at create (now {pod_mtu})"),
        found.to_string(),
        hint,
    );
    vec![present, up, mtu]
}

fn guest_mtu(input: &Input<'_>, recorded: u32, pod: &PodInterface) -> Check {
    let argv = input
        .container
        .map(|c| c.state.vmm_argv.as_slice())
        .unwrap_or_default();
    let (mtu, source) = match (argv.is_empty(), mtu_in_argv(argv)) {
        (true, _) => (recorded, "the network plan"),
        (false, Some(mtu)) => (mtu, "the VMM's argv"),
        (false, None) => (
            DEFAULT_GUEST_MTU,
            "the guest's default: its monitor passes no MTU",
        ),
    };
    Check::judge(
        "guest.mtu",
        mtu <= pod.mtu,
        format!("at most {}, the MTU of {}", pod.mtu, pod.name),
        format!("{mtu} (from {source})"),
        format!(
            "the guest sends frames of {mtu} bytes that {} (MTU {}) drops: the pod's MTU changed after create; recreate the container so the guest takes {}, or set {} back to {mtu}",
            pod.name, pod.mtu, pod.mtu, pod.name
        ),
    )
}

/// The MTU a monitor's argv gives the guest: qemu's `host_mtu=`, Cloud
/// Hypervisor's `mtu=`, inside comma-separated device options.
pub fn mtu_in_argv(argv: &[String]) -> Option<u32> {
    argv.iter()
        .flat_map(|arg| arg.split(','))
        .find_map(|opt| {
            opt.strip_prefix("host_mtu=")
                .or_else(|| opt.strip_prefix("mtu="))
        })
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_from_qemu_and_cloud_hypervisor_argv() {
        let qemu = [
            "-device".to_owned(),
            "virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01,host_mtu=1450".to_owned(),
        ];
        assert_eq!(mtu_in_argv(&qemu), Some(1450));
        let ch = [
            "--net".to_owned(),
            "tap=uk-c1,mac=0a:58:0a:58:00:05,mtu=1400".to_owned(),
        ];
        assert_eq!(mtu_in_argv(&ch), Some(1400));
        assert_eq!(mtu_in_argv(&["--no-api".to_owned()]), None);
    }
}
