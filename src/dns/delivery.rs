//! How the pod's DNS reaches a guest (pure): the best fidelity the guest
//! supports, unless the container chooses (`ukrun.dev/dns-delivery`).
//! 1. files: resolv.conf, hosts and hostname byte for byte (Linux initrd);
//! 2. boot arguments: nameservers in the guest's own syntax;
//! 3. relay: a DNS relay on the pod-loopback address, for loopback-only
//!    resolvers, for guests that cannot apply the search list, and for
//!    guests without the pod's hosts file when it names the pod or a
//!    hostAlias.
//!
//! Never a made-up resolver: a pod without nameservers gives none.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::guest::caps::{Capabilities, DnsArgs};
use crate::limits::FILES_DELIVERY_INITRD_DATA_BYTES;
use crate::net::plan::NetworkMode;

use super::pod_dns::PodDns;
use crate::limits::excerpt;
use crate::spec::hosts::Hosts;

/// Annotation choosing the delivery.
pub const DNS_DELIVERY: &str = "ukrun.dev/dns-delivery";

/// What the container asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// ukrun decides.
    Auto,
    /// Files in the guest.
    Files,
    /// Boot arguments.
    BootArgs,
    /// The relay.
    Relay,
}

impl Choice {
    /// Parses the annotation value.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "auto" => Some(Self::Auto),
            "files" => Some(Self::Files),
            "bootargs" => Some(Self::BootArgs),
            "relay" => Some(Self::Relay),
            _ => None,
        }
    }
}

/// How the guest gets the pod's DNS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Nothing: the reason says why (logged).
    None(String),
    /// The pod's files appended to the initrd.
    Files,
    /// Nameservers on the boot command line.
    BootArgs,
    /// The relay on the pod-loopback address, applying the search list
    /// when the guest cannot.
    Relay {
        /// Whether the relay applies the pod's search list and ndots.
        apply_search: bool,
    },
}

/// The decision and what goes on the guest's command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsPlan {
    /// How.
    pub delivery: Delivery,
    /// Nameservers for the guest's boot arguments (may be empty).
    pub boot_nameservers: Vec<Ipv4Addr>,
    /// Why a better delivery was not possible, when one was wanted (logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// What `auto` chose the relay for (logged: "relay … for REASON").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why the delivery cannot be what was asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    /// Unknown annotation value.
    #[error(
        "annotation {DNS_DELIVERY}: unknown delivery {} (use auto, files, bootargs or relay)",
        excerpt(.0)
    )]
    Unknown(String),
    /// The guest cannot take what was asked.
    #[error("{DNS_DELIVERY}: {0}")]
    Unsupported(String),
}

/// What the decision depends on besides the pod's files.
#[derive(Clone, Copy, Debug)]
pub struct GuestDnsFacts<'a> {
    /// The guest kind's capabilities.
    pub caps: &'a Capabilities,
    /// Whether the guest is Linux with an initrd (files can be appended).
    pub linux_initrd: bool,
    /// Bytes of data (holes excluded) in that initrd, which files delivery copies.
    pub initrd_data_bytes: u64,
    /// Network mode (the relay needs routed).
    pub mode: NetworkMode,
    /// The pod-loopback address (the relay's).
    pub pod_loopback: Ipv4Addr,
}

/// The pod's nameservers as the guest sees them.
struct Servers {
    /// Every nameserver, in resolv.conf order.
    all: Vec<IpAddr>,
    /// The IPv4 ones that are not loopback: the only ones the guest can
    /// reach directly (its network is the pod's IPv4 address).
    reachable: Vec<Ipv4Addr>,
    /// Whether the pod has a search list.
    has_search: bool,
}

impl Servers {
    fn of(pod: &PodDns) -> Self {
        let all: Vec<IpAddr> = pod
            .resolv
            .as_ref()
            .map(|r| r.nameservers.clone())
            .unwrap_or_default();
        let reachable = all
            .iter()
            .filter_map(|s| match s {
                IpAddr::V4(v4) if !v4.is_loopback() => Some(*v4),
                _ => None,
            })
            .collect();
        let has_search = pod.resolv.as_ref().is_some_and(|r| !r.search.is_empty());
        Servers {
            all,
            reachable,
            has_search,
        }
    }

    /// Whether some nameserver (loopback or IPv6) is reachable only
    /// through the relay.
    fn some_unreachable(&self) -> bool {
        self.reachable.len() < self.all.len()
    }
}

/// The relay, which applies the pod's search list: the relay's address is
/// all the guest is told, so the guest's resolver never sees that list.
fn relay(guest: &GuestDnsFacts<'_>, reason: Option<String>) -> DnsPlan {
    DnsPlan {
        delivery: Delivery::Relay { apply_search: true },
        boot_nameservers: vec![guest.pod_loopback],
        fallback: None,
        reason,
    }
}

fn plan(delivery: Delivery, boot_nameservers: Vec<Ipv4Addr>) -> Result<DnsPlan, DeliveryError> {
    Ok(DnsPlan {
        delivery,
        boot_nameservers,
        fallback: None,
        reason: None,
    })
}

/// Why the pod's files cannot be appended to the guest's initrd, if they
/// cannot.
fn files_refusal(guest: &GuestDnsFacts<'_>) -> Option<String> {
    if !guest.linux_initrd {
        return Some("files need a Linux guest with an initrd".into());
    }
    let data = guest.initrd_data_bytes;
    (data > FILES_DELIVERY_INITRD_DATA_BYTES).then(|| {
        format!(
            "files delivery copies the initrd, which holds {data} bytes of data, more than the cap of {FILES_DELIVERY_INITRD_DATA_BYTES} bytes"
        )
    })
}

/// Boot arguments with the reachable nameservers the guest's syntax carries.
fn boot_args(guest: &GuestDnsFacts<'_>, servers: &Servers) -> Result<DnsPlan, DeliveryError> {
    let carried = guest.caps.dns.pick(&servers.reachable);
    plan(Delivery::BootArgs, carried.to_vec())
}

fn unsupported(why: &str) -> Result<DnsPlan, DeliveryError> {
    Err(DeliveryError::Unsupported(why.to_owned()))
}

/// Decides the delivery.
pub fn plan_dns(
    choice: Choice,
    guest: GuestDnsFacts<'_>,
    pod: &PodDns,
) -> Result<DnsPlan, DeliveryError> {
    let servers = Servers::of(pod);
    let takes_args = guest.caps.dns != DnsArgs::None;
    let routed = guest.mode == NetworkMode::Routed;
    match choice {
        Choice::Files => match files_refusal(&guest) {
            Some(why) => unsupported(&why),
            None => plan(Delivery::Files, Vec::new()),
        },
        Choice::BootArgs if !takes_args => {
            unsupported("this guest kind takes no DNS boot argument")
        }
        Choice::BootArgs if servers.reachable.is_empty() => {
            unsupported("the pod has no IPv4 nameserver the guest can reach directly")
        }
        Choice::BootArgs => boot_args(&guest, &servers),
        Choice::Relay if !routed => unsupported("the relay needs network mode routed"),
        Choice::Relay if !takes_args => {
            unsupported("this guest kind takes no DNS boot argument to be pointed at the relay")
        }
        Choice::Relay => Ok(relay(&guest, None)),
        Choice::Auto => auto(
            &guest,
            servers,
            pod.hosts.as_ref().and_then(Hosts::first_pod_name),
        ),
    }
}

/// `auto`: the best fidelity the guest and the network mode allow. A
/// nameserver the guest cannot reach directly (loopback or IPv6), a search
/// list, and the names of the pod's hosts file (`pod_name` is the first
/// beyond the standard loopback ones: the pod's own name, a hostAlias)
/// survive only in files or through the relay; no guest but a Linux one
/// with files delivery has the pod's hosts file (lwIP has none at all).
fn auto(
    guest: &GuestDnsFacts<'_>,
    servers: Servers,
    pod_name: Option<&str>,
) -> Result<DnsPlan, DeliveryError> {
    let routed = guest.mode == NetworkMode::Routed;
    if servers.all.is_empty() {
        return plan(
            Delivery::None("the pod has no nameserver".into()),
            Vec::new(),
        );
    }
    if guest.caps.dns == DnsArgs::None {
        let why = "this guest kind takes no DNS boot argument";
        return plan(Delivery::None(why.into()), Vec::new());
    }
    if servers.reachable.is_empty() && !routed {
        return unsupported(
            "the pod's nameservers are loopback or IPv6 addresses, which the guest reaches only through the relay, and the relay needs network mode routed",
        );
    }
    if servers.reachable.is_empty() {
        let why = "the pod's nameservers, loopback or IPv6 addresses the guest cannot reach";
        return Ok(relay(guest, Some(why.into())));
    }
    let files = files_refusal(guest);
    if files.is_none() {
        return plan(Delivery::Files, Vec::new());
    }
    let fallback = files.filter(|_| guest.linux_initrd);
    let mut needs = Vec::new();
    if servers.has_search {
        needs.push("the pod's search list, which the guest's resolver does not get".to_owned());
    }
    if servers.some_unreachable() {
        needs.push("a nameserver the guest cannot reach directly (loopback or IPv6)".to_owned());
    }
    if let Some(name) = pod_name {
        needs.push(format!(
            "the pod's hosts file names {}, and the guest has no hosts file",
            excerpt(name)
        ));
    }
    let next = if routed && !needs.is_empty() {
        Ok(relay(guest, Some(needs.join("; "))))
    } else {
        boot_args(guest, &servers)
    };
    next.map(|p| DnsPlan { fallback, ..p })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::GuestKind;
    use crate::spec::resolv::ResolvConf;

    fn pod(text: &str) -> PodDns {
        PodDns {
            resolv: Some(ResolvConf::parse(text.as_bytes()).unwrap()),
            hosts: None,
            hostname: None,
        }
    }

    fn facts(
        kind: GuestKind,
        linux_initrd: bool,
        mode: NetworkMode,
    ) -> (Capabilities, bool, NetworkMode) {
        (kind.caps(), linux_initrd, mode)
    }

    fn decide(
        choice: Choice,
        f: (Capabilities, bool, NetworkMode),
        pod: &PodDns,
    ) -> Result<DnsPlan, DeliveryError> {
        let facts = GuestDnsFacts {
            caps: &f.0,
            linux_initrd: f.1,
            initrd_data_bytes: 0,
            mode: f.2,
            pod_loopback: Ipv4Addr::new(169, 254, 1, 1),
        };
        plan_dns(choice, facts, pod)
    }

    const CLUSTER: &str = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";
    const DOCKER: &str = "nameserver 127.0.0.11\noptions ndots:0\n";

    #[test]
    fn auto_prefers_files_for_a_linux_initrd() {
        let p = decide(
            Choice::Auto,
            facts(GuestKind::Linux, true, NetworkMode::Routed),
            &pod(CLUSTER),
        )
        .unwrap();
        assert_eq!(p.delivery, Delivery::Files);
        assert!(p.boot_nameservers.is_empty());
    }

    #[test]
    fn auto_uses_the_relay_for_guests_without_search_domains() {
        let p = decide(
            Choice::Auto,
            facts(GuestKind::Unikraft, false, NetworkMode::Routed),
            &pod(CLUSTER),
        )
        .unwrap();
        assert_eq!(p.delivery, Delivery::Relay { apply_search: true });
        assert_eq!(p.boot_nameservers, vec![Ipv4Addr::new(169, 254, 1, 1)]);
        let tc = decide(
            Choice::Auto,
            facts(GuestKind::Unikraft, false, NetworkMode::Tc),
            &pod(CLUSTER),
        )
        .unwrap();
        assert_eq!(
            tc.delivery,
            Delivery::BootArgs,
            "tc mode has no relay: boot args, without the search list"
        );
        assert_eq!(tc.boot_nameservers, vec![Ipv4Addr::new(10, 96, 0, 10)]);
    }

    #[test]
    fn loopback_only_resolvers_need_the_relay() {
        let p = decide(
            Choice::Auto,
            facts(GuestKind::Linux, true, NetworkMode::Routed),
            &pod(DOCKER),
        )
        .unwrap();
        assert_eq!(p.delivery, Delivery::Relay { apply_search: true });
        let e = decide(
            Choice::Auto,
            facts(GuestKind::Linux, true, NetworkMode::Tc),
            &pod(DOCKER),
        )
        .unwrap_err();
        assert!(e.to_string().contains("loopback or IPv6"), "{e}");
    }

    const PLAIN: &str = "nameserver 10.96.0.10\n";
    const V6: &str = "nameserver fd00:10:96::a\n";
    const MIXED: &str = "nameserver 10.96.0.10\nnameserver fd00:10:96::a\n";

    #[test]
    fn ipv6_resolvers_need_the_relay_or_are_refused_with_the_reason() {
        let unikraft = |mode| facts(GuestKind::Unikraft, false, mode);
        let p = decide(Choice::Auto, unikraft(NetworkMode::Routed), &pod(V6)).unwrap();
        assert_eq!(p.boot_nameservers, vec![Ipv4Addr::new(169, 254, 1, 1)]);
        let e = decide(Choice::Auto, unikraft(NetworkMode::Tc), &pod(V6)).unwrap_err();
        assert!(e.to_string().contains("loopback or IPv6"), "{e}");
    }

    #[test]
    fn a_mixed_list_keeps_its_ipv6_resolver_through_the_relay_when_routed() {
        let unikraft = |mode| facts(GuestKind::Unikraft, false, mode);
        let p = decide(Choice::Auto, unikraft(NetworkMode::Routed), &pod(MIXED)).unwrap();
        assert_eq!(p.delivery, Delivery::Relay { apply_search: true });
        let tc = decide(Choice::Auto, unikraft(NetworkMode::Tc), &pod(MIXED)).unwrap();
        assert_eq!(tc.delivery, Delivery::BootArgs, "tc mode has no relay");
        assert_eq!(tc.boot_nameservers, vec![Ipv4Addr::new(10, 96, 0, 10)]);
    }

    /// kubelet's hosts file for pod `web-0` (it always names the pod).
    const KUBELET_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n10.88.0.5\tweb-0\n";

    fn with_hosts(resolv: &str, hosts: &str) -> PodDns {
        PodDns {
            hosts: Some(crate::spec::hosts::Hosts::parse(hosts.as_bytes()).unwrap()),
            ..pod(resolv)
        }
    }

    #[test]
    fn a_hosts_file_naming_the_pod_brings_the_relay_to_guests_without_one() {
        let alias = format!("{KUBELET_HOSTS}10.1.2.3\tdb.remote\n");
        for kind in [GuestKind::Unikraft, GuestKind::Mirage, GuestKind::Hermit] {
            let p = decide(
                Choice::Auto,
                facts(kind, false, NetworkMode::Routed),
                &with_hosts(PLAIN, &alias),
            )
            .unwrap();
            assert_eq!(
                p.delivery,
                Delivery::Relay { apply_search: true },
                "{kind:?}"
            );
            assert_eq!(p.boot_nameservers, vec![Ipv4Addr::new(169, 254, 1, 1)]);
            assert_eq!(
                p.reason.as_deref(),
                Some("the pod's hosts file names \"web-0\", and the guest has no hosts file")
            );
        }
        let linux = |initrd| facts(GuestKind::Linux, initrd, NetworkMode::Routed);
        let no_initrd = decide(
            Choice::Auto,
            linux(false),
            &with_hosts(PLAIN, KUBELET_HOSTS),
        );
        assert_eq!(
            no_initrd.unwrap().delivery,
            Delivery::Relay { apply_search: true },
            "a Linux guest without the pod's files has no pod hosts file either"
        );
        let files = decide(Choice::Auto, linux(true), &with_hosts(PLAIN, KUBELET_HOSTS));
        assert_eq!(
            files.unwrap().delivery,
            Delivery::Files,
            "its own hosts file"
        );
    }

    #[test]
    fn standard_hosts_names_alone_and_tc_mode_keep_boot_arguments() {
        let unikraft = |mode| facts(GuestKind::Unikraft, false, mode);
        let standard = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
        let p = decide(
            Choice::Auto,
            unikraft(NetworkMode::Routed),
            &with_hosts(PLAIN, standard),
        )
        .unwrap();
        assert_eq!((p.delivery, p.reason), (Delivery::BootArgs, None));
        let tc = decide(
            Choice::Auto,
            unikraft(NetworkMode::Tc),
            &with_hosts(PLAIN, KUBELET_HOSTS),
        )
        .unwrap();
        assert_eq!(
            tc.delivery,
            Delivery::BootArgs,
            "tc mode has no relay: boot args, the hosts file's names unresolved"
        );
    }

    #[test]
    fn every_reason_for_the_relay_is_named() {
        let p = decide(
            Choice::Auto,
            facts(GuestKind::Unikraft, false, NetworkMode::Routed),
            &with_hosts(&format!("{CLUSTER}nameserver ::1\n"), KUBELET_HOSTS),
        )
        .unwrap();
        assert_eq!(
            p.reason.as_deref(),
            Some(
                "the pod's search list, which the guest's resolver does not get; \
                 a nameserver the guest cannot reach directly (loopback or IPv6); \
                 the pod's hosts file names \"web-0\", and the guest has no hosts file"
            )
        );
        let explicit = decide(
            Choice::Relay,
            facts(GuestKind::Unikraft, false, NetworkMode::Routed),
            &pod(PLAIN),
        )
        .unwrap();
        assert_eq!(explicit.reason, None, "asked for, not chosen");
    }

    #[test]
    fn boot_nameservers_are_those_the_guests_syntax_carries() {
        let two = "nameserver 10.96.0.10\nnameserver 10.96.0.11\n";
        let osv = facts(GuestKind::Osv, false, NetworkMode::Tc);
        let p = decide(Choice::Auto, osv, &pod(two)).unwrap();
        assert_eq!(p.boot_nameservers, vec![Ipv4Addr::new(10, 96, 0, 10)]);
        let hermit = facts(GuestKind::Hermit, false, NetworkMode::Tc);
        let p = decide(Choice::BootArgs, hermit, &pod(two)).unwrap();
        assert_eq!(p.boot_nameservers.len(), 2);
    }

    #[test]
    fn guests_without_a_resolver_argument_get_none_whatever_the_family() {
        for kind in [GuestKind::Mewz, GuestKind::Rumprun] {
            for text in [V6, DOCKER] {
                let p = decide(
                    Choice::Auto,
                    facts(kind, false, NetworkMode::Tc),
                    &pod(text),
                );
                assert!(matches!(p.unwrap().delivery, Delivery::None(_)), "{kind:?}");
            }
        }
    }

    #[test]
    fn linux_without_an_initrd_gets_the_search_list_from_the_relay() {
        let linux = |mode| facts(GuestKind::Linux, false, mode);
        let p = decide(Choice::Auto, linux(NetworkMode::Routed), &pod(CLUSTER)).unwrap();
        assert_eq!(p.delivery, Delivery::Relay { apply_search: true });
        let r = decide(Choice::Relay, linux(NetworkMode::Routed), &pod(CLUSTER)).unwrap();
        assert_eq!(r.delivery, Delivery::Relay { apply_search: true });
        let plain = decide(Choice::Auto, linux(NetworkMode::Routed), &pod(PLAIN)).unwrap();
        assert_eq!(plain.delivery, Delivery::BootArgs);
    }

    #[test]
    fn no_nameserver_means_none_never_a_made_up_one() {
        let p = decide(
            Choice::Auto,
            facts(GuestKind::Unikraft, false, NetworkMode::Routed),
            &pod("search x.example\n"),
        )
        .unwrap();
        assert!(matches!(p.delivery, Delivery::None(_)));
        assert!(p.boot_nameservers.is_empty());
        let p = decide(
            Choice::Auto,
            facts(GuestKind::Linux, true, NetworkMode::Routed),
            &PodDns::default(),
        )
        .unwrap();
        assert!(matches!(p.delivery, Delivery::None(_)));
    }

    #[test]
    fn guests_without_dns_arguments_get_none_or_files() {
        let p = decide(
            Choice::Auto,
            facts(GuestKind::Rumprun, false, NetworkMode::Routed),
            &pod(CLUSTER),
        )
        .unwrap();
        assert_eq!(
            p.delivery,
            Delivery::None("this guest kind takes no DNS boot argument".into())
        );
        assert!(decide(
            Choice::BootArgs,
            facts(GuestKind::Rumprun, false, NetworkMode::Routed),
            &pod(CLUSTER)
        )
        .is_err());
        assert!(decide(
            Choice::Relay,
            facts(GuestKind::Rumprun, false, NetworkMode::Routed),
            &pod(CLUSTER)
        )
        .is_err());
    }

    #[test]
    fn explicit_choices_are_checked() {
        let linux = facts(GuestKind::Linux, true, NetworkMode::Routed);
        assert_eq!(
            decide(Choice::BootArgs, linux, &pod(CLUSTER))
                .unwrap()
                .boot_nameservers,
            vec![Ipv4Addr::new(10, 96, 0, 10)]
        );
        assert_eq!(
            decide(Choice::Relay, linux, &pod(CLUSTER))
                .unwrap()
                .delivery,
            Delivery::Relay { apply_search: true }
        );
        let e = decide(
            Choice::Files,
            facts(GuestKind::Unikraft, false, NetworkMode::Routed),
            &pod(CLUSTER),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ukrun.dev/dns-delivery: files need a Linux guest with an initrd"
        );
        assert!(decide(
            Choice::Relay,
            facts(GuestKind::Linux, true, NetworkMode::Tc),
            &pod(CLUSTER)
        )
        .is_err());
        assert!(decide(Choice::BootArgs, linux, &pod(DOCKER)).is_err());
        assert_eq!(Choice::parse("relay"), Some(Choice::Relay));
        assert_eq!(Choice::parse("dhcp"), None);
    }

    #[test]
    fn an_initrd_over_the_files_cap_falls_back_in_auto_and_is_refused_when_asked() {
        let caps = GuestKind::Linux.caps();
        let facts = |mode, initrd_data_bytes| GuestDnsFacts {
            caps: &caps,
            linux_initrd: true,
            initrd_data_bytes,
            mode,
            pod_loopback: Ipv4Addr::new(169, 254, 1, 1),
        };
        let at_cap = facts(NetworkMode::Routed, FILES_DELIVERY_INITRD_DATA_BYTES);
        let p = plan_dns(Choice::Auto, at_cap, &pod(CLUSTER)).unwrap();
        assert_eq!((p.delivery, p.fallback), (Delivery::Files, None));
        let over = FILES_DELIVERY_INITRD_DATA_BYTES + 1;
        let why = format!("files delivery copies the initrd, which holds {over} bytes of data, more than the cap of 268435456 bytes");
        let p = plan_dns(
            Choice::Auto,
            facts(NetworkMode::Routed, over),
            &pod(CLUSTER),
        )
        .unwrap();
        assert_eq!(p.delivery, Delivery::Relay { apply_search: true });
        assert_eq!(p.fallback.as_deref(), Some(why.as_str()));
        let p = plan_dns(Choice::Auto, facts(NetworkMode::Tc, over), &pod(CLUSTER)).unwrap();
        assert_eq!(p.delivery, Delivery::BootArgs);
        assert_eq!(p.fallback.as_deref(), Some(why.as_str()));
        let e = plan_dns(
            Choice::Files,
            facts(NetworkMode::Routed, over),
            &pod(CLUSTER),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), format!("ukrun.dev/dns-delivery: {why}"));
    }
}
