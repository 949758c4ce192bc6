//! ukrun's own seccomp filter for every VMM, on top of the monitor's own
//! (qemu's `-sandbox`, Firecracker's and Cloud Hypervisor's built-in
//! filters): a deny-list of what no monitor needs once it runs and what an
//! escaped monitor would reach for. Namespaces and mounts (a new user
//! namespace is how an unprivileged process gets capabilities back), kernel
//! modules, kexec, BPF, perf, keyrings, tracing other processes, the clock,
//! swap, reboot. Denied calls fail with EPERM, so the monitor sees an
//! ordinary error rather than dying on a call it tries and can do without;
//! `clone3` fails with ENOSYS, which makes glibc fall back to `clone`,
//! whose namespace flags the filter can inspect.
//! Built with rust-vmm's seccompiler (the crate Firecracker's own filters
//! come from) before the VMM is forked, installed right before its exec.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// System calls denied outright.
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_lookup_dcookie,
    libc::SYS_vhangup,
    libc::SYS_uselib,
    libc::SYS_personality,
];

/// `clone` flags that create namespaces.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// Why the filter could not be built (a ukrun bug, or an architecture
/// seccompiler does not know).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the VMM's seccomp filter: {0}")]
pub struct FilterError(String);

/// The filters to install, in order (the deny-list, then `clone3`).
pub fn filters() -> Result<Vec<BpfProgram>, FilterError> {
    let arch =
        TargetArch::try_from(std::env::consts::ARCH).map_err(|e| FilterError(format!("{e:?}")))?;
    let fail = |e: seccompiler::BackendError| FilterError(e.to_string());
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&call| (call, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let cond = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?;
            SeccompRule::new(vec![cond])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    rules.insert(libc::SYS_clone, clone_rules);
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(fail)?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(fail)?;
    [deny, clone3]
        .into_iter()
        .map(|f| BpfProgram::try_from(f).map_err(|e| FilterError(e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `probe` in a forked child under the filters; its exit code.
    fn in_filtered_child(probe: fn() -> i32) -> i32 {
        let programs = filters().unwrap();
        // SAFETY: the child only makes system calls and exits.
        match unsafe { libc::fork() } {
            0 => {
                for p in &programs {
                    if seccompiler::apply_filter(p).is_err() {
                        unsafe { libc::_exit(100) };
                    }
                }
                unsafe { libc::_exit(probe()) }
            }
            pid => {
                let mut status = 0;
                unsafe { libc::waitpid(pid, &mut status, 0) };
                libc::WEXITSTATUS(status)
            }
        }
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    #[test]
    fn namespaces_mounts_and_tracing_are_denied_with_eperm() {
        fn probe() -> i32 {
            // SAFETY: plain system calls; each is expected to fail.
            let calls = unsafe {
                [
                    libc::unshare(libc::CLONE_NEWUSER),
                    libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        c"tmpfs".as_ptr(),
                        0,
                        std::ptr::null(),
                    ),
                    libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) as i32,
                ]
            };
            i32::from(calls.iter().any(|&rc| rc != -1) || errno() != libc::EPERM)
        }
        assert_eq!(in_filtered_child(probe), 0);
    }

    #[test]
    fn clone3_says_enosys_and_threads_still_start() {
        fn probe() -> i32 {
            // SAFETY: clone3 with a null argument; the filter answers first.
            let rc = unsafe { libc::syscall(libc::SYS_clone3, 0, 0) };
            if rc != -1 || errno() != libc::ENOSYS {
                return 1;
            }
            match std::thread::spawn(|| 7).join() {
                Ok(7) => 0,
                _ => 2,
            }
        }
        assert_eq!(in_filtered_child(probe), 0);
    }

    #[test]
    fn clone_with_a_namespace_flag_is_denied_and_plain_fork_is_not() {
        fn probe() -> i32 {
            // SAFETY: raw clone with CLONE_NEWUSER (denied); then a fork whose child exits at once.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    libc::CLONE_NEWUSER | libc::SIGCHLD,
                    0,
                    0,
                    0,
                    0,
                )
            };
            if rc != -1 || errno() != libc::EPERM {
                return 1;
            }
            match unsafe { libc::fork() } {
                0 => unsafe { libc::_exit(0) },
                -1 => 2,
                pid => {
                    let mut status = 0;
                    unsafe { libc::waitpid(pid, &mut status, 0) };
                    0
                }
            }
        }
        assert_eq!(in_filtered_child(probe), 0);
    }
}
