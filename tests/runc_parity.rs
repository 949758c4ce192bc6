//! ukrun answers the shim's requests about a guest container as runc
//! answers them about a process container, with the Linux guest under qemu
//! TCG on a CNI-shaped pod netns: `kill --all` of a stopped container
//! succeeds, a plain `kill` of it fails "container not running", its
//! state has pid 0 and `ps --format json` prints `null`, and the
//! container's cgroups stay until `delete`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Result};
use ukrun::supervisor::cgroup::cgroup_mounts;
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::topology::Shape;
use ukrun_testbed::wait;

/// A guest fixture driven by this build's ukrun binary.
fn fixture(tag: &str) -> Result<Fixture> {
    Fixture::new(
        Path::new(env!("CARGO_BIN_EXE_ukrun")),
        tag,
        Shape::Bridge { mtu: 1450 },
    )
}

/// Waits until container `id` reports `stopped`.
fn wait_stopped(fx: &Fixture, id: &str) -> Result<()> {
    wait::poll(
        "the container to stop",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || Ok((fx.runtime.state(id)?["status"] == "stopped").then_some(())),
    )
}

#[test]
fn kill_all_of_a_stopped_container_succeeds_and_a_single_kill_fails_as_runc() -> Result<()> {
    let fx = fixture("ka")?;
    let before = fx.settled_view()?;
    fx.create("k1")?;
    let out = fx.runtime.run(&["kill", "k1", "KILL"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    wait_stopped(&fx, "k1")?;
    ensure!(
        fx.runtime.state("k1")?["pid"] == 0,
        "runc's pid once stopped"
    );
    let ps = fx.runtime.run(&["ps", "--format", "json", "k1"])?;
    ensure!(
        ps.status.success() && String::from_utf8_lossy(&ps.stdout).trim() == "null",
        "runc prints null for no processes: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
    for signal in ["9", "15"] {
        let out = fx.runtime.run(&["kill", "--all", "k1", signal])?;
        ensure!(
            out.status.success() && out.stderr.is_empty(),
            "runc's kill --all of a stopped container exits 0 silently; ukrun's: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = fx.runtime.run(&["kill", "k1", "9"])?;
    ensure!(out.status.code() == Some(1), "{:?}", out.status);
    ensure!(
        String::from_utf8_lossy(&out.stderr).trim() == "container not running",
        "the shim matches runc's text: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(fx.runtime.last_error() == "container not running");
    fx.delete_and_check("k1", &before)
}

/// Removes the test's cgroup directories (deepest first) when dropped, in
/// case a failed check left them.
struct Cgroups(Vec<PathBuf>);

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn the_cgroups_outlive_the_guest_until_delete() -> Result<()> {
    let fx = fixture("cg")?;
    let cgroup = format!("ukrun-it-parity-{}", std::process::id());
    fx.bundle
        .edit(|c| c["linux"]["cgroupsPath"] = format!("/{cgroup}").into())?;
    let mounts = cgroup_mounts(&std::fs::read_to_string("/proc/self/mountinfo")?);
    let dirs = Cgroups(
        mounts
            .iter()
            .flat_map(|m| [m.join(&cgroup), m.join(&cgroup).join("vmm")])
            .collect(),
    );
    let before = fx.settled_view()?;
    fx.create("c1")?;
    fx.start("c1")?;
    fx.wait_ready("c1")?;
    ensure!(
        dirs.0.iter().all(|d| d.is_dir()),
        "the supervisor and the VMM have their cgroups"
    );
    let out = fx.runtime.run(&["kill", "c1", "TERM"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    wait_stopped(&fx, "c1")?;
    for dir in &dirs.0 {
        ensure!(
            dir.is_dir(),
            "{} is gone before delete (runc keeps it until delete)",
            dir.display()
        );
    }
    let out = fx.runtime.run(&["delete", "c1"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    for dir in &dirs.0 {
        ensure!(!dir.exists(), "delete leaves {}", dir.display());
    }
    fx.assert_nothing_left(&before)
}
