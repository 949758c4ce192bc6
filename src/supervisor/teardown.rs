//! Undoes what a container set up, from its recorded state: network steps
//! (in the pod netns, in reverse) and cgroup directories. Used by the
//! supervisor on exit, by a failed `create`, and by `delete` after a crash;
//! every part is idempotent.

use std::path::Path;

use crate::jail::ids;
use crate::net::apply;
use crate::net::netns;
use crate::net::steps::NetStep;
use crate::state::{ContainerState, Store};
use crate::supervisor::cgroup;

/// Undoes `steps` in reverse with an existing netlink handle (current netns).
pub async fn undo_network(handle: &rtnetlink::Handle, steps: &[NetStep]) -> Vec<String> {
    let mut problems = Vec::new();
    for step in steps.iter().rev() {
        if let Err(e) = apply::undo(handle, step).await {
            problems.push(e.to_string());
        }
    }
    problems
}

/// Undoes the network steps in the container's netns from outside it (a
/// thread joins the netns, so the calling process stays where it is). A
/// netns that no longer exists took everything with it.
fn undo_network_from_outside(state: &ContainerState) -> Vec<String> {
    let (Some(path), false) = (state.netns.clone(), state.network.is_empty()) else {
        return Vec::new();
    };
    if !path.exists() {
        return Vec::new();
    }
    let steps = state.network.clone();
    let worker = std::thread::spawn(move || -> Vec<String> {
        if let Err(e) = netns::join(&path, nix::sched::CloneFlags::CLONE_NEWNET) {
            return vec![e.to_string()];
        }
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return vec![e.to_string()],
        };
        rt.block_on(async {
            match rtnetlink::new_connection() {
                Ok((conn, handle, _)) => {
                    tokio::spawn(conn);
                    undo_network(&handle, &steps).await
                }
                Err(e) => vec![format!("netlink: {e}")],
            }
        })
    });
    worker
        .join()
        .unwrap_or_else(|_| vec!["network teardown panicked".into()])
}

/// Undoes everything recorded for a container whose processes are gone,
/// and forgets it as its pod netns's owner.
pub fn teardown(store: &Store, state: &ContainerState) -> Vec<String> {
    let mut problems = undo_network_from_outside(state);
    problems.extend(cgroup::remove(&state.cgroups));
    release_netns(store, state);
    release_vmm_id(store, state);
    problems
}

/// Gives the VMM's user id back (if the container still holds it).
pub fn release_vmm_id(store: &Store, state: &ContainerState) {
    if let (Some(id), Ok(dir)) = (state.vmm_id, store.dir(&state.id)) {
        ids::Leases::new(Path::new(ids::LEASE_DIR), Default::default()).release(id, &dir);
    }
}

/// Forgets `state`'s container as its pod netns's owner (if it still is).
pub fn release_netns(store: &Store, state: &ContainerState) {
    if let Some(inode) = state.netns_inode {
        store.netns_owners().release(inode, &state.id);
    }
}
