# shellcheck shell=bash
# Which containerd a test-bed node runs (sourced by node.sh), chosen by
# UKRUN_CONTAINERD:
#   1.6  Debian's containerd, ctr and shim as found on PATH (the default)
#   2.3  containerd 2.3.4 from ../shared/containerd-2.3.4 beside the
#        repository, unpacked once into testbed/out/containerd-2.3.4 (kept
#        while the tarball's sha256 is the one its stamp records); its
#        folder comes first in PATH, so containerd, ctr and the runc shim
#        containerd looks up on its PATH are all 2.3.4's.

containerd_repo=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../..
containerd_2_3_tarball=$containerd_repo/../shared/containerd-2.3.4/containerd-2.3.4-linux-amd64.tar.gz
containerd_2_3_dir=$containerd_repo/testbed/out/containerd-2.3.4

# Checks version $1 and sets containerd_version and containerd_dir (the
# folder put first in PATH; empty for Debian's); fails on anything else.
# shellcheck disable=SC2034 # both are node.sh's to read
containerd_select() {
	containerd_version=$1
	case $1 in
	1.6) containerd_dir= ;;
	2.3)
		containerd_unpack_2_3 || return
		containerd_dir=$(realpath "$containerd_2_3_dir")
		;;
	*) echo "node: unknown UKRUN_CONTAINERD=$1 (1.6 or 2.3)" >&2; return 2 ;;
	esac
}

# Unpacks containerd 2.3.4 into containerd_2_3_dir unless the stamp there
# names the tarball's sha256 and the binaries are all there.
containerd_unpack_2_3() {
	local sum tmp
	if [[ ! -f $containerd_2_3_tarball ]]; then
		echo "node: containerd 2.3.4 is missing: $(realpath -m "$containerd_2_3_tarball") (the offline build described in the README beside it)" >&2
		return 1
	fi
	sum=$(sha256sum "$containerd_2_3_tarball" | cut -d' ' -f1)
	if [[ $(cat "$containerd_2_3_dir/.stamp" 2>/dev/null) == "$sum" ]] &&
		[[ -x $containerd_2_3_dir/containerd && -x $containerd_2_3_dir/ctr ]] &&
		[[ -x $containerd_2_3_dir/containerd-shim-runc-v2 ]]; then
		return 0
	fi
	# Unpacked beside and renamed, so a concurrent node never sees half.
	mkdir -p "$(dirname "$containerd_2_3_dir")"
	tmp=$(mktemp -d "$containerd_2_3_dir.XXXXXX")
	tar -xzf "$containerd_2_3_tarball" -C "$tmp" containerd containerd-shim-runc-v2 ctr
	echo "$sum" >"$tmp/.stamp"
	chmod 755 "$tmp"
	rm -rf "$containerd_2_3_dir"
	mv -T "$tmp" "$containerd_2_3_dir"
}

# containerd's server version as `ctr version` reports it (e.g. v2.3.4 or
# 1.6.20~ds1); ctr_node must be defined by the caller.
containerd_server_version() {
	ctr_node version | awk '/^Server:/ { server = 1 } server && $1 == "Version:" { print $2; exit }'
}
