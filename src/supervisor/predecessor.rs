//! A new container's predecessor in the same pod netns. When a supervisor
//! is killed (kill -9, OOM), nothing undoes its network steps until its
//! container is deleted, and kubelet creates the pod's next container
//! before it deletes the dead one (it keeps it for its logs). The new
//! supervisor finds the dead one as the netns's recorded owner, undoes its
//! recorded steps exactly (sysctls back to what they were, the local rule
//! back to priority 0) and clears them, so that the later delete of the dead
//! container undoes nothing twice. A predecessor that still runs is refused:
//! one guest per pod netns. The take-over holds the namespace's lock, so
//! two creates in one pod netns never both find it free; a predecessor
//! recorded under a reused inode was wired in a namespace that is gone, and
//! left nothing here.

use super::{teardown, Context};
use crate::state::netns_id::NetnsId;
use crate::state::netns_lock::NetnsLock;
use crate::state::ContainerState;

/// Makes `state`'s container the owner of the current netns, undoing what a
/// dead predecessor left there first. Returns the namespace's lock, which
/// the caller holds until its wiring is done (or undone).
pub async fn take_over(
    ctx: &Context,
    state: &mut ContainerState,
    handle: &rtnetlink::Handle,
) -> Result<NetnsLock, String> {
    let here = NetnsId::current()
        .map_err(|e| format!("cannot identify the pod network namespace: {e}"))?;
    // Recorded first: a create killed from here on is torn down under
    // this namespace's lock, which removes what the lock and the owner
    // record left.
    state.set_wired_netns(here);
    ctx.store.save(state).map_err(|e| e.to_string())?;
    let owners = ctx.store.netns_owners();
    let lock = owners
        .lock(here.inode)
        .map_err(|e| format!("cannot lock the pod network namespace: {e}"))?;
    if let Some(previous) = owners.owner(here.inode).filter(|p| *p != state.id) {
        undo_predecessor(ctx, handle, &previous, &lock).await?;
    }
    owners
        .set(here.inode, &state.id, &lock)
        .map_err(|e| format!("cannot record the pod network namespace's owner: {e}"))?;
    Ok(lock)
}

async fn undo_predecessor(
    ctx: &Context,
    handle: &rtnetlink::Handle,
    id: &str,
    lock: &NetnsLock,
) -> Result<(), String> {
    // Deleted meanwhile (its delete undid everything): nothing left.
    let Ok(mut previous) = ctx.store.load(id) else {
        return Ok(());
    };
    if previous.supervisor.is_some_and(|s| s.is_alive()) {
        return Err(format!(
            "container {id} already runs a guest in this pod's network namespace: ukrun wires one guest per pod"
        ));
    }
    if previous.network.is_empty() {
        return Ok(());
    }
    if teardown::undo_here(handle, &mut previous, lock, &ctx.logger).await {
        ctx.logger.info(&format!(
            "undid the pod network that container {id} left when its supervisor died"
        ));
    }
    ctx.store.save(&previous).map_err(|e| e.to_string())
}
