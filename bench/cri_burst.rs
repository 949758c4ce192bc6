//! Benchmark: 20 pods started at once through containerd's CRI, until the
//! last of them serves: Unikraft 0.16.3 `nettest` guests on ukrun (qemu
//! under TCG) against busybox httpd on runc (the node's default handler),
//! bursts of each taking turns on one test-bed node.
//!
//! Per sample: 20 threads each run a pod sandbox, create and start its
//! container, wait until it is RUNNING and GET `/` at the pod IP from the
//! node until the first `200` (`ukrun_testbed::burst`); the figure is the
//! time from just before the first RunPodSandbox to the last pod's first
//! answer. The pods are then removed (untimed). At the end it warns about
//! anything the pods left on the node. It prints per-side median, p90 and
//! min and the ratio of the medians; it asserts nothing about time. Run as
//! root: `cargo bench --bench cri_burst` (`BENCH_ITERS` sets the bursts per
//! side, default 3; `BENCH_PODS` the pods per burst, default 20). Without
//! the Unikraft images it says so and exits.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::burst::Burst;
use ukrun_testbed::cri::ContainerSpec;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::UKRUN_HANDLER;
use ukrun_testbed::stats::{self, Summary};
use ukrun_testbed::unikraft::NETTEST_PORT;
use ukrun_testbed::{bench, images, interrupt, nettest};

/// Bursts per side when `BENCH_ITERS` is not set.
const DEFAULT_ITERS: usize = 3;
/// Pods per burst when `BENCH_PODS` is not set.
const DEFAULT_PODS: usize = 20;

/// One side: a runtime handler ("" is containerd's default runc) and the
/// container that serves HTTP on [`NETTEST_PORT`].
struct Side {
    name: &'static str,
    handler: &'static str,
    container: ContainerSpec,
}

fn main() -> ExitCode {
    bench::main("cri_burst", run)
}

fn run() -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it starts a containerd node"
    );
    let iters = stats::env_count("BENCH_ITERS", DEFAULT_ITERS)?;
    let pods = stats::env_count("BENCH_PODS", DEFAULT_PODS)?;
    if !images::build()?.unikraft {
        println!("cri_burst: not run: no Unikraft images here (see the line above)");
        return Ok(());
    }
    interrupt::install()?;
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), |node| {
        let sides = [
            Side {
                name: "ukrun",
                handler: UKRUN_HANDLER,
                container: nettest::container(),
            },
            Side {
                name: "runc",
                handler: "",
                container: images::busybox_httpd("web", NETTEST_PORT, "ok"),
            },
        ];
        let mut footprint = Footprint::new(node)?;
        eprintln!(
            "cri_burst: {iters} bursts of {pods} pods per side after one warm-up each, interleaved, on {}",
            node.cri().version()?
        );
        let samples = bench::interleaved("cri_burst", &sides, iters, |side, round| {
            let prefix = format!("{}-{round}", side.name);
            burst(node, side, &prefix, pods, &mut footprint)
                .with_context(|| format!("{} burst {prefix}", side.name))
        })?;
        if let Err(leftovers) = footprint.assert_gone() {
            eprintln!("cri_burst: warning: {leftovers:#}");
        }
        print_summary(&sides, &samples, pods);
        Ok(())
    })
}

/// One sample: `pods` pods named `<prefix>-<i>` at once; returns when the
/// last one answered, after removing them all.
fn burst(
    node: &Node,
    side: &Side,
    prefix: &str,
    pods: usize,
    footprint: &mut Footprint,
) -> Result<Duration> {
    let burst = Burst::start(
        node,
        prefix,
        side.handler,
        &side.container,
        pods,
        NETTEST_PORT,
    )?;
    let last = burst.last_answer();
    burst.record(footprint)?;
    burst.remove()?;
    Ok(last)
}

/// Prints each side's median, p90 and min, then the line with the ratio of
/// the first side's median to the second's.
fn print_summary(sides: &[Side], samples: &[Vec<Duration>], pods: usize) {
    let stats: Vec<Summary> = samples.iter().map(|s| Summary::of(s)).collect();
    println!(
        "{pods} pods at once, first RunPodSandbox -> last pod's first HTTP 200, over {} bursts per side (interleaved, 1 warm-up each not counted):",
        samples[0].len()
    );
    for (side, s) in sides.iter().zip(&stats) {
        println!("  {:<5} {}", side.name, s.brief());
    }
    println!(
        "{}",
        stats::ratio_line(
            "last answer",
            (sides[0].name, stats[0].median),
            (sides[1].name, stats[1].median)
        )
    );
}
