//! An OCI runtime binary (ukrun, crun, runc) driven the way containerd's
//! shim drives it, for benchmarks: global flags, stdio and log in files,
//! each call in its own process group (only the benchmark sees the
//! terminal's Ctrl-C); containers that are killed and force-deleted when
//! their guard drops; a work directory removed with everything in it.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::netns::checked_stdout;

/// How long a container's init may take to vanish after `delete --force`.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// ukrun's configuration in the benchmarks: TCG (KVM does not run ordinary
/// guests here) and a short stop grace period.
const UKRUN_CONFIG: &str = "[qemu]\naccel = \"tcg\"\n[supervisor]\nstop_grace_seconds = 1\n";

/// A directory removed with everything in it on drop.
pub struct WorkDir {
    path: PathBuf,
    /// A tmpfs is mounted on it (unmounted before the directory goes).
    tmpfs: bool,
}

impl WorkDir {
    /// Creates the directory (which must not exist).
    pub fn create(path: PathBuf) -> Result<WorkDir> {
        fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WorkDir { path, tmpfs: false })
    }

    /// Creates the directory with a tmpfs mounted on it, for benchmarks
    /// whose runtimes keep their state there: on a node, state roots are
    /// under /run, a tmpfs. Call it in a private mount namespace.
    pub fn create_on_tmpfs(path: PathBuf) -> Result<WorkDir> {
        use nix::mount::{mount, MsFlags};
        let mut dir = WorkDir::create(path)?;
        mount(
            Some("tmpfs"),
            &dir.path,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        )
        .with_context(|| format!("cannot mount a tmpfs on {}", dir.path.display()))?;
        dir.tmpfs = true;
        Ok(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.tmpfs {
            if let Err(e) = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH) {
                eprintln!("oci_runtime: cannot unmount {}: {e}", self.path.display());
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!("oci_runtime: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// One runtime under test: its binary, global flags, state root, bundle and
/// the files that receive its stdio and log.
pub struct OciRuntime {
    /// Its name in messages (and the name of its folder).
    pub name: &'static str,
    bin: PathBuf,
    global: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    root: PathBuf,
    bundle: PathBuf,
    log: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl OciRuntime {
    /// Lays out `<work>/<name>/{root,bundle}` and the global flags
    /// `extra --root <root> --log <log> --log-format json`.
    pub fn prepare(
        name: &'static str,
        bin: PathBuf,
        work: &Path,
        extra: &[&str],
        env: &[(OsString, OsString)],
    ) -> Result<OciRuntime> {
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
        Ok(OciRuntime {
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

    /// The ukrun binary `bin` under `<work>/ukrun`, with the benchmarks'
    /// configuration (TCG, a 1 s stop grace period) written to
    /// `<work>/ukrun.toml` and handed as `UKRUN_CONFIG`.
    pub fn ukrun(bin: PathBuf, work: &Path) -> Result<OciRuntime> {
        let config = work.join("ukrun.toml");
        fs::write(&config, UKRUN_CONFIG).context("cannot write ukrun's config")?;
        OciRuntime::prepare(
            "ukrun",
            bin,
            work,
            &[],
            &[(OsString::from("UKRUN_CONFIG"), config.into_os_string())],
        )
    }

    /// The runtime with its global flags and `args`, stdin from /dev/null,
    /// stdout/stderr appended to files, in its own process group.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Command> {
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
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<()> {
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
    pub fn diagnostics(&self) -> String {
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

    /// Its state root (`<work>/<name>/root`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bundle folder made for it (`<work>/<name>/bundle`).
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// `create --bundle <bundle> --pid-file … <id>`; the returned guard
    /// kills and deletes the container when dropped (also when create
    /// failed half-way).
    pub fn create<'r>(&'r self, bundle: &Path, id: &str) -> Result<Container<'r>> {
        let container = Container {
            rt: self,
            id: id.to_owned(),
            pid_file: self.root.with_file_name(format!("{id}.pid")),
            removed: false,
        };
        self.run(&[
            OsStr::new("create"),
            OsStr::new("--bundle"),
            bundle.as_os_str(),
            OsStr::new("--pid-file"),
            container.pid_file.as_os_str(),
            OsStr::new(id),
        ])?;
        Ok(container)
    }

    /// The `status` field of `state <id>`.
    pub fn status(&self, id: &str) -> Result<String> {
        let output = self
            .command(&["state", id])?
            .stdout(Stdio::piped())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        let text = checked_stdout(&format!("{} state {id}", self.name), output)?;
        let state: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} state {id} printed no JSON: {text}", self.name))?;
        Ok(state["status"].as_str().unwrap_or("").to_owned())
    }

    /// Error and warning lines of the runtime's JSON log.
    pub fn log_problems(&self) -> Vec<String> {
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
    pub fn leftover_state(&self, tag: &str) -> Result<Vec<String>> {
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
pub struct Container<'r> {
    rt: &'r OciRuntime,
    id: String,
    pid_file: PathBuf,
    removed: bool,
}

impl Container<'_> {
    /// Kills and deletes the container and waits for its init to be gone.
    pub fn remove(mut self) -> Result<()> {
        self.removed = true;
        self.teardown()
    }

    /// Stops the container as the shim does when its init ends at once on
    /// `signal`: `kill <id> <signal>`, waits for the init to exit (reaping
    /// it when this process is its subreaper), then a plain `delete`.
    /// On failure the guard still kills and force-deletes it.
    pub fn stop(mut self, signal: &str) -> Result<()> {
        let init = self.init_pid().context("the container has no init pid")?;
        self.rt.run(&["kill", &self.id, signal])?;
        wait_gone(init).with_context(|| format!("{} of {}", self.rt.name, self.id))?;
        self.rt.run(&["delete", &self.id])?;
        self.removed = true;
        let _ = fs::remove_file(&self.pid_file);
        Ok(())
    }

    /// The init's pid from the pid file (none before create wrote it).
    fn init_pid(&self) -> Option<i32> {
        fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
    }

    fn teardown(&self) -> Result<()> {
        let init = self.init_pid();
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
                eprintln!("oci_runtime: cleanup: {e:#}");
            }
        }
    }
}

/// Waits until process `pid` has exited: reaps it when it is this
/// process's child (this process being the subreaper of a container's
/// init, as containerd's shim is), else waits until it is gone or a zombie.
pub fn wait_gone(pid: i32) -> Result<()> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = Instant::now() + EXIT_TIMEOUT;
    loop {
        let exited = match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => false,
            Ok(_) => true,
            Err(nix::errno::Errno::ECHILD) => has_exited(pid),
            Err(e) => bail!("waiting for process {pid}: {e}"),
        };
        if exited {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "process {pid} has not exited within {EXIT_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` (not this process's child) is gone or a zombie.
fn has_exited(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name.
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .trim_start()
        .chars()
        .next();
    matches!(state, None | Some('Z') | Some('X'))
}
