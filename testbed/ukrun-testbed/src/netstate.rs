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
                .map(|line| format!("[{label}] {}", line.trim_end())),
        );
    }
    Ok(lines)
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
    fn diff_marks_both_directions() {
        let before = vec!["a".to_string(), "b".to_string()];
        let after = vec!["b".to_string(), "c".to_string()];
        assert_eq!(diff(&before, &after), vec!["- a", "+ c"]);
    }
}
