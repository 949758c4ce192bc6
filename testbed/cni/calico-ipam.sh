# shellcheck shell=bash
# Address allocation for the test bed's Calico-style CNI plugin
# (ukrun-calico), laid out like the host-local plugin's: one folder per
# network holding a `lock` file and one file per address in use, named by
# the address and holding "CONTAINER_ID IFNAME". Every change happens under
# flock on `lock`, so pods set up at once never get the same address.
# Sourced, not run.

# Runs "${@:2}" while holding the lock of allocation folder $1 (created if
# missing), waiting up to 10 s for it.
ipam_locked() {
	local dir=$1 fd rc=0
	shift
	mkdir -p "$dir"
	exec {fd}>"$dir/lock"
	flock -w 10 "$fd" || { exec {fd}>&-; echo "ipam: $dir/lock is held" >&2; return 1; }
	"$@" || rc=$?
	exec {fd}>&-
	return "$rc"
}

# The address held by "$2 $3" (container id, interface) in folder $1, if any.
ipam_lookup() {
	local dir=$1 owner="$2 $3" file
	for file in "$dir"/*.*.*.*; do
		[[ -f $file && $(<"$file") == "$owner" ]] && { echo "${file##*/}"; return 0; }
	done
	return 0
}

# Prints the address of "$4 $5" in folder $1: the one it holds already, or
# the first free one from $2 to $3 (same /24), which it then holds.
ipam_claim_unlocked() {
	local dir=$1 start=$2 end=$3 owner="$4 $5" held n
	held=$(ipam_lookup "$dir" "$4" "$5")
	[[ -n $held ]] && { echo "$held"; return 0; }
	[[ ${start%.*} == "${end%.*}" ]] || { echo "ipam: $start and $end are not in one /24" >&2; return 1; }
	for ((n = ${start##*.}; n <= ${end##*.}; n++)); do
		if [[ ! -e $dir/${start%.*}.$n ]]; then
			echo "$owner" >"$dir/${start%.*}.$n"
			echo "${start%.*}.$n"
			return 0
		fi
	done
	echo "ipam: no free address from $start to $end" >&2
	return 1
}

# Removes every address "$2 $3" holds in folder $1 (none is fine).
ipam_release_unlocked() {
	local dir=$1 owner="$2 $3" file
	for file in "$dir"/*.*.*.*; do
		[[ -f $file && $(<"$file") == "$owner" ]] && rm -f "$file"
	done
	return 0
}

# ipam_claim DIR START END CONTAINER_ID IFNAME: the pod's address.
ipam_claim() { ipam_locked "$1" ipam_claim_unlocked "$@"; }

# ipam_release DIR CONTAINER_ID IFNAME: gives the pod's address back.
ipam_release() { ipam_locked "$1" ipam_release_unlocked "$@"; }
