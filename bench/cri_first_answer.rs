//! Benchmark: how long a pod container takes, through containerd's CRI, from
//! CreateContainer to its first HTTP `200`: a Unikraft 0.16.3 `nettest`
//! guest on ukrun (qemu under TCG) against busybox httpd on runc (the
//! node's default handler), interleaved on one test-bed node.
//!
//! Per sample: RunPodSandbox (untimed), then a thread in the node netns
//! starts GETting `/` at the pod IP every few milliseconds while the bench
//! sends CreateContainer and StartContainer; the figure is the time from
//! just before CreateContainer to the first `200`, with when
//! CreateContainer and StartContainer returned as a breakdown. After the
//! answer it reads the server's resident memory (qemu's for ukrun, httpd's
//! for runc), then removes the container and the pod (untimed). At the end
//! it warns about anything the pods left on the node. It prints per-side
//! median, p90 and min, the ratio of the medians and the median RSS; it
//! asserts nothing about time. Run as root:
//! `cargo bench --bench cri_first_answer` (`BENCH_ITERS` sets the samples
//! per side, default 10). Without the Unikraft images it says so and exits.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use ukrun_testbed::cri::ContainerSpec;
use ukrun_testbed::first_answer::{self, Timing};
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};
use ukrun_testbed::procs::{self, Memory};
use ukrun_testbed::stats::{self, ms, Summary};
use ukrun_testbed::unikraft::NETTEST_PORT;
use ukrun_testbed::{bench, images, interrupt, nettest};

/// Samples per side when `BENCH_ITERS` is not set.
const DEFAULT_ITERS: usize = 10;
/// One side of the comparison: a runtime handler and the server it runs.
struct Side {
    /// Short name in the output.
    name: &'static str,
    /// The CRI runtime handler ("" is containerd's default runc).
    handler: &'static str,
    /// The container that serves HTTP on [`NETTEST_PORT`].
    container: ContainerSpec,
    /// The server process's program name (prefix), to read its memory.
    server: &'static str,
}

/// What one sample measured, timed from just before CreateContainer.
struct Sample {
    /// When each step was done.
    timing: Timing,
    /// The server's memory right after its first answer.
    memory: Memory,
}

fn main() -> ExitCode {
    bench::main("cri_first_answer", run)
}

fn run() -> Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it starts a containerd node"
    );
    let iters = stats::env_count("BENCH_ITERS", DEFAULT_ITERS)?;
    if !images::build()?.unikraft {
        println!("cri_first_answer: not run: no Unikraft images here (see the line above)");
        return Ok(());
    }
    interrupt::install()?;
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), |node| {
        let sides = sides();
        let mut footprint = Footprint::new(node)?;
        eprintln!("cri_first_answer: {iters} samples per side after one warm-up each, interleaved");
        let samples = sample(node, &sides, iters, &mut footprint)?;
        if let Err(leftovers) = footprint.assert_gone() {
            eprintln!("cri_first_answer: warning: {leftovers:#}");
        }
        print_summary(&sides, &samples);
        Ok(())
    })
}

/// ukrun with the nettest guest, runc with busybox httpd.
fn sides() -> [Side; 2] {
    [
        Side {
            name: "ukrun",
            handler: UKRUN_HANDLER,
            container: nettest::container(),
            server: "qemu-system",
        },
        Side {
            name: "runc",
            handler: "",
            container: images::busybox_httpd("web", NETTEST_PORT, "ok"),
            server: "httpd",
        },
    ]
}

/// Runs one warm-up and `iters` counted samples of each side, alternating
/// between them; returns the counted samples, one vector per side.
fn sample(
    node: &Node,
    sides: &[Side],
    iters: usize,
    footprint: &mut Footprint,
) -> Result<Vec<Vec<Sample>>> {
    bench::interleaved("cri_first_answer", sides, iters, |side, round| {
        let pod = format!("fa-{}-{round}", side.name);
        measure(node, side, &pod, footprint)
            .with_context(|| format!("{} sample in pod {pod}", side.name))
    })
}

/// One sample in a fresh pod named `name`: runs the sandbox, times
/// CreateContainer → StartContainer → first `200`, reads the server's
/// memory, then removes the container and the pod.
fn measure(node: &Node, side: &Side, name: &str, footprint: &mut Footprint) -> Result<Sample> {
    let pod = Pod::run(node, name, side.handler)?;
    footprint.add_pod(&pod)?;
    let timing = first_answer::serve(node, &pod, &side.container, NETTEST_PORT, footprint)?;
    let memory = server_memory(&timing.id, side.server)?;
    pod.remove_container(&timing.id)?;
    pod.remove()?;
    Ok(Sample { timing, memory })
}

/// The memory of the process of container `id` whose program name starts
/// with `server`, the one with the lowest pid when there are several
/// (busybox httpd forks a child per connection).
fn server_memory(id: &str, server: &str) -> Result<Memory> {
    let found = procs::in_container(id, server);
    let first = found
        .iter()
        .min_by_key(|p| p.pid)
        .with_context(|| format!("no {server} process in the cgroup of container {id}"))?;
    procs::memory(first.pid)
}

/// Prints each side's figures, then the line with the ratio of the first
/// side's median to the second's.
fn print_summary(sides: &[Side], samples: &[Vec<Sample>]) {
    let answered: Vec<Summary> = samples
        .iter()
        .map(|s| summary(s, |x| x.timing.answered))
        .collect();
    println!(
        "CreateContainer -> first HTTP 200 over {} samples per side (interleaved, 1 warm-up each not counted):",
        samples[0].len()
    );
    for (side, s) in sides.iter().zip(&answered) {
        println!("  {:<5} {}", side.name, s.brief());
    }
    println!("  breakdown, since CreateContainer was sent (median / p90 / min):");
    for (side, kept) in sides.iter().zip(samples) {
        print_breakdown(side, kept);
    }
    for (side, kept) in sides.iter().zip(samples) {
        print_memory(side, kept);
    }
    println!(
        "{}",
        stats::ratio_line(
            "first answer",
            (sides[0].name, answered[0].median),
            (sides[1].name, answered[1].median)
        )
    );
}

/// One side's milestones: CreateContainer returned, StartContainer
/// returned, first `200`, and the GETs it took.
fn print_breakdown(side: &Side, kept: &[Sample]) {
    let line = |s: Summary| format!("{} / {} / {}", ms(s.median), ms(s.p90), ms(s.min));
    let attempts: Vec<f64> = kept.iter().map(|s| f64::from(s.timing.attempts)).collect();
    println!(
        "    {:<5} CreateContainer returned {}; StartContainer returned {}; first 200 {}; {:.0} GETs (median)",
        side.name,
        line(summary(kept, |s| s.timing.created)),
        line(summary(kept, |s| s.timing.started)),
        line(summary(kept, |s| s.timing.answered)),
        stats::median(&attempts)
    );
}

/// One side's median server memory after its first answer.
fn print_memory(side: &Side, kept: &[Sample]) {
    let mib = |kib: Vec<f64>| stats::median(&kib) / 1024.0;
    let rss = mib(kept.iter().map(|s| s.memory.rss_kib as f64).collect());
    let hwm = mib(kept.iter().map(|s| s.memory.hwm_kib as f64).collect());
    println!(
        "  {:<5} {} RSS median {rss:.1} MiB (peak {hwm:.1} MiB) after the first answer",
        side.name, side.server
    );
}

/// The [`Summary`] of one duration of every sample.
fn summary(samples: &[Sample], field: impl Fn(&Sample) -> Duration) -> Summary {
    let values: Vec<Duration> = samples.iter().map(field).collect();
    Summary::of(&values)
}
