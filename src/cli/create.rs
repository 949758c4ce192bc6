//! `create`: a unikernel bundle gets a supervisor (the container's init);
//! any other bundle is runc's.

use std::path::Path;

use super::{CreateArgs, Global, Outcome};
use crate::limits::excerpt;
use crate::names::Named;
use crate::spec::{Bundle, BundleError, Unikernel};
use crate::state::{ContainerState, Stage, Store};
use crate::supervisor::fork::SupervisorChild;
use crate::supervisor::launch::LaunchInputs;
use crate::supervisor::{self, launch, namespaces, shim_watch, teardown, Handoff};

/// Creates the container; returns the supervisor child for `run`.
pub(crate) fn create(
    g: &Global,
    args: &CreateArgs,
) -> Result<(Outcome, Option<SupervisorChild>), String> {
    let bundle = match Bundle::load(&args.bundle) {
        Ok(b) => b,
        Err(e @ BundleError::Spec { .. }) if !crate::spec::raw_is_unikernel(&args.bundle) => {
            g.logger.debug(&format!("{e}; handing the bundle to runc"));
            return Ok((Outcome::Delegate, None));
        }
        Err(e) => return Err(e.to_string()),
    };
    let Some(unikernel) = bundle.unikernel().map_err(|e| e.to_string())? else {
        return Ok((Outcome::Delegate, None));
    };
    bundle.check_guest_limits().map_err(|e| e.to_string())?;
    text_paths(&bundle)?;
    let inputs = launch::check(&bundle, &unikernel, &g.config).map_err(|e| e.to_string())?;
    namespaces::network_path(&bundle.spec).map_err(|e| e.to_string())?;
    let claim = Claim::new(&g.store, &args.id)?;
    let child = start_supervisor(g, args, bundle, unikernel, inputs)?;
    claim.keep();
    Ok((Outcome::Exit(0), Some(child)))
}

/// Records the container, starts its supervisor and waits until it is
/// ready; on failure, undoes what the supervisor set up (the caller's
/// [`Claim`] removes the state).
fn start_supervisor(
    g: &Global,
    args: &CreateArgs,
    bundle: Bundle,
    unikernel: Unikernel,
    inputs: LaunchInputs,
) -> Result<SupervisorChild, String> {
    let (recorded_kind, recorded_monitor) = (unikernel.kind, unikernel.monitor);
    let state = ContainerState {
        id: args.id.clone(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        annotations: bundle.annotations(),
        stage: Stage::Creating,
        supervisor: None,
        shim: shim_watch::shim_of_caller(),
        vmm: None,
        vmm_argv: Vec::new(),
        netns: None,
        netns_inode: None,
        netns_cookie: None,
        network: Vec::new(),
        cgroups: Vec::new(),
        vmm_cgroup: None,
        vmm_id: None,
        dns: None,
        unikernel,
    };
    g.store.save(&state).map_err(|e| e.to_string())?;
    let handoff = Handoff {
        state: state.clone(),
        bundle,
        inputs,
    };
    let (child, sync) = supervisor::fork::spawn(&g.supervisor_context(), &g.global_args, handoff)
        .map_err(|e| format!("cannot start the supervisor: {e}"))?;
    if let Err(reason) = supervisor::wait_ready(sync) {
        abandon(g, &child, state);
        return Err(reason);
    }
    if let Some(pid_file) = &args.pid_file {
        if let Err(e) = write_pid_file(pid_file, child.id()) {
            child.kill();
            abandon(g, &child, state);
            return Err(format!("cannot write pid file {}: {e}", pid_file.display()));
        }
    }
    g.logger.debug(&format!(
        "created container {}: {} guest on {} (supervisor pid {})",
        args.id,
        recorded_kind.name(),
        recorded_monitor.name(),
        child.id()
    ));
    Ok(child)
}

/// Waits for a supervisor that failed or was killed, and undoes what it
/// recorded.
fn abandon(g: &Global, child: &SupervisorChild, state: ContainerState) {
    let _ = child.wait();
    let recorded = g.store.load(&state.id).unwrap_or(state);
    teardown::teardown(&g.store, &recorded, &g.logger);
}

/// A claimed container id, released (its state directory removed) unless
/// the create that claimed it succeeded, also when that create panicked.
struct Claim<'a> {
    store: &'a Store,
    id: &'a str,
    kept: bool,
}

impl<'a> Claim<'a> {
    fn new(store: &'a Store, id: &'a str) -> Result<Self, String> {
        store.claim(id).map_err(|e| e.to_string())?;
        Ok(Self {
            store,
            id,
            kept: false,
        })
    }

    /// The create succeeded: the container keeps its id.
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.kept {
            let _ = self.store.remove(self.id);
        }
    }
}

/// Refuses bundle paths that are not UTF-8: ukrun records them in the
/// container's state as JSON text. (The image's own file names come from
/// annotations, which are text; the files are opened inside the rootfs
/// and never named again.)
fn text_paths(bundle: &Bundle) -> Result<(), String> {
    let paths = [
        ("bundle directory", Some(bundle.dir.as_path())),
        ("root filesystem", Some(bundle.rootfs.as_path())),
    ];
    match paths
        .into_iter()
        .find_map(|(what, path)| path.filter(|p| p.to_str().is_none()).map(|p| (what, p)))
    {
        Some((what, path)) => Err(format!(
            "{what} path {} is not UTF-8 (ukrun records paths as text): rename it",
            excerpt(&path.to_string_lossy())
        )),
        None => Ok(()),
    }
}

/// Writes the pid atomically, as runc does (the shim may read it at once).
fn write_pid_file(path: &Path, pid: u32) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string())?;
    std::fs::rename(&tmp, path)
}
