#!/usr/bin/env bash
# Runs every check ukrun has, as CI does: installs what it needs, then
# formatting, lints, unit tests and the root/qemu/containerd end-to-end
# tests (none are skipped; they need root). Run from anywhere, as root.
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
cargo test --workspace --no-fail-fast -- --test-threads=2
