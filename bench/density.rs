//! Benchmark: many pods on one node. For each N (default 1, 10 and 50) it
//! starts N Unikraft 0.16.3 `nettest` pods on ukrun (qemu under TCG, 64 MiB
//! of guest memory each, the pod's DNS and one localhost port) one after
//! another through containerd's CRI, keeps them all running, and does the
//! same with N busybox `httpd` pods on runc (the baseline) in the same run.
//!
//! Per N and side it prints: CreateContainer → first HTTP `200` (p50, p99)
//! as the node fills; after all N serve, the memory per pod (the server's
//! PSS — qemu or httpd —, plus ukrun's supervisor's for ukrun; PSS counts
//! a page shared by many processes as its share), what that is against the
//! guest memory given, the node's memory in use (MemTotal − MemAvailable)
//! per pod against before the pods, and the CPU the pods' processes used
//! while idle over a fixed measuring window, as a percentage of one core
//! per pod. The node-wide figure counts whatever else the machine does
//! meanwhile; the PSS figures are the pods' own. Then it removes the pods and warns about anything left. It
//! asserts nothing. Run as root: `cargo bench --bench density`
//! (`DENSITY_PODS=1,10,50` sets the sizes). Without the Unikraft images it
//! says so and exits.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use ukrun_testbed::cri::ContainerSpec;
use ukrun_testbed::first_answer;
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};
use ukrun_testbed::procs;
use ukrun_testbed::stats::{self, ms, Summary};
use ukrun_testbed::unikraft::NETTEST_PORT;
use ukrun_testbed::{bench, images, interrupt, nettest};

/// Pod counts when `DENSITY_PODS` is not set.
const DEFAULT_SIZES: &[usize] = &[1, 10, 50];
/// Guest memory of every Unikraft pod (its container's memory limit).
const GUEST_MIB: i64 = 64;
/// How long the idle CPU is measured over once all pods serve (a
/// measuring window, not a wait for anything).
const IDLE_WINDOW: Duration = Duration::from_secs(10);

/// One side of the comparison.
struct Side {
    /// Short name in the output.
    name: &'static str,
    /// The CRI runtime handler ("" is containerd's default runc).
    handler: &'static str,
    /// The container that serves HTTP on [`NETTEST_PORT`].
    container: ContainerSpec,
    /// The server's program name (prefix).
    server: &'static str,
    /// Guest memory per pod in MiB, for the VMM side.
    guest_mib: Option<i64>,
}

/// What N pods of one side cost.
struct Density {
    /// CreateContainer → first `200` of each pod, in start order.
    answered: Vec<Duration>,
    /// The server's PSS per pod, KiB.
    server_pss: Vec<u64>,
    /// ukrun's supervisor's PSS per pod, KiB (empty for runc).
    supervisor_pss: Vec<u64>,
    /// Node memory in use with the pods, less before them, KiB.
    node_kib: u64,
    /// CPU the pods' processes used over [`IDLE_WINDOW`], in clock ticks.
    idle_ticks: u64,
}

fn main() -> ExitCode {
    bench::main("density", run)
}

fn run() -> Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it starts a containerd node"
    );
    let sizes = sizes()?;
    if !images::build()?.unikraft {
        println!("density: not run: no Unikraft images here (see the line above)");
        return Ok(());
    }
    interrupt::install()?;
    let hz = procs::clock_ticks_per_second()?;
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), |node| {
        let sides = sides();
        for &n in &sizes {
            let mut measured = Vec::new();
            for side in &sides {
                let mut footprint = Footprint::new(node)?;
                let density = fill(node, side, n, &mut footprint)
                    .with_context(|| format!("{n} {} pods", side.name))?;
                print_density(side, n, &density, hz);
                if let Err(leftovers) = footprint.assert_gone() {
                    eprintln!("density: warning: {leftovers:#}");
                }
                measured.push(density);
            }
            print_ratios(&sides, n, &measured);
        }
        Ok(())
    })
}

/// The pod counts from `DENSITY_PODS` (comma-separated) or the default.
fn sizes() -> Result<Vec<usize>> {
    let Ok(text) = std::env::var("DENSITY_PODS") else {
        return Ok(DEFAULT_SIZES.to_vec());
    };
    text.split(',')
        .map(|n| {
            let n: usize = n
                .trim()
                .parse()
                .with_context(|| format!("DENSITY_PODS={text:?}"))?;
            anyhow::ensure!(n > 0, "DENSITY_PODS: a size must be at least 1");
            Ok(n)
        })
        .collect()
}

/// ukrun with the nettest guest and a localhost port, runc with busybox
/// httpd.
fn sides() -> [Side; 2] {
    [
        Side {
            name: "ukrun",
            handler: UKRUN_HANDLER,
            container: nettest::container()
                .annotation("ukrun.dev/localhost-ports", &NETTEST_PORT.to_string())
                .memory_limit_mib(GUEST_MIB),
            server: "qemu-system",
            guest_mib: Some(GUEST_MIB),
        },
        Side {
            name: "runc",
            handler: "",
            container: images::busybox_httpd("web", NETTEST_PORT, "ok"),
            server: "httpd",
            guest_mib: None,
        },
    ]
}

/// Starts `n` pods of `side` one after another, measures them once all
/// serve, and removes them.
fn fill(node: &Node, side: &Side, n: usize, footprint: &mut Footprint) -> Result<Density> {
    let before = node_used_kib()?;
    let mut pods = Vec::with_capacity(n);
    let mut answered = Vec::with_capacity(n);
    for i in 0..n {
        interrupt::check()?;
        let pod = Pod::run(node, &format!("dn-{}-{i}", side.name), side.handler)?;
        footprint.add_pod(&pod)?;
        let timing = first_answer::serve(node, &pod, &side.container, NETTEST_PORT, footprint)?;
        answered.push(timing.answered);
        pods.push((pod, timing.id));
    }
    eprintln!("density: {n} {} pods serve", side.name);
    let servers = pids(&pods, side.server)?;
    let supervisors = match side.guest_mib {
        Some(_) => pids(&pods, "ukrun")?,
        None => Vec::new(),
    };
    let watched: Vec<u32> = servers.iter().chain(&supervisors).copied().collect();
    let idle_ticks = idle_ticks(&watched)?;
    let density = Density {
        answered,
        server_pss: pss(&servers)?,
        supervisor_pss: pss(&supervisors)?,
        node_kib: node_used_kib()?.saturating_sub(before),
        idle_ticks,
    };
    for (pod, id) in pods {
        pod.remove_container(&id)?;
        pod.remove()?;
    }
    Ok(density)
}

/// For each pod, the lowest pid in its container whose program starts
/// with `program` (busybox httpd forks a child per connection).
fn pids(pods: &[(Pod, String)], program: &str) -> Result<Vec<u32>> {
    pods.iter()
        .map(|(_, id)| {
            procs::in_container(id, program)
                .iter()
                .map(|p| p.pid)
                .min()
                .with_context(|| format!("no {program} process in container {id}"))
        })
        .collect()
}

/// The PSS of each process, KiB.
fn pss(pids: &[u32]) -> Result<Vec<u64>> {
    pids.iter().map(|pid| procs::pss_kib(*pid)).collect()
}

/// The CPU ticks `pids` use together over [`IDLE_WINDOW`].
fn idle_ticks(pids: &[u32]) -> Result<u64> {
    let total =
        |pids: &[u32]| -> Result<u64> { pids.iter().map(|pid| procs::cpu_ticks(*pid)).sum() };
    let start = total(pids)?;
    std::thread::sleep(IDLE_WINDOW);
    Ok(total(pids)?.saturating_sub(start))
}

/// MemTotal − MemAvailable of `/proc/meminfo`, KiB.
fn node_used_kib() -> Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let field = |name: &str| -> Result<u64> {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("/proc/meminfo has no {name}"))
    };
    Ok(field("MemTotal")?.saturating_sub(field("MemAvailable")?))
}

/// The first side's figures against the second's for one N: first answer
/// p50 and node memory per pod.
fn print_ratios(sides: &[Side], n: usize, measured: &[Density]) {
    let p50 = |d: &Density| Summary::of(&d.answered).median;
    println!(
        "density: {}",
        stats::ratio_line(
            &format!("{n} pods, first answer"),
            (sides[0].name, p50(&measured[0])),
            (sides[1].name, p50(&measured[1]))
        )
    );
    let per_pod = |d: &Density| d.node_kib as f64 / 1024.0 / n as f64;
    println!(
        "density: {n} pods, node memory per pod: {} {:.1} MiB, {} {:.1} MiB, ratio {:.1}x",
        sides[0].name,
        per_pod(&measured[0]),
        sides[1].name,
        per_pod(&measured[1]),
        per_pod(&measured[0]) / per_pod(&measured[1]).max(0.1)
    );
}

/// One side's lines for one N.
fn print_density(side: &Side, n: usize, d: &Density, hz: u64) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64 / 1024.0;
    let s = Summary::of(&d.answered);
    let server = mean(&d.server_pss);
    let supervisor = mean(&d.supervisor_pss);
    let per_pod = server + supervisor;
    let cpu = d.idle_ticks as f64 / hz as f64 / IDLE_WINDOW.as_secs_f64() * 100.0 / n as f64;
    println!("density: {n} {} pods:", side.name);
    println!(
        "  CreateContainer -> first 200: p50 {}, p99 {}",
        ms(s.median),
        ms(s.p99)
    );
    let parts = match side.guest_mib {
        Some(g) => format!(
            "{} {server:.1} + supervisor {supervisor:.1}, {:.2}x the {g} MiB guest",
            side.server,
            per_pod / g as f64
        ),
        None => format!("{} {server:.1}", side.server),
    };
    println!("  memory per pod (PSS): {per_pod:.1} MiB = {parts}");
    println!(
        "  node memory in use: +{:.0} MiB, {:.1} MiB per pod",
        mib(d.node_kib),
        mib(d.node_kib) / n as f64
    );
    println!(
        "  idle CPU over {} s: {cpu:.2}% of a core per pod",
        IDLE_WINDOW.as_secs()
    );
}
