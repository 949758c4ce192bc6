//! The checks: pure functions from the snapshot, the expectation and the
//! recorded state to verdicts, in the order of the chain (runtime, pod
//! network, data path, localhost, DNS, reachability).

pub mod dns;
pub mod dns_hosts;
pub mod localhost;
pub mod nft;
pub mod pod;
pub mod reach;
pub mod routed;
pub mod runtime;
pub mod tc;

use std::net::Ipv4Addr;
use std::path::Path;

use super::check::{Check, Verdict};
use super::expect::Expectation;
use super::read::host::ContainerFacts;
use super::read::Snapshot;
use crate::net::steps::NetStep;

/// Everything the checks judge.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The pod netns (named in fix commands).
    pub netns: &'a Path,
    /// What must exist.
    pub expect: &'a Expectation,
    /// What was observed.
    pub snap: &'a Snapshot,
    /// The container, when one was named.
    pub container: Option<&'a ContainerFacts>,
    /// The configured pod-loopback address (for a plan rebuilt without one).
    pub default_loopback: Ipv4Addr,
}

/// Every check, in order.
pub fn all(input: &Input<'_>) -> Vec<Check> {
    let pod = input.snap.view.pod_interface(input.expect.tap.as_deref());
    let mut checks: Vec<Check> = input.container.map(runtime::checks).unwrap_or_default();
    checks.extend(pod::checks(input, &pod));
    checks.extend(input.expect.steps.iter().filter_map(|s| step(input, s)));
    let guest_running = input.container.is_none_or(|c| c.vmm_alive);
    let path_ok = guest_running && !checks.iter().any(|c| c.verdict == Verdict::Fail);
    checks.extend(localhost::checks(input, path_ok));
    if let Some(container) = input.container {
        checks.extend(dns::checks(input, container));
    }
    if let Ok(pod) = &pod {
        checks.extend(reach::checks(input, pod, guest_running));
    }
    checks
}

/// The check of one recorded step (the tap has its own, in `pod`).
fn step(input: &Input<'_>, step: &NetStep) -> Option<Check> {
    let view = &input.snap.view;
    Some(match step {
        NetStep::Tap { .. } => return None,
        NetStep::IngressQdisc { interface, .. } => tc::qdisc(input.netns, view, interface),
        NetStep::Redirect { from, to } => tc::redirect(input.netns, view, from, to),
        NetStep::Nftables { table, ruleset } => nft::table(input, table, ruleset),
        other => routed::step(input, other)?,
    })
}

/// A fix command to run inside the pod netns.
pub fn in_pod(netns: &Path, command: &str) -> String {
    format!("nsenter --net={} {command}", netns.display())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::doctor::read::arp::ArpProbe;
    use crate::doctor::read::links::{Address, Link, Route};
    use crate::doctor::read::tc::IngressFilter;
    use crate::doctor::read::view::NetView;
    use crate::net::observe::LinkSummary;
    use crate::net::plan::plan_tc;
    use crate::net::PodInterface;

    const POD_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn link(index: u32, name: &str, tun: bool) -> Link {
        Link {
            summary: LinkSummary {
                index,
                name: name.into(),
                mac: Some([2, 0, 0, 0, 0, index as u8]),
                mtu: 1500,
                loopback: false,
            },
            up: true,
            lower_up: true,
            tun,
        }
    }

    /// A tc-mode pod netns as ukrun leaves it, and the plan it recorded.
    fn healthy_tc() -> (Expectation, Snapshot) {
        let pod = PodInterface {
            name: crate::net::ifname::IfName::new("eth0").unwrap(),
            index: 2,
            mac: POD_MAC,
            mtu: 1500,
            ipv4: Ipv4Addr::new(10, 77, 0, 2),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(10, 77, 0, 1)),
        };
        let filter = |index, to| IngressFilter {
            index,
            kind: "u32".into(),
            redirect_to: vec![to],
        };
        let view = NetView {
            links: vec![link(2, "eth0", false), link(3, "uk-g1", true)],
            addresses: vec![Address {
                index: 2,
                ip: IpAddr::V4(pod.ipv4),
                prefix: 24,
            }],
            routes: vec![Route {
                table: 254,
                destination: None,
                prefix: 0,
                oif: Some(2),
                gateway: pod.gateway,
                source: None,
            }],
            rules: vec![],
            ingress: vec![2, 3],
            filters: vec![filter(2, 3), filter(3, 2)],
        };
        let snapshot = Snapshot {
            view,
            nft: None,
            sysctls: vec![],
            listeners: vec![],
            arp: Some(Ok(ArpProbe::Answered {
                mac: POD_MAC,
                millis: 1,
            })),
            tcp: vec![],
            dns: vec![],
        };
        let steps = plan_tc(&pod, "g1").steps;
        (Expectation::recorded(&steps, vec![]), snapshot)
    }

    fn verdicts(expect: &Expectation, snap: &Snapshot, verdict: Verdict) -> Vec<String> {
        let input = Input {
            netns: Path::new("/run/netns/p"),
            expect,
            snap,
            container: None,
            default_loopback: Ipv4Addr::new(169, 254, 1, 1),
        };
        all(&input)
            .into_iter()
            .filter(|c| c.verdict == verdict)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn a_healthy_tc_pod_warns_only_about_sidecars() {
        let (expect, snap) = healthy_tc();
        assert_eq!(
            verdicts(&expect, &snap, Verdict::Fail),
            Vec::<String>::new()
        );
        assert_eq!(verdicts(&expect, &snap, Verdict::Warn), ["tc.sidecars"]);
    }

    #[test]
    fn a_missing_filter_fails_its_own_check_only() {
        let (expect, mut snap) = healthy_tc();
        snap.view.filters.retain(|f| f.index != 3);
        assert_eq!(
            verdicts(&expect, &snap, Verdict::Fail),
            ["tc.filter.uk-g1>eth0"]
        );
        snap.view.links[1].summary.mtu = 9000;
        snap.arp = Some(Ok(ArpProbe::Silent));
        assert_eq!(
            verdicts(&expect, &snap, Verdict::Fail),
            ["tap.mtu", "tc.filter.uk-g1>eth0", "reach.arp"]
        );
    }
}
