//! Hands a command to runc unchanged: ordinary containers (the pod's sandbox,
//! sidecars) are runc's job, with exactly the argv the shim gave ukrun.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Replaces this process with runc running `args` (argv without argv[0]).
/// Returns only on failure, with a message that names the runc binary.
pub fn exec_runc(runc: &Path, args: &[OsString]) -> String {
    let err = Command::new(runc).args(args).exec();
    if err.kind() == std::io::ErrorKind::NotFound {
        format!(
            "runc not found ({}): install runc or set `runc` in {} or the {} environment variable",
            runc.display(),
            crate::config::DEFAULT_CONFIG_PATH,
            crate::config::RUNC_ENV
        )
    } else {
        format!("cannot run {}: {err}", runc.display())
    }
}
