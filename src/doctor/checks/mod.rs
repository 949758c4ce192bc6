//! The checks: pure functions from the snapshot, the expectation and the
//! recorded state to verdicts, in the order of the chain (runtime, pod
//! network, data path, localhost, DNS, reachability).

pub mod dns;
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
        NetStep::IngressQdisc { interface } => tc::qdisc(input.netns, view, interface),
        NetStep::Redirect { from, to } => tc::redirect(input.netns, view, from, to),
        NetStep::Nftables { table, ruleset } => nft::table(input, table, ruleset),
        other => routed::step(input, other)?,
    })
}

/// A fix command to run inside the pod netns.
pub fn in_pod(netns: &Path, command: &str) -> String {
    format!("nsenter --net={} {command}", netns.display())
}
