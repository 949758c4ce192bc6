//! What a stop signal (StopContainer's SIGTERM) does to a running guest,
//! and the container's exit code once the VMM has ended (pure). A guest
//! that powers off on request, on a monitor ukrun can ask, is asked and
//! given the time containerd gives (its SIGKILL, after kubelet's grace
//! period, ends the wait; `[supervisor] stop_grace_seconds` may bound it);
//! any other guest is ended at once and the container exits as a process
//! killed by the signal. Where the guest's end reaches qemu's exit code
//! (the capability table's [`GuestEnd`]), "the application returned" is 0
//! and "the guest crashed" is [`CRASHED`].

use std::time::Duration;

use crate::guest::caps::{Capabilities, GuestEnd};
use crate::vmm::Monitor;

/// The container's exit code when the guest crashed: that of a process
/// that aborted (128 + SIGABRT), as a failed assertion ends a program.
pub const CRASHED: i32 = 128 + libc::SIGABRT;

/// What the supervisor does with a running guest on a stop signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Ask the guest to power off (QMP `system_powerdown`) and wait for it,
    /// up to this bound when one is configured.
    AskAndWait(Option<Duration>),
    /// End the VMM now.
    EndNow,
}

/// The plan for a guest with `caps` on `monitor`; `bound` is
/// `stop_grace_seconds`, unset by default. Only qemu has a control socket
/// ukrun asks through, and a guest that may ignore the request is not
/// given a grace period for nothing.
pub fn plan(caps: &Capabilities, monitor: Monitor, bound: Option<u64>) -> Stop {
    if caps.power_off.on_request() && monitor == Monitor::Qemu {
        Stop::AskAndWait(bound.map(Duration::from_secs))
    } else {
        Stop::EndNow
    }
}

/// The container's exit code: `signal`'s 128 + n when the supervisor ended
/// the VMM on that stop signal, else `vmm` (the VMM's shell-style exit
/// code) with qemu's debug-exit codes of a guest whose end reaches them
/// read as returned (0) or crashed ([`CRASHED`]).
pub fn exit_code(caps: &Capabilities, monitor: Monitor, vmm: i32, ended_on: Option<i32>) -> i32 {
    if let Some(signal) = ended_on {
        return 128 + signal;
    }
    match (monitor, caps.end) {
        (Monitor::Qemu, GuestEnd::DebugExit { returned, crashed }) => {
            if Some(vmm) == returned {
                0
            } else if Some(vmm) == crashed {
                CRASHED
            } else {
                vmm
            }
        }
        _ => vmm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::caps::PowerOff;
    use crate::guest::GuestKind;
    use crate::names::Named;

    const TERM: i32 = libc::SIGTERM;

    #[test]
    fn only_a_linux_guest_on_qemu_is_asked_and_ukrun_sets_no_limit_of_its_own() {
        let linux = GuestKind::Linux.caps();
        assert_eq!(
            plan(&linux, Monitor::Qemu, None),
            Stop::AskAndWait(None),
            "the wait ends with containerd's SIGKILL, not a timer"
        );
        assert_eq!(
            plan(&linux, Monitor::Qemu, Some(30)),
            Stop::AskAndWait(Some(Duration::from_secs(30)))
        );
        for monitor in [Monitor::Firecracker, Monitor::CloudHypervisor] {
            assert_eq!(plan(&linux, monitor, None), Stop::EndNow, "{monitor:?}");
        }
        for (kind, _) in GuestKind::TABLE {
            if *kind != GuestKind::Linux {
                for monitor in kind.caps().monitors {
                    assert_eq!(
                        plan(&kind.caps(), *monitor, Some(10)),
                        Stop::EndNow,
                        "{kind:?} on {monitor:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unikraft_ignores_the_request_and_unknown_counts_as_cannot() {
        assert_eq!(GuestKind::Unikraft.caps().power_off, PowerOff::Ignores);
        assert_eq!(GuestKind::Osv.caps().power_off, PowerOff::Unknown);
        assert!(!PowerOff::Unknown.on_request());
        assert!(!PowerOff::Ignores.on_request());
        assert!(PowerOff::OnRequest.on_request());
    }

    #[test]
    fn unikraft_on_qemu_tells_returned_from_crashed() {
        let uk = GuestKind::Unikraft.caps();
        assert_eq!(exit_code(&uk, Monitor::Qemu, 83, None), 0);
        assert_eq!(exit_code(&uk, Monitor::Qemu, 85, None), CRASHED);
        assert_eq!(CRASHED, 134);
        assert_eq!(
            exit_code(&uk, Monitor::Qemu, 1, None),
            1,
            "qemu's own error"
        );
        assert_eq!(exit_code(&uk, Monitor::Qemu, 0, None), 0);
        assert_eq!(exit_code(&uk, Monitor::Qemu, 137, None), 137, "SIGKILLed");
        assert_eq!(
            exit_code(&uk, Monitor::Firecracker, 83, None),
            83,
            "no debug-exit device there"
        );
    }

    #[test]
    fn a_guest_ended_on_a_stop_signal_exits_as_killed_by_it() {
        let uk = GuestKind::Unikraft.caps();
        assert_eq!(exit_code(&uk, Monitor::Qemu, 0, Some(TERM)), 143);
        assert_eq!(exit_code(&uk, Monitor::Qemu, 83, Some(TERM)), 143);
        assert_eq!(exit_code(&uk, Monitor::Qemu, 0, Some(libc::SIGINT)), 130);
    }

    #[test]
    fn other_kinds_pass_the_monitors_code() {
        let linux = GuestKind::Linux.caps();
        assert_eq!(exit_code(&linux, Monitor::Qemu, 0, None), 0);
        assert_eq!(exit_code(&linux, Monitor::Qemu, 83, None), 83);
        assert_eq!(exit_code(&linux, Monitor::Qemu, 137, None), 137);
        let mewz = GuestKind::Mewz.caps();
        assert_eq!(exit_code(&mewz, Monitor::Qemu, 83, None), 83);
        assert_eq!(exit_code(&mewz, Monitor::Qemu, 85, None), 85);
        let mirage = GuestKind::Mirage.caps();
        assert_eq!(exit_code(&mirage, Monitor::Hvt, 2, None), 2);
    }
}
