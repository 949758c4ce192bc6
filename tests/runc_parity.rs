//! ukrun answers the shim's requests about a guest container as runc
//! answers them about a process container, with the Linux guest under qemu
//! TCG on a CNI-shaped pod netns: `kill --all` of a stopped container
//! succeeds, a plain `kill` of it fails "container not running", its
//! state has pid 0 and `ps --format json` prints `null`, a running one's
//! `ps` lists its processes in ps(1)'s table as runc's does, `update
//! --resources -` (the shim's form) changes its VMM's CPU and pids limits
//! and refuses another memory size, and the container's cgroups stay until
//! `delete`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::io::Write;
use std::process::Stdio;

use anyhow::{ensure, Context, Result};
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

/// `ps` of a running guest container: json lists two pids, and the table
/// (ps(1)'s `-ef` by default, or the options given, as runc runs it) has
/// ps's header and one line for each of them.
fn ps_lists_the_supervisor_and_the_vmm(fx: &Fixture, id: &str) -> Result<()> {
    let out = fx.runtime.run(&["ps", "--format", "json", id])?;
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout)?;
    ensure!(pids.len() == 2, "supervisor and VMM: {pids:?}");
    for (args, header) in [(&[][..], "UID"), (&["-eo", "pid,comm"][..], "PID")] {
        let out = fx.runtime.run(&[&["ps", id][..], args].concat())?;
        let table = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = table.lines().collect();
        ensure!(
            out.status.success() && lines.len() == 3 && lines[0].trim_start().starts_with(header),
            "ps {args:?}: {table}{}",
            fx.runtime.last_error()
        );
        for pid in &pids {
            ensure!(
                lines[1..]
                    .iter()
                    .any(|l| l.split_whitespace().any(|f| f == pid.to_string())),
                "ps {args:?} lacks {pid}: {table}"
            );
        }
    }
    Ok(())
}

/// `ukrun update --resources - ID` with `resources` on standard input, as
/// the shim runs it.
fn update(fx: &Fixture, id: &str, resources: &str) -> Result<std::process::Output> {
    let mut child = fx
        .runtime
        .command(&["update", "--resources", "-", id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(resources.as_bytes())?;
    Ok(child.wait_with_output()?)
}

/// The value of `file` in the VMM's cgroup (the hierarchy that has it).
fn vmm_value(dirs: &Cgroups, file: &str) -> Result<String> {
    let path = dirs
        .0
        .iter()
        .filter(|d| d.ends_with("vmm"))
        .map(|d| d.join(file))
        .find(|p| p.exists())
        .with_context(|| format!("no VMM cgroup has {file}"))?;
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

/// `update` sets the VMM's CPU quota and pids limit, keeps what it does
/// not name, and refuses a memory limit other than the guest's 256 MiB
/// without changing anything.
fn update_changes_the_vmm_limits(fx: &Fixture, id: &str, dirs: &Cgroups) -> Result<()> {
    let memory = vmm_value(dirs, "memory.limit_in_bytes")?;
    let out = update(
        fx,
        id,
        r#"{"cpu": {"quota": 20000, "period": 100000}, "pids": {"limit": 64}}"#,
    )?;
    ensure!(out.status.success(), "update: {}", fx.runtime.last_error());
    ensure!(vmm_value(dirs, "cpu.cfs_quota_us")? == "20000");
    ensure!(vmm_value(dirs, "pids.max")? == "64");
    ensure!(vmm_value(dirs, "memory.limit_in_bytes")? == memory);
    let same = format!(
        r#"{{"memory": {{"limit": {}}}, "cpu": {{"shares": 512}}}}"#,
        256 << 20
    );
    let out = update(fx, id, &same)?;
    ensure!(
        out.status.success(),
        "same memory: {}",
        fx.runtime.last_error()
    );
    ensure!(vmm_value(dirs, "cpu.shares")? == "512");
    ensure!(
        vmm_value(dirs, "cpu.cfs_quota_us")? == "20000",
        "the quota stays"
    );
    let bigger = format!(
        r#"{{"memory": {{"limit": {}}}, "cpu": {{"quota": 10000}}}}"#,
        512 << 20
    );
    let out = update(fx, id, &bigger)?;
    ensure!(
        !out.status.success()
            && fx
                .runtime
                .last_error()
                .starts_with("the guest's memory is fixed at boot (256 MiB)"),
        "another memory size: {:?} {}",
        out.status,
        fx.runtime.last_error()
    );
    ensure!(
        vmm_value(dirs, "cpu.cfs_quota_us")? == "20000",
        "a refused update changes nothing"
    );
    Ok(())
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
    ps_lists_the_supervisor_and_the_vmm(&fx, "c1")?;
    update_changes_the_vmm_limits(&fx, "c1", &dirs)?;
    let out = fx.runtime.run(&["kill", "c1", "TERM"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    wait_stopped(&fx, "c1")?;
    let out = update(&fx, "c1", r#"{"cpu": {"quota": 30000}}"#)?;
    ensure!(
        !out.status.success() && fx.runtime.last_error() == "container not running",
        "runc's refusal of a stopped container: {}",
        fx.runtime.last_error()
    );
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
