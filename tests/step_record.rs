//! What a network step replaces (a sysctl's value, the pod interface's tx
//! queue length) is saved in the container's record before the step
//! changes it: a supervisor killed between the change and the save would
//! otherwise leave the change behind after `delete`. The steps are applied
//! through the same journal the supervisor uses, in a pod netns the test
//! made, and every save is checked against what the namespace holds at
//! that moment.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use ukrun::net::apply;
use ukrun::net::journal::{self, Journal};
use ukrun::net::steps::NetStep;
use ukrun_testbed::netns::checked_stdout;
use ukrun_testbed::topology::{Shape, Topology};

const FORWARD: &str = "net/ipv4/ip_forward";

/// The record as saved, beside what the namespace held when it was saved.
#[derive(Debug)]
struct Saved {
    steps: Vec<NetStep>,
    ip_forward: String,
    ingress_on_eth0: bool,
}

/// A journal that remembers every save (it runs on the thread inside the
/// pod netns, so what it reads is the pod's).
#[derive(Default)]
struct Recorder {
    steps: Vec<NetStep>,
    saves: Vec<Saved>,
}

impl Recorder {
    fn observe_namespace(&self) -> Result<Saved> {
        let ip_forward = std::fs::read_to_string(Path::new("/proc/sys").join(FORWARD))?;
        let qdiscs = checked_stdout(
            "tc qdisc show dev eth0",
            Command::new("tc")
                .args(["qdisc", "show", "dev", "eth0"])
                .output()?,
        )?;
        Ok(Saved {
            steps: self.steps.clone(),
            ip_forward: ip_forward.trim().to_owned(),
            ingress_on_eth0: qdiscs.contains("ingress"),
        })
    }
}

impl Journal for Recorder {
    fn steps(&mut self) -> &mut Vec<NetStep> {
        &mut self.steps
    }

    fn save(&mut self) -> Result<(), String> {
        let saved = self.observe_namespace().map_err(|e| format!("{e:#}"))?;
        self.saves.push(saved);
        Ok(())
    }
}

/// Applies `steps` through the journal inside `topo`'s pod netns and undoes
/// what it recorded; returns how the apply went and every save.
fn apply_and_undo(
    topo: &Topology,
    steps: Vec<NetStep>,
) -> Result<(Result<(), String>, Vec<Saved>)> {
    topo.pod_netns().within(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let (connection, handle, _) = rtnetlink::new_connection()?;
            tokio::spawn(connection);
            let mut recorder = Recorder::default();
            let applied = journal::apply_all(&handle, steps, &mut recorder)
                .await
                .map(|_| ());
            for step in recorder.steps.iter().rev() {
                apply::undo(&handle, step).await?;
            }
            Ok((applied, recorder.saves))
        })
    })
}

#[test]
fn what_a_step_replaces_is_saved_before_the_step_changes_it() -> Result<()> {
    let topo = Topology::new("sr", Shape::Bridge { mtu: 1500 })?;
    let before = topo.pod_network_view()?;
    let sysctl = NetStep::Sysctl {
        key: FORWARD.into(),
        value: "1".into(),
        previous: None,
    };
    let qdisc = NetStep::IngressQdisc {
        interface: "eth0".into(),
        previous_txqueuelen: None,
    };
    let (applied, saves) = apply_and_undo(&topo, vec![sysctl, qdisc])?;
    applied.map_err(anyhow::Error::msg)?;
    let first = saves.first().context("a save per step")?;
    ensure!(
        matches!(&first.steps[..], [NetStep::Sysctl { previous: Some(p), .. }] if p == "0")
            && first.ip_forward == "0",
        "the sysctl's previous value is saved while the sysctl is unchanged: {first:?}"
    );
    let second = saves.get(1).context("a save per step")?;
    ensure!(
        matches!(
            &second.steps[..],
            [
                _,
                NetStep::IngressQdisc {
                    previous_txqueuelen: Some(0),
                    ..
                }
            ]
        ) && !second.ingress_on_eth0,
        "eth0's tx queue length is saved before the qdisc is attached: {second:?}"
    );
    ensure!(saves.len() == 2, "one save per step: {saves:?}");
    let after = topo.pod_network_view()?;
    ensure!(after == before, "undo restored the pod netns");
    Ok(())
}

#[test]
fn consecutive_sysctls_are_saved_together_and_a_failed_one_is_not_kept() -> Result<()> {
    let topo = Topology::new("sb", Shape::Bridge { mtu: 1500 })?;
    let before = topo.pod_network_view()?;
    let forward = NetStep::Sysctl {
        key: FORWARD.into(),
        value: "1".into(),
        previous: None,
    };
    let refused = NetStep::Sysctl {
        key: "net/ipv4/ip_default_ttl".into(),
        value: "not a number".into(),
        previous: None,
    };
    let never = NetStep::Sysctl {
        key: "net/ipv4/conf/eth0/accept_local".into(),
        value: "1".into(),
        previous: None,
    };
    let (applied, saves) = apply_and_undo(&topo, vec![forward, refused, never])?;
    ensure!(applied.is_err(), "a refused sysctl fails the plan");
    ensure!(
        saves.len() == 2,
        "one save for the batch, one after the failure: {saves:?}"
    );
    ensure!(
        saves[0].steps.len() == 3
            && saves[0].ip_forward == "0"
            && saves[0].steps.iter().all(|s| matches!(
                s,
                NetStep::Sysctl {
                    previous: Some(_),
                    ..
                }
            )),
        "the batch is saved with every previous value before any is written: {:?}",
        saves[0]
    );
    ensure!(
        matches!(&saves[1].steps[..], [NetStep::Sysctl { key, .. }] if key == FORWARD)
            && saves[1].ip_forward == "1",
        "after the refusal only the applied sysctl stays recorded: {:?}",
        saves[1]
    );
    let after = topo.pod_network_view()?;
    ensure!(after == before, "undo restored the pod netns");
    Ok(())
}
