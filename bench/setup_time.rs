//! Benchmark: how long `ukrun create` (supervisor start and the pod network
//! plumbing, no VMM) takes for a new pod when 10 pods already exist on the
//! node and when 100 do, measured in one run.
//!
//! Each pod is a netns of its own with a veth to one "node" netns and a
//! ukrun guest container created in it (default network mode, routed) and
//! left in the created state. A sample creates one more pod, times its
//! `create`, then deletes it (untimed). The background population goes
//! 10 → 100 → 10 → 100, half the samples in each phase, so drift over the
//! run affects both sides alike. It prints medians and their ratio; it
//! asserts nothing about time. Run as root:
//! `cargo bench --bench setup_time` (`BENCH_ITERS` samples per side,
//! default 20). Everything is owned by Drop guards (also on Ctrl-C).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use ukrun_testbed::bundle::Bundle;
use ukrun_testbed::oci_runtime::{Container, OciRuntime, WorkDir};
use ukrun_testbed::stats::{self, ms, Summary};
use ukrun_testbed::veth_pods::{NamedNetns, VethPod};
use ukrun_testbed::{bench, images, interrupt};

/// Background pod counts compared.
const FEW: usize = 10;
/// See [`FEW`].
const MANY: usize = 100;

fn main() -> ExitCode {
    bench::main("setup_time", run)
}

/// A pod with a created guest container. Field order is drop order.
struct Pod<'r> {
    container: Container<'r>,
    _bundle: Bundle,
    _pod: VethPod,
}

/// Makes pods numbered from 0 up in one node netns.
struct PodMaker<'r> {
    ukrun: &'r OciRuntime,
    node: NamedNetns,
    guest: PathBuf,
    tag: String,
    work: &'r Path,
    next: u16,
}

impl<'r> PodMaker<'r> {
    /// A new pod netns and bundle, and the time `create` took in it.
    fn make(&mut self) -> Result<(Pod<'r>, Duration)> {
        let n = self.next;
        self.next += 1;
        let pod = VethPod::connect(&self.node, &self.tag, n)?;
        let bundle = Bundle::linux_guest(
            &self.work.join(format!("pod{n}")),
            &self.guest,
            Path::new(&pod.netns.path()),
        )?;
        let id = format!("{}-{n}", self.tag);
        let begin = Instant::now();
        let container = self
            .ukrun
            .create(&bundle.dir, &id)
            .with_context(|| format!("create {id}"))?;
        let elapsed = begin.elapsed();
        Ok((
            Pod {
                container,
                _bundle: bundle,
                _pod: pod,
            },
            elapsed,
        ))
    }

    /// Grows or shrinks `pods` to `count`.
    fn resize(&mut self, pods: &mut Vec<Pod<'r>>, count: usize) -> Result<()> {
        while pods.len() > count {
            let pod = pods.pop().context("no pod")?;
            pod.container.remove()?;
        }
        while pods.len() < count {
            interrupt::check()?;
            pods.push(self.make()?.0);
        }
        Ok(())
    }

    /// `n` samples: a pod created (timed) and removed (untimed) each.
    fn sample(&mut self, n: usize) -> Result<Vec<Duration>> {
        let mut times = Vec::new();
        for _ in 0..n {
            interrupt::check()?;
            let (pod, elapsed) = self.make()?;
            pod.container.remove()?;
            times.push(elapsed);
        }
        Ok(times)
    }
}

fn run() -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it creates network namespaces and containers"
    );
    let samples = stats::env_count("BENCH_ITERS", 20)?;
    let guest = images::build()?.dir.join("guest");
    interrupt::install()?;
    let tag = format!("uks{}", std::process::id());
    let work = WorkDir::create(std::env::temp_dir().join(format!("ukrun-bench-{tag}")))?;
    let ukrun = OciRuntime::ukrun(PathBuf::from(env!("CARGO_BIN_EXE_ukrun")), work.path())?;
    let mut maker = PodMaker {
        ukrun: &ukrun,
        node: NamedNetns::add(format!("{tag}-node"))?,
        guest,
        tag: tag.clone(),
        work: work.path(),
        next: 0,
    };
    let mut pods = Vec::new();
    let (mut few, mut many) = (Vec::new(), Vec::new());
    for half in [samples / 2, samples - samples / 2] {
        maker.resize(&mut pods, FEW)?;
        few.extend(maker.sample(half)?);
        eprintln!("setup_time: {} samples with {FEW} pods", few.len());
        maker.resize(&mut pods, MANY)?;
        many.extend(maker.sample(half)?);
        eprintln!("setup_time: {} samples with {MANY} pods", many.len());
    }
    maker.resize(&mut pods, 0)?;
    for line in ukrun.log_problems() {
        eprintln!("setup_time: ukrun logged: {line}");
    }
    let (a, b) = (Summary::of(&few), Summary::of(&many));
    for (count, s) in [(FEW, a), (MANY, b)] {
        println!(
            "  {count:>3} pods: median {}, p90 {}, min {}",
            ms(s.median),
            ms(s.p90),
            ms(s.min)
        );
    }
    println!(
        "setup median: {FEW} pods {}, {MANY} pods {}, ratio {:.2}",
        ms(a.median),
        ms(b.median),
        b.median.as_secs_f64() / a.median.as_secs_f64()
    );
    Ok(())
}
