//! `doctor`: outside-in diagnostics of a unikernel container or a pod
//! netns, read-only. Without `--root` it finds the container in the roots
//! containerd's shims use ([`doctor_root`]). Exit code 0 when no check failed, 1 when one did, 2
//! when doctor itself could not run (one line on stderr).

use std::path::{Path, PathBuf};

use super::{doctor_root, print_out, Global, Outcome, DEFAULT_ROOT};
use crate::doctor::{self, render, Target};

/// Exit code when doctor could not run.
const CANNOT_RUN: i32 = 2;

/// Flags of `doctor`.
#[derive(clap::Args, Debug)]
pub(crate) struct DoctorArgs {
    /// Print the report as JSON (schema in docs/doctor.schema.json).
    #[arg(long)]
    json: bool,
    /// Diagnose this pod network namespace (no container needed).
    #[arg(long, value_name = "PATH", conflicts_with = "id")]
    netns: Option<PathBuf>,
    /// Container id.
    #[arg(required_unless_present = "netns")]
    id: Option<String>,
}

/// Diagnoses a container or pod netns and prints the report.
pub(crate) fn doctor(g: &Global, args: &DoctorArgs) -> Result<Outcome, String> {
    let (target, store) = match &args.netns {
        Some(path) => (Target::Netns(path.clone()), g.store.clone()),
        None => {
            let id = args.id.clone().unwrap_or_default();
            match doctor_root::locate(g.explicit_root.as_deref(), Path::new(DEFAULT_ROOT), &id) {
                Ok(store) => (Target::Container(id), store),
                Err(e) => {
                    eprintln!("ukrun doctor: {e}");
                    return Ok(Outcome::Exit(CANNOT_RUN));
                }
            }
        }
    };
    match doctor::diagnose(&store, g.config.network.pod_loopback, &target) {
        Ok(report) => {
            if args.json {
                print_out(&format!("{:#}\n", render::json(&report)))?;
            } else {
                print_out(&render::table(&report))?;
            }
            Ok(Outcome::Exit(report.exit_code()))
        }
        Err(e) => {
            eprintln!("ukrun doctor: {e}");
            Ok(Outcome::Exit(CANNOT_RUN))
        }
    }
}
