//! A hostile image against the confined VMM, with real Unikraft
//! unikernels under qemu TCG on CNI-shaped pod netns: the VMM runs as a
//! user of its own with no capability, `no_new_privs`, seccomp, its own
//! mount namespace and cgroup; an initrd path with a comma opens no host
//! file; the container's environment shows on no command line, state file
//! or log; an image file the VMM may not read is refused at create.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::procs;
use ukrun_testbed::topology::Shape;
use ukrun_testbed::unikraft::NETTEST_PORT;

/// A Unikraft fixture driven by this build's ukrun binary (`None`: no images here).
fn unikraft(tag: &str, image: &str, cmdline: &str) -> Result<Option<Fixture>> {
    Fixture::unikraft(
        Path::new(env!("CARGO_BIN_EXE_ukrun")),
        tag,
        Shape::Bridge { mtu: 1450 },
        image,
        cmdline,
    )
}

/// The value of `key:` in `/proc/PID/status`.
fn status_field(pid: i32, key: &str) -> Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

/// Waits until the nettest probe answers at the pod IP; its page.
fn serving(fx: &Fixture) -> Result<String> {
    Ok(String::from_utf8_lossy(&fx.fetch_port_from_node(NETTEST_PORT, "/")?).into_owned())
}

#[test]
fn the_vmm_runs_as_its_own_user_without_privileges_in_its_own_mounts_and_cgroup() -> Result<()> {
    let Some(fx) = unikraft("jail", "nettest_qemu-x86_64", "")? else {
        return Ok(());
    };
    let cgroup = format!("ukrun-it-jail-{}", std::process::id());
    fx.bundle
        .edit(|c| c["linux"]["cgroupsPath"] = format!("/{cgroup}").into())?;
    let before = fx.settled_view()?;
    fx.create("j1")?;
    fx.start("j1")?;
    serving(&fx)?;
    let vmm = fx.runtime.recorded_pid("j1", "vmm")?;
    let uid = status_field(vmm, "Uid")?;
    let id = uid.split(' ').next().unwrap_or_default().to_owned();
    ensure!(id != "0", "the VMM runs as root: Uid {uid}");
    ensure!(
        uid == [id.as_str(); 4].join(" "),
        "real, effective, saved and fs uid: {uid}"
    );
    ensure!(status_field(vmm, "Gid")? == [id.as_str(); 4].join(" "));
    ensure!(
        status_field(vmm, "Groups")?.is_empty(),
        "no supplementary groups"
    );
    for caps in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        ensure!(
            status_field(vmm, caps)? == "0000000000000000",
            "{caps} is not empty"
        );
    }
    ensure!(status_field(vmm, "NoNewPrivs")? == "1");
    ensure!(status_field(vmm, "Seccomp")? == "2", "seccomp filter mode");
    let mnt = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt"));
    ensure!(
        mnt(&vmm.to_string())? != mnt("self")?,
        "the VMM shares the host's mounts"
    );
    let mut root: Vec<String> = std::fs::read_dir(format!("/proc/{vmm}/root"))?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    root.sort();
    let allowed = [
        "bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "qmp.sock", "sbin", "usr",
    ];
    ensure!(
        root.iter().all(|e| allowed.contains(&e.as_str())),
        "the VMM's root holds more than it needs: {root:?}"
    );
    ensure!(
        std::fs::read_dir(format!("/proc/{vmm}/root/etc"))?.count() == 1,
        "its /etc holds only the loader's cache"
    );
    let own_cgroup = std::fs::read_to_string(format!("/proc/{vmm}/cgroup"))?;
    ensure!(
        own_cgroup.contains(&format!("/{cgroup}/vmm")),
        "the VMM is in a cgroup of its own: {own_cgroup}"
    );
    let limit = |file: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{file}")).map(|v| v.trim().to_owned())
    };
    let memory = limit(&format!("memory/{cgroup}/vmm/memory.limit_in_bytes"))?;
    ensure!(
        memory == ((256 + 192) * 1024 * 1024_u64).to_string(),
        "guest memory (256 MiB) plus qemu's TCG overhead (192 MiB): {memory}"
    );
    ensure!(limit(&format!("pids/{cgroup}/vmm/pids.max"))? == "256");
    let lease = Path::new("/run/ukrun/vmm-ids").join(&id);
    ensure!(lease.exists(), "the VMM's id is leased");
    fx.delete_and_check("j1", &before)?;
    ensure!(!lease.exists(), "delete gives the id back");
    ensure!(
        !Path::new(&format!("/sys/fs/cgroup/memory/{cgroup}")).exists(),
        "delete removes the cgroups"
    );
    Ok(())
}

#[test]
fn an_initrd_path_with_a_comma_opens_no_host_file() -> Result<()> {
    let secret_dir = std::env::temp_dir().join(format!("ukrun-secret-{}", std::process::id()));
    std::fs::create_dir_all(&secret_dir)?;
    let secret = secret_dir.join("key");
    std::fs::write(&secret, "host secret\n")?;
    let cleanup = scopeguard(&secret_dir);
    let Some(fx) = unikraft("comma", "helloworld_qemu-x86_64", "")? else {
        return Ok(());
    };
    // A file whose in-image name, split at its comma, is another image
    // file and the host secret's path (what multiboot qemu once loaded).
    let in_image = format!("/initrd.img,{}", secret.display());
    let file = fx
        .bundle
        .dir
        .join("rootfs")
        .join(in_image.trim_start_matches('/'));
    std::fs::create_dir_all(file.parent().context("a parent")?)?;
    std::fs::write(&file, "image's own initrd\n")?;
    std::fs::write(
        fx.bundle.dir.join("rootfs/initrd.img"),
        "image's first module\n",
    )?;
    fx.bundle
        .edit(|c| c["annotations"]["com.urunc.unikernel.initrd"] = in_image.clone().into())?;
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK)?;
    inotify.add_watch(&secret, AddWatchFlags::IN_OPEN | AddWatchFlags::IN_ACCESS)?;
    let before = fx.settled_view()?;
    fx.create("c1")?;
    fx.start("c1")?;
    fx.wait_console("c1", "the guest's greeting", |text| {
        text.contains("Hello world!").then_some(())
    })?;
    let events = match inotify.read_events() {
        Ok(events) => events.len(),
        Err(nix::errno::Errno::EAGAIN) => 0,
        Err(e) => return Err(e.into()),
    };
    ensure!(events == 0, "the host file was opened {events} times");
    fx.delete_and_check("c1", &before)?;
    drop(cleanup);
    Ok(())
}

#[test]
fn the_environment_shows_on_no_command_line_state_file_or_log() -> Result<()> {
    let Some(fx) = unikraft("env", "nettest_qemu-x86_64", "")? else {
        return Ok(());
    };
    let token = format!(
        "tok-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    );
    fx.bundle.edit(|c| {
        c["process"]["env"] = serde_json::json!([
            "PATH=/bin",
            format!("API_TOKEN={token}"),
            "GREETING=hello world"
        ]);
    })?;
    let before = fx.settled_view()?;
    fx.create("e1")?;
    fx.start("e1")?;
    serving(&fx)?;
    let shown: Vec<String> = procs::all()
        .into_iter()
        .filter(|p| p.cmdline.contains(&token))
        .map(|p| p.to_string())
        .collect();
    ensure!(shown.is_empty(), "on a command line: {shown:?}");
    let dir = fx.runtime.dir.join("root/.ukrun/e1");
    let state = std::fs::read_to_string(dir.join("state.json"))?;
    ensure!(!state.contains(&token), "in state.json");
    let log = std::fs::read_to_string(fx.runtime.log_path())?;
    ensure!(!log.contains(&token), "in the log");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| -> Result<u32> { Ok(std::fs::metadata(p)?.permissions().mode() & 0o777) };
    ensure!(mode(&dir)? == 0o700 && mode(&dir.join("state.json"))? == 0o600);
    let vmm = fx.runtime.recorded_pid("e1", "vmm")?;
    let config = std::fs::read_to_string(format!("/proc/{vmm}/fd/8"))?;
    ensure!(
        config.contains(&format!("API_TOKEN={token}")) && config.contains("GREETING=hello\\ world"),
        "the guest gets its environment through qemu's handed configuration: {config}"
    );
    fx.delete_and_check("e1", &before)
}

#[test]
fn an_image_file_the_vmm_may_not_read_is_refused_at_create_leaving_nothing() -> Result<()> {
    let Some(fx) = unikraft("mode", "helloworld_qemu-x86_64", "")? else {
        return Ok(());
    };
    let kernel = fx
        .bundle
        .dir
        .join("rootfs/unikernel/helloworld_qemu-x86_64");
    std::fs::set_permissions(&kernel, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let before = fx.settled_view()?;
    let out = fx.runtime.create(&fx.bundle.dir, "m1")?;
    ensure!(!out.status.success(), "create succeeded");
    let error = fx.runtime.last_error();
    ensure!(
        error.contains("must be readable by all users") && !error.contains('\n'),
        "{error}"
    );
    fx.assert_nothing_left(&before)
}

/// Removes `dir` when dropped (the host secret of the comma test).
fn scopeguard(dir: &Path) -> impl Drop + '_ {
    struct Remove<'a>(&'a Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    Remove(dir)
}
