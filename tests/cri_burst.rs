//! A burst of 20 real Unikraft `nettest` pods created at once through
//! containerd's CRI, as a kubelet starts pods scheduled together: every one
//! reaches RUNNING and answers HTTP at its pod IP from the node, containerd
//! logs no error and no timeout (a lock held too long would show as one),
//! ukrun's task logs no error or warning, and after removal nothing is left
//! (process, state, tap, qdisc, cgroup, mount, change in the node netns,
//! lasting conntrack entry, descriptor of containerd or of this process).
//! Needs root, qemu, containerd and the Unikraft images; without the images
//! it says so in one line and does nothing, except in CI.

use std::path::Path;

use anyhow::{ensure, Result};
use ukrun_testbed::burst::Burst;
use ukrun_testbed::leak_check::LeakCheck;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::nettest;
use ukrun_testbed::node::Node;
use ukrun_testbed::node_errors::{self, Mark};
use ukrun_testbed::pod::UKRUN_HANDLER;
use ukrun_testbed::unikraft::NETTEST_PORT;

/// Pods in the burst.
const PODS: usize = 20;

#[test]
fn twenty_unikraft_pods_started_at_once_all_serve_and_leave_nothing() -> Result<()> {
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), |node| {
        if !node.has_unikraft() {
            return Ok(());
        }
        let guest = nettest::container();
        // One pod first, so that the CNI bridge and containerd's lazily
        // made state exist before the baseline.
        Burst::start(node, "warm-up", UKRUN_HANDLER, &guest, 1, NETTEST_PORT)?.remove()?;
        let mut check = LeakCheck::new(
            Footprint::new(node)?,
            &[node.netns()],
            &[node.containerd_pid()?],
        )?;
        let mark = Mark::now(node)?;
        let burst = Burst::start(node, "burst", UKRUN_HANDLER, &guest, PODS, NETTEST_PORT)?;
        eprintln!(
            "{PODS} pods on {}: the last answered {:?} after the burst began",
            node.cri().version()?,
            burst.last_answer()
        );
        burst.record(&mut check.footprint)?;
        let mut problems = mark.containerd_errors()?;
        for served in &burst.pods {
            problems.extend(node_errors::task_log_problems(node, &served.container));
        }
        ensure!(
            problems.is_empty(),
            "the burst went wrong:\n  {}",
            problems.join("\n  ")
        );
        burst.remove()?;
        check.assert_none()
    })
}
