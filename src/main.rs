//! ukrun: an OCI runtime that runs unikernels and Linux microVM guests as
//! Kubernetes pod containers, and hands every other container to runc.

mod cli;
mod config;
mod delegate;
mod guest;
mod log;
mod names;
mod net;
mod spec;
mod state;
mod supervisor;
mod vmm;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
