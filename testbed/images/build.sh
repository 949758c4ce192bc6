#!/usr/bin/env bash
# Builds the test bed's OCI image tarballs (there is no registry): a pause-like
# sandbox image, a busybox sidecar image and the Linux guest image that ukrun
# boots (kernel + initramfs + urunc's /urunc.json annotations file). Cached:
# does nothing when the tarballs exist and their inputs are unchanged.
# Usage: build.sh OUT_DIR [GUEST_DIR]   (GUEST_DIR defaults to OUT_DIR/guest
# and is built with ../guest/build.sh, itself cached)
# Output: OUT_DIR/{pause,busybox,linux-guest}.tar, importable with
#   ctr -n k8s.io images import, named localhost/ukrun/{pause,busybox,linux-guest}:latest
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR [GUEST_DIR]}
guest=${2:-$out/guest}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
busybox_rootfs=$here/../lib/busybox-rootfs.sh

"$here/../guest/build.sh" "$guest"
mkdir -p "$out"
out=$(cd "$out" && pwd)

stamp=$({
	dpkg-query -W -f='${Version}\n' busybox-static
	cat "$guest/.stamp" "$here/build.sh" "$here/oci_image.py" "$busybox_rootfs"
} | sha256sum | cut -d' ' -f1)
if [[ -f $out/pause.tar && -f $out/busybox.tar && -f $out/linux-guest.tar &&
	"$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
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

# urunc's annotations: image labels as they are, /urunc.json base64-encoded.
annotations=(
	com.urunc.unikernel.unikernelType linux
	com.urunc.unikernel.hypervisor qemu
	com.urunc.unikernel.binary /boot/vmlinux
	com.urunc.unikernel.initrd /boot/initrd.img
	com.urunc.unikernel.cmdline ""
)
labels=()
for ((i = 0; i < ${#annotations[@]}; i += 2)); do
	labels+=(--label "${annotations[i]}=${annotations[i + 1]}")
done
mkdir -p "$work/linux-guest/boot"
chmod 0755 "$work/linux-guest"
cp "$guest/vmlinux" "$guest/initrd.img" "$work/linux-guest/boot/"
python3 - "${annotations[@]}" >"$work/linux-guest/urunc.json" <<'PY'
import base64, json, sys
kv = sys.argv[1:]
print(json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in zip(kv[::2], kv[1::2])}, indent=2))
PY
image linux-guest.tar localhost/ukrun/linux-guest:latest "$work/linux-guest" \
	--entrypoint '["/boot/vmlinux"]' "${labels[@]}"

echo "$stamp" >"$out/.stamp"
