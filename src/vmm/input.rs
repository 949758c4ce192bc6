//! What every monitor renderer is given, and what it gives back: the
//! program, its argv, a config file to write in the state directory before
//! the spawn, and how the monitor reaches the tap.

use std::path::{Path, PathBuf};

use super::qemu::ResolvedAccel;
use crate::config::Machine;
use crate::guest::caps::Solo5Names;
use crate::net::plan::GuestNet;

/// The common input of every monitor renderer.
#[derive(Clone, Debug)]
pub struct VmmInput<'a> {
    /// The monitor program (as found by detection).
    pub binary: &'a Path,
    /// Kernel or unikernel image.
    pub kernel: &'a Path,
    /// Initrd, if any.
    pub initrd: Option<&'a Path>,
    /// Block device image, if any.
    pub block: Option<&'a Path>,
    /// The guest's command line.
    pub cmdline: &'a str,
    /// Guest memory.
    pub memory_mib: u64,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Tap interface name in the pod netns.
    pub tap: &'a str,
    /// Guest NIC: MAC and MTU.
    pub net: &'a GuestNet,
    /// Control socket (qemu's QMP), relative to the monitor's working directory.
    pub control_socket: &'a Path,
    /// Directory config files are written to.
    pub state_dir: &'a Path,
    /// qemu's own choices.
    pub qemu: QemuOptions,
    /// Solo5 device names the guest declares.
    pub solo5: Solo5Names,
}

/// What only qemu needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QemuOptions {
    /// Accelerator.
    pub accel: ResolvedAccel,
    /// Machine type.
    pub machine: Machine,
    /// Whether the binary has `-sandbox` (seccomp).
    pub sandbox: bool,
    /// Whether the guest powers off through the isa-debug-exit port (Mewz).
    pub debug_exit: bool,
}

/// How the monitor reaches the tap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapAccess {
    /// The supervisor's tap descriptor, passed as this fd number.
    Fd(i32),
    /// The monitor opens the tap by name (TUNSETIFF) itself.
    ByName,
}

/// A file the monitor reads, written before it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    /// Where it goes.
    pub path: PathBuf,
    /// What it holds.
    pub contents: String,
}

/// A rendered monitor command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmmCommand {
    /// Program.
    pub binary: PathBuf,
    /// Arguments (without the program).
    pub argv: Vec<String>,
    /// Config file to write first.
    pub config_file: Option<ConfigFile>,
    /// How it reaches the tap.
    pub tap: TapAccess,
}

impl VmmCommand {
    /// A command whose monitor opens the tap by name and takes no config file.
    pub fn by_name(input: &VmmInput<'_>, argv: Vec<String>) -> Self {
        Self {
            binary: input.binary.to_path_buf(),
            argv,
            config_file: None,
            tap: TapAccess::ByName,
        }
    }

    /// The command as one line, for logs and the recorded state.
    pub fn display(&self) -> Vec<String> {
        std::iter::once(self.binary.display().to_string())
            .chain(self.argv.iter().cloned())
            .collect()
    }
}
