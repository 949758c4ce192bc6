#!/usr/bin/env bash
# A real kubelet (standalone: no API server, static pods from a manifest
# folder) on a test-bed node that `node.sh up` started. It runs inside the
# node's network namespace and in a mount namespace of its own, so it
# changes nothing on the host: the sysctls it rewrites at start are files
# bind-mounted over their /proc/sys entries, its fixed host paths
# (/var/lib/kubelet/device-plugins, /var/log/containers) land in an overlay
# over /var, and its cgroups live under a cgroup root of the node's own.
# Everything else lives under STATE_DIR/kubelet. `stop` ends the kubelet
# (its pods keep running: remove them through the CRI next), `down` stops
# it if needed and removes its mounts and cgroups (those of its pods too,
# once the pods are gone).
# Usage: kubelet.sh up STATE_DIR KUBELET_DIR
#        kubelet.sh stop STATE_DIR
#        kubelet.sh down STATE_DIR
#        kubelet.sh run STATE_DIR KUBELET_BIN   (what `up` runs inside the
#                                                 kubelet's namespaces)
# STATE_DIR is the node's state folder; KUBELET_DIR holds kubelet.gz and
# SHA256SUMS (../shared/kubelet-1.36.2), unpacked once into
# testbed/out/kubelet-1.36.2. `up` writes STATE_DIR/kubelet/kubelet.env
# (KUBELET_PID, NODE_NAME, MANIFESTS, CGROUP_ROOT, ...); the API answers on
# https://127.0.0.1:10350 inside the node netns (self-signed certificate),
# healthz on http://127.0.0.1:10348/healthz; the log is STATE_DIR/kubelet.log.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/node-network.sh
source "$(dirname "$(readlink -f "$0")")/lib/node-network.sh"

repo=$(dirname "$(readlink -f "$0")")/..
cache=$repo/testbed/out/kubelet-1.36.2
api_port=10350
healthz_port=10348
# The sysctls the kubelet sets at start when they differ from its wish.
sysctls=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
	kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

usage() {
	echo "usage: kubelet.sh up STATE_DIR KUBELET_DIR | kubelet.sh stop|down STATE_DIR" >&2
	exit 2
}

log() { echo "kubelet: $*" >&2; }

# Sets the kubelet's names from the node's STATE_DIR $1.
names() {
	state=$(realpath -m "$1")
	[[ -f $state/node.env ]] || { log "no node at $state (node.env is missing)"; exit 1; }
	dir=$state/kubelet
	base=$(basename "$state")
	node_name=ukrun-node-$base
	cgroup_root=/ukrun-kubelet-$base
}

# The value of KEY $1 in file $2 (empty when missing).
env_value() { sed -n "s/^$1=//p" "$2" 2>/dev/null; }

# Unpacks KUBELET_DIR $1's kubelet.gz into the cache unless the cached
# binary is there; checked against SHA256SUMS before it is renamed in place.
unpack() {
	local src=$1 tmp
	[[ -x $cache/kubelet ]] && return 0
	[[ -f $src/kubelet.gz && -f $src/SHA256SUMS ]] || { log "no kubelet.gz and SHA256SUMS in $src"; exit 1; }
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
	gzip -dc "$src/kubelet.gz" >"$tmp/kubelet"
	if ! (cd "$tmp" && sha256sum --quiet -c "$src/SHA256SUMS"); then
		rm -rf "$tmp"
		log "$src/kubelet.gz does not unpack to the binary SHA256SUMS names"
		exit 1
	fi
	chmod 755 "$tmp/kubelet"
	mv "$tmp/kubelet" "$cache/kubelet"
	rmdir "$tmp"
}

# Every mounted cgroup hierarchy (v1 controllers, named ones, v2).
cgroup_mounts() { findmnt -n -l -t cgroup,cgroup2 -o TARGET; }

# Creates the cgroup root in every hierarchy (cpuset needs its cpus and
# mems before anything can join it).
make_cgroup_root() {
	local mnt file
	for mnt in $(cgroup_mounts); do
		mkdir -p "$mnt$cgroup_root"
		for file in cpuset.cpus cpuset.mems; do
			if [[ -f $mnt$cgroup_root/$file ]]; then cat "$mnt/$file" >"$mnt$cgroup_root/$file"; fi
		done
	done
}

write_config() {
	local containerd_socket
	containerd_socket=$(env_value CONTAINERD_SOCKET "$state/node.env")
	mkdir -p "$dir"/{manifests,root,pod-logs,volume-plugins,sysctl,var-upper,var-work}
	: >"$dir/resolv.conf"
	# Image GC and eviction are off: the test node's disk use is the
	# machine's, and neither may remove the imported images or the pods.
	# The cluster DNS is the node's own address, where a test runs its DNS
	# server in the node netns (ukrun_testbed::cluster_pod::CLUSTER_DNS).
	cat >"$dir/config.yaml" <<-YAML
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		staticPodPath: $dir/manifests
		fileCheckFrequency: 5s
		containerRuntimeEndpoint: unix://$containerd_socket
		cgroupDriver: cgroupfs
		cgroupsPerQOS: true
		cgroupRoot: $cgroup_root
		enforceNodeAllocatable: []
		failSwapOn: false
		failCgroupV1: false
		clusterDNS: [$node_ip]
		clusterDomain: cluster.local
		resolvConf: $dir/resolv.conf
		authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
		authorization: {mode: AlwaysAllow}
		readOnlyPort: 0
		address: 127.0.0.1
		port: $api_port
		healthzBindAddress: 127.0.0.1
		healthzPort: $healthz_port
		podLogsDir: $dir/pod-logs
		volumePluginDir: $dir/volume-plugins
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: {memory.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%",
		  imagefs.available: "0%", imagefs.inodesFree: "0%"}
	YAML
}

# Waits (<= 30 s) until the kubelet's healthz answers ok.
wait_healthz() {
	local pid=$1 netns_path=$2
	for _ in $(seq 300); do
		if nsenter --net="$netns_path" curl -sf --max-time 1 "http://127.0.0.1:$healthz_port/healthz" >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			log "the kubelet exited; end of $state/kubelet.log:"
			tail -n 20 "$state/kubelet.log" >&2
			return 1
		fi
		sleep 0.1
	done
	log "the kubelet's healthz did not answer within 30 s"
	return 1
}

up() {
	[[ $# -eq 2 ]] || usage
	names "$1"
	local src=$2 netns_path pid
	[[ ! -e $dir/kubelet.env ]] || { log "a kubelet runs on this node already: kubelet.sh down $state first"; exit 1; }
	netns_path=$(env_value NODE_NETNS_PATH "$state/node.env")
	unpack "$src"
	write_config
	make_cgroup_root
	# The root dir as a shared mount of its own: volumes the kubelet mounts
	# there from its mount namespace reach containerd's.
	mount --bind "$dir/root" "$dir/root"
	mount --make-private "$dir/root"
	mount --make-shared "$dir/root"

	setsid nsenter --net="$netns_path" \
		unshare --mount --propagation unchanged bash "$(readlink -f "$0")" run "$state/" "$cache/kubelet" \
		</dev/null >>"$state/kubelet.log" 2>&1 &
	pid=$!
	printf '%s=%q\n' KUBELET_PID "$pid" NODE_NAME "$node_name" NODE_IP "$node_ip" \
		MANIFESTS "$dir/manifests" CGROUP_ROOT "$cgroup_root" \
		API "https://127.0.0.1:$api_port" >"$dir/kubelet.env"
	wait_healthz "$pid" "$netns_path"
	log "up: $node_name pid $pid, manifests $dir/manifests, cgroup root $cgroup_root"
}

# Inside the kubelet's new mount namespace (still sharing the host's peer
# groups): the mounts that will hold this namespace's own mounts become
# slaves, so nothing mounted here reaches the host; then the kubelet runs.
run() {
	[[ $# -eq 2 ]] || usage
	names "$1"
	local kubelet=$2 sysctl
	mount --make-slave "$(findmnt -n -o TARGET --target /proc/sys/vm)"
	mount --make-slave "$(findmnt -n -o TARGET --target /var)"
	for sysctl in "${sysctls[@]}"; do
		cat "/proc/sys/$sysctl" >"$dir/sysctl/${sysctl//\//.}"
		mount --bind "$dir/sysctl/${sysctl//\//.}" "/proc/sys/$sysctl"
	done
	mount -t overlay overlay -o "lowerdir=/var,upperdir=$dir/var-upper,workdir=$dir/var-work" /var
	exec "$kubelet" --config "$dir/config.yaml" --root-dir "$dir/root" --cert-dir "$dir/root/pki" \
		--hostname-override="$node_name" --node-ip="$node_ip" --v=2
}

# SIGTERMs the kubelet (<= 10 s), then SIGKILLs it; also while it is
# still the `run` half that execs it (whose arguments name STATE_DIR too).
stop() {
	[[ $# -eq 1 ]] || usage
	names "$1"
	local pid
	pid=$(env_value KUBELET_PID "$dir/kubelet.env")
	[[ -n $pid ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$state/" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# Removes the cgroup root and everything the kubelet made below it, in
# every hierarchy, deepest first (<= 5 s while the last processes exit).
remove_cgroups() {
	local mnt left
	for _ in $(seq 50); do
		left=0
		for mnt in $(cgroup_mounts); do
			[[ -d $mnt$cgroup_root ]] || continue
			find "$mnt$cgroup_root" -depth -type d -exec rmdir {} + 2>/dev/null || left=1
		done
		((left)) || return 0
		sleep 0.1
	done
	log "warning: cgroups left under $cgroup_root"
	return 1
}

# Unmounts the root dir and whatever the kubelet mounted below it.
unmount_root() {
	local mnt mnts
	for _ in 1 2 3; do
		mapfile -t mnts < <(awk -v d="$dir/root" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | tac)
		((${#mnts[@]})) || return 0
		for mnt in "${mnts[@]}"; do umount -l "$mnt" 2>/dev/null || true; done
	done
}

down() {
	[[ $# -eq 1 ]] || usage
	names "$1"
	local status=0
	[[ -d $dir ]] || return 0
	stop "$state"
	unmount_root
	remove_cgroups || status=1
	rm -f "$dir/kubelet.env"
	log "down: $node_name"
	return "$status"
}

case ${1:-} in
up) shift && up "$@" ;;
run) shift && run "$@" ;;
stop) shift && stop "$@" ;;
down) shift && down "$@" ;;
*) usage ;;
esac
