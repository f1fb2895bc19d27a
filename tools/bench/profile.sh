#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make profile BENCH=NAME: run one benchmark row in the stock-kernel VM
# under "perf record -a -g -e cpu-clock", then print perf report's hottest
# symbols and their callers, kcoro.ko's functions by name.
#
#   profile.sh -o OUT -b NAME [-t SECONDS]
#
# NAME is a measurement of the in-kernel table (kcoro_bench only=NAME) or
# of the userspace one (kcoro-ipc-bench -p NAME); without a NAME, or with
# an unknown one, the names are listed.  perf is Debian's linux-perf, the
# version that matches the stock kernel, copied into the VM's initramfs
# with its shared libraries (kcoro-vm -F).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
vm=$top/tools/vm
out= name= secs=4
while getopts "o:b:t:" opt; do
	case $opt in
	o) out=$OPTARG ;;
	b) name=$OPTARG ;;
	t) secs=$OPTARG ;;
	*) sed -n '4,15p' "$0"; exit 2 ;;
	esac
done
[ -n "$out" ] || { sed -n '4,15p' "$0"; exit 2; }

# The in-kernel names: bench_keys[] in kernel/bench.c, one per line.
kernel_rows() {
	sed -n 's/^\t\[B_[A-Z0-9_]*\][[:space:]]*= "\([a-z0-9-]*\)",[[:space:]]*\/\* \(.*\) \*\/$/\1\t\2/p' \
		"$top/kernel/bench.c"
}
ipc_rows() {
	"$out/user/kcoro-ipc-bench" -l | sed 's/^\([^ ]*\) */\1\t/'
}
list() {
	echo "make profile BENCH=NAME, NAME one of:"
	echo "  in-kernel table (kcoro_bench):"
	kernel_rows | awk -F'\t' '{ printf "    %-16s %s\n", $1, $2 }'
	echo "  userspace table (kcoro-ipc-bench):"
	ipc_rows | awk -F'\t' '{ printf "    %-16s %s\n", $1, $2 }'
}
if [ -z "$name" ]; then
	list
	exit 0
fi
if kernel_rows | cut -f1 | grep -qxF -- "$name"; then
	kind=kernel
elif ipc_rows | cut -f1 | grep -qxF -- "$name"; then
	kind=ipc
else
	echo "profile: no benchmark row named '$name'" >&2
	list
	exit 2
fi

# Debian's /usr/bin/perf may be a script that runs perf_<major>.<minor>
# for the running kernel: take the binary for the stock kernel.
kver=$("$vm/stock-kernel.sh")
perf=/usr/bin/perf_$(echo "$kver" | cut -d. -f1-2)
[ -x "$perf" ] || perf=$(command -v perf || true)
if [ -z "$perf" ] || ! file -L "$perf" | grep -q ELF; then
	echo "profile: no perf binary for $kver (apt-get install linux-perf)" >&2
	exit 1
fi
perf=$(readlink -f "$perf")

printf 'kind=%s\nname=%s\nsecs=%s\n' "$kind" "$name" "$secs" > "$out/profile.conf"
log=$out/profile-$name.log
rc=0
"$vm/kcoro-vm" -k "$("$vm/stock-kernel.sh" image)" -t "${VM_TIMEOUT:-900}" \
	-s "$top/tools/testing/vm/profile.sh" -o "$log" -F "$perf" \
	-f "$out/profile.conf" -f "$out/stock/kcoro.ko" \
	-f "$out/stock/kcoro_bench.ko" -f "$out/user/kcoro-ipc-bench" || rc=$?
sed -n 's/.*\] kcoro_bench: //p' "$log"
sed -n '/^KCORO-PROFILE: begin/,/^KCORO-PROFILE: end/{/^KCORO-PROFILE: /d;/^\[ *[0-9.]*\] /d;p}' "$log"
echo "(console log: $log)"
exit $rc
