//! ukrun: an OCI runtime that runs unikernels and Linux microVM guests as
//! Kubernetes pod containers, and hands every other container to runc.
//!
//! The binary is `src/main.rs`; this library holds the runtime so that
//! benchmarks and tests can drive its pure planning and its network
//! plumbing directly.

pub mod bounded_command;
pub mod cli;
pub mod config;
pub mod delegate;
pub mod deploy;
pub mod dns;
pub mod doctor;
pub mod guest;
pub mod jail;
pub mod limits;
pub mod log;
pub mod names;
pub mod net;
pub mod spec;
pub mod state;
pub mod supervisor;
pub mod vmm;
