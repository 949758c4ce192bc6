//! `ukrun-deploy install|uninstall`, the program the installer DaemonSet
//! runs, on a real containerd node of the test bed that has runc's handler
//! alone: install restarts containerd (`node.sh restart`, as `--restart`),
//! which then runs a guest under the `ukrun` handler while runc pods go on;
//! a second install changes nothing; uninstall puts the configuration back
//! byte for byte and removes everything install made; a second uninstall
//! is a no-op. On containerd 1.6 the handler is edited into config.toml, on
//! 2.x it is a drop-in the main file imports; `containerd config dump`
//! shows runc's and ukrun's handlers both. Needs root, qemu and containerd.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use ukrun_testbed::containerd_version::Containerd;
use ukrun_testbed::made_dirs::MadeDirs;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};
use ukrun_testbed::{guest, unikraft};

/// The runtime binary ukrun-deploy installs.
fn ukrun() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ukrun"))
}

/// The installer under test.
fn ukrun_deploy() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ukrun-deploy"))
}

/// What ukrun-deploy printed, and whether containerd restarted meanwhile.
struct Outcome {
    stdout: String,
    stderr: String,
    restarted: bool,
}

/// ukrun-deploy pointed at one node: the host paths it edits all lie in
/// the node's state folder (the host's `/` is `/`), and containerd
/// restarts through `node.sh restart`.
struct Deploy<'n> {
    node: &'n Node,
    config: PathBuf,
    drop_in_dir: PathBuf,
    /// The folder install creates for the binary and its record.
    install_dir: PathBuf,
}

impl<'n> Deploy<'n> {
    fn new(node: &'n Node) -> Deploy<'n> {
        let state = node.state_dir();
        Deploy {
            node,
            config: state.join("config.toml"),
            drop_in_dir: state.join("conf.d"),
            install_dir: state.join("ukrun"),
        }
    }

    fn binary(&self) -> PathBuf {
        self.install_dir.join("bin/ukrun")
    }

    /// Runs `ukrun-deploy ACTION` and fails unless it succeeded. Its
    /// `containerd --version` reaches the node's own containerd (its
    /// folder first in PATH), so the layout is the program's own choice.
    fn run(&self, action: &str) -> Result<Outcome> {
        let containerd_dir = self
            .node
            .env()
            .containerd_bin
            .parent()
            .context("containerd's folder")?
            .to_path_buf();
        let path = std::env::join_paths(std::iter::once(containerd_dir).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))?;
        let mut command = Command::new(ukrun_deploy());
        command.arg(action);
        if action == "install" {
            command.arg("--ukrun").arg(ukrun());
        }
        command
            .args(["--host-root", "/", "--config"])
            .arg(&self.config)
            .arg("--drop-in-dir")
            .arg(&self.drop_in_dir)
            .arg("--binary")
            .arg(self.binary())
            .arg("--restart")
            .arg(self.node.restart_command()?)
            .env("PATH", path);
        let pid = self.node.containerd_pid()?;
        let out = command
            .output()
            .with_context(|| format!("running ukrun-deploy {action}"))?;
        let outcome = Outcome {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            restarted: self.node.containerd_pid()? != pid,
        };
        if !out.status.success() {
            bail!(
                "ukrun-deploy {action} failed ({}):\n{}{}",
                out.status,
                outcome.stdout,
                outcome.stderr
            );
        }
        if outcome.restarted {
            self.node.wait_cri_ready()?;
        }
        Ok(outcome)
    }

    /// Runs `ukrun-deploy ACTION` a second time and checks that it changed
    /// nothing: no restart, the configuration's bytes as they were, and it
    /// says so.
    fn run_again(&self, action: &str) -> Result<Outcome> {
        let before = std::fs::read(&self.config)?;
        let again = self.run(action)?;
        ensure!(
            !again.restarted && again.stdout.contains("nothing to change"),
            "a second {action} restarted containerd or did not say it changed nothing: {}{}",
            again.stdout,
            again.stderr
        );
        ensure!(
            std::fs::read(&self.config)? == before,
            "a second {action} rewrote {}",
            self.config.display()
        );
        Ok(again)
    }

    /// `containerd config dump` of the node's configuration (imports
    /// merged as containerd merges them), parsed.
    fn dump(&self) -> Result<toml::Table> {
        let out = Command::new(&self.node.env().containerd_bin)
            .arg("--config")
            .arg(&self.config)
            .args(["config", "dump"])
            .output()
            .context("running containerd config dump")?;
        ensure!(
            out.status.success(),
            "containerd config dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(toml::from_str(&String::from_utf8_lossy(&out.stdout))?)
    }
}

/// The CRI runtime handlers table of a configuration of `containerd`.
fn runtimes(config: &toml::Table, containerd: Containerd) -> Option<&toml::Table> {
    let plugin = match containerd {
        Containerd::V1_6 => "io.containerd.grpc.v1.cri",
        Containerd::V2_3 => "io.containerd.cri.v1.runtime",
    };
    config
        .get("plugins")?
        .get(plugin)?
        .get("containerd")?
        .get("runtimes")?
        .as_table()
}

/// `options.KEY` of handler `name` in `runtimes`, as a string.
fn option<'a>(runtimes: &'a toml::Table, name: &str, key: &str) -> Option<&'a str> {
    runtimes.get(name)?.get("options")?.get(key)?.as_str()
}

/// Checks where install put the handler: in config.toml on containerd 1.6
/// (no drop-in), in a drop-in the main file imports on 2.x; and that the
/// merged configuration has runc's handler as the node had it and ukrun's.
fn check_layout(deploy: &Deploy) -> Result<()> {
    let node = deploy.node;
    let main: toml::Table = toml::from_str(&std::fs::read_to_string(&deploy.config)?)?;
    let drop_in = deploy.drop_in_dir.join("ukrun.toml");
    let binary = deploy.binary().display().to_string();
    match node.containerd() {
        Containerd::V1_6 => {
            ensure!(
                !deploy.drop_in_dir.exists(),
                "install made a drop-in folder for containerd 1.6"
            );
            let in_main =
                runtimes(&main, Containerd::V1_6).context("no runtimes in config.toml")?;
            ensure!(
                option(in_main, UKRUN_HANDLER, "BinaryName") == Some(binary.as_str()),
                "config.toml has no ukrun handler running {binary}"
            );
        }
        Containerd::V2_3 => {
            let imports = main.get("imports").and_then(toml::Value::as_array);
            ensure!(
                imports.is_some_and(|list| list
                    .iter()
                    .any(|i| i.as_str() == Some(&drop_in.display().to_string()))),
                "config.toml does not import {}: {imports:?}",
                drop_in.display()
            );
            let text = std::fs::read_to_string(&drop_in)
                .with_context(|| format!("reading the drop-in {}", drop_in.display()))?;
            let runtimes_in_drop_in = runtimes(&toml::from_str(&text)?, Containerd::V2_3)
                .map(|t| t.contains_key(UKRUN_HANDLER));
            ensure!(
                runtimes_in_drop_in == Some(true),
                "the drop-in has no ukrun handler:\n{text}"
            );
        }
    }
    let dump = deploy.dump()?;
    let merged = runtimes(&dump, node.containerd()).context("no runtimes in the dump")?;
    let runc_root = node.state_dir().join("runc-root").display().to_string();
    ensure!(
        option(merged, "runc", "Root") == Some(runc_root.as_str()),
        "containerd config dump lost runc's handler (or its Root): {merged:#?}"
    );
    ensure!(
        option(merged, UKRUN_HANDLER, "BinaryName") == Some(binary.as_str()),
        "containerd config dump has no ukrun handler running {binary}: {merged:#?}"
    );
    Ok(())
}

/// Runs a guest under the `ukrun` handler, which only ukrun can run:
/// Unikraft's helloworld to completion (0.3 s to boot), or, without the
/// Unikraft images (outside CI only), the Linux guest until it is ready.
fn ukrun_runs_a_guest(node: &Node) -> Result<()> {
    let pod = Pod::run(node, "deployed", UKRUN_HANDLER)?;
    if node.has_unikraft() {
        let id = unikraft::run_helloworld(&pod)?;
        node.cri().remove_container(&id)?;
    } else {
        let id = pod.start(&guest::container())?;
        guest::wait_ready(&pod.log_path(&guest::container()))?;
        pod.remove_container(&id)?;
    }
    pod.remove()
}

/// Checks that containerd refuses a pod on the `ukrun` handler.
fn refuses_ukrun(node: &Node, name: &str) -> Result<()> {
    match Pod::run(node, name, UKRUN_HANDLER) {
        Ok(pod) => {
            pod.remove()?;
            bail!("containerd ran a pod on handler {UKRUN_HANDLER} without ukrun installed")
        }
        Err(refusal) => {
            let refusal = format!("{refusal:#}");
            ensure!(
                refusal.contains(UKRUN_HANDLER),
                "the refusal does not name the handler: {refusal}"
            );
            Ok(())
        }
    }
}

/// Starts a runc pod with an idling container; returns the pod and the
/// container's id.
fn runc_pod<'n>(node: &'n Node, name: &str) -> Result<(Pod<'n>, String)> {
    let pod = Pod::run(node, name, "")?;
    let id = pod.start(&guest::sidecar())?;
    Ok((pod, id))
}

/// The runc shim's default `--root` for the `k8s.io` namespace and ukrun's
/// folder in it: where the handler ukrun-deploy writes (no `Root` option,
/// as on a real node) keeps its containers' state, outside the node's
/// state folder.
const SHIM_ROOT: [&str; 4] = [
    "/run/containerd",
    "/run/containerd/runc",
    "/run/containerd/runc/k8s.io",
    "/run/containerd/runc/k8s.io/.ukrun",
];

#[test]
fn install_runs_guests_and_uninstall_restores_the_node() -> Result<()> {
    // Dropped after the node is gone.
    let _shim_root = MadeDirs::note(&SHIM_ROOT.map(Path::new));
    Node::run_without_ukrun(ukrun(), |node| {
        let deploy = Deploy::new(node);
        let original = std::fs::read(&deploy.config)?;
        refuses_ukrun(node, "before")?;
        let (runc_before, sidecar) = runc_pod(node, "runc-before")?;

        let installed = deploy.run("install")?;
        ensure!(
            installed.restarted && installed.stdout.contains("containerd restarted"),
            "install did not restart containerd: {}{}",
            installed.stdout,
            installed.stderr
        );
        check_layout(&deploy)?;
        ensure!(
            runc_before.is_ready()?,
            "the runc pod did not outlive the restart"
        );
        runc_before.wait_running(&sidecar)?;
        ukrun_runs_a_guest(node)?;
        runc_pod(node, "runc-after")?.0.remove()?;
        deploy.run_again("install")?;

        let uninstalled = deploy.run("uninstall")?;
        ensure!(
            uninstalled.restarted,
            "uninstall did not restart containerd: {}{}",
            uninstalled.stdout,
            uninstalled.stderr
        );
        ensure!(
            std::fs::read(&deploy.config)? == original,
            "uninstall did not put config.toml back byte for byte"
        );
        for made in [&deploy.drop_in_dir, &deploy.install_dir] {
            ensure!(!made.exists(), "uninstall left {}", made.display());
        }
        refuses_ukrun(node, "after")?;
        let again = deploy.run_again("uninstall")?;
        ensure!(
            again.stderr.contains("not installed"),
            "a second uninstall did not say ukrun is not installed: {}",
            again.stderr
        );
        runc_before.remove()
    })
}
