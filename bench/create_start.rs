//! Benchmark: `create` + `start` of a ukrun Linux-guest container against
//! crun's `create` + `start` of a busybox container, interleaved in one run.
//!
//! Each sample is timed from launching `create` until `start` returns: for
//! ukrun that is once the supervisor has exec'd qemu, for crun once the
//! container's process has been released to exec `sleep`. Both containers
//! join a pod network namespace of their own (a veth to a private "node"
//! netns) and neither gets a cgroup (no `cgroupsPath` for ukrun,
//! `--cgroup-manager=disabled` for crun), so both do the same kind of work.
//! It prints per-side median, p90 and min and the ratio of the medians; it
//! asserts nothing about time. Run as root: `cargo bench --bench create_start`
//! (`BENCH_ITERS` sets the number of samples per side, default 15).
//!
//! Everything it creates (network namespaces, containers, state and bundle
//! directories) is owned by Drop guards, so it is removed on errors, panics
//! and Ctrl-C (children run in their own process groups, so only the bench
//! sees the terminal's SIGINT and then cleans up before exiting).

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use ukrun_testbed::bundle::Bundle;
use ukrun_testbed::netns::checked_stdout;
use ukrun_testbed::oci_runtime::{OciRuntime, WorkDir};
use ukrun_testbed::stats::{self, Summary};
use ukrun_testbed::veth_pods::{tool, NamedNetns, VethPod};
use ukrun_testbed::{bench, images, interrupt};

/// Samples per side when `BENCH_ITERS` is not set.
const DEFAULT_ITERS: usize = 15;

/// ukrun's configuration: TCG (KVM does not run ordinary guests here) and a
/// short stop grace period.
const UKRUN_CONFIG: &str = "[qemu]\naccel = \"tcg\"\n[supervisor]\nstop_grace_seconds = 1\n";

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
    enter_private_mount_namespace()?;

    let tag = format!("ukb{}", std::process::id());
    let work = WorkDir::create(std::env::temp_dir().join(format!("ukrun-bench-{tag}")))?;
    let node = NamedNetns::add(format!("{tag}-node"))?;
    let ukrun_pod = VethPod::connect(&node, &tag, 0)?;
    let crun_pod = VethPod::connect(&node, &tag, 1)?;

    let config = work.path().join("ukrun.toml");
    fs::write(&config, UKRUN_CONFIG).context("cannot write ukrun's config")?;
    let ukrun = OciRuntime::prepare(
        "ukrun",
        ukrun_bin,
        work.path(),
        &[],
        &[(OsString::from("UKRUN_CONFIG"), config.into_os_string())],
    )?;
    let _guest_bundle =
        Bundle::linux_guest(ukrun.bundle(), &guest, Path::new(&ukrun_pod.netns.path()))?;
    let crun = OciRuntime::prepare(
        "crun",
        PathBuf::from("crun"),
        work.path(),
        &["--cgroup-manager=disabled"],
        &[],
    )?;
    make_busybox_bundle(crun.bundle(), &crun_pod.netns)?;

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

/// Moves the bench (and so both runtimes) into a private mount namespace and,
/// on a hybrid cgroup layout (v1 controllers plus a cgroup2 mount with
/// controllers, as on these machines), hides the cgroup2 mount there: crun
/// refuses to run at all on such a layout ("cgroups in hybrid mode not
/// supported"). ukrun is unaffected (it gets no cgroupsPath). The netns bind
/// mounts are made in this namespace too: if the bench is killed outright,
/// the namespaces go with the last process in it and only empty files stay
/// in /run/netns.
fn enter_private_mount_namespace() -> Result<()> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .context("cannot create a private mount namespace")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("cannot make the mount namespace private")?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").context("cannot read mountinfo")?;
    for point in hybrid_cgroup2_mounts(&mountinfo) {
        umount2(point.as_str(), MntFlags::MNT_DETACH)
            .with_context(|| format!("cannot hide {point} from crun"))?;
    }
    Ok(())
}

/// cgroup2 mount points below /sys/fs/cgroup (the hybrid layout's `unified`
/// mount); none when /sys/fs/cgroup itself is the cgroup2 mount.
fn hybrid_cgroup2_mounts(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let point = pre.split_whitespace().nth(4)?;
            (post.split_whitespace().next()? == "cgroup2" && point.starts_with("/sys/fs/cgroup/"))
                .then(|| point.to_owned())
        })
        .collect()
}

/// Links `src` to `dst`, copying when they are on different filesystems.
fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if fs::hard_link(src, dst).is_err() {
        fs::copy(src, dst)
            .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
    }
    Ok(())
}

fn write_spec(bundle: &Path, spec: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(spec)?;
    fs::write(bundle.join("config.json"), text).context("cannot write config.json")
}

/// The crun bundle: busybox-static running `sleep 1000`, from `crun spec`.
fn make_busybox_bundle(bundle: &Path, pod: &NamedNetns) -> Result<()> {
    let bin = bundle.join("rootfs/bin");
    fs::create_dir_all(&bin).context("cannot create the busybox rootfs")?;
    link_or_copy(Path::new("/bin/busybox"), &bin.join("busybox"))
        .context("busybox-static's /bin/busybox is required")?;
    symlink("busybox", bin.join("sleep")).context("cannot link sleep")?;
    let output = Command::new("crun")
        .arg("spec")
        .arg("--bundle")
        .arg(bundle)
        .stdin(Stdio::null())
        .output()
        .context("cannot run crun spec")?;
    checked_stdout("crun spec", output)?;
    let path = bundle.join("config.json");
    let mut spec: Value =
        serde_json::from_str(&fs::read_to_string(&path)?).context("crun spec wrote no JSON")?;
    spec["process"]["args"] = json!(["sleep", "1000"]);
    spec["process"]["terminal"] = json!(false);
    spec["hostname"] = json!("bench-busybox");
    // Root lacks CAP_SYS_RESOURCE here: a negative oom_score_adj fails.
    if let Some(process) = spec["process"].as_object_mut() {
        process.remove("oomScoreAdj");
    }
    if let Some(linux) = spec["linux"].as_object_mut() {
        linux.remove("cgroupsPath");
    }
    let namespaces = spec["linux"]["namespaces"]
        .as_array_mut()
        .context("crun spec has no linux.namespaces")?;
    namespaces.retain(|ns| ns["type"] != "network");
    namespaces.push(json!({"type": "network", "path": pod.path()}));
    write_spec(bundle, &spec)
}
