//! Test bed for ukrun's end-to-end tests: a hermetic containerd "node" in
//! its own network namespace, a CRI client to drive it like kubelet does,
//! and the checks the tests and the `ukrun-testbed demo` share.
//!
//! Needs root and the Debian packages of `testbed/install-deps.sh`. Images
//! are built (and cached) in `testbed/out`; every node lives under
//! `/run/ukrun-testbed/<name>` and is removed when its [`node::Node`] drops.
//!
//! - `cargo test --test cri_pod` (repo root): ukrun's end-to-end tests.
//! - `cargo test -p ukrun-testbed`: the test bed itself, with plain runc.
//! - [`kubelet::Kubelet`]: a real kubelet with static pods on such a node.
//! - `UKRUN_CONTAINERD=2.3` before any of them: the node runs containerd
//!   2.3.4 instead of Debian's 1.6 ([`containerd_version`]).
//! - `cargo run -p ukrun-testbed -- demo --ukrun target/debug/ukrun`: the
//!   example pods of `deploy/examples` run by a kubelet (see [`demo`]),
//!   one PASS/FAIL line per check.

pub mod bench;
pub mod blob_server;
pub mod bundle;
pub mod burst;
pub mod churn;
pub mod cluster_pod;
pub mod cni;
pub mod conntrack;
pub mod containerd_version;
pub mod crash_kernel;
pub mod cri;
pub mod cri_log;
pub mod crun;
pub mod demo;
pub mod demo_checks;
pub mod diagnostics;
pub mod dns_server;
pub mod doctor;
pub mod examples;
pub mod fake_dns;
pub mod first_answer;
pub mod fixture;
pub mod guest;
pub mod guest_answers;
pub mod guest_http;
pub mod guest_pod;
pub mod host_state;
pub mod http;
pub mod images;
pub mod interrupt;
pub mod iperf;
pub mod kubelet;
pub mod kubelet_api;
pub mod kubelet_pod;
pub mod leak_check;
pub mod leftovers;
pub mod made_dirs;
pub mod netns;
pub mod netstate;
pub mod nettest;
pub mod network_shape;
pub mod node;
pub mod node_env;
pub mod node_errors;
pub mod oci_runtime;
pub mod pod;
pub mod pod_files;
pub mod pod_files_in_guest;
pub mod pod_network;
pub mod probes;
pub mod procs;
pub mod repo;
pub mod runner;
pub mod runtime;
pub mod script;
pub mod sidecar;
pub mod standin;
pub mod static_pod;
pub mod stats;
pub mod stub_guest;
pub mod submount;
pub mod topology;
pub mod unikraft;
pub mod veth_pods;
pub mod wait;
pub mod wiring;
pub mod work_dir;
