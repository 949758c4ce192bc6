//! End-to-end: ukrun behind containerd's CRI, on a throw-away node (see the
//! `ukrun-testbed` crate). Each test is one acceptance point of running a
//! unikernel guest as a pod container; they need root, qemu and containerd,
//! and fail (never skip) when something is missing.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::guest;
use ukrun_testbed::guest_pod::GuestPod;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};

/// Runs `scenario` on a fresh node whose `ukrun` handler is this crate's binary.
fn on_node(scenario: impl FnOnce(&Node) -> Result<()>) -> Result<()> {
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), scenario)
}

/// Sandbox (handed to runc), guest and sidecar run; the guest boots, says
/// so in its log, and serves its page at the pod IP.
#[test]
fn guest_pod_runs_and_serves_http() -> Result<()> {
    on_node(|node| {
        let pod = GuestPod::start(node)?;
        ensure!(pod.pod.is_ready()?, "the sandbox is not SANDBOX_READY");
        for (what, id) in [("sandbox", &pod.pod.id), ("sidecar", &pod.sidecar)] {
            ensure!(
                node.delegated_to_runc(id),
                "ukrun did not hand the {what} to runc"
            );
        }
        pod.wait_ready()?;
        let page = pod.fetch_page()?;
        ensure!(page.contains(guest::PAGE_TEXT), "page: {page:?}");
        Ok(())
    })
}

/// Removing the containers and the sandbox leaves no qemu, no ukrun
/// process, no tap/qdisc/filter and no container state.
#[test]
fn teardown_leaves_nothing_behind() -> Result<()> {
    on_node(|node| {
        let pod = GuestPod::start(node)?;
        pod.wait_ready()?;
        pod.remove_and_check()
    })
}

/// Exec into the guest is refused at once with a clear reason; exec into a
/// sidecar of the same pod works.
#[test]
fn exec_refused_in_guest_works_in_sidecar() -> Result<()> {
    on_node(|node| {
        let pod = GuestPod::start(node)?;
        pod.exec_in_guest_is_refused()?;
        pod.exec_in_sidecar()
    })
}

/// A guest image made invalid by an annotation fails with the one-line
/// reason in the CRI error and leaves nothing behind.
#[test]
fn bad_guest_images_fail_cleanly() -> Result<()> {
    on_node(|node| {
        let pod = Pod::run(node, "bad-guests", UKRUN_HANDLER)?;
        let mut footprint = Footprint::new(node)?;
        footprint.add_pod(&pod)?;
        let cases = [
            ("com.urunc.unikernel.hypervisor", "bogus", "bogus"),
            ("com.urunc.unikernel.binary", "/boot/../../etc/passwd", ".."),
            (
                "com.urunc.unikernel.initrd",
                "/boot/missing.img",
                "missing.img",
            ),
        ];
        for (key, value, expected) in cases {
            let before = footprint.snapshot();
            let container = guest::container().annotation(key, value);
            let error = pod
                .start_refused(&container)
                .with_context(|| format!("{key}={value}"))?;
            let error = format!("{error:#}");
            eprintln!("{key}={value} refused: {error}");
            ensure!(
                error.contains(expected) && !error.contains('\n'),
                "{key}={value}: the CRI error should say {expected:?} on one line: {error}"
            );
            footprint
                .assert_nothing_added(&before)
                .with_context(|| format!("after {key}={value}"))?;
        }
        Ok(())
    })
}
