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

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

/// Samples per side when `BENCH_ITERS` is not set.
const DEFAULT_ITERS: usize = 15;
/// How long a container's init may take to vanish after `delete --force`.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// ukrun's configuration: TCG (KVM does not run ordinary guests here) and a
/// short stop grace period.
const UKRUN_CONFIG: &str = "[qemu]\naccel = \"tcg\"\n[supervisor]\nstop_grace_seconds = 1\n";

/// Set by SIGINT/SIGTERM; checked between steps so the guards can clean up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    // `cargo test --benches` runs this binary without `--bench`: the
    // benchmark needs root and minutes, so it only runs under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("create_start: skipped (run it with `cargo bench --bench create_start`)");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("create_start: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it creates network namespaces and containers"
    );
    let iters = iterations()?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ukrun_bin = ukrun_binary()?;
    let guest = guest_files(repo)?;
    for (program, version) in [("crun", "--version"), ("ip", "-V"), ("tc", "-V")] {
        tool(program, &[version]).with_context(|| format!("{program} is required"))?;
    }
    install_signal_handlers()?;
    enter_private_mount_namespace()?;

    let tag = format!("ukb{}", std::process::id());
    let work = WorkDir::create(std::env::temp_dir().join(format!("ukrun-bench-{tag}")))?;
    let node = Netns::add(format!("{tag}-node"))?;
    let ukrun_pod = Pod::connect(&node, &tag, 0)?;
    let crun_pod = Pod::connect(&node, &tag, 1)?;

    let config = work.path().join("ukrun.toml");
    fs::write(&config, UKRUN_CONFIG).context("cannot write ukrun's config")?;
    let ukrun = Runtime::prepare(
        "ukrun",
        ukrun_bin,
        work.path(),
        &[],
        &[(OsString::from("UKRUN_CONFIG"), config.into_os_string())],
    )?;
    make_guest_bundle(&ukrun.bundle, &guest, &ukrun_pod.netns)?;
    let crun = Runtime::prepare(
        "crun",
        PathBuf::from("crun"),
        work.path(),
        &["--cgroup-manager=disabled"],
        &[],
    )?;
    make_busybox_bundle(&crun.bundle, &crun_pod.netns)?;

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

/// Runs one warm-up and `iters` counted samples of each runtime, alternating
/// between them; returns the counted samples, one vector per runtime.
fn sample(sides: &[&Runtime], iters: usize, tag: &str) -> Result<Vec<Vec<Duration>>> {
    let mut samples = vec![Vec::new(); sides.len()];
    for round in 0..=iters {
        for (rt, times) in sides.iter().zip(samples.iter_mut()) {
            check_interrupted()?;
            let id = format!("{tag}-{}-{round}", rt.name);
            let elapsed = rt
                .measure(&id)
                .with_context(|| format!("{} create+start of {id}", rt.name))?;
            if round > 0 {
                times.push(elapsed);
            }
        }
        let label = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("{round}/{iters}")
        };
        eprintln!("create_start: {label} done");
    }
    Ok(samples)
}

/// Warns about what the runtimes left in the pods and state roots, and about
/// errors and warnings in their logs.
fn report_leftovers(sides: &[&Runtime], pods: &[&Pod], tag: &str) -> Result<()> {
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
fn print_summary(sides: &[&Runtime], samples: &[Vec<Duration>]) {
    let stats: Vec<Summary> = samples.iter().map(|s| Summary::of(s)).collect();
    let n = samples[0].len();
    println!("create+start over {n} samples per side (interleaved, 1 warm-up each not counted):");
    for (rt, s) in sides.iter().zip(&stats) {
        println!(
            "  {:<5} median {}, p90 {}, min {}",
            rt.name,
            ms(s.median),
            ms(s.p90),
            ms(s.min)
        );
    }
    println!(
        "create+start median: {} {}, {} {}, ratio {:.2}x",
        sides[0].name,
        ms(stats[0].median),
        sides[1].name,
        ms(stats[1].median),
        stats[0].median.as_secs_f64() / stats[1].median.as_secs_f64()
    );
}

/// Samples per side: `BENCH_ITERS` or the default.
fn iterations() -> Result<usize> {
    match std::env::var("BENCH_ITERS") {
        Ok(v) => {
            let n: usize = v
                .trim()
                .parse()
                .with_context(|| format!("BENCH_ITERS={v:?} is not a number"))?;
            ensure!(n > 0, "BENCH_ITERS must be at least 1");
            Ok(n)
        }
        Err(_) => Ok(DEFAULT_ITERS),
    }
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

/// Guest kernel and initrd, built by the test bed's script when missing.
struct GuestFiles {
    kernel: PathBuf,
    initrd: PathBuf,
}

fn guest_files(repo: &Path) -> Result<GuestFiles> {
    let out = repo.join("testbed/out/guest");
    let files = GuestFiles {
        kernel: out.join("vmlinux"),
        initrd: out.join("initrd.img"),
    };
    if !(files.kernel.is_file() && files.initrd.is_file()) {
        eprintln!(
            "create_start: building the Linux guest into {}",
            out.display()
        );
        let status = Command::new(repo.join("testbed/guest/build.sh"))
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .status()
            .context("cannot run testbed/guest/build.sh")?;
        ensure!(status.success(), "testbed/guest/build.sh failed: {status}");
    }
    Ok(files)
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(sig, &action) }.context("cannot install a signal handler")?;
    }
    Ok(())
}

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; cleaning up");
    }
    Ok(())
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

/// Runs `ip` with `args`; fails with its stderr.
fn ip(args: &[&str]) -> Result<()> {
    tool("ip", args).map(drop)
}

/// The stdout of `program args…`; fails with its stderr.
fn tool(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    checked(&format!("{program} {}", args.join(" ")), output)
}

/// `output`'s stdout when the command succeeded, else an error with stderr.
fn checked(what: &str, output: Output) -> Result<String> {
    ensure!(
        output.status.success(),
        "`{what}` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A directory removed with everything in it on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(path: PathBuf) -> Result<WorkDir> {
        fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WorkDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            eprintln!("create_start: cannot remove {}: {e}", self.0.display());
        }
    }
}

/// A named network namespace (`/run/netns/<name>`), deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn add(name: String) -> Result<Netns> {
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Runs `ip -n <name> args…`.
    fn ip(&self, args: &[&str]) -> Result<()> {
        ip(&[&["-n", &self.name], args].concat())
    }

    /// The output of `program -n <name> args…` (`ip` or `tc`).
    fn query(&self, program: &str, args: &[&str]) -> Result<String> {
        tool(program, &[&["-n", &self.name], args].concat())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("create_start: {e:#}");
        }
    }
}

/// A pod netns as a bridge-style CNI leaves it: `eth0` 10.77.<n>.2/24, the
/// peer 10.77.<n>.1/24 in the node netns, default route via the peer.
struct Pod {
    netns: Netns,
}

impl Pod {
    fn connect(node: &Netns, tag: &str, n: u8) -> Result<Pod> {
        let netns = Netns::add(format!("{tag}-pod{n}"))?;
        let host_if = format!("{tag}v{n}");
        ip(&[
            "link",
            "add",
            &host_if,
            "netns",
            &node.name,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns.name,
        ])?;
        node.ip(&["addr", "add", &format!("10.77.{n}.1/24"), "dev", &host_if])?;
        node.ip(&["link", "set", &host_if, "up"])?;
        netns.ip(&["addr", "add", &format!("10.77.{n}.2/24"), "dev", "eth0"])?;
        netns.ip(&["link", "set", "eth0", "up"])?;
        netns.ip(&["route", "add", "default", "via", &format!("10.77.{n}.1")])?;
        Ok(Pod { netns })
    }

    /// Links other than lo/eth0 and qdiscs other than the default ones:
    /// what a runtime left behind.
    fn leftovers(&self) -> Result<Vec<String>> {
        let links = self.netns.query("ip", &["-o", "link", "show"])?;
        let qdiscs = self.netns.query("tc", &["qdisc", "show"])?;
        let extra_links = links.lines().filter(|l| {
            let name = l.split(':').nth(1).unwrap_or("").trim();
            !(name == "lo" || name.starts_with("eth0@"))
        });
        let extra_qdiscs = qdiscs
            .lines()
            .filter(|l| l.contains("ingress") || l.contains("clsact"));
        Ok(extra_links.chain(extra_qdiscs).map(str::to_owned).collect())
    }
}

/// One runtime under test: its binary, global flags, state root, bundle and
/// the files that receive its stdio and log.
struct Runtime {
    name: &'static str,
    bin: PathBuf,
    global: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    root: PathBuf,
    bundle: PathBuf,
    log: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Runtime {
    /// Lays out `<work>/<name>/{root,bundle}` and the global flags
    /// `extra --root <root> --log <log> --log-format json`.
    fn prepare(
        name: &'static str,
        bin: PathBuf,
        work: &Path,
        extra: &[&str],
        env: &[(OsString, OsString)],
    ) -> Result<Runtime> {
        let dir = work.join(name);
        let root = dir.join("root");
        let bundle = dir.join("bundle");
        for d in [&root, &bundle] {
            fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let log = dir.join("log.json");
        let mut global: Vec<OsString> = extra.iter().map(OsString::from).collect();
        global.extend([
            "--root".into(),
            root.clone().into(),
            "--log".into(),
            log.clone().into(),
            "--log-format".into(),
            "json".into(),
        ]);
        Ok(Runtime {
            name,
            bin,
            global,
            env: env.to_vec(),
            root,
            bundle,
            log,
            stdout: dir.join("stdout.log"),
            stderr: dir.join("stderr.log"),
        })
    }

    /// The runtime with its global flags and `args`, stdin from /dev/null,
    /// stdout/stderr appended to files, in its own process group.
    fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Command> {
        let append = |p: &Path| -> Result<File> {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open {}", p.display()))
        };
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.global)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(append(&self.stdout)?)
            .stderr(append(&self.stderr)?)
            .process_group(0);
        Ok(cmd)
    }

    /// Runs a command to completion; on failure, the error carries the
    /// runtime's stderr and log.
    fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<()> {
        let status = self
            .command(args)?
            .status()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !status.success() {
            bail!(
                "`{} {}` failed ({status})\n{}",
                self.name,
                args.iter()
                    .map(|a| a.as_ref().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                self.diagnostics()
            );
        }
        Ok(())
    }

    /// The tails of the runtime's stderr and log files.
    fn diagnostics(&self) -> String {
        [("stderr", &self.stderr), ("log", &self.log)]
            .iter()
            .map(|(what, path)| {
                let text = fs::read_to_string(path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                format!("--- {} {what} ({}):\n{tail}", self.name, path.display())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// One sample: times `create` + `start` of container `id`, checks that it
    /// is running, then removes it (untimed).
    fn measure(&self, id: &str) -> Result<Duration> {
        let container = Container {
            rt: self,
            id: id.to_owned(),
            pid_file: self.root.with_file_name(format!("{id}.pid")),
            removed: false,
        };
        let bundle = self.bundle.as_os_str();
        let pid_file = container.pid_file.as_os_str();
        let begin = Instant::now();
        self.run(&[
            OsStr::new("create"),
            OsStr::new("--bundle"),
            bundle,
            OsStr::new("--pid-file"),
            pid_file,
            OsStr::new(id),
        ])?;
        self.run(&["start", id])?;
        let elapsed = begin.elapsed();
        let status = self.status(id)?;
        ensure!(
            status == "running",
            "{id} is {status:?} right after start, not running\n{}",
            self.diagnostics()
        );
        container.remove()?;
        Ok(elapsed)
    }

    /// The `status` field of `state <id>`.
    fn status(&self, id: &str) -> Result<String> {
        let output = self
            .command(&["state", id])?
            .stdout(Stdio::piped())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        let text = checked(&format!("{} state {id}", self.name), output)?;
        let state: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} state {id} printed no JSON: {text}", self.name))?;
        Ok(state["status"].as_str().unwrap_or("").to_owned())
    }

    /// Error and warning lines of the runtime's JSON log.
    fn log_problems(&self) -> Vec<String> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| {
                let level = serde_json::from_str::<Value>(l)
                    .ok()
                    .map(|v| v["level"].clone());
                matches!(
                    level.as_ref().and_then(Value::as_str),
                    Some("error" | "warning" | "warn")
                )
            })
            .map(str::to_owned)
            .collect()
    }

    /// What is left under the state root: files, and anything named after
    /// one of this run's containers (store directories may stay).
    fn leftover_state(&self, tag: &str) -> Result<Vec<String>> {
        let mut left = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let entries =
                fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
            for entry in entries {
                let path = entry?.path();
                let named = path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(tag));
                if named || !path.is_dir() {
                    left.push(path.display().to_string());
                }
                if path.is_dir() {
                    dirs.push(path);
                }
            }
        }
        Ok(left)
    }
}

/// A created container: killed and force-deleted on drop unless `remove`d.
struct Container<'r> {
    rt: &'r Runtime,
    id: String,
    pid_file: PathBuf,
    removed: bool,
}

impl Container<'_> {
    /// Kills and deletes the container and waits for its init to be gone.
    fn remove(mut self) -> Result<()> {
        self.removed = true;
        self.teardown()
    }

    fn teardown(&self) -> Result<()> {
        let init = fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        // kill may fail when the container already stopped: delete decides.
        let _ = self.rt.run(&["kill", &self.id, "KILL"]);
        self.rt.run(&["delete", "--force", &self.id])?;
        let _ = fs::remove_file(&self.pid_file);
        if let Some(pid) = init {
            wait_gone(pid).with_context(|| format!("{} of {}", self.rt.name, self.id))?;
        }
        Ok(())
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if !self.removed {
            if let Err(e) = self.teardown() {
                eprintln!("create_start: cleanup: {e:#}");
            }
        }
    }
}

/// Waits until process `pid` has exited (gone or a zombie).
fn wait_gone(pid: i32) -> Result<()> {
    let deadline = Instant::now() + EXIT_TIMEOUT;
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the parenthesised command name.
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        if matches!(state, None | Some('Z') | Some('X')) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "init process {pid} still runs {EXIT_TIMEOUT:?} after delete --force"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
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

/// The ukrun bundle: a Linux guest as urunc's annotations describe it.
fn make_guest_bundle(bundle: &Path, guest: &GuestFiles, pod: &Netns) -> Result<()> {
    let boot = bundle.join("rootfs/boot");
    fs::create_dir_all(&boot).context("cannot create the guest rootfs")?;
    link_or_copy(&guest.kernel, &boot.join("vmlinux"))?;
    link_or_copy(&guest.initrd, &boot.join("initrd.img"))?;
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": ["/boot/vmlinux"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/"
        },
        "root": {"path": "rootfs"},
        "hostname": "bench-guest",
        "linux": {"namespaces": [{"type": "network", "path": pod.path()}]},
        "annotations": {
            "com.urunc.unikernel.unikernelType": "linux",
            "com.urunc.unikernel.hypervisor": "qemu",
            "com.urunc.unikernel.binary": "/boot/vmlinux",
            "com.urunc.unikernel.initrd": "/boot/initrd.img",
            "com.urunc.unikernel.cmdline": "quiet"
        }
    });
    write_spec(bundle, &spec)
}

/// The crun bundle: busybox-static running `sleep 1000`, from `crun spec`.
fn make_busybox_bundle(bundle: &Path, pod: &Netns) -> Result<()> {
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
    checked("crun spec", output)?;
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

/// Median, 90th percentile (nearest rank) and minimum of a sample.
struct Summary {
    median: Duration,
    p90: Duration,
    min: Duration,
}

impl Summary {
    fn of(samples: &[Duration]) -> Summary {
        let mut s = samples.to_vec();
        s.sort();
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2
        };
        let p90 = s[(n * 9).div_ceil(10).max(1) - 1];
        Summary {
            median,
            p90,
            min: s[0],
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
