//! crun, the ordinary container runtime the benchmarks measure ukrun
//! against: driven like ukrun (see [`OciRuntime`]), without a cgroup, with
//! a busybox-static bundle, in a mount namespace where it runs at all on
//! these machines' hybrid cgroup layout.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::netns::checked_stdout;
use crate::oci_runtime::OciRuntime;
use crate::veth_pods::NamedNetns;

/// crun under `<work>/crun` with no cgroup (`--cgroup-manager=disabled`).
pub fn prepare(work: &Path) -> Result<OciRuntime> {
    OciRuntime::prepare(
        "crun",
        PathBuf::from("crun"),
        work,
        &["--cgroup-manager=disabled"],
        &[],
    )
}

/// Moves this process (and so every runtime it starts) into a private
/// mount namespace and, on a hybrid cgroup layout (v1 controllers plus a
/// cgroup2 mount with controllers, as on these machines), hides the
/// cgroup2 mount there: crun refuses to run at all on such a layout
/// ("cgroups in hybrid mode not supported"). ukrun is unaffected (it gets
/// no cgroupsPath). Network namespaces mounted afterwards are mounted in
/// this namespace too: if the process is killed outright, they go with the
/// last process in it and only empty files stay in /run/netns.
pub fn enter_private_mount_namespace() -> Result<()> {
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

/// A crun bundle in `bundle`: busybox-static running `sleep 1000` (from
/// `crun spec`, terminal off, no cgroupsPath), joined to `pod`.
pub fn busybox_bundle(bundle: &Path, pod: &NamedNetns) -> Result<()> {
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
