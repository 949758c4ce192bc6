//! tc mode's recorded steps: the ingress qdiscs and the u32 + mirred
//! redirects both ways.

use std::path::Path;

use super::in_pod;
use crate::doctor::check::Check;
use crate::doctor::read::view::NetView;

/// The ingress qdisc on `interface`.
pub fn qdisc(netns: &Path, view: &NetView, interface: &str) -> Check {
    let present = view
        .link(interface)
        .is_some_and(|l| view.ingress.contains(&l.summary.index));
    Check::judge(
        format!("tc.qdisc.{interface}"),
        present,
        format!("an ingress qdisc on {interface}"),
        if present { "present" } else { "none" },
        format!(
            "{}, then its filter (see tc.filter.{interface}>…)",
            in_pod(netns, &format!("tc qdisc add dev {interface} ingress"))
        ),
    )
}

/// The u32 filter on `from`'s ingress that redirects to `to`.
pub fn redirect(netns: &Path, view: &NetView, from: &str, to: &str) -> Check {
    let from_index = view.link(from).map(|l| l.summary.index);
    let to_index = view.link(to).map(|l| l.summary.index);
    let found: Vec<String> = view
        .filters
        .iter()
        .filter(|f| Some(f.index) == from_index && !f.redirect_to.is_empty())
        .flat_map(|f| {
            f.redirect_to.iter().map(move |target| {
                format!("{} → mirred redirect to {}", f.kind, view.name_of(*target))
            })
        })
        .collect();
    let ok = view.filters.iter().any(|f| {
        Some(f.index) == from_index
            && f.kind == "u32"
            && to_index.is_some_and(|t| f.redirect_to.contains(&t))
    });
    Check::judge(
        format!("tc.filter.{from}>{to}"),
        ok,
        format!("u32 match-all on {from} ingress → mirred egress redirect to {to}"),
        if found.is_empty() {
            "no redirecting filter".to_owned()
        } else {
            found.join("; ")
        },
        in_pod(
            netns,
            &format!("tc filter add dev {from} parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev {to}"),
        ),
    )
}
