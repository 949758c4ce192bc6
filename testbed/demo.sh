#!/usr/bin/env bash
# The demo on a fresh Debian 12 machine: installs what it needs, builds
# ukrun, starts a hermetic containerd node in its own network namespace
# with ukrun as its default runtime handler and a real kubelet (standalone,
# ../shared/kubelet-1.36.2), copies the example pods of deploy/examples (a
# Linux microVM guest and a Unikraft unikernel, each with a busybox
# sidecar) into the kubelet's manifest folder, prints one PASS/FAIL line
# per check, and removes everything; it exits non-zero when a check
# failed. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: run as root (it starts containerd and creates network namespaces)" >&2
	exit 1
fi
testbed/install-deps.sh
cargo build --release --bin ukrun -p ukrun --bin ukrun-testbed -p ukrun-testbed
exec target/release/ukrun-testbed demo --ukrun "$PWD/target/release/ukrun"
