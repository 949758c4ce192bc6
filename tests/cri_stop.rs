//! StopContainer through containerd's CRI with the Linux test guest, which
//! powers off on the ACPI button after `ukrun.poweroff.delay` seconds: the
//! guest gets the request and exactly the time StopContainer's timeout
//! (kubelet's grace period) gives it, no shorter limit of ukrun's own. The
//! Unikraft side (ended at once) is in `tests/cri_unikraft.rs`. Needs root,
//! qemu and containerd.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use ukrun_testbed::guest;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};

/// Starts the Linux guest whose power-off takes `delay`, waits until it is
/// up, stops it with `grace`; returns how long StopContainer took and the
/// container's exit code, after checking removal leaves nothing.
fn stop(node: &Node, name: &str, delay: Duration, grace: Duration) -> Result<(Duration, i32)> {
    let pod = Pod::run(node, name, UKRUN_HANDLER)?;
    let container = guest::container().annotation(
        "com.urunc.unikernel.cmdline",
        &format!("quiet ukrun.poweroff.delay={}", delay.as_secs()),
    );
    let id = pod.start(&container)?;
    guest::wait_ready(&pod.log_path(&container))?;
    let mut footprint = Footprint::new(node)?;
    footprint.add_pod(&pod)?;
    footprint.add_container(&id);
    let asked = Instant::now();
    node.cri().stop_container(&id, grace)?;
    let took = asked.elapsed();
    let code = node.cri().container_status(&id)?.exit_code;
    eprintln!(
        "{name}: power-off {delay:?}, grace {grace:?}: stopped in {took:?}, exit code {code}"
    );
    node.cri().remove_container(&id)?;
    pod.remove()?;
    footprint.assert_gone()?;
    Ok((took, code))
}

/// A power-off that takes 12 s (longer than the 10 s ukrun once imposed)
/// within a 30 s grace: the guest powers off by itself, exit code 0.
#[test]
fn a_linux_guest_gets_the_whole_grace_period_to_power_off() -> Result<()> {
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), |node| {
        let delay = Duration::from_secs(12);
        let (took, code) = stop(node, "linux-grace", delay, Duration::from_secs(30))?;
        ensure!(
            code == 0 && took >= delay,
            "a guest powering off in {delay:?} within a 30 s grace: exit code {code} after {took:?}"
        );
        Ok(())
    })
}

/// A power-off that would take 60 s with a 3 s grace: containerd's SIGKILL
/// at the end of the grace ends it (137), not sooner and not later.
#[test]
fn a_linux_guest_slower_than_the_grace_period_is_killed_at_its_end() -> Result<()> {
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), |node| {
        let grace = Duration::from_secs(3);
        let (took, code) = stop(node, "linux-kill", Duration::from_secs(60), grace)?;
        ensure!(
            code == 137 && took >= grace && took < Duration::from_secs(20),
            "a guest slower than a {grace:?} grace: exit code {code} after {took:?}"
        );
        Ok(())
    })
}
