#!/usr/bin/env bash
# Installs the Debian 12 packages the test bed and the ukrun runtime need
# (qemu, busybox, containerd + runc + CNI plugins, protoc for the CRI client
# crate, network tools, binutils for the stand-in crashing kernel, curl for
# the test kubelet's HTTPS API).
# Idempotent: `apt-get update` runs only when a package is missing. apt's
# plan is simulated first: when it would remove a package (say a newer
# qemu-utils installed from backports, which Debian 12's qemu-system-x86
# conflicts with), a warning names each one before the install goes
# ahead. Run as root.
set -euo pipefail

# The packages an `apt-get -s` plan (on stdin) would remove, one a line.
removals() {
	awk '$1 == "Remv" { print $2 }'
}

if [[ ${1:-} == --removals-from-plan ]]; then
	removals
	exit 0
fi

packages=(
	qemu-system-x86 busybox-static containerd runc crun
	containernetworking-plugins protobuf-compiler iproute2 nftables iptables
	socat iperf3 cpio xz-utils gzip kmod python3 util-linux dnsmasq-base curl
	binutils
)

missing=()
for pkg in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
plan=$(apt-get -s install --no-install-recommends "${missing[@]}")
mapfile -t removed < <(removals <<<"$plan")
if ((${#removed[@]} > 0)); then
	echo "install-deps: warning: installing ${missing[*]} removes ${removed[*]}:" >&2
	grep '^Remv ' <<<"$plan" | sed 's/^/  /' >&2
fi
apt-get install -y --no-install-recommends "${missing[@]}"
