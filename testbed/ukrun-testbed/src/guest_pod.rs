//! The pod every end-to-end scenario starts from: runtime handler `ukrun`,
//! the Linux guest and a busybox sidecar, both RUNNING.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::cri::ContainerSpec;
use crate::leftovers::Footprint;
use crate::netns::Netns;
use crate::netstate;
use crate::node::Node;
use crate::pod::{Pod, UKRUN_HANDLER};
use crate::procs::Process;
use crate::{guest, wait};

/// Longest an exec into the guest may take to be refused.
pub const EXEC_REFUSAL_LIMIT: Duration = Duration::from_secs(1);

/// How long the pod netns may take to be restored after the guest stopped.
const NETWORK_SETTLE: Duration = Duration::from_secs(10);

/// CRI-side timeout of the ExecSync calls.
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// A started guest pod and what was true before its containers started.
pub struct GuestPod<'n> {
    node: &'n Node,
    /// The pod sandbox.
    pub pod: Pod<'n>,
    /// The guest container's id.
    pub guest: String,
    /// The sidecar container's id.
    pub sidecar: String,
    /// The pod's network namespace.
    pub netns: Netns,
    /// The pod netns's network state before any container started (what a
    /// removed guest must restore).
    pub network_before: Vec<String>,
}

impl<'n> GuestPod<'n> {
    /// Runs the sandbox through ukrun, then starts the guest and the sidecar
    /// and waits until both are RUNNING.
    pub fn start(node: &'n Node) -> Result<GuestPod<'n>> {
        let pod = Pod::run(node, "guest-pod", UKRUN_HANDLER).context("RunPodSandbox (ukrun)")?;
        GuestPod::start_in(node, pod, &guest::container(), &guest::sidecar())
    }

    /// Starts `guest`, then `sidecar`, in a `pod` the caller ran (its own
    /// DNS settings, annotations, containers).
    pub fn start_in(
        node: &'n Node,
        pod: Pod<'n>,
        guest: &ContainerSpec,
        sidecar: &ContainerSpec,
    ) -> Result<GuestPod<'n>> {
        GuestPod::start_ordered(node, pod, |pod| {
            let guest = pod.start(guest).context("guest container")?;
            let sidecar = pod.start(sidecar).context("sidecar container")?;
            Ok((guest, sidecar))
        })
    }

    /// Starts `sidecar`, runs `sidecar_ready` with its id (e.g. to wait
    /// until it serves), then starts `guest`: the guest's probes run once
    /// at boot, so what they reach must be up first.
    pub fn start_sidecar_first(
        node: &'n Node,
        pod: Pod<'n>,
        sidecar: &ContainerSpec,
        sidecar_ready: impl FnOnce(&str) -> Result<()>,
        guest: &ContainerSpec,
    ) -> Result<GuestPod<'n>> {
        GuestPod::start_ordered(node, pod, |pod| {
            let sidecar = pod.start(sidecar).context("sidecar container")?;
            sidecar_ready(&sidecar).context("sidecar readiness")?;
            let guest = pod.start(guest).context("guest container")?;
            Ok((guest, sidecar))
        })
    }

    /// Records the pod netns's network, then lets `start` start the
    /// containers; it returns the guest's and the sidecar's ids.
    fn start_ordered(
        node: &'n Node,
        pod: Pod<'n>,
        start: impl FnOnce(&Pod<'n>) -> Result<(String, String)>,
    ) -> Result<GuestPod<'n>> {
        let netns = pod.netns()?;
        let network_before = netstate::snapshot(&netns)?;
        let (guest, sidecar) = start(&pod)?;
        Ok(GuestPod {
            node,
            pod,
            guest,
            sidecar,
            netns,
            network_before,
        })
    }

    /// Waits for the guest's readiness line in its CRI log; returns the
    /// address the guest announced.
    pub fn wait_ready(&self) -> Result<String> {
        guest::wait_ready(&self.pod.log_path(&guest::container()))
    }

    /// GETs the guest's page at the pod IP from the node netns.
    pub fn fetch_page(&self) -> Result<String> {
        guest::fetch_page(&self.node.netns(), &self.pod.ip()?)
    }

    /// The footprint of this pod and its containers on the node.
    pub fn footprint(&self) -> Result<Footprint> {
        let mut footprint = Footprint::new(self.node)?;
        footprint.add_pod(&self.pod)?;
        footprint.add_container(&self.guest);
        footprint.add_container(&self.sidecar);
        Ok(footprint)
    }

    /// How the pod netns's network differs from before the containers
    /// started (empty once the guest is gone and put everything back).
    pub fn network_changes(&self) -> Result<Vec<String>> {
        let now = netstate::snapshot(&self.netns)?;
        Ok(netstate::diff(&self.network_before, &now))
    }

    /// ExecSync `echo hi` in the sidecar must print `hi` and exit 0.
    pub fn exec_in_sidecar(&self) -> Result<()> {
        let out = self
            .node
            .cri()
            .exec_sync(&self.sidecar, &["echo", "hi"], EXEC_TIMEOUT)?;
        ensure!(
            out.exit_code == 0 && out.stdout.trim() == "hi",
            "ExecSync echo hi in the sidecar: {out:?}"
        );
        Ok(())
    }

    /// ExecSync into the guest must fail within [`EXEC_REFUSAL_LIMIT`] with
    /// ukrun's explanation; returns how long the refusal took.
    pub fn exec_in_guest_is_refused(&self) -> Result<Duration> {
        let start = Instant::now();
        let result = self
            .node
            .cri()
            .exec_sync(&self.guest, &["echo", "hi"], EXEC_TIMEOUT);
        let took = start.elapsed();
        let err = match result {
            Ok(out) => bail!("ExecSync into the guest was not refused: {out:?}"),
            Err(err) => format!("{err:#}"),
        };
        ensure!(
            err.contains(guest::EXEC_REFUSAL),
            "ExecSync into the guest failed without {:?}: {err}",
            guest::EXEC_REFUSAL
        );
        ensure!(
            took <= EXEC_REFUSAL_LIMIT,
            "ExecSync into the guest took {took:?} to be refused: {err}"
        );
        Ok(took)
    }

    /// Tears the pod down the way kubelet does (containers, then sandbox)
    /// and checks that nothing stays: the pod netns's network is as before
    /// once the guest is removed, and afterwards no process, container
    /// state or guest plumbing of the pod remains on the node.
    pub fn remove_and_check(self) -> Result<()> {
        let footprint = self.footprint()?;
        ensure!(
            footprint.processes().iter().any(Process::is_runtime),
            "the leftover check does not see the running guest's qemu/ukrun, so it could not see them stay"
        );
        self.pod
            .remove_container(&self.guest)
            .context("removing the guest")?;
        wait::poll(
            "the pod netns to be as before the guest",
            NETWORK_SETTLE,
            Duration::from_millis(250),
            || {
                let changes = self.network_changes()?;
                ensure!(
                    changes.is_empty(),
                    "changes kept:\n  {}",
                    changes.join("\n  ")
                );
                Ok(Some(()))
            },
        )?;
        self.pod
            .remove_container(&self.sidecar)
            .context("removing the sidecar")?;
        self.pod.remove().context("removing the pod")?;
        footprint.assert_gone()
    }
}
