//! Test bed for ukrun's end-to-end tests: a hermetic containerd "node" in
//! its own network namespace, a CRI client to drive it like kubelet does,
//! and the checks the tests and the `ukrun-testbed demo` share.

pub mod bundle;
pub mod cri;
pub mod demo;
pub mod diagnostics;
pub mod guest;
pub mod guest_pod;
pub mod http;
pub mod images;
pub mod leftovers;
pub mod netns;
pub mod netstate;
pub mod node;
pub mod node_env;
pub mod pod;
pub mod procs;
pub mod repo;
pub mod runtime;
pub mod script;
pub mod topology;
pub mod wait;
