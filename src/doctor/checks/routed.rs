//! Routed mode's recorded steps: the tap's address, the sysctls, the /32
//! route in the guest table, the fwmark rule and the moved local rule.

use std::net::{IpAddr, Ipv4Addr};

use super::{in_pod, Input};
use crate::doctor::check::Check;
use crate::net::steps::{NetStep, RoutingRule};

/// The check of a routed-mode step (`None` for other steps).
pub fn step(input: &Input<'_>, step: &NetStep) -> Option<Check> {
    Some(match step {
        NetStep::Address { interface, address } => address_check(input, interface, *address),
        NetStep::Sysctl { key, value, .. } => sysctl(input, key, value),
        NetStep::Route {
            table,
            destination,
            interface,
            source,
        } => route(input, *table, *destination, interface, *source),
        NetStep::Rule(rule) => rule_check(input, rule),
        NetStep::LocalRule { from, to } => local_rule(input, *from, *to),
        _ => return None,
    })
}

fn address_check(input: &Input<'_>, interface: &str, address: Ipv4Addr) -> Check {
    let view = &input.snap.view;
    let found: Vec<String> = view
        .link(interface)
        .map(|l| {
            view.addresses_of(l.summary.index)
                .filter(|a| a.ip.is_ipv4())
                .map(|a| format!("{}/{}", a.ip, a.prefix))
                .collect()
        })
        .unwrap_or_default();
    let want = format!("{address}/32");
    Check::judge(
        "routed.address",
        found.contains(&want),
        format!("{want} on {interface} (the guest's gateway)"),
        if found.is_empty() {
            "none".to_owned()
        } else {
            found.join(", ")
        },
        in_pod(input.netns, &format!("ip addr add {want} dev {interface}")),
    )
}

fn sysctl(input: &Input<'_>, key: &str, value: &str) -> Check {
    let found = input
        .snap
        .sysctls
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone());
    let dotted = key.replace('/', ".");
    let (ok, shown) = match found {
        Some(Ok(v)) => (v == value, v),
        Some(Err(e)) => (false, e),
        None => (false, "not read".to_owned()),
    };
    Check::judge(
        format!("routed.sysctl.{dotted}"),
        ok,
        value,
        shown,
        in_pod(input.netns, &format!("sysctl -w {dotted}={value}")),
    )
}

fn route(
    input: &Input<'_>,
    table: u32,
    destination: Ipv4Addr,
    interface: &str,
    source: Ipv4Addr,
) -> Check {
    let view = &input.snap.view;
    let index = view.link(interface).map(|l| l.summary.index);
    let in_table: Vec<String> = view
        .routes
        .iter()
        .filter(|r| r.table == table && r.destination == Some(destination))
        .map(|r| {
            format!(
                "{destination}/{} dev {}",
                r.prefix,
                r.oif.map_or_else(|| "?".to_owned(), |i| view.name_of(i))
            )
        })
        .collect();
    let ok = view.routes.iter().any(|r| {
        r.table == table
            && r.destination == Some(destination)
            && r.prefix == 32
            && r.oif.is_some()
            && r.oif == index
    });
    let want = format!("{destination}/32 dev {interface} src {source} table {table}");
    Check::judge(
        "routed.route",
        ok,
        want.clone(),
        if in_table.is_empty() {
            format!("no route to {destination} in table {table}")
        } else {
            in_table.join(", ")
        },
        in_pod(input.netns, &format!("ip route add {want}")),
    )
}

fn rule_check(input: &Input<'_>, want: &RoutingRule) -> Check {
    let ok = input.snap.view.rules.iter().any(|r| {
        r.priority == want.priority
            && r.table == want.table
            && r.fwmark == want.fwmark
            && (want.fwmark.is_none() || r.fwmask == want.fwmark)
            && r.iif == want.iif
            && r.to == want.to
    });
    let selector = describe_rule(want);
    let found: Vec<String> = input
        .snap
        .view
        .rules
        .iter()
        .filter(|r| r.priority == want.priority)
        .map(|r| format!("priority {} lookup {}", r.priority, r.table))
        .collect();
    Check::judge(
        "routed.rule",
        ok,
        selector.clone(),
        if found.is_empty() {
            format!("no rule at priority {}", want.priority)
        } else {
            found.join(", ")
        },
        in_pod(input.netns, &format!("ip rule add {selector}")),
    )
}

/// `ip rule` syntax of a rule.
fn describe_rule(r: &RoutingRule) -> String {
    let mut text = format!("priority {}", r.priority);
    if let Some(mark) = r.fwmark {
        text.push_str(&format!(" fwmark {mark:#x}/{mark:#x}"));
    }
    if let Some(iif) = &r.iif {
        text.push_str(&format!(" iif {iif}"));
    }
    if let Some(to) = r.to.map(IpAddr::V4) {
        text.push_str(&format!(" to {to}/32"));
    }
    text.push_str(&format!(" lookup {}", r.table));
    text
}

fn local_rule(input: &Input<'_>, from: u32, to: u32) -> Check {
    let priorities = input.snap.view.local_rule_priorities();
    let mut fixes = Vec::new();
    if !priorities.contains(&to) {
        fixes.push(in_pod(
            input.netns,
            &format!("ip rule add priority {to} lookup local"),
        ));
    }
    if priorities.contains(&from) {
        fixes.push(in_pod(
            input.netns,
            &format!("ip rule del priority {from} lookup local"),
        ));
    }
    Check::judge(
        "routed.local_rule",
        fixes.is_empty(),
        format!(
            "lookup local at priority {to} only (moved from {from}, after the guest's mark rule)"
        ),
        if priorities.is_empty() {
            "no lookup local rule".to_owned()
        } else {
            format!(
                "lookup local at priority {}",
                priorities
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        fixes.join("; "),
    )
}
