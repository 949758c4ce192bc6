//! The machine's processes as `/proc` shows them: command line and network
//! namespace, enough to find what a node left running; which container's
//! cgroup they are in, and their resident memory.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};
use ukrun::supervisor::cgroup::cgroup_mounts;

/// One process seen in `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its command line, arguments joined by spaces.
    pub cmdline: String,
    /// The inode of its network namespace (None if it vanished meanwhile
    /// or is a kernel thread).
    pub netns: Option<u64>,
}

impl Process {
    /// Whether it is a VMM or a ukrun process (by its program name; the
    /// test bed's own binaries are not).
    pub fn is_runtime(&self) -> bool {
        let name = self.program();
        name == "ukrun" || name.starts_with("qemu-system")
    }

    /// Its program's file name: the first word of its command line,
    /// without folders.
    pub fn program(&self) -> &str {
        let program = self.cmdline.split(' ').next().unwrap_or("");
        program.rsplit('/').next().unwrap_or("")
    }
}

/// A process's resident memory, as `/proc/PID/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the most it was ever resident, in KiB.
    pub hwm_kib: u64,
}

/// The resident memory of process `pid`.
pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field =
        |name: &str| status_kib(&status, name).with_context(|| format!("{path} has no {name}"));
    Ok(Memory {
        rss_kib: field("VmRSS")?,
        hwm_kib: field("VmHWM")?,
    })
}

/// The proportional set size of process `pid` in KiB (`Pss` of
/// `/proc/PID/smaps_rollup`): its resident pages, each shared page counted
/// as its share, so that the figures of many VMMs add up to what they
/// really hold together.
pub fn pss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let rollup = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status_kib(&rollup, "Pss").with_context(|| format!("{path} has no Pss"))
}

/// The CPU time process `pid` has used, user and system, in clock ticks
/// (`utime` + `stime` of `/proc/PID/stat`; see [`clock_ticks_per_second`]).
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    stat_cpu_ticks(&stat).with_context(|| format!("{path} has no utime and stime"))
}

/// The kernel's clock ticks per second, the unit of [`cpu_ticks`].
pub fn clock_ticks_per_second() -> Result<u64> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?
        .context("the kernel reports no CLK_TCK")?;
    u64::try_from(ticks).context("CLK_TCK is negative")
}

/// `utime` + `stime` of a `/proc/PID/stat` line: fields 14 and 15, counted
/// after the command name's closing parenthesis (a name may hold spaces).
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The processes whose program name starts with `program` (e.g.
/// `qemu-system`) and whose cgroup path names container `id`: containerd
/// names a container's cgroup by its id, and ukrun puts the VMM in a
/// cgroup below the container's.
pub fn in_container(id: &str, program: &str) -> Vec<Process> {
    all()
        .into_iter()
        .filter(|p| p.program().starts_with(program) && cgroup_names(p.pid, id))
        .collect()
}

/// Whether a cgroup path of process `pid` contains `id`.
fn cgroup_names(pid: u32, id: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|text| text.contains(id))
}

/// The KiB figure of line `name:` of a `/proc/PID/status` text.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?;
    value.split_whitespace().next()?.parse().ok()
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}: {}", self.pid, self.cmdline)
    }
}

/// The value of cgroup interface `file` (e.g. `cpu.cfs_quota_us`) in the
/// cgroup of process `pid` that has it, in whichever hierarchy does.
pub fn cgroup_value(pid: u32, file: &str) -> Result<String> {
    let member_of = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let mounts = cgroup_mounts(&std::fs::read_to_string("/proc/self/mountinfo")?);
    let path = member_of
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .flat_map(|dir| {
            mounts
                .iter()
                .map(move |m| m.join(dir.trim_start_matches('/')).join(file))
        })
        .find(|path| path.exists())
        .with_context(|| format!("no cgroup of process {pid} has {file}"))?;
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

/// Every process except this one (processes exiting during the scan are
/// skipped).
pub fn all() -> Vec<Process> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(read)
        .collect()
}

/// How many file descriptors process `pid` has open.
pub fn open_fds(pid: u32) -> Result<usize> {
    let dir = format!("/proc/{pid}/fd");
    Ok(fs::read_dir(&dir)
        .with_context(|| format!("listing {dir}"))?
        .count())
}

/// The inode that identifies the network namespace at `path` (the same
/// number `/proc/PID/ns/net` links to as `net:[N]`).
pub fn netns_inode(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| format!("stat {}", path.display()))?
        .ino())
}

/// Reads one process; None when it has gone or has no command line.
fn read(pid: u32) -> Option<Process> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None; // kernel thread or zombie
    }
    let cmdline = String::from_utf8_lossy(&raw)
        .trim_end_matches('\0')
        .replace('\0', " ");
    let netns = netns_inode(Path::new(&format!("/proc/{pid}/ns/net"))).ok();
    Some(Process {
        pid,
        cmdline,
        netns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(cmdline: &str) -> Process {
        Process {
            pid: 1,
            cmdline: cmdline.to_string(),
            netns: None,
        }
    }

    #[test]
    fn runtime_processes_are_told_by_program_name() {
        assert!(process("/usr/bin/qemu-system-x86_64 -M microvm").is_runtime());
        assert!(process("/work/target/debug/ukrun --root /r create x").is_runtime());
        assert!(!process("/work/target/debug/ukrun-testbed demo").is_runtime());
        assert!(!process("containerd --config /x/ukrun/c.toml").is_runtime());
    }

    #[test]
    fn reads_kib_figures_of_proc_status() {
        let status = "Name:\tqemu\nVmHWM:\t   93312 kB\nVmRSS:\t   91000 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(93312));
        assert_eq!(status_kib(status, "VmRSS"), Some(91000));
        assert_eq!(status_kib(status, "VmSwap"), None);
        let mine = memory(std::process::id()).unwrap();
        assert!(mine.rss_kib > 0 && mine.hwm_kib >= mine.rss_kib);
    }

    #[test]
    fn reads_cpu_ticks_after_a_command_name_with_spaces() {
        let stat = "42 (qemu (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 3";
        assert_eq!(stat_cpu_ticks(stat), Some(22));
        assert_eq!(stat_cpu_ticks("42 (short) S 1"), None);
        assert!(cpu_ticks(std::process::id()).is_ok());
        assert!(clock_ticks_per_second().unwrap() > 0);
        assert!(pss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn sees_itself_as_absent_and_others_present() {
        let procs = all();
        assert!(procs.iter().all(|p| p.pid != std::process::id()));
        assert!(!procs.is_empty());
    }
}
