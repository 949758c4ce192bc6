//! `ukrun features` is runc's answer plus ukrun's annotations (containerd
//! derives what every container on the handler may use from it, the
//! containers ukrun hands to runc included), and ukrun's own document,
//! with one line on standard error, when the configured runc is missing;
//! a closed standard output (`ukrun features | head`) ends it quietly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

/// ukrun's annotations, the only difference from runc's document.
const UKRUN_ANNOTATIONS: [&str; 2] = ["io.github.ukrun.runc.delegate", "io.github.ukrun.version"];

/// A private config file, removed on drop.
struct ConfigFile(PathBuf);

impl ConfigFile {
    /// Writes `text` to a config file named after `tag`.
    fn new(tag: &str, text: &str) -> Result<Self> {
        let path =
            std::env::temp_dir().join(format!("ukrun-features-{tag}-{}.toml", std::process::id()));
        std::fs::write(&path, text)?;
        Ok(Self(path))
    }

    /// `ukrun features` with this config (and no `UKRUN_RUNC`), as the shim runs it.
    fn features(&self) -> Result<Output> {
        Command::new(env!("CARGO_BIN_EXE_ukrun"))
            .env("UKRUN_CONFIG", &self.0)
            .env_remove("UKRUN_RUNC")
            .arg("features")
            .output()
            .context("running ukrun features")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The JSON document on `out`'s standard output.
fn document(out: &Output) -> Result<Value> {
    ensure!(out.status.success(), "exit {:?}", out.status);
    serde_json::from_slice(&out.stdout).context("stdout is not JSON")
}

#[test]
fn ukrun_features_is_runcs_document_plus_ukruns_annotations() -> Result<()> {
    let config = ConfigFile::new("runc", "runc = \"runc\"\n")?;
    let ukrun = config.features()?;
    ensure!(
        ukrun.stderr.is_empty(),
        "nothing on stderr when runc answers: {}",
        String::from_utf8_lossy(&ukrun.stderr)
    );
    let mut ukrun = document(&ukrun)?;
    let runc = document(&Command::new("runc").arg("features").output()?)?;
    let annotations = ukrun["annotations"]
        .as_object_mut()
        .context("ukrun has annotations")?;
    for key in UKRUN_ANNOTATIONS {
        ensure!(annotations.remove(key).is_some(), "ukrun adds {key}");
    }
    ensure!(ukrun == runc, "ukrun {ukrun:#}\nrunc {runc:#}");
    ensure!(
        runc["mountOptions"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o == "rro")),
        "containerd sees rro (recursive read-only mounts) for the sidecars"
    );
    Ok(())
}

#[test]
fn a_missing_runc_gives_ukruns_own_document_and_one_line_on_stderr() -> Result<()> {
    let absent = Path::new("/nonexistent/ukrun-test/runc");
    let config = ConfigFile::new("absent", &format!("runc = \"{}\"\n", absent.display()))?;
    let out = config.features()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        stderr.lines().count() == 1 && stderr.contains(&absent.display().to_string()),
        "one line naming runc: {stderr:?}"
    );
    let own = document(&out)?;
    ensure!(own["mountOptions"] == serde_json::json!([]), "{own:#}");
    ensure!(
        own["linux"]["namespaces"] == serde_json::json!(["network", "ipc", "uts"]),
        "{own:#}"
    );
    for key in UKRUN_ANNOTATIONS {
        ensure!(
            own["annotations"][key].is_string(),
            "ukrun's {key}: {own:#}"
        );
    }
    Ok(())
}

#[test]
fn a_reader_that_went_away_is_no_error() -> Result<()> {
    let (read, write) = nix::unistd::pipe()?;
    drop(read);
    let config = ConfigFile::new("closed", "runc = \"runc\"\n")?;
    let out = Command::new(env!("CARGO_BIN_EXE_ukrun"))
        .env("UKRUN_CONFIG", &config.0)
        .arg("features")
        .stdout(Stdio::from(write))
        .output()?;
    ensure!(
        out.status.success() && out.stderr.is_empty(),
        "`ukrun features | head` must end quietly as a filter does: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
