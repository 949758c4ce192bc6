//! A Unikraft `nettest` guest container created, started, stopped and
//! deleted over and over in one pod network namespace, each cycle in the
//! next [`Wiring`], driven as containerd's shim drives ukrun: `create` with
//! a pid file and a cgroup of the container's own, `start`, `kill ID 15`,
//! reaping the supervisor (this process becomes the subreaper of the
//! supervisors, as the shim is), `delete`. A [`LeakCheck`] taken before the
//! first cycle tells what the cycles left.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::fixture::Fixture;
use crate::leak_check::LeakCheck;
use crate::leftovers::Footprint;
use crate::topology::{Shape, POD_IP};
use crate::unikraft::{NETTEST_IMAGE, NETTEST_PORT};
use crate::wiring::{Wiring, LOOPBACK_NAMESERVER};
use crate::{http, oci_runtime};

/// Longest wait for a guest's first answer (it listens about 0.25 s after
/// qemu starts under TCG; longer while other guests boot on both cores).
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// The cycling guest container, its pod and the baseline.
pub struct Churn {
    fx: Fixture,
    tag: String,
    resolv: PathBuf,
    /// The baseline the cycles are checked against.
    pub check: LeakCheck,
}

impl Churn {
    /// A bridge-style pod netns and a nettest bundle driven by `ukrun`,
    /// named after `tag`, with the baseline taken; `None` when the Unikraft
    /// images are missing outside CI (see [`crate::unikraft::images`]).
    pub fn new(ukrun: &Path, tag: &str) -> Result<Option<Churn>> {
        let shape = Shape::Bridge { mtu: 1500 };
        let Some(fx) = Fixture::unikraft(ukrun, tag, shape, NETTEST_IMAGE, "")? else {
            return Ok(None);
        };
        nix::sys::prctl::set_child_subreaper(true)?;
        let resolv = fx.bundle.dir.join("resolv.conf");
        std::fs::write(&resolv, format!("nameserver {LOOPBACK_NAMESERVER}\n"))?;
        fx.settled_view()?;
        let mut footprint = Footprint::for_runtime(
            &fx.runtime.dir,
            fx.runtime.dir.join("root"),
            fx.topo.node_netns(),
        )?;
        let pod = fx.topo.pod_netns();
        footprint.add_sandbox(&format!("{tag}-pod"), &pod)?;
        let check = LeakCheck::new(footprint, &[pod, fx.topo.node_netns()], &[])?;
        Ok(Some(Churn {
            fx,
            tag: tag.to_owned(),
            resolv,
            check,
        }))
    }

    /// Cycle `n`: creates container `<tag>-<n>` in wiring `n` of the
    /// rotation, starts it, waits until the guest answers HTTP (from the
    /// node, and on the pod's 127.0.0.1 where the port is declared) when
    /// `serve` is set, stops it with SIGTERM, reaps its supervisor and
    /// deletes it.
    pub fn cycle(&mut self, n: usize, serve: bool) -> Result<()> {
        let id = format!("{}-{n}", self.tag);
        let wiring = Wiring::nth(n);
        let resolv = self.resolv.clone();
        self.fx.bundle.edit(|config| {
            wiring.apply(config, &resolv);
            config["linux"]["cgroupsPath"] = format!("/{id}").into();
        })?;
        self.check.footprint.add_container(&id);
        self.run(&id, wiring, serve)
            .with_context(|| format!("cycle {n} ({wiring:?}), container {id}"))?;
        std::fs::remove_file(self.fx.runtime.console_path(&id))?;
        Ok(())
    }

    /// create, start, (answers,) kill 15, reap, delete.
    fn run(&self, id: &str, wiring: Wiring, serve: bool) -> Result<()> {
        let runtime = &self.fx.runtime;
        self.fx.create(id)?;
        let supervisor = runtime.init_pid(id)?;
        self.fx.start(id)?;
        if serve {
            answers(&self.fx, wiring)?;
        }
        let out = runtime.run(&["kill", id, "15"])?;
        ensure!(out.status.success(), "kill: {}", runtime.last_error());
        oci_runtime::wait_gone(supervisor)?;
        let out = runtime.run(&["delete", id])?;
        ensure!(out.status.success(), "delete: {}", runtime.last_error());
        Ok(())
    }
}

/// Waits (bounded) until the guest answers `GET /` at the pod IP from the
/// node, and on the pod's 127.0.0.1 when `wiring` declares the port.
fn answers(fx: &Fixture, wiring: Wiring) -> Result<()> {
    let pod_ip: SocketAddr = format!("{POD_IP}:{NETTEST_PORT}").parse()?;
    fx.topo
        .node_netns()
        .within(move || http::first_answer(pod_ip, ANSWER_WAIT))?;
    if wiring.has_localhost_port() {
        let localhost = SocketAddr::from(([127, 0, 0, 1], NETTEST_PORT));
        fx.topo
            .pod_netns()
            .within(move || http::first_answer(localhost, ANSWER_WAIT))?;
    }
    Ok(())
}
