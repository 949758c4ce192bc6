//! DNS checks: the pod's files, the delivery the supervisor chose (and
//! whether today's files would still choose it), what the guest's boot
//! configuration carries, the search list, the names of the pod's hosts
//! file (`dns_hosts`), the pod's nameservers answering
//! from the pod netns, and the relay listening and answering probe queries
//! (the first search domain's `kubernetes` name, the pod's hostname).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{dns_hosts, Input};
use crate::dns::delivery::{plan_dns, Choice, Delivery, DnsPlan, GuestDnsFacts};
use crate::dns::initrd::initrd_data_bytes;
use crate::dns::initrd::POD_INITRD;
use crate::dns::pod_dns::PodDns;
use crate::doctor::check::{Check, Verdict};
use crate::doctor::read::dns::{DnsProbe, DnsQuery};
use crate::doctor::read::host::ContainerFacts;
use crate::guest::GuestKind;
use crate::net::plan::NetworkMode;
use crate::spec::knobs;
use crate::spec::ports::Protocol;
use crate::spec::rootfs_path::Access;
use crate::spec::unikernel::open_vmm_file;

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
        checks.push(search(c, plan, pod, input.expect.mode));
        checks.push(dns_hosts::check(plan, pod, input.expect.mode));
    }
    let relay = relay_address(plan);
    let upstreams = upstreams(input, relay);
    let upstream_down = upstreams.iter().any(|c| c.verdict == Verdict::Fail);
    checks.extend(upstreams);
    if let Some(relay) = relay {
        checks.extend(relay_checks(input, c, relay, upstream_down));
    }
    checks
}

/// The name every probe asks for: the first search domain's `kubernetes`
/// (CoreDNS always knows it), or the root when the pod has no search list.
fn cluster_name(pod: &PodDns) -> String {
    pod.resolv
        .as_ref()
        .and_then(|r| r.search.first())
        .map_or_else(|| ".".to_owned(), |domain| format!("kubernetes.{domain}"))
}

/// The pod's hostname, as its /etc/hostname says.
fn hostname(pod: &PodDns) -> Option<String> {
    let name = String::from_utf8_lossy(pod.hostname.as_deref()?)
        .trim()
        .to_owned();
    (!name.is_empty()).then_some(name)
}

/// Where the relay listens, when the guest was pointed at it.
fn relay_address(plan: &DnsPlan) -> Option<SocketAddr> {
    matches!(plan.delivery, Delivery::Relay { .. })
        .then(|| plan.boot_nameservers.first())
        .flatten()
        .map(|ip| SocketAddr::from((*ip, DNS_PORT)))
}

/// The DNS probes for a container: each of the pod's nameservers (routed
/// mode only: in tc mode every answer arriving on the pod interface goes to
/// the guest) and, with the relay, the cluster name and the pod's hostname
/// through the relay.
pub fn queries(c: &ContainerFacts, mode: Option<NetworkMode>) -> Vec<DnsQuery> {
    let (Some(plan), Ok(pod)) = (&c.state.dns, &c.pod_dns) else {
        return Vec::new();
    };
    if mode != Some(NetworkMode::Routed) || matches!(plan.delivery, Delivery::None(_)) {
        return Vec::new();
    }
    let cluster = cluster_name(pod);
    let nameservers = pod.resolv.iter().flat_map(|r| r.nameservers.iter());
    let mut queries: Vec<DnsQuery> = nameservers
        .map(|ip| DnsQuery {
            server: SocketAddr::new(*ip, DNS_PORT),
            name: cluster.clone(),
        })
        .collect();
    if let Some(relay) = relay_address(plan) {
        let names = std::iter::once(cluster.clone()).chain(hostname(pod));
        queries.extend(names.map(|name| DnsQuery {
            server: relay,
            name,
        }));
    }
    queries
}

/// One check per pod nameserver: it answers a query from the pod netns.
fn upstreams(input: &Input<'_>, relay: Option<SocketAddr>) -> Vec<Check> {
    input
        .snap
        .dns
        .iter()
        .filter(|(q, _)| Some(q.server) != relay)
        .map(|(q, probe)| {
            let ip = q.server.ip();
            Check::judge(
                format!("dns.upstream.{ip}"),
                probe.answered(),
                format!("the pod's nameserver {ip} answering a query for {} from the pod netns", q.name),
                probe.to_string(),
                format!("the pod's nameserver {ip} does not answer: check the cluster DNS (its pods and service) and the pod's route to it"),
            )
        })
        .collect()
}

/// The relay listening and answering, then one check per probe query.
fn relay_checks(
    input: &Input<'_>,
    c: &ContainerFacts,
    relay: SocketAddr,
    upstream_down: bool,
) -> Vec<Check> {
    let probes: Vec<&(DnsQuery, DnsProbe)> = input
        .snap
        .dns
        .iter()
        .filter(|(q, _)| q.server == relay)
        .collect();
    let listening =
        input.snap.listeners.iter().any(|l| {
            l.protocol == Protocol::Udp && l.address == relay.ip() && l.port == relay.port()
        });
    let answering = probes.iter().any(|(_, p)| p.answered());
    let expected = format!("the relay listening on {relay}/udp and answering");
    let alive = match (listening, answering) {
        (true, true) => Check::pass("dns.relay", expected, "listening, answering"),
        (false, _) => Check::new(
            "dns.relay",
            Verdict::Fail,
            expected,
            "no listener",
            "the supervisor's DNS relay is not listening: the guest's queries go nowhere; recreate the container",
        ),
        (true, false) if upstream_down => Check::new(
            "dns.relay",
            Verdict::Warn,
            expected,
            "listening, no answer",
            "not conclusive: the pod's nameservers do not answer either (see dns.upstream.*)",
        ),
        (true, false) => Check::new(
            "dns.relay",
            Verdict::Fail,
            expected,
            "listening, no answer",
            "the relay does not answer although the pod's nameservers do: recreate the container and report the supervisor's log",
        ),
    };
    let relay_ok = alive.verdict == Verdict::Pass;
    let hostname = c.pod_dns.as_ref().ok().and_then(hostname);
    let mut checks = vec![alive];
    checks.extend(probes.iter().map(|(q, probe)| {
        let own_name = hostname.as_deref() == Some(q.name.as_str());
        relay_query(q, probe, relay_ok, upstream_down, own_name)
    }));
    checks
}

/// One query through the relay.
fn relay_query(
    q: &DnsQuery,
    probe: &DnsProbe,
    relay_ok: bool,
    upstream_down: bool,
    own_name: bool,
) -> Check {
    let name = format!("dns.relay.query.{}", q.name);
    let expected = format!("{} resolves through the relay", q.name);
    let nxdomain = matches!(probe, DnsProbe::Answered { rcode, .. } if rcode == "NXDomain");
    let (verdict, hint) = if probe.resolved() || (q.name == "." && probe.answered()) {
        (Verdict::Pass, String::new())
    } else if !relay_ok {
        (Verdict::Warn, "not conclusive: see dns.relay".to_owned())
    } else if upstream_down && !nxdomain {
        (
            Verdict::Warn,
            "not conclusive: the pod's nameservers do not answer (see dns.upstream.*)".to_owned(),
        )
    } else if nxdomain && own_name {
        (
            Verdict::Warn,
            format!(
                "the pod's hosts file has no line for {}: the guest cannot resolve its own name",
                q.name
            ),
        )
    } else if nxdomain {
        (Verdict::Warn, format!("the cluster DNS does not know {}: no kubernetes service there, or the pod's search list names another cluster domain", q.name))
    } else {
        (Verdict::Fail, "the relay answers but cannot resolve through the pod's nameservers, which answer doctor: recreate the container and report the supervisor's log".to_owned())
    };
    Check::new(name, verdict, expected, probe.to_string(), hint)
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
            "relay at {}{}{}",
            servers(),
            if *apply_search {
                ", which applies the search list"
            } else {
                ""
            },
            plan.reason
                .as_ref()
                .map(|r| format!(", for {r}"))
                .unwrap_or_default()
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
        initrd_data_bytes: c
            .state
            .unikernel
            .initrd
            .as_deref()
            .and_then(|path| {
                let file = open_vmm_file(
                    &c.state.rootfs,
                    &path.to_string_lossy(),
                    "initrd",
                    Access::Read,
                    c.state.unikernel.monitor,
                )
                .ok()?;
                initrd_data_bytes(&file).ok()
            })
            .unwrap_or(0),
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
    // The reason is not compared: a plan recorded before ukrun gave one
    // is the same decision.
    let decision = |p: &DnsPlan| {
        (
            p.delivery.clone(),
            p.boot_nameservers.clone(),
            p.fallback.clone(),
        )
    };
    if now
        .as_ref()
        .is_some_and(|now| decision(now) != decision(plan))
    {
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
            let ours = c.state_dir.join(POD_INITRD);
            let ok = c.vmm_initrd.as_deref() == Some(ours.as_path());
            (
                format!(
                    "the VMM loads {} (the initrd with the pod's files)",
                    ours.display()
                ),
                (!ok).then(|| ours.display().to_string()),
            )
        }
        Delivery::BootArgs | Delivery::Relay { .. } => {
            // Addresses in the argv and the handed configuration, whatever
            // the guest's syntax around them.
            let joined = format!(
                "{} {}",
                argv.join(" "),
                c.vmm_config.as_deref().unwrap_or("")
            );
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
    let not_live = if argv.is_empty() {
        Some("the VMM has not been launched")
    } else if !c.vmm_alive {
        Some("no live VMM to read its configuration from")
    } else {
        None
    };
    if let Some(found) = not_live {
        return Some(Check::new(
            name,
            Verdict::Warn,
            expected,
            found,
            "not checked: see runtime.vmm",
        ));
    }
    Some(Check::judge(
        name,
        missing.is_none(),
        expected,
        match &missing {
            None => "as planned".to_owned(),
            Some(m) => format!("{m} missing from the VMM's argv and configuration"),
        },
        "the guest was launched without the pod's DNS: report this ukrun bug with the container's state.json",
    ))
}

fn search(c: &ContainerFacts, plan: &DnsPlan, pod: &PodDns, mode: Option<NetworkMode>) -> Check {
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
        Delivery::BootArgs if mode == Some(NetworkMode::Tc) => {
            "not applied: boot arguments carry no search list, and tc mode has no relay"
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
