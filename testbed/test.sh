#!/usr/bin/env bash
# Runs every check ukrun has, as CI does: installs what it needs, then
# formatting, lints, unit tests and the root/qemu/containerd end-to-end
# tests (none are skipped; they need root), the containerd node's on
# containerd 1.6 and again on 2.3.4. Run from anywhere, as root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "test.sh: run as root (the tests create network namespaces, taps and a containerd node)" >&2
	exit 1
fi
testbed/install-deps.sh
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Guest boots under qemu TCG are CPU-bound: two at a time on two cores.
# The node runs Debian's containerd 1.6 (UKRUN_CONTAINERD unset).
status=0
cargo test --workspace --no-fail-fast -- --test-threads=2 || status=1

# The test targets that start a containerd node (Node::run/Node::start),
# again on containerd 2.3.4 (../shared/containerd-2.3.4); the test
# node_tests_listed keeps this list complete.
node_tests=(cri_pod cri_network cri_unikraft cri_stop cri_burst cri_pod_network cri_handler_features runc_node kubelet_pod kubelet_pod_files kubelet_lifecycle deploy_node node_restarts)
UKRUN_CONTAINERD=2.3 cargo test --workspace --no-fail-fast "${node_tests[@]/#/--test=}" \
	-- --test-threads=2 || status=1
exit "$status"
