//! DNS checks: the pod's files, the delivery the supervisor chose (and
//! whether today's files would still choose it), what the guest's boot
//! configuration carries, the search list, and the relay listening.
//! Probe queries through the relay come with the relay.

use std::net::{IpAddr, Ipv4Addr};

use super::Input;
use crate::dns::delivery::{plan_dns, Choice, Delivery, DnsPlan, GuestDnsFacts};
use crate::dns::pod_dns::PodDns;
use crate::doctor::check::{Check, Verdict};
use crate::doctor::read::host::ContainerFacts;
use crate::guest::GuestKind;
use crate::spec::knobs;
use crate::spec::ports::Protocol;

/// The DNS port.
const DNS_PORT: u16 = 53;

/// The DNS checks of a container.
pub fn checks(input: &Input<'_>, c: &ContainerFacts) -> Vec<Check> {
    let mut checks = vec![pod_files(&c.pod_dns)];
    let Some(plan) = &c.state.dns else {
        checks.push(Check::new(
            "dns.delivery",
            Verdict::Warn,
            "the delivery the supervisor chose, in the state",
            "not recorded",
            "the supervisor has not decided yet, or an older ukrun created the container: recreate it to have it recorded",
        ));
        return checks;
    };
    checks.push(delivery(input, c, plan));
    checks.extend(guest_config(c, plan));
    if let Ok(pod) = &c.pod_dns {
        checks.push(search(c, plan, pod));
    }
    checks.extend(relay(input, plan));
    checks
}

fn pod_files(pod: &Result<PodDns, String>) -> Check {
    let expected = "the pod's resolv.conf with nameservers";
    match pod {
        Ok(PodDns { resolv: Some(r), hosts, hostname }) => {
            let servers: Vec<String> = r.nameservers.iter().map(IpAddr::to_string).collect();
            let found = format!(
                "nameservers {}; search {}; ndots {}; hosts {}; hostname {}",
                if servers.is_empty() { "none".to_owned() } else { servers.join(" ") },
                if r.search.is_empty() { "none".to_owned() } else { r.search.join(" ") },
                r.ndots,
                if hosts.is_some() { "yes" } else { "no" },
                hostname.as_deref().map_or_else(|| "none".to_owned(), |h| String::from_utf8_lossy(h).trim().to_owned()),
            );
            let verdict = if servers.is_empty() { Verdict::Warn } else { Verdict::Pass };
            Check::new("dns.pod_files", verdict, expected, found, "the pod has no nameserver: the guest gets no resolver")
        }
        Ok(_) => Check::new(
            "dns.pod_files",
            Verdict::Warn,
            expected,
            "no resolv.conf",
            "the pod has no resolv.conf (neither a mount nor one in the image): the guest gets no resolver",
        ),
        Err(e) => Check::new(
            "dns.pod_files",
            Verdict::Fail,
            expected,
            e.clone(),
            "kubelet writes these files: check the pod's dnsPolicy/dnsConfig",
        ),
    }
}

/// One line for a delivery decision.
fn describe(plan: &DnsPlan) -> String {
    let servers = || {
        plan.boot_nameservers
            .iter()
            .map(Ipv4Addr::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    match &plan.delivery {
        Delivery::None(reason) => format!("none: {reason}"),
        Delivery::Files => "files: resolv.conf, hosts and hostname in the initrd".to_owned(),
        Delivery::BootArgs => format!("boot arguments: {}", servers()),
        Delivery::Relay { apply_search } => format!(
            "relay at {}{}",
            servers(),
            if *apply_search {
                ", which applies the search list"
            } else {
                ""
            }
        ),
    }
}

/// What the delivery would be with today's pod files.
fn replanned(input: &Input<'_>, c: &ContainerFacts) -> Option<DnsPlan> {
    let pod = c.pod_dns.as_ref().ok()?;
    let choice = knobs::from_annotations(&c.state.annotations)
        .ok()?
        .dns_delivery
        .unwrap_or(Choice::Auto);
    let kind = c.state.unikernel.kind;
    let facts = GuestDnsFacts {
        caps: &kind.caps(),
        linux_initrd: kind == GuestKind::Linux && c.state.unikernel.initrd.is_some(),
        mode: input.expect.mode?,
        pod_loopback: input
            .expect
            .pod_loopback()
            .unwrap_or(input.default_loopback),
    };
    plan_dns(choice, facts, pod).ok()
}

fn delivery(input: &Input<'_>, c: &ContainerFacts, plan: &DnsPlan) -> Check {
    let name = "dns.delivery";
    let found = describe(plan);
    let now = replanned(input, c);
    if now.as_ref().is_some_and(|now| now != plan) {
        return Check::new(
            name,
            Verdict::Warn,
            format!("what the pod's files say today: {}", now.as_ref().map(describe).unwrap_or_default()),
            found,
            "the pod's DNS files changed after create: the guest has what they said then; recreate the container",
        );
    }
    let starved = matches!(&plan.delivery, Delivery::None(_))
        && c.pod_dns
            .as_ref()
            .is_ok_and(|p| p.resolv.as_ref().is_some_and(|r| !r.nameservers.is_empty()));
    Check::new(
        name,
        if starved { Verdict::Warn } else { Verdict::Pass },
        "the pod's nameservers delivered to the guest",
        found,
        "the guest has no resolver although the pod has nameservers: it takes none by boot arguments; use routed mode with the relay, or a guest kind that takes resolvers",
    )
}

fn guest_config(c: &ContainerFacts, plan: &DnsPlan) -> Option<Check> {
    let name = "dns.guest_config";
    let argv = &c.state.vmm_argv;
    let (expected, missing) = match &plan.delivery {
        Delivery::None(_) => return None,
        Delivery::Files => {
            let initrd = c.state.unikernel.initrd.as_ref()?.display().to_string();
            let ok =
                initrd.starts_with(&c.state_dir.display().to_string()) && argv.contains(&initrd);
            (
                format!("the VMM loads {initrd} (the initrd with the pod's files)"),
                (!ok).then_some(initrd),
            )
        }
        Delivery::BootArgs | Delivery::Relay { .. } => {
            // Addresses in the argv, whatever the guest's syntax around them.
            let joined = argv.join(" ");
            let addresses: Vec<&str> = joined
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .collect();
            let servers: Vec<String> = plan
                .boot_nameservers
                .iter()
                .map(Ipv4Addr::to_string)
                .collect();
            let missing: Vec<String> = servers
                .iter()
                .filter(|s| !addresses.contains(&s.as_str()))
                .cloned()
                .collect();
            (
                format!("nameservers {} in the boot arguments", servers.join(" ")),
                (!missing.is_empty()).then(|| missing.join(" ")),
            )
        }
    };
    if argv.is_empty() {
        return Some(Check::new(
            name,
            Verdict::Warn,
            expected,
            "the VMM has not been launched",
            "not checked: see runtime.vmm",
        ));
    }
    Some(Check::judge(
        name,
        missing.is_none(),
        expected,
        match &missing {
            None => "as planned".to_owned(),
            Some(m) => format!("{m} missing from the VMM's argv"),
        },
        "the guest was launched without the pod's DNS: report this ukrun bug with the container's state.json",
    ))
}

fn search(c: &ContainerFacts, plan: &DnsPlan, pod: &PodDns) -> Check {
    let name = "dns.search";
    let search: Vec<String> = pod
        .resolv
        .as_ref()
        .map(|r| r.search.clone())
        .unwrap_or_default();
    let expected = "the pod's search list applied to the guest's queries";
    if search.is_empty() {
        return Check::pass(name, expected, "the pod has no search list");
    }
    let guest_applies = c.state.unikernel.kind.caps().search_domains;
    let found = match &plan.delivery {
        Delivery::Relay { apply_search: true } => "applied by the relay",
        Delivery::Files => "applied by the guest from its resolv.conf",
        Delivery::BootArgs if guest_applies => {
            "the guest can apply one, but boot arguments carry no search list"
        }
        _ => "not applied: the guest gets no search list",
    };
    let ok = matches!(
        &plan.delivery,
        Delivery::Relay { apply_search: true } | Delivery::Files
    );
    Check::new(
        name,
        if ok { Verdict::Pass } else { Verdict::Warn },
        expected,
        found,
        format!(
            "short names ({}.{}) do not resolve in the guest: use routed mode with ukrun.dev/dns-delivery: relay, or fully qualified names",
            "kubernetes",
            search[0]
        ),
    )
}

fn relay(input: &Input<'_>, plan: &DnsPlan) -> Option<Check> {
    let Delivery::Relay { .. } = plan.delivery else {
        return None;
    };
    let address = *plan.boot_nameservers.first()?;
    let listening = input.snap.listeners.iter().any(|l| {
        l.protocol == Protocol::Udp && l.address == IpAddr::V4(address) && l.port == DNS_PORT
    });
    Some(Check::judge(
        "dns.relay",
        listening,
        format!("the relay listening on {address}:{DNS_PORT}/udp"),
        if listening { "listening" } else { "no listener" },
        "the supervisor's DNS relay is not listening: the guest's queries go nowhere; recreate the container",
    ))
}
