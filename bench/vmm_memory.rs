//! Benchmark: what a confined qemu costs in memory beyond its guest, the
//! figure behind `[jail] tcg_overhead_mib` (the VMM cgroup's allowance on
//! top of guest memory). For a real Unikraft unikernel (`nettest`) and the
//! test bed's Linux guest, each with the default 256 MiB of guest memory,
//! it boots the guest through ukrun (as the shim drives it), moves data
//! through it, and prints qemu's peak resident memory (`VmHWM`), the VMM
//! cgroup's peak usage (`memory.max_usage_in_bytes`, which also counts the
//! page cache qemu charged), the cgroup's limit, and the headroom left,
//! against the guest memory measured in the same run. It asserts nothing.
//! Run as root: `cargo bench --bench vmm_memory`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::topology::Shape;
use ukrun_testbed::unikraft::{NETTEST_IMAGE, NETTEST_PORT};
use ukrun_testbed::{bench, probes, procs};

/// Guest memory when the spec sets no limit (ukrun's default).
const GUEST_MIB: u64 = 256;

fn main() -> ExitCode {
    bench::main("vmm_memory", run)
}

fn run() -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: it creates network namespaces and containers"
    );
    let ukrun = Path::new(env!("CARGO_BIN_EXE_ukrun"));
    println!("confined qemu under TCG, {GUEST_MIB} MiB of guest memory each:");
    println!(
        "  guest     qemu peak RSS   cgroup peak   cgroup limit   headroom   peak / guest memory"
    );
    match Fixture::unikraft(ukrun, "vmu", Shape::Bridge { mtu: 1500 }, NETTEST_IMAGE, "")? {
        Some(fx) => measure(&fx, "unikraft", |fx| {
            fx.fetch_port_from_node(NETTEST_PORT, "/")?;
            fx.fetch_port_from_node(NETTEST_PORT, "/big").map(drop)
        })?,
        None => println!("  unikraft  not measured: no Unikraft images here"),
    }
    let fx = Fixture::new(ukrun, "vml", Shape::Bridge { mtu: 1500 })?;
    measure(&fx, "linux", |fx| {
        fx.wait_ready("m1")?;
        fx.fetch_from_node()?;
        fx.fetch_bytes_from_node(probes::BLOB_PATH).map(drop)
    })
}

/// Boots container `m1` of `fx` in a cgroup of its own, runs `traffic`,
/// prints one line.
fn measure(fx: &Fixture, name: &str, traffic: impl Fn(&Fixture) -> Result<()>) -> Result<()> {
    let cgroup = format!("ukrun-bench-{name}-{}", std::process::id());
    fx.bundle
        .edit(|c| c["linux"]["cgroupsPath"] = format!("/{cgroup}").into())?;
    let before = fx.settled_view()?;
    fx.create("m1")?;
    fx.start("m1")?;
    traffic(fx)?;
    let vmm = fx.runtime.recorded_pid("m1", "vmm")?;
    let hwm_kib = procs::memory(u32::try_from(vmm)?)?.hwm_kib;
    let memory = |file: &str| -> Result<u64> {
        let path = format!("/sys/fs/cgroup/memory/{cgroup}/vmm/{file}");
        let text = std::fs::read_to_string(&path).with_context(|| path.clone())?;
        Ok(text.trim().parse::<u64>()? / (1024 * 1024))
    };
    let (peak, limit) = (
        memory("memory.max_usage_in_bytes")?,
        memory("memory.limit_in_bytes")?,
    );
    let rss = hwm_kib / 1024;
    println!(
        "  {name:<9} {rss:>9} MiB   {peak:>7} MiB   {limit:>8} MiB   {:>4} MiB   {:.2}x",
        limit.saturating_sub(peak.max(rss)),
        peak.max(rss) as f64 / GUEST_MIB as f64
    );
    fx.delete_and_check("m1", &before)
}
