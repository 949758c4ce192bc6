#!/usr/bin/env bash
# Builds the test bed's OCI image tarballs (there is no registry): a pause-like
# sandbox image, a busybox sidecar image and the Linux guest image that ukrun
# boots (kernel + initramfs + urunc's /urunc.json annotations file). Cached:
# does nothing when the tarballs exist and their inputs are unchanged.
# Usage: build.sh OUT_DIR [GUEST_DIR]   (GUEST_DIR defaults to OUT_DIR/guest
# and is built with ../guest/build.sh, itself cached)
# Output: OUT_DIR/{pause,busybox,linux-guest}.tar, importable with
#   ctr -n k8s.io images import, named localhost/ukrun/{pause,busybox,linux-guest}:latest
# With UKRUN_UNIKRAFT_IMAGES set to the folder of the Unikraft 0.16.3 kernels
# (../shared/unikernels/unikraft-0.16.3/images), also the Unikraft images:
#   unikraft-nettest.tar     nettest, urunc.json form (empty cmdline)
#   unikraft-helloworld.tar  helloworld, urunc.json form (empty cmdline)
#   unikraft-bare.tar        nettest with no urunc.json: the container's
#                            com.urunc.unikernel.* annotations describe it
# Without it, stale Unikraft tarballs are removed so a node never imports them.
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR [GUEST_DIR]}
guest=${2:-$out/guest}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
busybox_rootfs=$here/../lib/busybox-rootfs.sh

"$here/../guest/build.sh" "$guest"
mkdir -p "$out"
out=$(cd "$out" && pwd)

unikraft=${UKRUN_UNIKRAFT_IMAGES:-}
unikraft_tars=(unikraft-nettest.tar unikraft-helloworld.tar unikraft-bare.tar)
tars=(pause.tar busybox.tar linux-guest.tar)
if [[ -n $unikraft ]]; then
	tars+=("${unikraft_tars[@]}")
else
	for tar in "${unikraft_tars[@]}"; do rm -f "$out/$tar"; done
fi

stamp=$({
	dpkg-query -W -f='${Version}\n' busybox-static
	cat "$guest/.stamp" "$here/build.sh" "$here/oci_image.py" "$busybox_rootfs"
	[[ -z $unikraft ]] || sha256sum "$unikraft"/{nettest,helloworld}_qemu-x86_64
} | sha256sum | cut -d' ' -f1)
all_there() {
	local tar
	for tar in "${tars[@]}"; do [[ -f $out/$tar ]] || return 1; done
}
if all_there && [[ "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "images: up to date in $out"
	exit 0
fi

work=$out/work
rm -rf "$work" "$out/.stamp"
trap 'rm -rf "$work"' EXIT

# image FILE NAME ROOTFS [oci_image.py options...]
image() {
	local file=$1 name=$2 rootfs=$3
	shift 3
	python3 "$here/oci_image.py" --rootfs "$rootfs" --name "$name" --out "$out/$file" "$@"
	echo "images: $out/$file ($name, $(du -h "$out/$file" | cut -f1))"
}

"$busybox_rootfs" "$work/busybox"
image pause.tar localhost/ukrun/pause:latest "$work/busybox" --entrypoint '["/bin/sleep", "infinity"]'
image busybox.tar localhost/ukrun/busybox:latest "$work/busybox" --cmd '["sh"]'

# urunc_image FILE NAME ROOTFS ENTRYPOINT KEY VALUE...: an image whose urunc
# annotations are its labels as they are and ROOTFS/urunc.json, base64-encoded.
urunc_image() {
	local file=$1 name=$2 rootfs=$3 entrypoint=$4 labels=() kv i
	shift 4
	kv=("$@")
	for ((i = 0; i < ${#kv[@]}; i += 2)); do
		labels+=(--label "${kv[i]}=${kv[i + 1]}")
	done
	python3 - "$@" >"$rootfs/urunc.json" <<'PY'
import base64, json, sys
kv = sys.argv[1:]
print(json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in zip(kv[::2], kv[1::2])}, indent=2))
PY
	image "$file" "$name" "$rootfs" --entrypoint "[\"$entrypoint\"]" "${labels[@]}"
}

mkdir -p "$work/linux-guest/boot"
chmod 0755 "$work/linux-guest"
cp "$guest/vmlinux" "$guest/initrd.img" "$work/linux-guest/boot/"
urunc_image linux-guest.tar localhost/ukrun/linux-guest:latest "$work/linux-guest" /boot/vmlinux \
	com.urunc.unikernel.unikernelType linux \
	com.urunc.unikernel.hypervisor qemu \
	com.urunc.unikernel.binary /boot/vmlinux \
	com.urunc.unikernel.initrd /boot/initrd.img \
	com.urunc.unikernel.cmdline ""

# unikraft_rootfs APP: a rootfs holding the Unikraft kernel APP_qemu-x86_64
# as /unikernel/APP (world-readable, as ukrun's VMM needs it).
unikraft_rootfs() {
	local rootfs=$work/unikraft-$1
	mkdir -p "$rootfs/unikernel"
	chmod 0755 "$rootfs" "$rootfs/unikernel"
	install -m 0644 "$unikraft/$1_qemu-x86_64" "$rootfs/unikernel/$1"
	echo "$rootfs"
}

if [[ -n $unikraft ]]; then
	for app in nettest helloworld; do
		urunc_image "unikraft-$app.tar" "localhost/ukrun/unikraft-$app:latest" \
			"$(unikraft_rootfs "$app")" "/unikernel/$app" \
			com.urunc.unikernel.unikernelType unikraft \
			com.urunc.unikernel.hypervisor qemu \
			com.urunc.unikernel.unikernelVersion 0.16.3 \
			com.urunc.unikernel.binary "/unikernel/$app" \
			com.urunc.unikernel.cmdline ""
	done
	bare=$work/unikraft-bare
	mkdir -p "$bare"
	cp -a "$(unikraft_rootfs nettest)/." "$bare/"
	rm -f "$bare/urunc.json"
	image unikraft-bare.tar localhost/ukrun/unikraft-bare:latest "$bare" --entrypoint '["/unikernel/nettest"]'
fi

echo "$stamp" >"$out/.stamp"
