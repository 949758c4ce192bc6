//! Drives the ukrun binary directly, as containerd's shim would (same
//! global flags, JSON log), with its own state root, log and config file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result};
use serde_json::Value;

/// A ukrun binary with a private root, log file and config.
pub struct Runtime {
    bin: PathBuf,
    /// Private working folder (root, log, config, consoles).
    pub dir: PathBuf,
}

impl Runtime {
    /// Prepares `dir` (recreated) with a config that selects TCG and a short
    /// stop grace period.
    pub fn new(bin: &Path, dir: &Path) -> Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("root"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let runtime = Runtime {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
        };
        runtime.configure("")?;
        Ok(runtime)
    }

    /// Rewrites the config file: TCG, a short stop grace period, then
    /// `qemu_and_more` (lines of the `[qemu]` section such as
    /// `machine = "q35"`, then any further sections).
    pub fn configure(&self, qemu_and_more: &str) -> Result<()> {
        let text = format!(
            "[supervisor]\nstop_grace_seconds = 2\n[qemu]\naccel = \"tcg\"\n{qemu_and_more}"
        );
        std::fs::write(self.dir.join("ukrun.toml"), text).context("writing ukrun.toml")
    }

    /// The shim-style command for `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env("UKRUN_CONFIG", self.dir.join("ukrun.toml"))
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--log")
            .arg(self.log_path())
            .args(["--log-format", "json"])
            .args(args);
        cmd
    }

    /// Runs `args` and returns its output (stdin closed).
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running ukrun {}", args.join(" ")))
    }

    /// `create` with the console (the supervisor's and VMM's stdout and
    /// stderr) going to `console-<id>.log`.
    pub fn create(&self, bundle: &Path, id: &str) -> Result<Output> {
        let console = File::create(self.console_path(id))?;
        let pid_file = self.dir.join(format!("{id}.pid"));
        self.command(&["create", "--bundle"])
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console)
            .output()
            .context("running ukrun create")
    }

    /// The container's console file.
    pub fn console_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("console-{id}.log"))
    }

    /// The `--log` file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log.json")
    }

    /// `state` parsed as JSON.
    pub fn state(&self, id: &str) -> Result<Value> {
        let out = self.run(&["state", id])?;
        anyhow::ensure!(
            out.status.success(),
            "ukrun state {id}: {}",
            self.last_error()
        );
        serde_json::from_slice(&out.stdout).context("state output is not JSON")
    }

    /// The container's init (ukrun's supervisor), from `create`'s pid file.
    pub fn init_pid(&self, id: &str) -> Result<i32> {
        let path = self.dir.join(format!("{id}.pid"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        text.trim()
            .parse()
            .with_context(|| format!("{} holds no pid: {text:?}", path.display()))
    }

    /// The pid that the container's state records for `process`
    /// (`supervisor` or `vmm`), for tests that break a container on purpose.
    pub fn recorded_pid(&self, id: &str, process: &str) -> Result<i32> {
        let path = self.dir.join(format!("root/.ukrun/{id}/state.json"));
        let state: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let pid = state[process]["pid"]
            .as_i64()
            .with_context(|| format!("{} records no {process} pid", path.display()))?;
        Ok(i32::try_from(pid)?)
    }

    /// The `msg` of the last `error` line in the log ("" if none).
    pub fn last_error(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["level"] == "error")
            .map(|v| v["msg"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }

    /// Container ids that still have ukrun state.
    pub fn leftover_state(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.join("root/.ukrun"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.leftover_state() {
            let _ = self.run(&["delete", "--force", &id]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
