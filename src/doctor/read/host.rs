//! What the host side shows of a container: its processes in /proc and
//! the pod's DNS files named by its bundle.

use std::path::PathBuf;

use crate::dns::pod_dns::{read_pod_dns, PodDns};
use crate::jail::fds;
use crate::spec::Bundle;
use crate::state::{ContainerState, ProcessRef};

/// A container's recorded state and what the host shows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerFacts {
    /// The recorded state.
    pub state: ContainerState,
    /// Its state directory.
    pub state_dir: PathBuf,
    /// Whether the supervisor is alive.
    pub supervisor_alive: bool,
    /// Whether the VMM is alive.
    pub vmm_alive: bool,
    /// The live VMM's argv (`/proc/PID/cmdline`).
    pub vmm_cmdline: Option<Vec<String>>,
    /// The configuration the live VMM was handed (its descriptor
    /// [`fds::CONFIG`]): the guest's command line, when not on the argv.
    pub vmm_config: Option<String>,
    /// What the live VMM's initrd descriptor ([`fds::INITRD`]) is.
    pub vmm_initrd: Option<PathBuf>,
    /// The pod's DNS files, or why they could not be read.
    pub pod_dns: Result<PodDns, String>,
}

/// Reads the processes and pod files of `state`.
pub fn container_facts(state: ContainerState, state_dir: PathBuf) -> ContainerFacts {
    let alive = |p: Option<ProcessRef>| p.is_some_and(|p| p.is_alive());
    let vmm_alive = alive(state.vmm);
    let vmm_cmdline = state
        .vmm
        .filter(|_| vmm_alive)
        .and_then(|p| std::fs::read(format!("/proc/{}/cmdline", p.pid)).ok())
        .map(|raw| split_cmdline(&raw));
    let vmm_fd = |fd: i32| {
        let pid = state.vmm.filter(|_| vmm_alive)?.pid;
        Some(PathBuf::from(format!("/proc/{pid}/fd/{fd}")))
    };
    let vmm_config = vmm_fd(fds::CONFIG).and_then(|p| std::fs::read_to_string(p).ok());
    let vmm_initrd = vmm_fd(fds::INITRD).and_then(|p| std::fs::read_link(p).ok());
    let pod_dns = Bundle::load(&state.bundle)
        .map_err(|e| e.to_string())
        .and_then(|b| read_pod_dns(&b.spec, &b.rootfs).map_err(|e| e.to_string()));
    ContainerFacts {
        supervisor_alive: alive(state.supervisor),
        vmm_alive,
        vmm_cmdline,
        vmm_config,
        vmm_initrd,
        pod_dns,
        state,
        state_dir,
    }
}

/// The NUL-separated arguments of `/proc/PID/cmdline`.
fn split_cmdline(raw: &[u8]) -> Vec<String> {
    raw.strip_suffix(&[0])
        .unwrap_or(raw)
        .split(|b| *b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_splits_on_nul() {
        assert_eq!(
            split_cmdline(b"qemu\0-append\0\0-M\0"),
            vec!["qemu", "-append", "", "-M"]
        );
    }
}
