#!/usr/bin/env bash
# The demo on a fresh Debian 12 machine: installs what it needs, builds
# ukrun, starts a hermetic containerd node in its own network namespace,
# runs a pod with the Linux microVM guest (ukrun) and a busybox sidecar
# (runc), prints what worked, and removes everything. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: run as root (it starts containerd and creates network namespaces)" >&2
	exit 1
fi
testbed/install-deps.sh
cargo build --release --bin ukrun -p ukrun --bin ukrun-testbed -p ukrun-testbed
exec target/release/ukrun-testbed demo --ukrun "$PWD/target/release/ukrun"
