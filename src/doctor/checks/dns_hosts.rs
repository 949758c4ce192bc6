//! `dns.hosts`: whether the guest can resolve the names of the pod's hosts
//! file beyond the standard loopback ones (the pod's own name, its
//! hostAliases). Only a Linux guest with files delivery has that file; any
//! other guest resolves those names only through the relay, which answers
//! from it, and tc mode has no relay.

use crate::dns::delivery::{Delivery, DnsPlan};
use crate::dns::pod_dns::PodDns;
use crate::doctor::check::{Check, Verdict};
use crate::limits::excerpt;
use crate::net::plan::NetworkMode;

/// The check's name.
const NAME: &str = "dns.hosts";

/// Judges the delivery in `plan` against the pod's hosts file; `mode` is
/// the container's network mode, when known.
pub fn check(plan: &DnsPlan, pod: &PodDns, mode: Option<NetworkMode>) -> Check {
    let expected =
        "the names of the pod's hosts file (its own name, hostAliases) resolvable by the guest";
    let Some(name) = pod.hosts.as_ref().and_then(|h| h.first_pod_name()) else {
        return Check::pass(
            NAME,
            expected,
            "the pod's hosts file names nothing beyond localhost",
        );
    };
    let name = excerpt(name);
    let found = match &plan.delivery {
        Delivery::Files => return Check::pass(NAME, expected, "the guest's /etc/hosts is the pod's"),
        Delivery::Relay { .. } => {
            return Check::pass(NAME, expected, "answered by the relay from the pod's hosts file")
        }
        Delivery::BootArgs if mode == Some(NetworkMode::Tc) => format!(
            "{name} does not resolve: the guest has no hosts file, asks the pod's nameservers, and tc mode has no relay"
        ),
        Delivery::BootArgs => format!(
            "{name} does not resolve: the guest has no hosts file and asks the pod's nameservers"
        ),
        Delivery::None(_) => format!("{name} does not resolve: the guest has no resolver"),
    };
    Check::new(
        NAME,
        Verdict::Warn,
        expected,
        found,
        "use network mode routed, where ukrun.dev/dns-delivery auto (or relay) points the guest at the relay, which answers from the pod's hosts file; or give the name a DNS record",
    )
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::spec::hosts::Hosts;

    fn plan(delivery: Delivery) -> DnsPlan {
        DnsPlan {
            delivery,
            boot_nameservers: vec![Ipv4Addr::new(10, 96, 0, 10)],
            fallback: None,
            reason: None,
        }
    }

    fn pod(hosts: &str) -> PodDns {
        PodDns {
            hosts: Some(Hosts::parse(hosts.as_bytes()).unwrap()),
            ..PodDns::default()
        }
    }

    const KUBELET: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n10.88.0.5\tweb-0\n";

    #[test]
    fn a_unikraft_guest_in_tc_mode_is_told_it_cannot_resolve_the_pods_names() {
        let c = check(
            &plan(Delivery::BootArgs),
            &pod(KUBELET),
            Some(NetworkMode::Tc),
        );
        assert_eq!(c.verdict, Verdict::Warn);
        assert_eq!(
            c.found,
            "\"web-0\" does not resolve: the guest has no hosts file, asks the pod's nameservers, and tc mode has no relay"
        );
        assert!(c.hint.contains("network mode routed"), "{}", c.hint);
    }

    #[test]
    fn files_the_relay_or_no_pod_name_pass() {
        let routed = Some(NetworkMode::Routed);
        for delivery in [Delivery::Files, Delivery::Relay { apply_search: true }] {
            let c = check(&plan(delivery), &pod(KUBELET), routed);
            assert_eq!(c.verdict, Verdict::Pass, "{}", c.found);
        }
        let bare = check(
            &plan(Delivery::BootArgs),
            &pod("127.0.0.1 localhost\n"),
            routed,
        );
        assert_eq!(bare.verdict, Verdict::Pass);
        let none = check(&plan(Delivery::BootArgs), &PodDns::default(), routed);
        assert_eq!(none.verdict, Verdict::Pass);
        let asked = check(&plan(Delivery::BootArgs), &pod(KUBELET), routed);
        assert_eq!(
            asked.verdict,
            Verdict::Warn,
            "bootargs asked for in routed mode"
        );
    }
}
