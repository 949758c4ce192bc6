//! Stopping and exit statuses as Kubernetes sees them, with real Unikraft
//! unikernels under qemu TCG on CNI-shaped pod netns and ukrun's default
//! configuration: a helloworld container runs to completion and its
//! supervisor (the container's init for the shim) exits 0; a guest that
//! crashes as Unikraft does (the test bed's stand-in kernel, which writes
//! Unikraft 0.16.3's crash value to qemu's `isa-debug-exit` port: qemu
//! exits 85) ends its container with 134, as a process that aborted;
//! SIGTERM ends a Unikraft guest, which ignores ACPI power-off, at once
//! with the status of a process killed by SIGTERM; a Linux guest whose
//! power-button handler takes longer than ukrun's former limit of 10 s is
//! not killed but powers off cleanly (exit 0). Like containerd's shim, this
//! test process reaps the supervisors its `create`s leave behind, so it
//! sees their exit statuses as the shim does. The crash test needs no
//! Unikraft image and runs wherever qemu and binutils are.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use ukrun_testbed::crash_kernel;
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::topology::Shape;
use ukrun_testbed::unikraft::NETTEST_PORT;

/// Far below any grace period (kubelet's default is 30 s, ukrun's former
/// own limit was 10 s), generous for a loaded TCG host.
const AT_ONCE: Duration = Duration::from_secs(5);

/// The Linux test guest's power-button handler delay: longer than the
/// 10 s after which ukrun used to kill a guest asked to power off.
const POWEROFF_DELAY: Duration = Duration::from_secs(12);

/// The pod network every test here uses.
const SHAPE: Shape = Shape::Bridge { mtu: 1450 };

/// This build's ukrun binary.
fn ukrun() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ukrun"))
}

/// A Unikraft fixture driven by this build's ukrun binary with ukrun's
/// default configuration but TCG (`None`: no images here).
fn unikraft(tag: &str, image: &str) -> Result<Option<Fixture>> {
    let fixture = Fixture::unikraft(ukrun(), tag, SHAPE, image, "")?;
    if let Some(fx) = &fixture {
        defaults_but_tcg(fx)?;
    }
    Ok(fixture)
}

/// Replaces the test bed's configuration (Runtime::configure sets a short
/// stop grace period) with ukrun's defaults but TCG: these tests check
/// that ukrun needs no stop limit.
fn defaults_but_tcg(fx: &Fixture) -> Result<()> {
    std::fs::write(
        fx.runtime.dir.join("ukrun.toml"),
        "[qemu]\naccel = \"tcg\"\n",
    )?;
    Ok(())
}

/// Makes this process the reaper of the supervisors that its `create`s
/// leave behind when they exit, as containerd's shim is.
fn adopt_supervisors() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true)?;
    Ok(())
}

/// Container `id`'s supervisor, from `create --pid-file`.
fn supervisor_pid(fx: &Fixture, id: &str) -> Result<Pid> {
    let text = std::fs::read_to_string(fx.runtime.dir.join(format!("{id}.pid")))?;
    Ok(Pid::from_raw(text.trim().parse()?))
}

/// Reaps `supervisor` once it exits (within `limit`); its wait status.
fn supervisor_exit(supervisor: Pid, limit: Duration) -> Result<WaitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match waitpid(supervisor, Some(WaitPidFlag::WNOHANG))? {
            WaitStatus::StillAlive if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            WaitStatus::StillAlive => bail!("the supervisor still runs after {limit:?}"),
            status => return Ok(status),
        }
    }
}

/// A container that ended on its own: its supervisor, that supervisor's
/// wait status, the container's console and ukrun's log.
struct Ended {
    supervisor: Pid,
    status: WaitStatus,
    console: String,
    log: String,
}

/// Creates and starts container `id` and waits (up to 60 s) for its guest
/// to end on its own.
fn run_to_its_end(fx: &Fixture, id: &str) -> Result<Ended> {
    fx.create(id)?;
    let supervisor = supervisor_pid(fx, id)?;
    fx.start(id)?;
    let status = supervisor_exit(supervisor, Duration::from_secs(60))?;
    Ok(Ended {
        supervisor,
        status,
        console: std::fs::read_to_string(fx.runtime.console_path(id))?,
        log: std::fs::read_to_string(fx.runtime.log_path())?,
    })
}

#[test]
fn helloworld_runs_to_completion_and_its_container_exits_0() -> Result<()> {
    adopt_supervisors()?;
    let Some(fx) = unikraft("hello", "helloworld_qemu-x86_64")? else {
        return Ok(());
    };
    let before = fx.settled_view()?;
    let ended = run_to_its_end(&fx, "h1")?;
    eprintln!("helloworld: supervisor {:?}", ended.status);
    ensure!(
        ended.status == WaitStatus::Exited(ended.supervisor, 0),
        "the supervisor ended with {:?}; log:\n{}",
        ended.status,
        ended.log
    );
    ensure!(
        ended.console.contains("Hello world!"),
        "the container's log has the greeting: {}",
        ended.console
    );
    ensure!(
        ended
            .log
            .contains("VMM exited with status 83; the container exits with 0"),
        "qemu's isa-debug-exit code for a returned main is read as 0: {}",
        ended.log
    );
    ensure!(fx.runtime.state("h1")?["status"] == "stopped");
    fx.delete_and_check("h1", &before)
}

#[test]
fn a_unikraft_guest_that_crashes_ends_its_container_with_134() -> Result<()> {
    adopt_supervisors()?;
    let kernel = crash_kernel::build()?;
    let fx = Fixture::unikraft_kernel(ukrun(), "crash", SHAPE, &kernel, "")?;
    defaults_but_tcg(&fx)?;
    let before = fx.settled_view()?;
    let ended = run_to_its_end(&fx, "c1")?;
    eprintln!("crash: supervisor {:?}", ended.status);
    let qemu = crash_kernel::QEMU_EXIT;
    ensure!(
        ended.console.contains(crash_kernel::CONSOLE_LINE),
        "the stand-in ran and its line is in the container's log: {}",
        ended.console
    );
    ensure!(
        ended.status == WaitStatus::Exited(ended.supervisor, 134),
        "a crashed guest (qemu rc {qemu}) ends its container with 134, as a process that aborted, not {:?}; log:\n{}",
        ended.status,
        ended.log
    );
    ensure!(
        ended.log.contains(&format!(
            "VMM exited with status {qemu}; the container exits with 134"
        )),
        "qemu's isa-debug-exit code for a crash is read as 134: {}",
        ended.log
    );
    ensure!(fx.runtime.state("c1")?["status"] == "stopped");
    fx.delete_and_check("c1", &before)
}

#[test]
fn sigterm_ends_a_unikraft_guest_at_once_as_a_process_killed_by_sigterm() -> Result<()> {
    adopt_supervisors()?;
    let Some(fx) = unikraft("term", "nettest_qemu-x86_64")? else {
        return Ok(());
    };
    let before = fx.settled_view()?;
    fx.create("t1")?;
    let supervisor = supervisor_pid(&fx, "t1")?;
    fx.start("t1")?;
    fx.fetch_port_from_node(NETTEST_PORT, "/")?;
    let asked = Instant::now();
    let out = fx.runtime.run(&["kill", "t1", "TERM"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    let status = supervisor_exit(supervisor, Duration::from_secs(30))?;
    let took = asked.elapsed();
    eprintln!("SIGTERM: supervisor {status:?} after {took:?}");
    let log = std::fs::read_to_string(fx.runtime.log_path())?;
    ensure!(
        status == WaitStatus::Exited(supervisor, 143),
        "the container exits as killed by SIGTERM, not {status:?}; log:\n{log}"
    );
    ensure!(
        took < AT_ONCE,
        "SIGTERM took {took:?}: a grace period for nothing"
    );
    ensure!(fx.runtime.state("t1")?["status"] == "stopped");
    fx.delete_and_check("t1", &before)
}

#[test]
fn a_linux_guest_asked_to_power_off_gets_the_time_it_takes_and_exits_0() -> Result<()> {
    adopt_supervisors()?;
    let fx = Fixture::new(ukrun(), "slowoff", SHAPE)?;
    defaults_but_tcg(&fx)?;
    let delay = POWEROFF_DELAY.as_secs();
    fx.bundle.edit(|c| {
        c["annotations"]["com.urunc.unikernel.cmdline"] =
            format!("quiet ukrun.poweroff.delay={delay}").into();
    })?;
    let before = fx.settled_view()?;
    fx.create("l1")?;
    let supervisor = supervisor_pid(&fx, "l1")?;
    fx.start("l1")?;
    fx.wait_ready("l1")?;
    let asked = Instant::now();
    let out = fx.runtime.run(&["kill", "l1", "TERM"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    fx.wait_console("l1", "the guest's power button", |text| {
        text.contains("UKRUN-GUEST-POWER-BUTTON").then_some(())
    })?;
    std::thread::sleep(
        (asked + POWEROFF_DELAY - Duration::from_secs(1)).saturating_duration_since(Instant::now()),
    );
    let early = waitpid(supervisor, Some(WaitPidFlag::WNOHANG))?;
    eprintln!(
        "slow power-off: after {:?} the supervisor is {early:?}",
        asked.elapsed()
    );
    ensure!(
        early == WaitStatus::StillAlive,
        "the guest was ended before it powered off: {early:?} after {:?}",
        asked.elapsed()
    );
    let status = supervisor_exit(supervisor, Duration::from_secs(30))?;
    let took = asked.elapsed();
    eprintln!("slow power-off: supervisor {status:?} after {took:?}");
    ensure!(
        status == WaitStatus::Exited(supervisor, 0),
        "a guest that powered off exits 0, not {status:?}"
    );
    ensure!(took >= POWEROFF_DELAY, "it powered off after {took:?}");
    fx.delete_and_check("l1", &before)
}
