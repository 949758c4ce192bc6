//! `doctor`: outside-in diagnostics of a unikernel container or a pod
//! netns, read-only. Exit code 0 when no check failed, 1 when one did, 2
//! when doctor itself could not run (one line on stderr).

use std::path::PathBuf;

use super::{Global, Outcome};
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
    let target = match &args.netns {
        Some(path) => Target::Netns(path.clone()),
        None => Target::Container(args.id.clone().unwrap_or_default()),
    };
    match doctor::diagnose(&g.store, g.config.network.pod_loopback, &target) {
        Ok(report) => {
            if args.json {
                println!("{:#}", render::json(&report));
            } else {
                print!("{}", render::table(&report));
            }
            Ok(Outcome::Exit(report.exit_code()))
        }
        Err(e) => {
            eprintln!("ukrun doctor: {e}");
            Ok(Outcome::Exit(CANNOT_RUN))
        }
    }
}
