# shellcheck shell=bash
# The pod network of a test-bed node (sourced by node.sh): which shape its
# CNI gives pods, the CNI plugin folder and configuration list containerd
# reads, and what the node netns needs for that shape. The shape is one of
#   bridge[:MTU]  the CNI bridge plugin: bridge cni-ukrun holding the gateway
#                 10.88.0.1, pods on 10.88.0.0/24, veths with MTU (1500;
#                 1450 is Flannel VXLAN's)
#   calico        testbed/cni/ukrun-calico: pods get a /32 from 10.88.0.0/24
#                 behind 169.254.1.1 on-link, a veth with proxy ARP and a
#                 host route on the node, which owns 10.88.0.1 (the cluster
#                 DNS) on its uplink stand-in

cni_bridge=cni-ukrun
cni_subnet=10.88.0.0/24
# The node's own address: the bridge's gateway, or the uplink stand-in's.
node_ip=10.88.0.1
# The uplink stand-in of the calico shape: a veth whose peer stays down, so
# nothing leaves the node netns.
uplink=ukrun-up
# The plugins shipped with the test bed.
testbed_cni=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../cni

# Sets net_kind (bridge or calico) and net_mtu from shape $1; fails on
# anything else.
network_parse() {
	case $1 in
	bridge) net_kind=bridge net_mtu=1500 ;;
	bridge:*)
		net_kind=bridge net_mtu=${1#bridge:}
		if ! [[ $net_mtu =~ ^[0-9]+$ ]] || ((net_mtu < 576 || net_mtu > 9000)); then
			echo "node: bad MTU in pod network $1 (576..9000)" >&2
			return 2
		fi
		;;
	calico) net_kind=calico net_mtu=1500 ;;
	*) echo "node: unknown pod network $1 (bridge[:MTU] or calico)" >&2; return 2 ;;
	esac
}

# The shape as node.env records it: bridge:MTU or calico.
network_name() {
	if [[ $net_kind == bridge ]]; then echo "bridge:$net_mtu"; else echo calico; fi
}

# Makes STATE/cni/bin, containerd's one CNI bin_dir: Debian's plugins and
# the test bed's, as links.
network_bin_dir() {
	local state=$1 plugin
	mkdir -p "$state/cni/bin"
	for plugin in /usr/lib/cni/* "$(readlink -f "$testbed_cni/ukrun-calico")"; do
		ln -sfn "$plugin" "$state/cni/bin/${plugin##*/}"
	done
}

# The first plugin of the configuration list, for the shape (allocations
# under STATE/cni/ipam).
network_plugin() {
	local state=$1
	if [[ $net_kind == bridge ]]; then
		cat <<-JSON
			{
			  "type": "bridge",
			  "bridge": "$cni_bridge",
			  "isGateway": true,
			  "ipMasq": false,
			  "mtu": $net_mtu,
			  "ipam": {
			    "type": "host-local",
			    "ranges": [[{"subnet": "$cni_subnet"}]],
			    "routes": [{"dst": "0.0.0.0/0"}],
			    "dataDir": "$state/cni/ipam"
			  }
			}
		JSON
	else
		cat <<-JSON
			{
			  "type": "ukrun-calico",
			  "mtu": $net_mtu,
			  "rangeStart": "${cni_subnet%.*}.2",
			  "rangeEnd": "${cni_subnet%.*}.254",
			  "dataDir": "$state/cni/ipam"
			}
		JSON
	fi
}

# Writes the CNI configuration list of network NAME (the shape's plugin,
# then loopback) into STATE/cni/net.d.
network_conflist() {
	local state=$1 name=$2
	mkdir -p "$state/cni/net.d" "$state/cni/ipam"
	cat >"$state/cni/net.d/10-ukrun.conflist" <<-JSON
		{
		  "cniVersion": "1.0.0",
		  "name": "$name",
		  "plugins": [
		    $(network_plugin "$state" | sed '2,$s/^/    /'),
		    {"type": "loopback"}
		  ]
		}
	JSON
}

# What node netns NETNS (a name) needs before the first pod. The bridge plugin makes
# the bridge itself; Calico's node has an address of its own and a default
# route (the proxy ARP for 169.254.1.1 answers only for what routes
# elsewhere than the pod's veth), and forwards.
network_prepare_node() {
	local netns=$1
	[[ $net_kind == calico ]] || return 0
	ip -n "$netns" link add "$uplink" type veth peer name "$uplink-p"
	ip -n "$netns" addr add "$node_ip/32" dev "$uplink"
	ip -n "$netns" link set "$uplink" up
	ip -n "$netns" route add default dev "$uplink"
	nsenter --net="/run/netns/$netns" sysctl -qw net.ipv4.ip_forward=1
}
