//! What a network namespace holds (links, addresses, routes, rules, qdiscs,
//! nftables, forwarding and per-interface IPv4 sysctls) as comparable text,
//! to prove a runtime put it back the way it found it.

use anyhow::Result;

use crate::netns::Netns;

/// The commands whose output makes up a namespace's network state. Chosen
/// to be stable while nothing changes: no counters, IPv4 only (IPv6
/// addresses change state on their own after DAD).
const VIEWS: &[&[&str]] = &[
    &["ip", "-o", "-d", "link", "show"],
    &["ip", "-o", "-4", "addr", "show"],
    &["ip", "-4", "route", "show", "table", "all"],
    &["ip", "-4", "rule", "show"],
    &["tc", "qdisc", "show"],
    &["nft", "list", "ruleset"],
    &[
        "sysctl",
        "-a",
        "--pattern",
        r"^net\.ipv4\.(ip_forward|conf\.)",
    ],
];

/// qdisc kinds the kernel attaches by itself; any other kind (ingress,
/// clsact, prio, …) was added by someone.
const DEFAULT_QDISCS: &[&str] = &["noqueue", "pfifo_fast", "mq", "fq_codel", "noop", "pfifo"];

/// The network state of `netns`: one line per item, prefixed by the command
/// that showed it.
pub fn snapshot(netns: &Netns) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for view in VIEWS {
        let label = view.join(" ");
        let output = netns.run(view[0], &view[1..])?;
        lines.extend(
            output
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| {
                    let steady = without_carrier(&without_timers(line.trim_end()));
                    format!("[{label}] {steady}")
                }),
        );
    }
    Ok(lines)
}

/// `line` with the value after every `*_timer` word replaced by `T`: a
/// bridge's timers (`gc_timer 297.65`) count down on their own.
fn without_timers(line: &str) -> String {
    if !line.contains("_timer ") {
        return line.to_string();
    }
    let mut after_timer = false;
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|word| {
            let shown = if after_timer { "T" } else { word };
            after_timer = word.ends_with("_timer");
            shown
        })
        .collect();
    words.join(" ")
}

/// `line` without what a link's carrier shows (the `NO-CARRIER` and
/// `LOWER_UP` flags, the operational `state`, a route's `linkdown`). A
/// bridge's carrier follows its ports, the pods that come and go, and the
/// kernel reports it up to a second late, so it is no runtime's leftover;
/// the link itself, its administrative `UP`, addresses and routes still
/// count.
fn without_carrier(line: &str) -> String {
    let mut after_state = false;
    let words: Vec<String> = line
        .split(' ')
        .filter(|word| *word != "linkdown")
        .map(|word| {
            let shown = if after_state {
                "S".to_string()
            } else if let Some(flags) = word.strip_prefix('<').and_then(|w| w.strip_suffix('>')) {
                let kept: Vec<&str> = flags
                    .split(',')
                    .filter(|flag| !matches!(*flag, "NO-CARRIER" | "LOWER_UP"))
                    .collect();
                format!("<{}>", kept.join(","))
            } else {
                word.to_string()
            };
            after_state = word == "state";
            shown
        })
        .collect();
    words.join(" ")
}

/// The [`snapshot`] of a pod netns with what tells one guest container's
/// plumbing from the next one's taken out: a tap's name (ukrun names a
/// guest's tap, and its nftables table, after its container), interface
/// index and MAC address become `TAP`, `N` and `MAC`. Two guests wired the
/// same way give equal plumbing; two guests, or none, do not.
pub fn plumbing(netns: &Netns) -> Result<Vec<String>> {
    Ok(anonymise_taps(&snapshot(netns)?))
}

/// The number of tap/tun links in [`plumbing`] or [`snapshot`] lines.
pub fn tap_count(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|line| line.contains(" tun type "))
        .count()
}

/// `lines` (of a [`snapshot`]) with every tap's name, interface index and
/// MAC address replaced (see [`plumbing`]).
fn anonymise_taps(lines: &[String]) -> Vec<String> {
    let names: Vec<[String; 2]> = lines
        .iter()
        .filter(|line| line.contains(" tun type "))
        .filter_map(|line| line.split("] ").nth(1)?.split(": ").nth(1))
        .map(|name| [name.to_string(), name.replace('-', "_")])
        .collect();
    lines
        .iter()
        .map(|line| {
            let Some([name, table]) = names
                .iter()
                .find(|forms| forms.iter().any(|form| line.contains(form.as_str())))
            else {
                return line.clone();
            };
            let mut line = line
                .replace(name.as_str(), "TAP")
                .replace(table.as_str(), "TAP");
            if let Some((label, rest)) = line.split_once("] ") {
                if let Some((index, after)) = rest.split_once(": ") {
                    if index.bytes().all(|b| b.is_ascii_digit()) {
                        line = format!("{label}] N: {after}");
                    }
                }
            }
            if let Some(at) = line.find("link/ether ") {
                let mac = at + "link/ether ".len();
                let end = line[mac..].find(' ').map_or(line.len(), |n| mac + n);
                line.replace_range(mac..end, "MAC");
            }
            line
        })
        .collect()
}

/// Lines that differ between two snapshots, marked `+` (new) or `-` (gone).
pub fn diff(before: &[String], after: &[String]) -> Vec<String> {
    let gone = before
        .iter()
        .filter(|line| !after.contains(line))
        .map(|line| format!("- {line}"));
    let new = after
        .iter()
        .filter(|line| !before.contains(line))
        .map(|line| format!("+ {line}"));
    gone.chain(new).collect()
}

/// Traces of a guest data path in `netns`: tap/tun links and qdiscs the
/// kernel does not add by itself (filters need one of those to hang on).
pub fn guest_traces(netns: &Netns) -> Result<Vec<String>> {
    let links = netns.run("ip", &["-o", "-d", "link", "show"])?;
    let qdiscs = netns.run("tc", &["qdisc", "show"])?;
    Ok(taps(&links).chain(added_qdiscs(&qdiscs)).collect())
}

/// The `ip -o -d link` lines of tun/tap devices.
fn taps(links: &str) -> impl Iterator<Item = String> + '_ {
    links
        .lines()
        .filter(|line| line.contains(" tun type "))
        .map(|line| format!("tap/tun link: {}", line.trim()))
}

/// The `tc qdisc show` lines of qdiscs not in [`DEFAULT_QDISCS`].
fn added_qdiscs(qdiscs: &str) -> impl Iterator<Item = String> + '_ {
    qdiscs
        .lines()
        .filter(|line| {
            let kind = line.split_whitespace().nth(1).unwrap_or("");
            !kind.is_empty() && !DEFAULT_QDISCS.contains(&kind)
        })
        .map(|line| format!("qdisc: {}", line.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_taps_and_added_qdiscs() {
        let links = "1: lo: <LOOPBACK,UP> mtu 65536 qdisc noqueue\n\
                     5: tap0: <BROADCAST> mtu 1500 qdisc fq_codel \\    tun type tap pi off vnet_hdr on";
        let qdiscs = "qdisc noqueue 0: dev lo root refcnt 2\n\
                      qdisc ingress ffff: dev eth0 parent ffff:fff1 ----------------\n\
                      qdisc fq_codel 0: dev tap0 root refcnt 2 limit 10240p";
        let found: Vec<String> = taps(links).chain(added_qdiscs(qdiscs)).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("tap0"));
        assert!(found[1].contains("ingress"));
    }

    #[test]
    fn two_guests_wired_alike_give_the_same_plumbing() {
        let guest = |index: &str, tap: &str, mac: &str| {
            let table = tap.replace('-', "_");
            vec![
                "[ip -o -d link show] 2: eth0@if9: <UP> link/ether 0a:00:00:00:00:01".to_string(),
                format!("[ip -o -d link show] {index}: {tap}: <UP> link/ether {mac} brd ff \\    tun type tap"),
                format!("[ip -4 route show table all] 10.88.0.2 dev {tap} table 7547"),
                format!("[nft list ruleset] table ip ukrun_{table} {{"),
            ]
        };
        let first = anonymise_taps(&guest("3", "uk-c163b659e840", "be:06:b9:f9:0a:2d"));
        let next = anonymise_taps(&guest("4", "uk-99f375b0e92c", "c6:f2:81:73:1f:5e"));
        assert_eq!(first, next);
        assert_eq!(tap_count(&first), 1);
        assert_eq!(
            first[1],
            "[ip -o -d link show] N: TAP: <UP> link/ether MAC brd ff \\    tun type tap"
        );
        assert_eq!(first[3], "[nft list ruleset] table ip ukrun_TAP {");
        assert!(first[0].contains("2: eth0@if9") && first[0].contains("0a:00:00:00:00:01"));
    }

    #[test]
    fn bridge_timers_do_not_count_as_changes() {
        let line = |gc: &str| {
            without_timers(&format!(
                "2: cni0: <UP> mtu 1500 \\    bridge hello_timer    0.00 gc_timer  {gc} group_fwd_mask 0"
            ))
        };
        assert_eq!(line("297.65"), line("270.61"));
        assert_eq!(
            line("1.00"),
            "2: cni0: <UP> mtu 1500 \\ bridge hello_timer T gc_timer T group_fwd_mask 0"
        );
        assert_eq!(without_timers("1: lo:  <UP>"), "1: lo:  <UP>");
    }

    #[test]
    fn a_bridge_losing_its_last_port_is_no_change() {
        let with_port = "2: cni-ukrun: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT";
        let alone = "2: cni-ukrun: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN mode DEFAULT";
        assert_eq!(without_carrier(with_port), without_carrier(alone));
        assert_eq!(
            without_carrier(alone),
            "2: cni-ukrun: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state S mode DEFAULT"
        );
        assert_eq!(
            without_carrier(
                "10.88.0.0/24 dev cni-ukrun proto kernel scope link src 10.88.0.1 linkdown"
            ),
            "10.88.0.0/24 dev cni-ukrun proto kernel scope link src 10.88.0.1"
        );
        let admin_down = "2: cni-ukrun: <BROADCAST,MULTICAST> mtu 1500 state DOWN";
        assert_ne!(without_carrier(with_port), without_carrier(admin_down));
    }

    #[test]
    fn diff_marks_both_directions() {
        let before = vec!["a".to_string(), "b".to_string()];
        let after = vec!["b".to_string(), "c".to_string()];
        assert_eq!(diff(&before, &after), vec!["- a", "+ c"]);
    }
}
