//! A Linux guest bundle whose kernel and initrd are stubs, for tests of
//! what `ukrun create` refuses before anything is set up: each refusal is
//! one short log line and leaves nothing under `--root`. The refusals come
//! before the pod netns is joined, so the bundle names a netns that does
//! not exist.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};

use crate::bundle::Bundle;
use crate::runtime::Runtime;

/// Longest error line a refusal may log (values are quoted by a short prefix).
const MAX_ERROR_LINE: usize = 400;

/// The pod netns the bundle names, which does not exist.
pub const ABSENT_NETNS: &str = "/run/netns/ukrun-bounded-inputs-absent";

/// A runtime and a stub guest bundle in a private work folder, removed on drop.
pub struct StubGuest {
    /// The ukrun under test, with its own root, log and config.
    pub runtime: Runtime,
    /// The guest bundle.
    pub bundle: Bundle,
    work: PathBuf,
}

impl StubGuest {
    /// A Linux guest bundle named `bundle_name`, for the ukrun binary `bin`,
    /// in a work folder named after `tag`.
    pub fn new(bin: &Path, tag: &str, bundle_name: &OsStr) -> Result<Self> {
        let work = std::env::temp_dir().join(format!("ukrun-bi-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        let guest = work.join("guest");
        std::fs::create_dir_all(&guest)?;
        std::fs::write(guest.join("vmlinux"), b"kernel")?;
        std::fs::write(guest.join("initrd.img"), b"initrd")?;
        let runtime = Runtime::new(bin, &work.join("rt"))?;
        let bundle = Bundle::linux_guest(&work.join(bundle_name), &guest, Path::new(ABSENT_NETNS))?;
        Ok(StubGuest {
            runtime,
            bundle,
            work,
        })
    }

    /// Runs `create`, and checks that it failed with one short line
    /// containing `expect` and left no state.
    pub fn refused(&self, expect: &str) -> Result<()> {
        let out = self.runtime.create(&self.bundle.dir, "bad")?;
        let error = self.runtime.last_error();
        let console = std::fs::read_to_string(self.runtime.console_path("bad"))?;
        let left = self.runtime.leftover_state();
        let mut problems = Vec::new();
        if out.status.success() {
            problems.push("create succeeded".to_owned());
        }
        if !error.contains(expect) {
            problems.push(format!("expected {expect:?} in the error"));
        }
        if error.contains('\n') || error.len() > MAX_ERROR_LINE {
            problems.push(format!(
                "error is not one short line ({} bytes)",
                error.len()
            ));
        }
        if !left.is_empty() {
            problems.push(format!("state left under --root: {left:?}"));
        }
        ensure!(
            problems.is_empty(),
            "{}\nerror: {:?}\nconsole: {console:?}",
            problems.join("; "),
            error.chars().take(200).collect::<String>()
        );
        Ok(())
    }
}

impl Drop for StubGuest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}
