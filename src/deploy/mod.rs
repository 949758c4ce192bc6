//! `ukrun-deploy`: putting ukrun on a node and taking it off again (the
//! installer DaemonSet in `deploy/` runs it; an operator can run it by
//! hand). The configuration edit is pure ([`containerd_config`]); the
//! file changes and their record are in [`install`].

pub mod containerd_config;
pub mod install;
