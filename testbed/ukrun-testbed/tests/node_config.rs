//! The node's containerd 2.3 configuration (version 3, written by hand in
//! `testbed/node.sh`) holds the same settings as its 1.6 one (version 2):
//! containerd 2.3.4 migrates both to its current version, and the two
//! results differ only where the 2.3 node moves NRI under its state folder.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::containerd_version::{self, Containerd};
use ukrun_testbed::repo;
use ukrun_testbed::work_dir::WorkDir;

/// The state folder the configurations are rendered for (never created).
const STATE: &str = "/run/ukrun-testbed/config-check";

/// The keys of NRI's table, which only the 2.3 node sets (1.x has no NRI
/// on by default, so its migration keeps 2.x's global defaults).
const NRI_KEYS: [&str; 3] = ["socket_path", "plugin_path", "plugin_config_path"];

/// `node.sh config` for `containerd`: the configuration `up` would write.
fn render(containerd: Containerd) -> Result<String> {
    render_with_default_runtime(containerd, "")
}

/// Like [`render`], with `UKRUN_NODE_DEFAULT_RUNTIME` set to `runtime`
/// (empty: node.sh's default).
fn render_with_default_runtime(containerd: Containerd, runtime: &str) -> Result<String> {
    let out = Command::new("bash")
        .arg(repo::script("node.sh")?)
        .args(["config", STATE, "/usr/local/bin/ukrun"])
        .env(containerd_version::ENV, containerd.to_string())
        .env("UKRUN_NODE_DEFAULT_RUNTIME", runtime)
        .output()?;
    ensure!(out.status.success(), "node.sh config: {out:?}");
    Ok(String::from_utf8(out.stdout)?)
}

/// `config` as containerd 2.3.4 migrates it (`containerd config migrate`).
fn migrate(dir: &Path, containerd: Containerd) -> Result<String> {
    let file = dir.join(format!("config-{containerd}.toml"));
    std::fs::write(&file, render(containerd)?)?;
    let bin = Containerd::V2_3.bin_dir().context("2.3 has a folder")?;
    let out = Command::new(bin.join("containerd"))
        .arg("--config")
        .arg(&file)
        .args(["config", "migrate"])
        .output()
        .context("running containerd 2.3.4 (node.sh config unpacks it)")?;
    ensure!(out.status.success(), "containerd config migrate: {out:?}");
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn containerd_2_3_config_has_the_1_6_settings() -> Result<()> {
    let dir = WorkDir::new("node-config");
    std::fs::create_dir_all(dir.path())?;
    // 2.3 first: rendering it unpacks containerd 2.3.4.
    let new = migrate(dir.path(), Containerd::V2_3)?;
    let old = migrate(dir.path(), Containerd::V1_6)?;
    assert!(old.contains("BinaryName = '/usr/local/bin/ukrun'"), "{old}");
    assert_eq!(
        old.lines().count(),
        new.lines().count(),
        "{old}\n---\n{new}"
    );
    let differing: Vec<&str> = old
        .lines()
        .zip(new.lines())
        .filter(|(a, b)| a != b)
        .map(|(_, b)| b.trim())
        .collect();
    assert_eq!(differing.len(), NRI_KEYS.len(), "{differing:?}");
    for (line, key) in differing.iter().zip(NRI_KEYS) {
        assert!(
            line.starts_with(key) && line.contains(STATE),
            "{line}: only NRI moves"
        );
    }
    Ok(())
}

/// `UKRUN_NODE_DEFAULT_RUNTIME` picks containerd's default runtime handler
/// in both configurations (`runc` unless asked otherwise); another name
/// fails.
#[test]
fn default_runtime_is_the_one_asked_for() -> Result<()> {
    for containerd in [Containerd::V1_6, Containerd::V2_3] {
        for (asked, handler) in [("", "runc"), ("runc", "runc"), ("ukrun", "ukrun")] {
            let config = render_with_default_runtime(containerd, asked)?;
            let line = format!("default_runtime_name = \"{handler}\"");
            ensure!(config.contains(&line), "{containerd}, {asked:?}: {config}");
        }
        ensure!(render_with_default_runtime(containerd, "crun").is_err());
    }
    Ok(())
}
