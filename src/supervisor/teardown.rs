//! Undoes what a container set up, from its recorded state: network steps
//! (in the pod netns, in reverse) and cgroup directories. The network is
//! undone by the supervisor on exit and when its setup fails, by a
//! successor's take-over, by a failed `create` and by `delete` after a
//! crash; the cgroup directories only by `delete` and a failed `create`
//! (runc keeps a stopped container's cgroups until `delete`); every part is
//! idempotent. Every undo in a pod netns holds the namespace's lock
//! ([`NetnsLock`]) and first checks that the namespace it reached is the
//! one it recorded: a namespace made later at the same path is another
//! pod's, and the recorded one is gone with everything ukrun set up there.

use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

use crate::jail::ids;
use crate::log::Logger;
use crate::net::apply;
use crate::net::steps::NetStep;
use crate::net::{netns, netns_find};
use crate::state::netns_id::{netns_inode, NetnsId};
use crate::state::netns_lock::NetnsLock;
use crate::state::{ContainerState, Store};
use crate::supervisor::cgroup;

/// Why `state`'s steps must not be undone in the namespace `here` (`None`
/// when they may).
fn elsewhere(state: &ContainerState, here: &NetnsId) -> Option<String> {
    let id = &state.id;
    match state.wired_netns() {
        Some(recorded) if recorded.is(here) => None,
        Some(recorded) => Some(format!(
            "the network namespace at {} (inode {}) is not the one container {id} was wired in (inode {}), which is gone with what ukrun set up there: nothing undone in it",
            shown_path(state),
            here.inode,
            recorded.inode
        )),
        None => Some(format!(
            "container {id} recorded no identity of its network namespace to check {} against: nothing undone in it",
            shown_path(state)
        )),
    }
}

/// The recorded path of `state`'s pod netns, for messages.
fn shown_path(state: &ContainerState) -> String {
    state
        .netns
        .as_ref()
        .map_or_else(|| "?".to_owned(), |p| p.display().to_string())
}

/// Undoes `steps` in reverse with a netlink handle of the current netns.
async fn undo_steps(handle: &rtnetlink::Handle, steps: &[NetStep], logger: &Logger) {
    for step in steps.iter().rev() {
        if let Err(e) = apply::undo(handle, step).await {
            logger.error(&e.to_string());
        }
    }
}

/// Undoes `state`'s network steps in the current netns (whose lock the
/// caller holds) if they were applied here, and forgets them: either way
/// nothing of them is left to undo. Returns whether it undid them here. The
/// caller saves the state.
pub async fn undo_here(
    handle: &rtnetlink::Handle,
    state: &mut ContainerState,
    _held: &NetnsLock,
    logger: &Logger,
) -> bool {
    if state.network.is_empty() {
        return false;
    }
    let here = match NetnsId::current() {
        Ok(here) => here,
        Err(e) => {
            logger.error(&format!(
                "cannot identify the pod network namespace, nothing undone: {e}"
            ));
            return false;
        }
    };
    let reason = elsewhere(state, &here);
    match &reason {
        Some(reason) => logger.info(reason),
        None => undo_steps(handle, &state.network, logger).await,
    }
    state.network.clear();
    reason.is_none()
}

/// Takes the lock of the pod netns that `state` recorded (`None`, logged,
/// when it recorded none or the lock cannot be had).
fn lock_recorded(store: &Store, state: &ContainerState, logger: &Logger) -> Option<NetnsLock> {
    let inode = state.netns_inode?;
    store
        .netns_owners()
        .lock(inode)
        .map_err(|e| {
            logger.error(&format!(
                "cannot lock the pod network namespace of container {}, nothing undone: {e}",
                state.id
            ));
        })
        .ok()
}

/// The supervisor's undo in its own pod netns (on exit, or when setup
/// fails after wiring): undoes and forgets the network steps, and forgets
/// the container as the namespace's owner.
pub async fn undo_own_network(
    store: &Store,
    handle: &rtnetlink::Handle,
    state: &mut ContainerState,
    logger: &Logger,
) {
    let Some(lock) = lock_recorded(store, state, logger) else {
        return;
    };
    undo_here(handle, state, &lock, logger).await;
    if let Err(e) = store.save(state) {
        logger.error(&e.to_string());
    }
    release_netns(store, state, &lock);
}

/// Undoes the network steps in the container's netns from outside it (a
/// thread joins the netns, so the calling process stays where it is). A
/// netns that no longer exists took everything with it.
fn undo_from_outside(state: &mut ContainerState, lock: &NetnsLock, logger: &Logger) {
    let Some(recorded) = state.netns.clone() else {
        return;
    };
    if state.network.is_empty() {
        return;
    }
    let Some(path) = reachable_netns(state, &recorded, logger) else {
        state.network.clear();
        return;
    };
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            if let Err(e) = netns::join(&path, CloneFlags::CLONE_NEWNET) {
                return logger.error(&e.to_string());
            }
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return logger.error(&e.to_string()),
            };
            rt.block_on(async {
                match rtnetlink::new_connection() {
                    Ok((conn, handle, _)) => {
                        tokio::spawn(conn);
                        undo_here(&handle, state, lock, logger).await;
                    }
                    Err(e) => logger.error(&format!("netlink: {e}")),
                }
            });
        });
        if worker.join().is_err() {
            logger.error("network teardown panicked");
        }
    });
}

/// Where the container's pod netns can be reached: the recorded path while
/// it names the recorded namespace, else wherever that namespace is still
/// reachable by its inode (containerd 1.6's `/proc/<pause pid>/ns/net`
/// vanishes with the pause process; the sandbox's bind mount may still
/// hold the namespace). `None`, logged, when no path reaches it and the
/// recorded path is gone too: the namespace is gone, with everything ukrun
/// set up there.
fn reachable_netns(state: &ContainerState, recorded: &Path, logger: &Logger) -> Option<PathBuf> {
    let Some(inode) = state.netns_inode else {
        return Some(recorded.to_path_buf());
    };
    if netns_inode(recorded).is_ok_and(|now| now == inode) {
        return Some(recorded.to_path_buf());
    }
    match netns_find::by_inode(inode) {
        Some(found) => {
            logger.info(&format!(
                "{} no longer names the pod network namespace (inode {inode}); undoing in it at {}",
                recorded.display(),
                found.display()
            ));
            Some(found)
        }
        // Another namespace at the path: joining it, the undo logs why it
        // leaves it alone.
        None if recorded.exists() => Some(recorded.to_path_buf()),
        None => {
            logger.info(&format!(
                "the pod network namespace at {} (inode {inode}) is gone, and with it everything ukrun set up there: nothing to undo",
                recorded.display()
            ));
            None
        }
    }
}

/// Undoes everything recorded for a container whose processes are gone
/// (`delete`, a failed `create`), and forgets it as its pod netns's owner.
/// The record is read again under the namespace's lock: a successor's
/// take-over may have undone the steps meanwhile.
pub fn teardown(store: &Store, state: &ContainerState, logger: &Logger) {
    if let Some(lock) = lock_recorded(store, state, logger) {
        let mut current = store.load(&state.id).unwrap_or_else(|_| state.clone());
        undo_from_outside(&mut current, &lock, logger);
        if let Err(e) = store.save(&current) {
            logger.error(&e.to_string());
        }
        release_netns(store, &current, &lock);
    }
    for problem in cgroup::remove(&state.cgroups) {
        logger.error(&problem);
    }
    release_vmm_id(store, state);
}

/// Removes a container whose shim died, from its own supervisor, after the
/// VMM has ended and the network was undone: containerd will not run
/// `delete` for it (see [`crate::supervisor::shim_watch`]), so the
/// supervisor leaves the container's cgroups and does what `delete` does.
pub fn remove_orphan(store: &Store, state: &ContainerState, logger: &Logger) {
    if let Err(e) = cgroup::leave(std::process::id()) {
        logger.error(&format!("cannot leave the container's cgroups: {e}"));
    }
    teardown(store, state, logger);
    match store.remove(&state.id) {
        Ok(()) => logger.info(&format!(
            "container {} removed by its supervisor: its shim is gone",
            state.id
        )),
        Err(e) => logger.error(&e.to_string()),
    }
}

/// Gives the VMM's user id back (if the container still holds it).
pub fn release_vmm_id(store: &Store, state: &ContainerState) {
    if let (Some(id), Ok(dir)) = (state.vmm_id, store.dir(&state.id)) {
        ids::release(Path::new(ids::LEASE_DIR), id, &dir);
    }
}

/// Forgets `state`'s container as its pod netns's owner (if it still is).
fn release_netns(store: &Store, state: &ContainerState, lock: &NetnsLock) {
    if let Some(inode) = state.netns_inode {
        store.netns_owners().release(inode, &state.id, lock);
    }
}
