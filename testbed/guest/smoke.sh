#!/usr/bin/env bash
# Boots the test guest once under qemu TCG in a throwaway network namespace,
# with a tap that qemu creates, and checks that the guest's HTTP server
# answers from the namespace, that its 4 MiB /blob matches the checksum it
# printed, that its ping probe reaches the gateway, that
# /cgi-bin/poweroff-delay takes a delay and that after /cgi-bin/hang the
# server answers no more. Proves the guest image works before ukrun is
# involved. Cleans up (qemu, netns, tap) even on failure.
# Usage: smoke.sh OUT_DIR [microvm|q35] [subnet|calico]
#   subnet: guest 10.0.2.15/24, gateway 10.0.2.1 on the tap
#   calico: guest 10.0.2.15/32, gateway 169.254.1.1 (on-link route needed)
set -euo pipefail

dir=${1:?usage: smoke.sh OUT_DIR [microvm|q35] [subnet|calico]}
machine=${2:-microvm}
style=${3:-subnet}
guest_ip=10.0.2.15
mac=52:54:00:12:34:56
ns=ukrun-smoke-$$
tap=uksmoke$$
tap=${tap:0:15}
log=$(mktemp /tmp/ukrun-smoke.XXXXXX.log)
qemu_pid=

cleanup() {
	if [[ -n $qemu_pid ]]; then
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	ip netns delete "$ns" 2>/dev/null || true
	rm -f "$log"
}
trap cleanup EXIT

fail() {
	echo "smoke: FAIL: $*" >&2
	echo "--- guest console ---" >&2
	cat "$log" >&2
	exit 1
}

case $machine in
microvm) nic=virtio-net-device ;;
q35) nic=virtio-net-pci,romfile= ;; # no iPXE ROM: faster, quieter boot
*) echo "smoke: unknown machine $machine" >&2; exit 2 ;;
esac
case $style in
subnet) gw=10.0.2.1 mask=255.255.255.0 ;;
calico) gw=169.254.1.1 mask=255.255.255.255 ;;
*) echo "smoke: unknown style $style" >&2; exit 2 ;;
esac

khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
ip netns add "$ns"
ip -n "$ns" link set lo up

start=$(date +%s%N)
nsenter --net="/run/netns/$ns" qemu-system-x86_64 -M "$machine" -accel tcg -m 256 -smp 1 \
	-nodefaults -no-user-config -nographic -no-reboot \
	-kernel "$dir/vmlinux" -initrd "$dir/initrd.img" \
	-append "console=ttyS0 quiet panic=-1 tsc_early_khz=$khz ip=$guest_ip::$gw:$mask:smoke:eth0:off ukrun.probe.ping=$gw" \
	-serial stdio -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
	-device "$nic,netdev=n0,mac=$mac" </dev/null >"$log" 2>&1 &
qemu_pid=$!

# qemu creates the tap when it starts; give it the node side's addresses.
for _ in $(seq 100); do
	ip -n "$ns" link show "$tap" >/dev/null 2>&1 && break
	kill -0 "$qemu_pid" 2>/dev/null || fail "qemu exited"
	sleep 0.05
done
ip -n "$ns" link set "$tap" up || fail "tap $tap did not appear"
if [[ $style == subnet ]]; then
	ip -n "$ns" addr add "$gw/24" dev "$tap"
else
	ip -n "$ns" addr add "$gw/32" dev "$tap"
	ip -n "$ns" route add "$guest_ip/32" dev "$tap"
	nsenter --net="/run/netns/$ns" sysctl -qw "net.ipv4.conf.$tap.proxy_arp=1"
fi

for _ in $(seq 600); do
	grep -q '^UKRUN-GUEST-READY' "$log" && break
	kill -0 "$qemu_pid" 2>/dev/null || fail "qemu exited before the guest was ready"
	sleep 0.05
done
ready=$(date +%s%N)
grep -q '^UKRUN-GUEST-READY' "$log" || fail "no UKRUN-GUEST-READY within 30 s"
grep -q 'UKRUN-GUEST-ERROR' "$log" && fail "guest reported errors"

answer=
for _ in $(seq 20); do
	answer=$(nsenter --net="/run/netns/$ns" timeout 5 busybox wget -qO- "http://$guest_ip:8080/" 2>/dev/null) && break
	sleep 0.1
done
served=$(date +%s%N)
[[ $answer == "hello from the ukrun guest" ]] || fail "unexpected HTTP answer '$answer'"

printed=$(sed -n 's/^UKRUN-GUEST-BLOB sha256=\([0-9a-f]*\).*/\1/p' "$log")
fetched=$(nsenter --net="/run/netns/$ns" timeout 20 busybox wget -qO- "http://$guest_ip:8080/blob" | sha256sum | cut -d' ' -f1)
[[ -n $printed && $printed == "$fetched" ]] || fail "blob checksum: guest printed '$printed', node got '$fetched'"
for _ in $(seq 300); do
	grep -q '^UKRUN-GUEST-PROBE ping' "$log" && break
	sleep 0.05
done
grep -q "^UKRUN-GUEST-PROBE ping $gw ok" "$log" || fail "the guest's ping probe of $gw did not report ok"

get() { nsenter --net="/run/netns/$ns" timeout 5 busybox wget -qO- "http://$guest_ip:8080$1" 2>/dev/null; }
delay=$(get '/cgi-bin/poweroff-delay?7') || true
[[ $delay == "poweroff delay 7" ]] || fail "/cgi-bin/poweroff-delay?7 answered '$delay'"
hung=$(get /cgi-bin/hang) || true
[[ $hung == hanging ]] || fail "/cgi-bin/hang answered '$hung'"
if get / >/dev/null; then
	fail "the guest still answers after /cgi-bin/hang"
fi
printf 'smoke: OK machine=%s net=%s ready after %d ms, HTTP answer after %d ms: %s; blob, ping probe, poweroff-delay and hang OK\n' \
	"$machine" "$style" $(((ready - start) / 1000000)) $(((served - start) / 1000000)) "$answer"
