#!/usr/bin/env bash
# Fills DIR with a minimal busybox root filesystem (the static busybox, a link
# for every applet, root's passwd/group, empty mount points). Shared by the
# guest initramfs and the OCI images so both are built the same way.
# Usage: busybox-rootfs.sh DIR
set -euo pipefail

dir=${1:?usage: busybox-rootfs.sh DIR}
busybox=/bin/busybox

mkdir -p "$dir"
chmod 0755 "$dir"
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var,run}
chmod 1777 "$dir/tmp"
install -m 0755 "$busybox" "$dir/bin/busybox"
while read -r applet; do
	[[ $applet == bin/busybox ]] && continue
	ln -sfn /bin/busybox "$dir/$applet"
done < <("$busybox" --list-full)

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
