//! Runs the VMM as the supervisor's child, inside its cell (see
//! [`crate::jail`]): its descriptors at the numbers its command expects,
//! the container's stdio as its console, and death with the supervisor
//! (PR_SET_PDEATHSIG), so a SIGKILLed supervisor leaves no VMM behind.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitStatus;

use crate::jail::cell::Cell;

/// Why the VMM could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The binary is missing.
    #[error("{0} not found: install it or set its path in ukrun's config file")]
    NotFound(String),
    /// exec failed otherwise.
    #[error("cannot start {binary}: {source}")]
    Exec {
        /// Binary.
        binary: String,
        /// OS error.
        source: std::io::Error,
    },
}

/// Spawns `binary argv` inside its cell (which hands it its descriptors),
/// with an empty environment: the monitor needs none, and the supervisor's
/// is not the guest's.
pub fn spawn(
    binary: &Path,
    argv: &[String],
    cell: Cell,
) -> Result<tokio::process::Child, SpawnError> {
    let mut cmd = std::process::Command::new(binary);
    cmd.args(argv).env_clear();
    // SAFETY: `enter` makes system calls only (see Cell::enter).
    unsafe {
        cmd.pre_exec(move || cell.enter());
    }
    tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| {
            let name = binary.display().to_string();
            if source.kind() == std::io::ErrorKind::NotFound {
                SpawnError::NotFound(name)
            } else {
                SpawnError::Exec {
                    binary: name,
                    source,
                }
            }
        })
}

/// The shell-style exit code of a finished process (128 + signal if killed).
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }
}
