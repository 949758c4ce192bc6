//! Benchmark: pods driven by a real kubelet (v1.36.2, standalone, static
//! pods) on the test-bed node, as users run them: how long from a pod's
//! manifest appearing until the kubelet reports it Ready, and from its
//! manifest's removal until its containers have ended.
//!
//! Two nodes, one after the other, each with its own kubelet:
//! - containerd's default handler `runc`: busybox `httpd` pods (the
//!   baseline, no ukrun anywhere);
//! - default handler `ukrun` (a kubelet without RuntimeClass): a Unikraft
//!   0.16.3 `nettest` pod, a Linux guest pod and a busybox `httpd` pod
//!   (which ukrun hands to runc), taking turns.
//!
//! Every pod has an HTTP readiness probe on its server (period 1 s) and a
//! termination grace period of 30 s. Per sample: put the manifest, poll
//! the kubelet's `/pods` until Ready; remove the manifest, poll the CRI
//! until each of the pod's containers has exited. The sandboxes are left
//! to the kubelet's garbage collection (once a minute) and to the
//! teardown. It prints median, p90 and min per kind and the ratios of the
//! medians to the runc baseline; it asserts nothing about time. Run as
//! root: `cargo bench --bench kubelet_ready` (`BENCH_ITERS` sets the
//! samples per kind, default 10). Without the kubelet or the Unikraft
//! images it says where to get them and exits.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ukrun_testbed::cri::ContainerSpec;
use ukrun_testbed::guest::{self, HTTP_PORT};
use ukrun_testbed::kubelet::{self, Kubelet};
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::UKRUN_HANDLER;
use ukrun_testbed::static_pod::{http_probe, StaticPod};
use ukrun_testbed::stats::{self, Summary};
use ukrun_testbed::unikraft::NETTEST_PORT;
use ukrun_testbed::{bench, images, interrupt, nettest, wait};

/// Samples per kind when `BENCH_ITERS` is not set.
const DEFAULT_ITERS: usize = 10;
/// The busybox httpd's port.
const HTTPD_PORT: u16 = 8080;
/// Termination grace period of every pod.
const GRACE_SECONDS: u32 = 30;
/// Longest wait for Ready (a Linux guest boots in 3–5 s under TCG).
const READY_DEADLINE: Duration = Duration::from_secs(90);
/// Longest wait for a removed pod's containers to end (the grace period
/// and some).
const GONE_DEADLINE: Duration = Duration::from_secs(GRACE_SECONDS as u64 + 30);
/// How often the CRI is asked whether the containers ended.
const POLL: Duration = Duration::from_millis(50);
/// The CRI's `EXITED` container state.
const CRI_EXITED: i32 = 2;

/// One kind of pod: a name in the output and the container it runs.
struct Kind {
    name: &'static str,
    container: ContainerSpec,
    port: u16,
}

impl Kind {
    /// The pod of sample `round`, with a readiness probe on its server.
    fn pod(&self, round: usize) -> StaticPod {
        StaticPod::new(&format!("{}-{round}", self.name), GRACE_SECONDS).container(
            &self.container,
            &[("readinessProbe", http_probe(self.port, 1, 3))],
        )
    }
}

/// What one sample measured.
struct Sample {
    /// Manifest appeared → Ready.
    ready: Duration,
    /// Manifest removed → every container of the pod ended.
    gone: Duration,
}

fn main() -> ExitCode {
    bench::main("kubelet_ready", run)
}

fn run() -> Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it starts a containerd node and a kubelet"
    );
    let iters = stats::env_count("BENCH_ITERS", DEFAULT_ITERS)?;
    let Some(kubelet_dir) = kubelet::binary_dir()? else {
        return Ok(());
    };
    if !images::build()?.unikraft {
        bail!("the Unikraft images are missing (see README, \"Tests and benchmarks\")");
    }
    interrupt::install()?;
    let ukrun = Path::new(env!("CARGO_BIN_EXE_ukrun"));
    let httpd = || Kind {
        name: "httpd",
        container: images::busybox_httpd("httpd", HTTPD_PORT, "hello from httpd"),
        port: HTTPD_PORT,
    };

    let baseline = on_kubelet(ukrun, "runc", &kubelet_dir, &[httpd()], iters)?;
    let kinds = [
        Kind {
            name: "unikraft",
            container: nettest::container(),
            port: NETTEST_PORT,
        },
        Kind {
            name: "linux",
            container: guest::container(),
            port: HTTP_PORT,
        },
        httpd(),
    ];
    let guests = on_kubelet(ukrun, UKRUN_HANDLER, &kubelet_dir, &kinds, iters)?;

    let runc = &baseline[0];
    println!(
        "kubelet: manifest → Ready and manifest removed → containers ended, {iters} pods per kind:"
    );
    let rows = [
        ("httpd on runc (default handler runc)", runc),
        ("unikraft nettest on ukrun", &guests[0]),
        ("linux guest on ukrun", &guests[1]),
        ("httpd handed to runc by ukrun", &guests[2]),
    ];
    for (name, samples) in rows {
        let (ready, gone) = summaries(samples);
        println!("  {name}:");
        println!("    ready {}", ready.brief());
        println!("    gone  {}", gone.brief());
    }
    let runc_ready = summaries(runc).0.median;
    for (name, samples) in &rows[1..] {
        println!(
            "{}",
            stats::ratio_line(
                "manifest → Ready",
                (name, summaries(samples).0.median),
                ("httpd on runc", runc_ready)
            )
        );
    }
    Ok(())
}

/// Starts a node whose default runtime handler is `default_runtime` and a
/// kubelet on it, and samples each of `kinds` `iters` times, taking turns.
fn on_kubelet(
    ukrun: &Path,
    default_runtime: &str,
    kubelet_dir: &Path,
    kinds: &[Kind],
    iters: usize,
) -> Result<Vec<Vec<Sample>>> {
    let mut samples = Vec::new();
    Node::run_with_default_runtime(ukrun, default_runtime, |node| {
        let kubelet = Kubelet::start(node, kubelet_dir)?;
        let measured = bench::interleaved("kubelet_ready", kinds, iters, |kind, round| {
            sample(&kubelet, &kind.pod(round)).with_context(|| {
                format!(
                    "{} pod {round} on default handler {default_runtime}",
                    kind.name
                )
            })
        });
        let stopped = kubelet.stop();
        samples = measured?;
        stopped
    })?;
    Ok(samples)
}

/// Runs `pod` under the kubelet until Ready, then removes it until its
/// containers have ended.
fn sample(kubelet: &Kubelet, pod: &StaticPod) -> Result<Sample> {
    let put = Instant::now();
    kubelet.put(pod)?;
    let status = kubelet.wait_for(pod, "to be Ready", READY_DEADLINE, |status| {
        if let Some(c) = status.containers.iter().find(|c| c.restart_count > 0) {
            bail!("container {} was restarted", c.name);
        }
        Ok(status.ready)
    })?;
    let ready = put.elapsed();
    let ids: Vec<String> = status.containers.iter().map(|c| c.id.clone()).collect();
    let removed = Instant::now();
    kubelet.remove(pod)?;
    let cri = kubelet.node().cri();
    wait::poll("the pod's containers to end", GONE_DEADLINE, POLL, || {
        for id in &ids {
            match cri.container_status(id) {
                Ok(status) if status.state != CRI_EXITED => return Ok(None),
                _ => {}
            }
        }
        Ok(Some(()))
    })?;
    Ok(Sample {
        ready,
        gone: removed.elapsed(),
    })
}

/// The Ready and gone summaries of a kind's samples.
fn summaries(samples: &[Sample]) -> (Summary, Summary) {
    let ready: Vec<Duration> = samples.iter().map(|s| s.ready).collect();
    let gone: Vec<Duration> = samples.iter().map(|s| s.gone).collect();
    (Summary::of(&ready), Summary::of(&gone))
}
