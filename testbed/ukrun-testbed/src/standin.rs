//! The guest stand-in for benchmarks: what ukrun plans for a container,
//! applied to a pod netns with the tap replaced by a veth whose peer
//! (`eth0`) lives in a third "guest" netns configured as the plan tells the
//! guest (pod IP with prefix and gateway, MAC, MTU). The kernel's data path
//! is then measured without qemu. Dropping it undoes the plan and deletes
//! the guest netns.

use std::future::Future;
use std::net::Ipv4Addr;

use crate::netns::Netns;
use crate::veth_pods::ip;
use anyhow::{bail, Context, Result};
use rtnetlink::Handle;
use ukrun::net::plan::{plan, NetPlan, NetworkMode, Wiring};
use ukrun::net::steps::NetStep;
use ukrun::net::{apply, format_mac, observe};

/// The pod-loopback address ukrun uses by default.
pub const POD_LOOPBACK: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// A guest netns wired to a pod netns the way `mode` wires a guest.
pub struct StandIn {
    pod: Netns,
    guest_name: String,
    applied: Vec<NetStep>,
}

impl StandIn {
    /// Observes `pod`, plans `mode` for container `id`, creates the guest
    /// netns `guest_name` behind a veth named like the tap, and applies
    /// every other step of the plan in `pod`.
    pub fn new(pod: &Netns, guest_name: &str, mode: NetworkMode, id: &str) -> Result<Self> {
        let wiring = Wiring {
            mode,
            pod_loopback: POD_LOOPBACK,
            localhost_ports: Vec::new(),
            dns_relay: false,
        };
        Self::wired(pod, guest_name, wiring, id)
    }

    /// [`StandIn::new`] with the container's whole wiring (localhost ports,
    /// DNS relay, pod-loopback address).
    pub fn wired(pod: &Netns, guest_name: &str, wiring: Wiring, id: &str) -> Result<Self> {
        let id = id.to_owned();
        let planned: NetPlan = with_netlink(pod, move |handle| async move {
            let observed = observe::observe(&handle).await?;
            Ok(plan(&wiring, &observed, &id))
        })?;
        ip(&["netns", "add", guest_name])?;
        let mut stand_in = StandIn {
            pod: pod.clone(),
            guest_name: guest_name.to_owned(),
            applied: Vec::new(),
        };
        stand_in.wire_guest(&planned)?;
        let (tap, rest) = planned.steps.split_first().context("the plan is empty")?;
        anyhow::ensure!(
            matches!(tap, NetStep::Tap { .. }),
            "the plan does not start with its tap"
        );
        stand_in.applied.push(tap.clone());
        let rest = rest.to_vec();
        let (done, failure) = with_netlink(pod, move |handle| async move {
            let mut done = Vec::new();
            for mut step in rest {
                let applied = match apply::observe(&handle, &mut step).await {
                    Ok(()) => apply::apply(&handle, &step).await.map(drop),
                    Err(e) => Err(e),
                };
                if let Err(e) = applied {
                    return Ok((done, Some(format!("{}: {e}", step.describe()))));
                }
                done.push(step);
            }
            Ok((done, None))
        })?;
        stand_in.applied.extend(done);
        if let Some(failure) = failure {
            bail!("applying the plan: {failure}");
        }
        Ok(stand_in)
    }

    /// Creates the veth (tap name and MTU in the pod netns, `eth0` in the
    /// guest netns) and gives `eth0` the guest's MAC, MTU, address and
    /// default route.
    fn wire_guest(&self, planned: &NetPlan) -> Result<()> {
        let guest = &planned.guest;
        let (mtu, g) = (guest.mtu.to_string(), self.guest_name.as_str());
        let add = format!(
            "link add {} mtu {mtu} type veth peer name eth0 netns {g} mtu {mtu} address {}",
            planned.tap,
            format_mac(&guest.mac)
        );
        self.pod
            .run("ip", &add.split_whitespace().collect::<Vec<_>>())?;
        ip(&["-n", g, "link", "set", "lo", "up"])?;
        ip(&["-n", g, "link", "set", "eth0", "up"])?;
        ip(&[
            "-n",
            g,
            "addr",
            "add",
            &format!("{}/{}", guest.ip, guest.prefix),
            "dev",
            "eth0",
        ])?;
        if let Some(gw) = guest.gateway {
            let gw = gw.to_string();
            ip(&[
                "-n", g, "route", "replace", &gw, "dev", "eth0", "scope", "link",
            ])?;
            ip(&[
                "-n", g, "route", "add", "default", "via", &gw, "dev", "eth0", "onlink",
            ])?;
        }
        self.pod.run("ip", &["link", "set", &planned.tap, "up"])?;
        Ok(())
    }

    /// The guest netns.
    pub fn guest(&self) -> Netns {
        Netns::new(format!("/run/netns/{}", self.guest_name))
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let steps: Vec<NetStep> = self.applied.drain(..).rev().collect();
        let undone = with_netlink(&self.pod, move |handle| async move {
            for step in &steps {
                if let Err(e) = apply::undo(&handle, step).await {
                    eprintln!("stand-in: undo {}: {e}", step.describe());
                }
            }
            Ok(())
        });
        if let Err(e) = undone.and_then(|()| ip(&["netns", "del", &self.guest_name])) {
            eprintln!("stand-in: cleanup: {e:#}");
        }
    }
}

/// Runs `work` with a netlink handle on a thread inside `netns` (a tokio
/// current-thread runtime drives the connection).
fn with_netlink<T, F, Fut>(netns: &Netns, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    netns.within(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        runtime.block_on(async move {
            let (connection, handle, _) = rtnetlink::new_connection()?;
            tokio::spawn(connection);
            work(handle).await
        })
    })
}
