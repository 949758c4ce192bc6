//! Benchmark: the time of one create/start/kill/delete cycle of a ukrun
//! Unikraft `nettest` guest container against crun's of a busybox
//! container, interleaved in one run (1000 cycles per side by default),
//! then a leak check of everything the ukrun cycles could have left.
//!
//! Each side is driven as containerd's shim drives a runtime: `create` with
//! a pid file, `start`, `kill <id> <signal>`, waiting for the container's
//! init to exit (this process is the subreaper that reaps it, as the shim
//! is), `delete`; the figure is that whole cycle. ukrun's container gets
//! SIGTERM (the guest ends at once and the supervisor undoes the pod's
//! wiring), crun's `sleep`, which as a pid namespace's init ignores
//! SIGTERM, gets SIGKILL. ukrun's cycles rotate through tc mode and routed
//! mode alone, with a localhost port and with the DNS relay (the bundle is
//! edited between cycles, untimed). Each runtime has a pod netns of its own
//! (a veth to a private "node" netns), neither a cgroup. It prints per-side
//! median, p90 and min, ukrun's median over its first and last tenth of
//! cycles (a leak that slows cycles down shows there), and the ratio of the
//! medians; it asserts nothing about time. The leak check (processes, this
//! process's descriptors, state, taps, links, routes, rules, nftables,
//! qdiscs, sysctls of the pod and node netns, mounts, lasting conntrack
//! entries) fails the run if anything is left. Run as root:
//! `cargo bench --bench endurance` (`BENCH_ITERS` sets the cycles per
//! side). Without the Unikraft images it says so and exits.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use ukrun_testbed::bundle::Bundle;
use ukrun_testbed::leak_check::LeakCheck;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::oci_runtime::{OciRuntime, WorkDir};
use ukrun_testbed::stats::{self, Summary};
use ukrun_testbed::veth_pods::{NamedNetns, VethPod};
use ukrun_testbed::wiring::{Wiring, LOOPBACK_NAMESERVER};
use ukrun_testbed::{bench, crun, interrupt, unikraft};

/// Cycles per side when `BENCH_ITERS` is not set.
const DEFAULT_CYCLES: usize = 1000;

/// One side: a runtime, the signal that stops its container at once, and
/// for ukrun the bundle whose wiring rotates (with the relay's resolv.conf).
struct Side<'a> {
    rt: &'a OciRuntime,
    signal: &'static str,
    guest: Option<(&'a Bundle, &'a Path)>,
}

fn main() -> ExitCode {
    bench::main("endurance", run)
}

fn run() -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it creates network namespaces and containers"
    );
    let cycles = stats::env_count("BENCH_ITERS", DEFAULT_CYCLES)?;
    let Some(images) = unikraft::images()? else {
        println!("endurance: not run: no Unikraft images here (see the line above)");
        return Ok(());
    };
    interrupt::install()?;
    crun::enter_private_mount_namespace()?;
    nix::sys::prctl::set_child_subreaper(true)?;

    let tag = format!("ukend{}", std::process::id());
    let work = WorkDir::create(std::env::temp_dir().join(format!("ukrun-bench-{tag}")))?;
    let node = NamedNetns::add(format!("{tag}-node"))?;
    let ukrun_pod = VethPod::connect(&node, &tag, 0)?;
    let crun_pod = VethPod::connect(&node, &tag, 1)?;

    let ukrun = OciRuntime::ukrun(PathBuf::from(env!("CARGO_BIN_EXE_ukrun")), work.path())?;
    let guest = Bundle::unikraft(
        ukrun.bundle(),
        &images.join(unikraft::NETTEST_IMAGE),
        "",
        Path::new(&ukrun_pod.netns.path()),
    )?;
    let resolv = work.path().join("resolv.conf");
    fs::write(&resolv, format!("nameserver {LOOPBACK_NAMESERVER}\n"))?;
    let crun = crun::prepare(work.path())?;
    crun::busybox_bundle(crun.bundle(), &crun_pod.netns)?;

    let root = ukrun.root();
    let mut footprint = Footprint::for_runtime(
        root.parent().context("ukrun's root has no parent")?,
        root.to_path_buf(),
        node.netns(),
    )?;
    footprint.add_sandbox(&format!("{tag}-sandbox"), &ukrun_pod.netns.netns())?;
    let spaces = [
        ukrun_pod.netns.netns(),
        crun_pod.netns.netns(),
        node.netns(),
    ];
    let mut check = LeakCheck::new(footprint, &spaces, &[])?;

    let sides = [
        Side {
            rt: &ukrun,
            signal: "TERM",
            guest: Some((&guest, &resolv)),
        },
        Side {
            rt: &crun,
            signal: "KILL",
            guest: None,
        },
    ];
    eprintln!(
        "endurance: {cycles} cycles per side after one warm-up each, interleaved; work dir {}",
        work.path().display()
    );
    let samples = bench::interleaved("endurance", &sides, cycles, |side, round| {
        let id = format!("{tag}-{}-{round}", side.rt.name);
        if side.guest.is_some() {
            check.footprint.add_container(&id);
        }
        cycle(side, &id, round).with_context(|| format!("{} cycle of {id}", side.rt.name))
    })?;
    print_summary(&sides, &samples);
    check.assert_none()?;
    println!("leak check after {} ukrun cycles: nothing left", cycles + 1);
    Ok(())
}

/// One timed cycle of container `id`: create, start, kill, wait, delete.
/// ukrun's bundle first takes wiring `round` of the rotation (untimed).
fn cycle(side: &Side, id: &str, round: usize) -> Result<Duration> {
    if let Some((bundle, resolv)) = side.guest {
        bundle.edit(|config| Wiring::nth(round).apply(config, resolv))?;
    }
    let rt = side.rt;
    let begin = Instant::now();
    let container = rt.create(rt.bundle(), id)?;
    rt.run(&["start", id])?;
    container.stop(side.signal)?;
    Ok(begin.elapsed())
}

/// Prints each side's median, p90 and min, ukrun's drift, then the line
/// with the ratio of the first side's median to the second's.
fn print_summary(sides: &[Side], samples: &[Vec<Duration>]) {
    let stats: Vec<Summary> = samples.iter().map(|s| Summary::of(s)).collect();
    let n = samples[0].len();
    println!(
        "create/start/kill/delete over {n} cycles per side (interleaved, 1 warm-up each not counted):"
    );
    for (side, s) in sides.iter().zip(&stats) {
        println!("  {:<5} {}", side.rt.name, s.brief());
    }
    let tenth = (n / 10).max(1);
    println!(
        "  ukrun median over the first {tenth} cycles {}, over the last {tenth} {}",
        stats::ms(Summary::of(&samples[0][..tenth]).median),
        stats::ms(Summary::of(&samples[0][n - tenth..]).median)
    );
    println!(
        "{}",
        stats::ratio_line(
            "cycle",
            (sides[0].rt.name, stats[0].median),
            (sides[1].rt.name, stats[1].median)
        )
    );
}
