//! What every monitor renderer is given, and what it gives back: the
//! program, its argv, the configuration it reads from a handed descriptor,
//! which files it reads from handed descriptors, and how it reaches the
//! tap. No image path reaches a renderer: files are named only by the
//! descriptor numbers in [`crate::jail::fds`].

use std::path::Path;

use super::qemu::ResolvedAccel;
use crate::config::Machine;
use crate::guest::caps::Solo5Names;
use crate::jail::fds;
use crate::net::plan::GuestNet;

/// The common input of every monitor renderer.
#[derive(Clone, Debug)]
pub struct VmmInput<'a> {
    /// The monitor program (as found by detection).
    pub binary: &'a Path,
    /// Whether the guest has an initrd.
    pub initrd: bool,
    /// Whether the guest has a block image.
    pub block: bool,
    /// The guest's command line.
    pub cmdline: &'a str,
    /// Whether the command line carries the container's environment, which
    /// must never be on an argv (any local user reads `/proc/PID/cmdline`).
    pub cmdline_has_env: bool,
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

/// A file the monitor reads from a handed descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handed {
    /// The kernel.
    Kernel,
    /// The initrd.
    Initrd,
    /// The block image, read-write.
    Block,
    /// The block image again, read-only (qemu's fdset).
    BlockReadOnly,
}

impl Handed {
    /// The descriptor number the monitor finds it at.
    pub fn fd(self) -> i32 {
        match self {
            Handed::Kernel => fds::KERNEL,
            Handed::Initrd => fds::INITRD,
            Handed::Block => fds::BLOCK,
            Handed::BlockReadOnly => fds::BLOCK_READ_ONLY,
        }
    }

    /// The kernel, and the initrd and block image when the guest has them.
    pub fn guest_files(input: &VmmInput<'_>) -> Vec<Handed> {
        let mut files = vec![Handed::Kernel];
        if input.initrd {
            files.push(Handed::Initrd);
        }
        if input.block {
            files.push(Handed::Block);
        }
        files
    }
}

/// Why the monitor's command cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The command line carries the environment and cannot leave the argv.
    #[error("the guest's command line carries the container's environment, and {reason}: ukrun never puts the environment on the VMM's command line, where any local user can read it")]
    EnvWouldShow {
        /// Why the private channel cannot carry it.
        reason: String,
    },
}

/// A rendered monitor command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmmCommand {
    /// Program.
    pub binary: std::path::PathBuf,
    /// Arguments (without the program).
    pub argv: Vec<String>,
    /// Configuration the monitor reads from descriptor [`fds::CONFIG`].
    pub config: Option<String>,
    /// Files the monitor reads from handed descriptors.
    pub files: Vec<Handed>,
    /// How it reaches the tap.
    pub tap: TapAccess,
}

impl VmmCommand {
    /// A command whose monitor opens the tap by name and reads the guest's
    /// files from their descriptors.
    pub fn by_name(input: &VmmInput<'_>, argv: Vec<String>) -> Self {
        Self {
            binary: input.binary.to_path_buf(),
            argv,
            config: None,
            files: Handed::guest_files(input),
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
