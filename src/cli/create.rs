//! `create`: a unikernel bundle gets a supervisor (the container's init);
//! any other bundle is runc's.

use std::path::Path;
use std::process::Child;

use super::{CreateArgs, Global, Outcome};
use crate::names::Named;
use crate::spec::{Bundle, BundleError};
use crate::state::{ContainerState, Stage};
use crate::supervisor::{self, launch, namespaces, teardown};

/// Creates the container; returns the supervisor child for `run`.
pub(crate) fn create(g: &Global, args: &CreateArgs) -> Result<(Outcome, Option<Child>), String> {
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
    launch::check(&bundle, &unikernel, &g.config).map_err(|e| e.to_string())?;
    namespaces::network_path(&bundle.spec).map_err(|e| e.to_string())?;
    g.store.claim(&args.id).map_err(|e| e.to_string())?;
    let (recorded_kind, recorded_monitor) = (unikernel.kind, unikernel.monitor);
    let state = ContainerState {
        id: args.id.clone(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        annotations: bundle.annotations(),
        stage: Stage::Creating,
        supervisor: None,
        vmm: None,
        vmm_argv: Vec::new(),
        netns: None,
        netns_inode: None,
        netns_cookie: None,
        network: Vec::new(),
        cgroups: Vec::new(),
        vmm_id: None,
        dns: None,
        unikernel,
    };
    if let Err(e) = g.store.save(&state) {
        let _ = g.store.remove(&args.id);
        return Err(e.to_string());
    }
    let (mut child, sync) = match supervisor::spawn(&g.global_args, &args.id) {
        Ok(spawned) => spawned,
        Err(e) => {
            let _ = g.store.remove(&args.id);
            return Err(format!("cannot start the supervisor: {e}"));
        }
    };
    if let Err(reason) = supervisor::wait_ready(sync) {
        let _ = child.wait();
        let recorded = g.store.load(&args.id).unwrap_or(state);
        teardown::teardown(&g.store, &recorded, &g.logger);
        let _ = g.store.remove(&args.id);
        return Err(reason);
    }
    if let Some(pid_file) = &args.pid_file {
        write_pid_file(pid_file, child.id())
            .map_err(|e| format!("cannot write pid file {}: {e}", pid_file.display()))?;
    }
    g.logger.debug(&format!(
        "created container {}: {} guest on {} (supervisor pid {})",
        args.id,
        recorded_kind.name(),
        recorded_monitor.name(),
        child.id()
    ));
    Ok((Outcome::Exit(0), Some(child)))
}

/// Writes the pid atomically, as runc does (the shim may read it at once).
fn write_pid_file(path: &Path, pid: u32) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string())?;
    std::fs::rename(&tmp, path)
}
