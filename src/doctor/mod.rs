//! `ukrun doctor`: outside-in diagnostics of a unikernel container (or of a
//! pod netns without a known container). Read-only: thin readers gather a
//! [`read::Snapshot`] of the pod netns and the host's view of the
//! container, and pure checks compare it, link by link, with what the
//! recorded state says must exist. See docs/doctor.md.

pub mod check;
pub mod checks;
pub mod expect;
pub mod read;
pub mod render;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use check::Report;
use expect::Expectation;
use read::host::{container_facts, ContainerFacts};
use read::ReadError;

use crate::spec::knobs;
use crate::state::{StateError, Status, Store};

/// What to diagnose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A container of this `--root`.
    Container(String),
    /// A pod network namespace, by path.
    Netns(PathBuf),
}

/// Why doctor could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// Unknown id or unreadable state.
    #[error(transparent)]
    State(#[from] StateError),
    /// The supervisor is gone: nothing runs to diagnose.
    #[error("container {0} is stopped (its supervisor exited, the pod network is undone): nothing to diagnose; `ukrun delete {0}` removes it")]
    Stopped(String),
    /// The state names no pod netns yet.
    #[error("container {0} has no pod network namespace recorded yet (it is still being created)")]
    NoNetns(String),
    /// The pod netns could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Diagnoses `target`; `default_loopback` is the configured pod-loopback
/// address, used where nothing recorded one.
pub fn diagnose(
    store: &Store,
    default_loopback: Ipv4Addr,
    target: &Target,
) -> Result<Report, DoctorError> {
    let (container, netns) = match target {
        Target::Container(id) => {
            let facts = load(store, id)?;
            let netns = facts
                .state
                .netns
                .clone()
                .ok_or_else(|| DoctorError::NoNetns(id.clone()))?;
            (Some(facts), netns)
        }
        Target::Netns(path) => (None, path.clone()),
    };
    let (expectation, snapshot) = match &container {
        Some(c) => {
            let ports = knobs::from_annotations(&c.state.annotations)
                .map(|k| k.localhost_ports)
                .unwrap_or_default();
            let recorded = Expectation::recorded(&c.state.network, ports);
            let queries = checks::dns::queries(c, recorded.mode);
            read::gather(&netns, move |_| recorded, queries)?
        }
        None => read::gather(
            &netns,
            move |view| Expectation::inferred(view, default_loopback),
            Vec::new(),
        )?,
    };
    let input = checks::Input {
        netns: &netns,
        expect: &expectation,
        snap: &snapshot,
        container: container.as_ref(),
        default_loopback,
    };
    Ok(Report {
        container: container.as_ref().map(|c| c.state.id.clone()),
        root: container
            .as_ref()
            .map(|_| store.root().display().to_string()),
        netns: netns.display().to_string(),
        mode: expectation.mode,
        checks: checks::all(&input),
    })
}

/// The state and host facts of a container that is not stopped.
fn load(store: &Store, id: &str) -> Result<ContainerFacts, DoctorError> {
    let state = store.load(id)?;
    if state.status() == Status::Stopped {
        return Err(DoctorError::Stopped(id.to_owned()));
    }
    Ok(container_facts(state, store.dir(id)?))
}
