//! Runtime checks: the state, the supervisor, the VMM and its argv, and
//! the guest kind's capabilities.

use crate::doctor::check::{Check, Verdict};
use crate::doctor::read::host::ContainerFacts;
use crate::guest::caps::{Capabilities, DnsArgs, GuestEnd};
use crate::names::Named;
use crate::state::Stage;
use crate::supervisor::stop::{self, Stop, CRASHED};
use crate::vmm::Monitor;

/// The runtime checks of a container.
pub fn checks(c: &ContainerFacts) -> Vec<Check> {
    vec![state(c), supervisor(c), vmm(c), vmm_argv(c), guest(c)]
}

fn state(c: &ContainerFacts) -> Check {
    let s = &c.state;
    let found = format!(
        "{}, stage {:?}, created {}",
        c.state_dir.display(),
        s.stage,
        s.created
    );
    let verdict = match s.stage {
        Stage::Creating => Verdict::Warn,
        Stage::Created | Stage::Running => Verdict::Pass,
    };
    Check::new(
        "runtime.state",
        verdict,
        "a state file, stage created or running",
        found,
        "the container is still being created: run doctor again once create returned",
    )
}

fn supervisor(c: &ContainerFacts) -> Check {
    let pid = c.state.supervisor.map_or(0, |p| p.pid);
    Check::judge(
        "runtime.supervisor",
        c.supervisor_alive,
        "the supervisor (the container's init) alive",
        if c.supervisor_alive {
            format!("alive, pid {pid}")
        } else {
            format!("gone (pid {pid})")
        },
        "the supervisor exited, so the container is stopped: `ukrun delete` it (kubelet recreates it)",
    )
}

fn vmm(c: &ContainerFacts) -> Check {
    let monitor = c.state.unikernel.monitor.name();
    let expected = format!("the VMM ({monitor}) running");
    match (c.state.stage, c.state.vmm, c.vmm_alive) {
        (_, Some(p), true) => Check::pass("runtime.vmm", expected, format!("alive, pid {}", p.pid)),
        (Stage::Running, p, false) => Check::new(
            "runtime.vmm",
            Verdict::Fail,
            expected,
            format!("exited (pid {})", p.map_or(0, |p| p.pid)),
            "the VMM died: the guest's console (the container's log, `kubectl logs --previous`) says why; the supervisor then undoes the pod network and exits: delete and recreate the container",
        ),
        _ => Check::new(
            "runtime.vmm",
            Verdict::Warn,
            expected,
            "not started yet",
            format!("`ukrun start {}` boots the guest (containerd does it after create)", c.state.id),
        ),
    }
}

fn vmm_argv(c: &ContainerFacts) -> Check {
    let recorded = &c.state.vmm_argv;
    let expected = format!("the argv ukrun launched ({} arguments)", recorded.len());
    let Some(running) = &c.vmm_cmdline else {
        return Check::new(
            "runtime.vmm_argv",
            Verdict::Warn,
            expected,
            "no live VMM",
            "not checked: see runtime.vmm",
        );
    };
    let found = match recorded.iter().zip(running).position(|(a, b)| a != b) {
        None if recorded.len() == running.len() => "the same".to_owned(),
        None => format!("{} arguments", running.len()),
        Some(i) => format!("argument {i} is {:?}, not {:?}", running[i], recorded[i]),
    };
    Check::judge(
        "runtime.vmm_argv",
        running == recorded,
        expected,
        found,
        "the VMM's pid now runs another command (pid reused?): the recorded VMM is gone; delete and recreate the container",
    )
}

fn guest(c: &ContainerFacts) -> Check {
    let (kind, monitor) = (c.state.unikernel.kind, c.state.unikernel.monitor);
    let caps = kind.caps();
    Check::judge(
        "guest.kind",
        caps.monitors.contains(&monitor),
        format!("{} on {}", kind.name(), monitor.name()),
        capabilities(&caps, monitor),
        format!(
            "{} does not run on {}: the bundle's annotations are wrong",
            kind.name(),
            monitor.name()
        ),
    )
}

/// The capability table's DNS, search and loopback columns, and what a
/// stop and the guest's end mean for this kind on `monitor`: what the
/// operator cannot expect of the guest.
fn capabilities(caps: &Capabilities, monitor: Monitor) -> String {
    let dns = match caps.dns {
        DnsArgs::Up(n) => format!("up to {n} by boot arguments"),
        DnsArgs::None => "none by boot arguments".to_owned(),
    };
    let stop = match stop::plan(caps, monitor, None) {
        Stop::AskAndWait(_) => "asked to power off, given the pod's grace period",
        Stop::EndNow => "ended at once (it cannot power off on request)",
    };
    let end = match (monitor, caps.end) {
        (
            Monitor::Qemu,
            GuestEnd::DebugExit {
                returned: Some(_),
                crashed: Some(_),
            },
        ) => format!("0 when the application returned, {CRASHED} when the guest crashed"),
        (_, GuestEnd::PowerOff) => {
            "0 whether the application returned or the guest crashed".to_owned()
        }
        _ => "the monitor's own exit code".to_owned(),
    };
    format!(
        "resolvers {dns}; search list {}; loopback {:?}; stop: {stop}; exit code: {end}",
        if caps.search_domains {
            "applied"
        } else {
            "not applied"
        },
        caps.loopback
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::GuestKind;

    #[test]
    fn says_what_a_unikraft_guest_on_qemu_cannot_do() {
        let text = capabilities(&GuestKind::Unikraft.caps(), Monitor::Qemu);
        assert_eq!(
            text,
            "resolvers up to 2 by boot arguments; search list not applied; loopback CompiledIn; \
             stop: ended at once (it cannot power off on request); \
             exit code: 0 when the application returned, 134 when the guest crashed"
        );
    }

    #[test]
    fn says_a_linux_guest_is_given_the_grace_period() {
        let text = capabilities(&GuestKind::Linux.caps(), Monitor::Qemu);
        assert!(
            text.ends_with(
                "stop: asked to power off, given the pod's grace period; \
                 exit code: 0 whether the application returned or the guest crashed"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_debug_exit_off_qemu_keeps_the_monitors_code() {
        let text = capabilities(&GuestKind::Unikraft.caps(), Monitor::Firecracker);
        assert!(
            text.ends_with("exit code: the monitor's own exit code"),
            "{text}"
        );
    }
}
