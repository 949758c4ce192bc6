//! A stand-in for a crashing Unikraft guest: `testbed/crash-kernel/crash.s`,
//! a multiboot ELF32 kernel that prints [`CONSOLE_LINE`] on COM1 and writes
//! Unikraft 0.16.3's crash value (42) to qemu's `isa-debug-exit` port, so
//! qemu exits 85 as it does when a real Unikraft guest crashes. No Unikraft
//! image crashes on demand; this one needs no Unikraft image at all.
//!
//! Assembled with GNU binutils (`as --32`, `ld -m elf_i386`) into
//! `testbed/out/crash-kernel` on every [`build`] (a few milliseconds, so no
//! stale cache), through a temporary name renamed into place.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};

use crate::repo;

/// The line the stand-in prints on its console before it crashes.
pub const CONSOLE_LINE: &str = "stand-in: crashing as Unikraft's UK_CRASH does";
/// qemu's exit code when the stand-in (or a Unikraft 0.16.3 guest)
/// crashes: `(42 << 1) | 1`.
pub const QEMU_EXIT: i32 = 85;

/// Assembles and links the stand-in; the kernel's path
/// (`testbed/out/crash-kernel/crash`). A missing `as` or `ld` fails with
/// the package to install.
pub fn build() -> Result<PathBuf> {
    static BUILDS: AtomicUsize = AtomicUsize::new(0);
    let source = repo::root().join("testbed/crash-kernel/crash.s");
    let out = repo::out_dir().join("crash-kernel");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let unique = format!(
        "{}.{}",
        std::process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    );
    let object = out.join(format!("crash.o.{unique}"));
    let linked = out.join(format!("crash.{unique}"));
    let built = assemble(&source, &object).and_then(|()| link(&object, &linked));
    let _ = std::fs::remove_file(&object);
    if let Err(err) = built {
        let _ = std::fs::remove_file(&linked);
        return Err(err);
    }
    let kernel = out.join("crash");
    std::fs::rename(&linked, &kernel)
        .with_context(|| format!("renaming {} to {}", linked.display(), kernel.display()))?;
    Ok(kernel)
}

/// `as --32 source -o object`.
fn assemble(source: &Path, object: &Path) -> Result<()> {
    binutils(
        Command::new("as")
            .arg("--32")
            .arg(source)
            .arg("-o")
            .arg(object),
    )
}

/// `ld -m elf_i386 -n -Ttext 0x100000 -e _start object -o kernel`: one
/// segment loaded at 1 MiB, where qemu's multiboot loader puts it.
fn link(object: &Path, kernel: &Path) -> Result<()> {
    binutils(
        Command::new("ld")
            .args(["-m", "elf_i386", "-n", "-Ttext", "0x100000", "-e", "_start"])
            .arg(object)
            .arg("-o")
            .arg(kernel),
    )
}

/// Runs a binutils command; fails with its stderr, or with the package to
/// install when the program is missing.
fn binutils(command: &mut Command) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = match command.output() {
        Err(err) if err.kind() == ErrorKind::NotFound => bail!(
            "`{program}` is not installed: the stand-in crashing kernel (testbed/crash-kernel) is built with GNU binutils (Debian package binutils, which testbed/install-deps.sh installs)"
        ),
        other => other.with_context(|| format!("running {program}"))?,
    };
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stand-in on bare qemu (no ukrun): qemu exits 85 after the line,
    /// so a failure of the end-to-end test is ukrun's, not the kernel's.
    /// (`timeout` ends a stand-in that hangs: exit 124.)
    #[test]
    fn on_qemu_with_isa_debug_exit_the_stand_in_prints_its_line_and_qemu_exits_85() -> Result<()> {
        let kernel = build()?;
        let out = Command::new("timeout")
            .args(["30", "qemu-system-x86_64"])
            .args([
                "-M",
                "q35",
                "-accel",
                "tcg",
                "-nodefaults",
                "-display",
                "none",
            ])
            .args(["-no-reboot", "-serial", "stdio", "-kernel"])
            .arg(&kernel)
            .args(["-device", "isa-debug-exit,iobase=0x501,iosize=2"])
            .output()
            .context("running qemu-system-x86_64")?;
        let console = String::from_utf8_lossy(&out.stdout);
        assert!(console.contains(CONSOLE_LINE), "console: {console}");
        assert_eq!(
            out.status.code(),
            Some(QEMU_EXIT),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}
