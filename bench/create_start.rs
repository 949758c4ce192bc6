//! Benchmark: `create` + `start` of a ukrun Linux-guest container against
//! crun's `create` + `start` of a busybox container, interleaved in one run.
//!
//! Each sample is timed from launching `create` until `start` returns: for
//! ukrun that is once the supervisor has exec'd qemu, for crun once the
//! container's process has been released to exec `sleep`. Both containers
//! join a pod network namespace of their own (a veth to a private "node"
//! netns) and neither gets a cgroup (no `cgroupsPath` for ukrun,
//! `--cgroup-manager=disabled` for crun), so both do the same kind of work.
//! Both keep their state (and bundles) on a tmpfs the bench mounts in its
//! private mount namespace, as state roots under /run are on a node: on a
//! disk, each of ukrun's journaled state saves costs a file system
//! journal commit that a node does not pay.
//! It prints per-side median, p90 and min and the ratio of the medians; it
//! asserts nothing about time. Run as root: `cargo bench --bench create_start`
//! (`BENCH_ITERS` sets the number of samples per side, default 15).
//!
//! Everything it creates (network namespaces, containers, state and bundle
//! directories) is owned by Drop guards, so it is removed on errors, panics
//! and Ctrl-C (children run in their own process groups, so only the bench
//! sees the terminal's SIGINT and then cleans up before exiting).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use ukrun_testbed::bundle::Bundle;
use ukrun_testbed::oci_runtime::{OciRuntime, WorkDir};
use ukrun_testbed::stats::{self, Summary};
use ukrun_testbed::veth_pods::{tool, NamedNetns, VethPod};
use ukrun_testbed::{bench, crun, images, interrupt};

/// Samples per side when `BENCH_ITERS` is not set.
const DEFAULT_ITERS: usize = 15;

fn main() -> ExitCode {
    bench::main("create_start", run)
}

fn run() -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it creates network namespaces and containers"
    );
    let iters = stats::env_count("BENCH_ITERS", DEFAULT_ITERS)?;
    let ukrun_bin = ukrun_binary()?;
    let guest = images::build()?.dir.join("guest");
    for (program, version) in [("crun", "--version"), ("ip", "-V"), ("tc", "-V")] {
        tool(program, &[version]).with_context(|| format!("{program} is required"))?;
    }
    interrupt::install()?;
    crun::enter_private_mount_namespace()?;

    let tag = format!("ukb{}", std::process::id());
    let work = WorkDir::create_on_tmpfs(std::env::temp_dir().join(format!("ukrun-bench-{tag}")))?;
    let node = NamedNetns::add(format!("{tag}-node"))?;
    let ukrun_pod = VethPod::connect(&node, &tag, 0)?;
    let crun_pod = VethPod::connect(&node, &tag, 1)?;

    let ukrun = OciRuntime::ukrun(ukrun_bin, work.path())?;
    let _guest_bundle =
        Bundle::linux_guest(ukrun.bundle(), &guest, Path::new(&ukrun_pod.netns.path()))?;
    let crun = crun::prepare(work.path())?;
    crun::busybox_bundle(crun.bundle(), &crun_pod.netns)?;

    let sides = [&ukrun, &crun];
    eprintln!(
        "create_start: {iters} samples per side after one warm-up each, interleaved; \
         work dir {}",
        work.path().display()
    );
    let samples = sample(&sides, iters, &tag)?;
    report_leftovers(&sides, &[&ukrun_pod, &crun_pod], &tag)?;
    print_summary(&sides, &samples);
    Ok(())
}

/// One sample: times `create` + `start` of container `id`, checks that it
/// is running, then removes it (untimed).
fn measure(rt: &OciRuntime, id: &str) -> Result<Duration> {
    let begin = Instant::now();
    let container = rt.create(rt.bundle(), id)?;
    rt.run(&["start", id])?;
    let elapsed = begin.elapsed();
    let status = rt.status(id)?;
    ensure!(
        status == "running",
        "{id} is {status:?} right after start, not running\n{}",
        rt.diagnostics()
    );
    container.remove()?;
    Ok(elapsed)
}

/// Runs one warm-up and `iters` counted samples of each runtime, alternating
/// between them; returns the counted samples, one vector per runtime.
fn sample(sides: &[&OciRuntime], iters: usize, tag: &str) -> Result<Vec<Vec<Duration>>> {
    bench::interleaved("create_start", sides, iters, |rt, round| {
        let id = format!("{tag}-{}-{round}", rt.name);
        measure(rt, &id).with_context(|| format!("{} create+start of {id}", rt.name))
    })
}

/// Warns about what the runtimes left in the pods and state roots, and about
/// errors and warnings in their logs.
fn report_leftovers(sides: &[&OciRuntime], pods: &[&VethPod], tag: &str) -> Result<()> {
    for pod in pods {
        for leftover in pod.leftovers()? {
            eprintln!(
                "create_start: warning: left in {}: {leftover}",
                pod.netns.name
            );
        }
    }
    for rt in sides {
        for leftover in rt.leftover_state(tag)? {
            eprintln!(
                "create_start: warning: state left by {}: {leftover}",
                rt.name
            );
        }
        for line in rt.log_problems() {
            eprintln!("create_start: {} logged: {line}", rt.name);
        }
    }
    Ok(())
}

/// Prints each side's median, p90 and min, then the line with the ratio of
/// the first side's median to the second's.
fn print_summary(sides: &[&OciRuntime], samples: &[Vec<Duration>]) {
    let stats: Vec<Summary> = samples.iter().map(|s| Summary::of(s)).collect();
    let n = samples[0].len();
    println!("create+start over {n} samples per side (interleaved, 1 warm-up each not counted):");
    for (rt, s) in sides.iter().zip(&stats) {
        println!("  {:<5} {}", rt.name, s.brief());
    }
    println!(
        "{}",
        stats::ratio_line(
            "create+start",
            (sides[0].name, stats[0].median),
            (sides[1].name, stats[1].median)
        )
    );
}

/// The ukrun binary cargo built for this bench (same profile).
fn ukrun_binary() -> Result<PathBuf> {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_ukrun"));
    ensure!(
        path.is_file(),
        "ukrun binary {} is missing: build it with `cargo build --release --bin ukrun`",
        path.display()
    );
    Ok(path)
}
