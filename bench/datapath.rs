//! Benchmark: TCP throughput between the node and a guest stand-in, for a
//! plain veth (the pod netns itself), tc mode and routed mode, measured
//! interleaved in one run.
//!
//! The stand-in replaces the tap with a veth whose peer lives in a third
//! "guest" netns configured as the plan tells the guest (see
//! `ukrun_testbed::standin`): ukrun's own plan and plumbing code, no qemu, so
//! the kernel's data path is measured without TCG's emulation cost. iperf3
//! runs from the node netns to the pod IP (node->guest) and with `-R`
//! (guest->node). It prints medians and their ratios to the veth baseline;
//! it asserts nothing about time. Run as root:
//! `cargo bench --bench datapath` (`BENCH_ITERS` rounds, default 5;
//! `BENCH_SECONDS` per iperf3 run, default 3; `BENCH_SHAPE=bridge|calico`).
//! Everything it creates is owned by Drop guards (also on Ctrl-C).

use std::process::ExitCode;

use anyhow::{bail, ensure, Result};
use ukrun::net::plan::NetworkMode;
use ukrun_testbed::netns::Netns;
use ukrun_testbed::standin::StandIn;
use ukrun_testbed::topology::{Shape, Topology, POD_IP};
use ukrun_testbed::{bench, interrupt, iperf, stats};

fn main() -> ExitCode {
    bench::main("datapath", run)
}

/// One way of wiring the pod: an iperf3 server where the guest would be.
/// Field order is drop order: server, plumbing, namespaces.
struct Setup {
    name: &'static str,
    _server: iperf::Server,
    _stand_in: Option<StandIn>,
    topo: Topology,
}

impl Setup {
    /// `mode` None: the baseline, the server in the pod netns itself.
    fn new(name: &'static str, tag: &str, shape: Shape, mode: Option<NetworkMode>) -> Result<Self> {
        let topo = Topology::new(tag, shape)?;
        let stand_in = match mode {
            Some(mode) => Some(StandIn::new(
                &topo.pod_netns(),
                &format!("ukg-{tag}"),
                mode,
                &format!("bench{tag}"),
            )?),
            None => None,
        };
        let server_netns = stand_in
            .as_ref()
            .map_or_else(|| topo.pod_netns(), StandIn::guest);
        Ok(Setup {
            name,
            _server: iperf::Server::start(&server_netns, POD_IP)?,
            _stand_in: stand_in,
            topo,
        })
    }

    fn node(&self) -> Netns {
        self.topo.node_netns()
    }
}

fn shape() -> Result<Shape> {
    match std::env::var("BENCH_SHAPE").as_deref() {
        Err(_) | Ok("bridge") => Ok(Shape::Bridge { mtu: 1500 }),
        Ok("calico") => Ok(Shape::Calico),
        Ok(other) => bail!("BENCH_SHAPE={other:?}: use bridge or calico"),
    }
}

fn run() -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it creates network namespaces"
    );
    let rounds = stats::env_count("BENCH_ITERS", 5)?;
    let seconds = u32::try_from(stats::env_count("BENCH_SECONDS", 3)?)?;
    let shape = shape()?;
    interrupt::install()?;
    let setups = [
        Setup::new("veth", "bdv", shape, None)?,
        Setup::new("tc", "bdt", shape, Some(NetworkMode::Tc))?,
        Setup::new("routed", "bdr", shape, Some(NetworkMode::Routed))?,
    ];
    eprintln!(
        "datapath: {shape:?}, {rounds} rounds of {seconds} s per setup and direction, interleaved"
    );
    let names: Vec<&str> = setups.iter().map(|s| s.name).collect();
    // samples[direction][setup]
    let samples = iperf::interleaved("datapath", "in/out", &names, rounds, |i, reverse| {
        iperf::measure(&setups[i].node(), POD_IP, seconds, reverse)
    })?;
    for (direction, label) in ["node->guest", "guest->node"].into_iter().enumerate() {
        let medians: Vec<f64> = samples[direction]
            .iter()
            .map(|s| stats::median(s))
            .collect();
        let figures: Vec<String> = setups
            .iter()
            .zip(&medians)
            .enumerate()
            .map(|(i, (setup, m))| match i {
                0 => format!("{} {m:.1}", setup.name),
                _ => format!("{} {m:.1} ({:.2}x)", setup.name, m / medians[0]),
            })
            .collect();
        println!("{label} median Gbit/s: {}", figures.join(", "));
    }
    Ok(())
}
