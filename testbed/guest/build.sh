#!/usr/bin/env bash
# Builds the Linux test guest that ukrun boots under qemu: the Debian kernel
# as an uncompressed ELF (OUT_DIR/vmlinux, booted through its PVH entry,
# ~5 s faster under TCG than the bzImage) and a busybox initramfs
# (OUT_DIR/initrd.img) whose /init loads virtio-net, applies ip= and serves
# HTTP on :8080. Cached: does nothing when the outputs exist and the kernel
# package, busybox and these scripts are unchanged.
# Usage: build.sh OUT_DIR
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
	virtio_mmio failover net_failover virtio_net button evdev)

mkdir -p "$out"
out=$(cd "$out" && pwd)
# Two builds into one OUT_DIR at once would share $out/work: one at a time.
exec {lock}>"$out/.guest-build.lock"
flock "$lock"

# The package linux-image-amd64 currently points at, e.g. linux-image-6.1.0-56-amd64.
kpkg=$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
[[ -n $kpkg ]] || { echo "build.sh: cannot resolve linux-image-amd64's kernel package (run apt-get update?)" >&2; exit 1; }
kver=$(apt-cache show --no-all-versions "$kpkg" | awk '$1 == "Version:" { print $2; exit }')
bbver=$(dpkg-query -W -f='${Version}' busybox-static)
stamp=$({
	echo "$kpkg=$kver busybox-static=$bbver ${modules[*]}"
	cat "$here/build.sh" "$here/init" "$here/../lib/busybox-rootfs.sh"
} | sha256sum | cut -d' ' -f1)

if [[ -f $out/vmlinux && -f $out/initrd.img && "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
	echo "guest: up to date in $out ($kpkg $kver)"
	exit 0
fi

work=$out/work
rm -rf "$work" "$out/.stamp"
mkdir -p "$work/kernel" "$work/root"
trap 'rm -rf "$work"' EXIT

echo "guest: fetching $kpkg $kver"
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$kpkg=$kver")
dpkg -x "$work"/"$kpkg"_*.deb "$work/kernel"
krel=${kpkg#linux-image-}
kmods=$work/kernel/lib/modules/$krel

# Like the kernel's scripts/extract-vmlinux: try each xz magic in the bzImage
# until one decompresses to an ELF.
vmlinuz=$work/kernel/boot/vmlinuz-$krel
found=
while IFS=: read -r offset _; do
	tail -c "+$((offset + 1))" "$vmlinuz" | xz -dc --single-stream >"$work/vmlinux" 2>/dev/null || true
	if [[ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" == 7f454c46 ]]; then
		found=1
		break
	fi
done < <(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz")
[[ -n $found ]] || { echo "build.sh: no xz-compressed ELF found in $vmlinuz" >&2; exit 1; }

root=$work/root
"$here/../lib/busybox-rootfs.sh" "$root"
mkdir -p "$root/lib/modules" "$root/www"
: >"$root/lib/modules/load-order"
for mod in "${modules[@]}"; do
	if grep -q "/$mod\.ko" "$kmods/modules.builtin"; then
		continue # built into this kernel: nothing to load
	fi
	ko=$(find "$kmods/kernel" -name "$mod.ko" -o -name "$mod.ko.xz" | head -n1)
	[[ -n $ko ]] || { echo "build.sh: module $mod not found in $kpkg" >&2; exit 1; }
	case $ko in
	*.xz) xz -dc "$ko" >"$root/lib/modules/$mod.ko" ;;
	*) cp "$ko" "$root/lib/modules/$mod.ko" ;;
	esac
	echo "$mod" >>"$root/lib/modules/load-order"
done
install -m 0755 "$here/init" "$root/init"
if ((EUID == 0)); then
	mknod -m 0600 "$root/dev/console" c 5 1 # lets the kernel give /init a console
fi

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -9n >"$work/initrd.img"

mv "$work/vmlinux" "$out/vmlinux"
mv "$work/initrd.img" "$out/initrd.img"
echo "$kpkg $kver" >"$out/kernel-version"
echo "$stamp" >"$out/.stamp"
echo "guest: built $out/vmlinux ($(du -h "$out/vmlinux" | cut -f1)) and $out/initrd.img ($(du -h "$out/initrd.img" | cut -f1)) from $kpkg $kver"
