#!/usr/bin/env bash
# Installs the Debian 12 packages the test bed and the ukrun runtime need
# (qemu, busybox, containerd + runc + CNI plugins, protoc for the CRI client
# crate, network tools). Idempotent: `apt-get update` runs only when a
# package is missing. Run as root.
set -euo pipefail

packages=(
	qemu-system-x86 busybox-static containerd runc crun
	containernetworking-plugins protobuf-compiler iproute2 nftables iptables
	socat iperf3 cpio xz-utils gzip kmod python3 util-linux dnsmasq-base
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
apt-get install -y --no-install-recommends "${missing[@]}"
