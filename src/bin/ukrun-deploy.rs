//! `ukrun-deploy install|uninstall`: copies ukrun onto the node, adds (or
//! removes) its runtime handler in containerd's configuration, and
//! restarts containerd when something changed. See README "Installing on
//! a node".

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use ukrun::deploy::containerd_config::Layout;
use ukrun::deploy::install::{self, Changed, HostPaths};

#[derive(Parser)]
#[command(
    name = "ukrun-deploy",
    about = "Install ukrun on a containerd node, or take it off"
)]
struct Cli {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Copy ukrun into place and add its runtime handler to containerd.
    Install {
        /// The ukrun binary to install.
        #[arg(long)]
        ukrun: PathBuf,
        /// The runtime handler's name (a RuntimeClass's `handler`).
        #[arg(long, default_value = "ukrun")]
        handler: String,
        #[command(flatten)]
        node: Node,
    },
    /// Put containerd's configuration back as it was and remove ukrun.
    Uninstall {
        #[command(flatten)]
        node: Node,
    },
}

#[derive(Args)]
struct Node {
    /// The host's `/` as seen here (the hostPath mount in the installer pod).
    #[arg(long, default_value = "/")]
    host_root: PathBuf,
    /// containerd's main configuration file (host path).
    #[arg(long, default_value = "/etc/containerd/config.toml")]
    config: PathBuf,
    /// The folder of containerd 2.x drop-ins (host path).
    #[arg(long, default_value = "/etc/containerd/conf.d")]
    drop_in_dir: PathBuf,
    /// Where ukrun is installed (host path).
    #[arg(long, default_value = "/opt/ukrun/bin/ukrun")]
    binary: PathBuf,
    /// Words put before host commands (`containerd --version`, the
    /// restart), e.g. `nsenter --target 1 --mount --` in a pod with hostPID.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    host_exec: String,
    /// The command that restarts containerd (after `--host-exec`).
    #[arg(
        long,
        default_value = "systemctl restart containerd",
        allow_hyphen_values = true
    )]
    restart: String,
    /// containerd's `--version` line, instead of asking `containerd`.
    #[arg(long)]
    containerd_version: Option<String>,
}

impl Node {
    fn paths(&self) -> HostPaths {
        HostPaths {
            host_root: self.host_root.clone(),
            config: self.config.clone(),
            drop_in_dir: self.drop_in_dir.clone(),
            binary: self.binary.clone(),
        }
    }

    /// `words` run on the host: after `--host-exec`'s words.
    fn host_command(&self, words: &str) -> Result<Command> {
        let mut all = self
            .host_exec
            .split_whitespace()
            .chain(words.split_whitespace());
        let program = all.next().context("an empty command")?;
        let mut command = Command::new(program);
        command.args(all);
        Ok(command)
    }

    fn layout(&self) -> Result<Layout> {
        let line = match &self.containerd_version {
            Some(line) => line.clone(),
            None => {
                let out = self
                    .host_command("containerd --version")?
                    .output()
                    .context("running containerd --version on the host")?;
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
        };
        Ok(Layout::of_version(&line)?)
    }

    fn restart(&self) -> Result<()> {
        let status = self
            .host_command(&self.restart)?
            .status()
            .with_context(|| format!("running {:?}", self.restart))?;
        if !status.success() {
            bail!("{:?} failed ({status})", self.restart);
        }
        Ok(())
    }
}

fn run(cli: Cli) -> Result<()> {
    let (node, changed) = match &cli.action {
        Action::Install {
            ukrun,
            handler,
            node,
        } => {
            let layout = node.layout()?;
            (
                node,
                install::install(&node.paths(), ukrun, handler, layout)?,
            )
        }
        Action::Uninstall { node } => {
            let (changed, note) = install::uninstall(&node.paths())?;
            if let Some(note) = note {
                eprintln!("ukrun-deploy: {note}");
            }
            (node, changed)
        }
    };
    match changed {
        Changed::Yes => {
            node.restart()?;
            println!("ukrun-deploy: done, containerd restarted");
        }
        Changed::No => println!("ukrun-deploy: nothing to change"),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ukrun-deploy: {err:#}");
            ExitCode::FAILURE
        }
    }
}
