#!/usr/bin/env bash
# A hermetic Kubernetes-like node for ukrun's end-to-end tests: containerd
# with the CRI plugin, a CNI bridge and a `ukrun` runtime handler, all inside
# a network namespace of its own with no uplink, so pods and guests can reach
# nothing outside the machine. Everything lives under STATE_DIR; `down`
# removes every trace (processes, mounts, netns, state).
# Usage: [UKRUN_NODE_NETWORK=SHAPE] [UKRUN_CONTAINERD=1.6|2.3] \
#          [UKRUN_NODE_DEFAULT_RUNTIME=runc|ukrun] \
#          [UKRUN_NODE_HANDLERS=runc,ukrun|runc] \
#          node.sh up STATE_DIR UKRUN_BIN IMAGES_DIR
#        node.sh restart STATE_DIR
#        node.sh down STATE_DIR
#        [UKRUN_CONTAINERD=1.6|2.3] [UKRUN_NODE_DEFAULT_RUNTIME=runc|ukrun] \
#          [UKRUN_NODE_HANDLERS=…] \
#          node.sh config STATE_DIR UKRUN_BIN
# UKRUN_CONTAINERD picks the containerd (see lib/containerd.sh): 1.6, the
# default, is Debian's on PATH; 2.3 is containerd 2.3.4 from ../shared,
# whose folder `up` puts first in PATH (its ctr and runc shim with it).
# UKRUN_NODE_NETWORK picks the pods' network shape (see
# lib/node-network.sh): `bridge` (the default: CNI bridge, 10.88.0.0/24,
# gateway 10.88.0.1, MTU 1500), `bridge:MTU` (the same with veths of MTU,
# e.g. bridge:1450 as under Flannel VXLAN) or `calico` (a /32 per pod
# behind 169.254.1.1, proxy ARP and host routes, by testbed/cni/ukrun-calico;
# the node owns 10.88.0.1). Pod IPs are in 10.88.0.0/24 in every shape.
# UKRUN_NODE_DEFAULT_RUNTIME names containerd's default runtime handler,
# the one a pod without a runtime handler gets: `runc` (the default) or
# `ukrun` (how a kubelet without RuntimeClass, e.g. a standalone one with
# static pods, runs its pods under ukrun).
# UKRUN_NODE_HANDLERS picks containerd's runtime handlers: `runc,ukrun`
# (the default: `ukrun` runs UKRUN_BIN) or `runc` (runc's alone: a node to
# install ukrun into, e.g. with ukrun-deploy; UKRUN_BIN then names the
# binary `down` looks for among the node's processes).
# `restart` stops the node's containerd and starts it again with the same
# configuration, netns, state folder and socket (shims and pods go on
# running, as on a node whose containerd service restarts), waits until it
# answers and writes its new CONTAINERD_PID into node.env; it is what
# `ukrun-deploy --restart` runs on the node.
# `up` writes STATE_DIR/node.env (NODE_NETNS, NODE_NETNS_PATH,
# CONTAINERD_SOCKET, CONTAINERD_PID, POD_NETWORK, CONTAINERD_VERSION,
# CONTAINERD_SERVER_VERSION, DEFAULT_RUNTIME, ...) for tests to source.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/node-network.sh
source "$(dirname "$(readlink -f "$0")")/lib/node-network.sh"
# shellcheck source-path=SCRIPTDIR source=lib/containerd.sh
source "$(dirname "$(readlink -f "$0")")/lib/containerd.sh"

# The pods' sandbox image (its key differs between configuration versions).
sandbox_image=localhost/ukrun/pause:latest

# Sets default_runtime from UKRUN_NODE_DEFAULT_RUNTIME (runc or ukrun).
default_runtime_select() {
	default_runtime=${UKRUN_NODE_DEFAULT_RUNTIME:-runc}
	case $default_runtime in
	runc | ukrun) ;;
	*) log "unknown UKRUN_NODE_DEFAULT_RUNTIME=$default_runtime (runc or ukrun)"; exit 2 ;;
	esac
}

usage() {
	echo "usage: node.sh up STATE_DIR UKRUN_BIN IMAGES_DIR | node.sh restart STATE_DIR | node.sh down STATE_DIR | node.sh config STATE_DIR UKRUN_BIN" >&2
	exit 2
}

log() { echo "node: $*" >&2; }

# Sets the node's names from STATE_DIR (absolute, never /).
names() {
	state=$(realpath -m "$1")
	[[ $state != / ]] || { log "refusing STATE_DIR /"; exit 2; }
	base=$(basename "$state")
	netns=ukrun-node-$base
	netns_path=/run/netns/$netns
	cni_network=ukrun-$base
	socket=$state/containerd.sock
}

# ctr on this node's socket, bounded so a wedged containerd cannot hang us;
# without the cgroup v1 deprecation warning 2.3.4's ctr prints every time.
ctr_node() {
	timeout 60 ctr --address "$socket" "$@" 2> >(grep -vF 'support for cgroup v1 is deprecated' >&2)
}

# The part of containerd's configuration every version spells alike: the
# disabled plugins, its sockets and its opt folder.
config_servers() {
	cat <<-TOML
		disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
		  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

		[grpc]
		  address = "$socket"
		[ttrpc]
		  address = "$socket.ttrpc"
		[debug]
		  address = "$state/debug.sock"
		[metrics]
		  address = ""

		[plugins."io.containerd.internal.v1.opt"]
		  path = "$state/opt"
	TOML
}

# Checks UKRUN_NODE_HANDLERS and sets handlers to it (default runc,ukrun);
# the default runtime (default_runtime_select first) must be among them.
handlers_select() {
	handlers=${UKRUN_NODE_HANDLERS:-runc,ukrun}
	case $handlers in
	runc,ukrun | runc) ;;
	*) log "unknown UKRUN_NODE_HANDLERS=$handlers (runc,ukrun or runc)"; exit 2 ;;
	esac
	if [[ ,$handlers, != *,$default_runtime,* ]]; then
		log "the default runtime $default_runtime is not among UKRUN_NODE_HANDLERS=$handlers"
		exit 2
	fi
}

# The CRI runtime handlers under table $1 (…containerd.runtimes): runc, the
# default, and (unless handlers is runc alone) ukrun (binary $2) through
# the runc shim, each with its root under the state folder; only ukrun gets
# the pod's and container's annotations for guests.
config_runtimes() {
	local table=$1 ukrun_bin=$2
	cat <<-TOML
		[$table.runc]
		  runtime_type = "io.containerd.runc.v2"
		[$table.runc.options]
		  Root = "$state/runc-root"
	TOML
	[[ $handlers == *ukrun* ]] || return 0
	cat <<-TOML
		[$table.ukrun]
		  runtime_type = "io.containerd.runc.v2"
		  container_annotations = ["com.urunc.unikernel.*", "ukrun.dev/*"]
		  pod_annotations = ["ukrun.dev/*"]
		[$table.ukrun.options]
		  BinaryName = "$ukrun_bin"
		  Root = "$state/ukrun-root"
	TOML
}

# containerd 1.6's configuration (version 2) for ukrun binary $1.
config_1_6() {
	local ukrun_bin=$1 cri='plugins."io.containerd.grpc.v1.cri"'
	cat <<-TOML
		version = 2
		root = "$state/root"
		state = "$state/state"
		$(config_servers)
		[$cri]
		  sandbox_image = "$sandbox_image"
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		  restrict_oom_score_adj = true
		  netns_mounts_under_state_dir = true
		[$cri.containerd]
		  snapshotter = "overlayfs"
		  default_runtime_name = "$default_runtime"
		$(config_runtimes "$cri.containerd.runtimes" "$ukrun_bin")
		[$cri.cni]
		  bin_dir = "$state/cni/bin"
		  conf_dir = "$state/cni/net.d"
		  max_conf_num = 1
	TOML
}

# containerd 2.3's configuration (version 3) for ukrun binary $1: the
# settings of config_1_6 in 2.x's plugins, no drop-in imports, and NRI's
# socket and plugin folders under the state folder instead of /var/run/nri.
config_2_3() {
	local ukrun_bin=$1 runtime='plugins."io.containerd.cri.v1.runtime"'
	cat <<-TOML
		version = 3
		root = "$state/root"
		state = "$state/state"
		imports = []
		$(config_servers)
		[plugins."io.containerd.nri.v1.nri"]
		  socket_path = "$state/nri.sock"
		  plugin_path = "$state/nri/plugins"
		  plugin_config_path = "$state/nri/conf.d"
		[plugins."io.containerd.grpc.v1.cri"]
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		[plugins."io.containerd.cri.v1.images"]
		  snapshotter = "overlayfs"
		[plugins."io.containerd.cri.v1.images".pinned_images]
		  sandbox = "$sandbox_image"
		[$runtime]
		  restrict_oom_score_adj = true
		  netns_mounts_under_state_dir = true
		[$runtime.containerd]
		  default_runtime_name = "$default_runtime"
		$(config_runtimes "$runtime.containerd.runtimes" "$ukrun_bin")
		[$runtime.cni]
		  bin_dirs = ["$state/cni/bin"]
		  conf_dir = "$state/cni/net.d"
		  max_conf_num = 1
	TOML
}

# Writes containerd's configuration for containerd_version, ukrun's, and
# the CNI plugins and network list.
write_configs() {
	local ukrun_bin=$1
	mkdir -p "$state"/{root,state,opt,tmp,runc-root,ukrun-root}
	printf '[qemu]\naccel = "tcg"\n' >"$state/ukrun.toml"
	"config_${containerd_version/./_}" "$ukrun_bin" >"$state/config.toml"
	network_bin_dir "$state"
	network_conflist "$state" "$cni_network"
}

# Waits (<= 20 s) until containerd answers on its socket.
wait_containerd() {
	local pid=$1
	for _ in $(seq 200); do
		ctr_node version >/dev/null 2>&1 && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			log "containerd exited; end of $state/containerd.log:"
			tail -n 20 "$state/containerd.log" >&2
			return 1
		fi
		sleep 0.1
	done
	log "containerd did not answer on $socket within 20 s"
	return 1
}

check_cri() {
	if ! ctr_node plugins ls | awk '$2 == "cri" && $4 == "ok" { ok = 1 } END { exit !ok }'; then
		log "the CRI plugin did not load:"
		grep -iE 'failed to load plugin|cri' "$state/containerd.log" | grep -iE 'error|fail' >&2 || true
		return 1
	fi
}

# Starts the node's containerd (the containerd first in PATH) on its
# configuration, sets pid to it and waits until its CRI plugin answers.
start_containerd() {
	# nsenter, not `ip netns exec`: the latter remounts /sys and hides the
	# cgroup mounts from containerd. setsid: the node outlives this script's
	# process group (Ctrl-C in a test does not kill it; `down` does).
	UKRUN_CONFIG=$state/ukrun.toml TMPDIR=$state/tmp setsid \
		nsenter --net="$netns_path" containerd --config "$state/config.toml" \
		</dev/null >>"$state/containerd.log" 2>&1 &
	pid=$!
	wait_containerd "$pid"
	check_cri
}

up() {
	[[ $# -eq 3 ]] || usage
	names "$1"
	local ukrun_bin=$2 images=$3 pid tar
	[[ $ukrun_bin == */* ]] && ukrun_bin=$(realpath -sm "$ukrun_bin")
	[[ -x $ukrun_bin ]] || command -v "$ukrun_bin" >/dev/null || log "warning: $ukrun_bin is not executable (yet)"
	if [[ -e $netns_path || -S $socket ]]; then
		log "node $netns already exists: run node.sh down $state first"
		exit 1
	fi

	network_parse "${UKRUN_NODE_NETWORK:-bridge}"
	containerd_select "${UKRUN_CONTAINERD:-1.6}"
	default_runtime_select
	handlers_select
	[[ -z $containerd_dir ]] || export PATH=$containerd_dir:$PATH
	ip netns add "$netns"
	ip -n "$netns" link set lo up
	network_prepare_node "$netns"
	write_configs "$ukrun_bin"
	start_containerd

	for tar in "$images"/*.tar; do
		[[ -e $tar ]] || { log "no image tarballs in $images"; exit 1; }
		ctr_node -n k8s.io images import "$tar" >/dev/null
	done

	{
		printf '%s=%q\n' NODE_NETNS "$netns" NODE_NETNS_PATH "$netns_path" \
			CONTAINERD_SOCKET "$socket" CONTAINERD_PID "$pid" \
			CONTAINERD_LOG "$state/containerd.log" STATE_DIR "$state" \
			UKRUN_BIN "$ukrun_bin" UKRUN_CONFIG "$state/ukrun.toml" \
			POD_NETWORK "$(network_name)" CNI_SUBNET "$cni_subnet" \
			CONTAINERD_VERSION "$containerd_version" CONTAINERD_BIN "$(command -v containerd)" \
			CONTAINERD_SERVER_VERSION "$(containerd_server_version)" \
			DEFAULT_RUNTIME "$default_runtime"
		if [[ $net_kind == bridge ]]; then printf '%s=%q\n' CNI_BRIDGE "$cni_bridge"; fi
	} >"$state/node.env"
	log "up: netns $netns, pod network $(network_name), default runtime $default_runtime, containerd $(containerd_server_version) ($(command -v containerd)) pid $pid on $socket, images:"
	ctr_node -n k8s.io images ls -q | grep -v "^sha256:" >&2
}

# PIDs of this node's processes: containerd, shims, runtimes and VMMs whose
# command line or environment mentions STATE_DIR, plus every process in the
# cgroups of this node's containers.
node_pids() {
	local ukrun_comm=$1 dir pid comm cg
	for dir in /proc/[0-9]*; do
		pid=${dir#/proc/}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		comm=$(cat "$dir/comm" 2>/dev/null) || continue
		case $comm in
		containerd | containerd-shim* | qemu-system* | runc | crun | "$ukrun_comm") ;;
		*) continue ;;
		esac
		if tr '\0' '\n' 2>/dev/null <"$dir/cmdline" | grep -qF "$state/" ||
			tr '\0' '\n' 2>/dev/null <"$dir/environ" | grep -qF "$state/"; then
			echo "$pid"
		fi
	done
	for cg in $(container_cgroups); do
		cat "$cg/cgroup.procs" 2>/dev/null || true
	done
}

# Task bundles of this node (one per container, any containerd namespace).
task_dirs() { compgen -G "$state/state/io.containerd.runtime.v2.task/*/*/" || true; }

# Existing cgroup directories of this node's containers, from the
# cgroupsPath of each bundle's config.json, in every mounted hierarchy.
container_cgroups() {
	local dir path root
	for dir in $(task_dirs); do
		path=$(grep -o '"cgroupsPath": *"[^"]*"' "$dir/config.json" 2>/dev/null | cut -d'"' -f4) || continue
		[[ $path == /* ]] || continue
		for root in /sys/fs/cgroup /sys/fs/cgroup/*; do
			[[ -d $root$path ]] && echo "$root$path"
		done
	done
	return 0
}

# SIGKILLs this node's processes until none is left (<= 5 s).
kill_node() {
	local ukrun_comm=$1 pids
	mapfile -t pids < <(node_pids "$ukrun_comm")
	((${#pids[@]})) || return 0
	kill -KILL "${pids[@]}" 2>/dev/null || true
	for _ in $(seq 50); do
		mapfile -t pids < <(node_pids "$ukrun_comm")
		((${#pids[@]})) || return 0
		kill -KILL "${pids[@]}" 2>/dev/null || true
		sleep 0.1
	done
	log "warning: processes survived: ${pids[*]}"
}

# The value of KEY $1 in STATE_DIR/node.env (empty when missing).
node_env_value() { sed -n "s/^$1=//p" "$state/node.env"; }

# SIGTERMs the node's containerd and waits (<= 10 s) until it is gone;
# fails when it is still there.
stop_containerd() {
	local pid
	[[ -f $state/node.env ]] || return 0
	pid=$(node_env_value CONTAINERD_PID)
	[[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$state/config.toml" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	log "containerd (pid $pid) did not stop within 10 s"
	return 1
}

# Asks containerd to kill and delete every task, so runtimes clean up after
# themselves; whatever is left is killed afterwards.
delete_tasks() {
	local ns task
	[[ -S $socket ]] && ctr_node version >/dev/null 2>&1 || return 0
	for ns in $(ctr_node namespaces ls -q 2>/dev/null); do
		for task in $(ctr_node -n "$ns" tasks ls -q 2>/dev/null); do
			ctr_node -n "$ns" tasks delete --force "$task" >/dev/null 2>&1 || true
		done
	done
}

unmount_all() {
	local mnt mnts
	for _ in 1 2 3; do
		mapfile -t mnts < <(awk -v s="$state" '$5 == s || index($5, s "/") == 1 { print $5 }' /proc/self/mountinfo | tac)
		((${#mnts[@]})) || return 0
		for mnt in "${mnts[@]}"; do umount -l "$mnt" 2>/dev/null || true; done
	done
}

down() {
	[[ $# -eq 1 ]] || usage
	names "$1"
	local ukrun_comm=ukrun dir addr cg id bin
	if [[ -f $state/node.env ]]; then
		ukrun_comm=$(node_env_value UKRUN_BIN)
		ukrun_comm=$(basename "${ukrun_comm:-ukrun}")
		ukrun_comm=${ukrun_comm:0:15}
		# The node's own ctr (containerd 2.3.4's when it ran that one).
		bin=$(node_env_value CONTAINERD_BIN)
		[[ -z $bin ]] || PATH=$(dirname "$bin"):$PATH
	fi
	delete_tasks
	stop_containerd || true
	kill_node "$ukrun_comm"
	# Leftovers of killed shims and containers outside STATE_DIR.
	for dir in $(task_dirs); do
		addr=$(cat "$dir/address" 2>/dev/null) || continue
		if [[ $addr == unix:///run/containerd/s/* ]]; then rm -f "${addr#unix://}"; fi
	done
	for cg in $(container_cgroups); do rmdir "$cg" 2>/dev/null || true; done
	rm -f /var/lib/cni/results/"$cni_network"-*
	for id in $(compgen -G "$state/state/io.containerd.grpc.v1.cri/sandboxes/*"); do
		rm -f /var/lib/cni/results/cni-loopback-"${id##*/}"-*
	done
	unmount_all
	ip netns delete "$netns" 2>/dev/null || true
	rm -rf --one-file-system "$state"
	if [[ -e $state || -e $netns_path ]]; then
		log "down: could not remove $state or $netns_path"
		exit 1
	fi
	log "down: $netns removed"
}

# Restarts the node's containerd in place (see the header) and records its
# new pid in node.env.
restart() {
	[[ $# -eq 1 ]] || usage
	names "$1"
	local pid old bin
	if [[ ! -f $state/node.env ]]; then
		log "no node at $state (node.sh up writes $state/node.env)"
		exit 1
	fi
	old=$(node_env_value CONTAINERD_PID)
	# The node's own containerd, ctr and shim, as `up` found them.
	bin=$(node_env_value CONTAINERD_BIN)
	PATH=$(dirname "$bin"):$PATH
	stop_containerd
	start_containerd
	sed -i "s/^CONTAINERD_PID=.*/CONTAINERD_PID=$pid/" "$state/node.env"
	log "restart: containerd $(containerd_server_version) pid $old -> $pid on $socket"
}

# Prints the containerd configuration `up` would write for STATE_DIR and
# UKRUN_BIN (the containerd UKRUN_CONTAINERD picks, the default runtime
# UKRUN_NODE_DEFAULT_RUNTIME names), changing nothing.
config() {
	[[ $# -eq 2 ]] || usage
	names "$1"
	containerd_select "${UKRUN_CONTAINERD:-1.6}"
	default_runtime_select
	handlers_select
	"config_${containerd_version/./_}" "$2"
}

case ${1:-} in
up) shift && up "$@" ;;
restart) shift && restart "$@" ;;
config) shift && config "$@" ;;
down) shift && down "$@" ;;
*) usage ;;
esac
