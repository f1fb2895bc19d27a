#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The end of "make bench": issue 16's performance targets, each with the
# ratio measured, its spread and PASS, MISS, "noisy" (the ratio did not
# settle under 10% spread: no verdict) or "-" (not measured: no row of that
# name, e.g. before KCORO_IOC_CALL's row exists).
#
#   targets.sh LOG...
#
# The LOGs are the consoles of the bench VM runs; their "ratio: KCORO |
# BASELINE | RATIO | SPREAD% | settled|noisy" lines come from kernel/bench.c
# and tools/bench/kcoro-ipc-bench.c.  A target names its rows: the kcoro
# row by name (or, with no exact match, by the start of its name) and its
# baseline by name.  A missed target is reported, never an error.
set -euo pipefail

# label | kcoro row | baseline row | target (ratio at least)
targets='
yield ping-pong vs completion ping-pong (kthreads)|yield ping-pong, 2 coroutines (switch)|completion ping-pong, 2 kt|50
rendezvous, 2 coroutines vs kfifo+wq rendezvous, 2 kthreads|rendezvous send+recv, 2 coroutines|kfifo+wq rendezvous, 2 kt|20
buffered(64) 2x2 coroutines vs kfifo(64)+spinlock 2x2 kthreads|buffered(64) chan, 2x2 coroutines|kfifo(64)+spinlock, 2x2 kt|2
spawn+join from a kthread vs queue_work+flush_work|spawn+join from a kthread|queue_work+flush_work|1.5
spawn+join from a coroutine vs kthread_run+kthread_stop (keep)|spawn+join from a coroutine (same CPU)|kthread_run+kthread_stop|100
round trip, SEND/RECV ioctl cap 1 vs pipe pair|kcoro SEND/RECV ioctl, capacity 1|pipe pair, write/read|1.0
round trip, KCORO_IOC_CALL vs pipe pair|kcoro CALL ioctl|pipe pair, write/read|1.5
throughput, 1 message per SEND/RECV ioctl vs pipe 64-byte|kcoro SEND/RECV ioctl, capacity 1024|pipe, 64-byte write/read|1.0
throughput, SEND/RECV_BATCH x64 vs pipe 64-byte|kcoro SEND/RECV_BATCH x64, capacity 1024|pipe, 64-byte write/read|3
SELECT over 2 channels vs epoll_wait + read on 2 pipes|kcoro SELECT, 2 channels of capacity 1024|epoll_wait + read, 2 pipes|1.0
ECHO service round trip vs pipe pair (keep)|kcoro ECHO service, 1 coroutine, cap 1|pipe pair, write/read|4
'

{ cat "$@" 2>/dev/null || true; } | sed -n 's/^\(\[ *[0-9.]*\] kcoro_bench: \)\{0,1\}ratio: //p' |
awk -v targets="$targets" '
function trim(s) { gsub(/^ +| +$/, "", s); return s }
BEGIN { FS = "|" }
{
	k = trim($1); b = trim($2)
	if ((k, b) in ratio)
		next
	ratio[k, b] = trim($3); spread[k, b] = trim($4); state[k, b] = trim($5)
	kname[++n] = k; bname[n] = b
}
END {
	printf "\nissue 16 targets (ratio: baseline time / kcoro time, above 1: kcoro faster; +-: spread)\n"
	printf "%-64s %8s %16s  %s\n", "", "target", "measured", "verdict"
	nt = split(targets, line, "\n")
	for (t = 1; t <= nt; t++) {
		if (split(line[t], f, "|") != 4)
			continue
		key = ""
		if ((f[2], f[3]) in ratio)
			key = f[2] SUBSEP f[3]
		for (i = 1; key == "" && i <= n; i++)
			if (index(kname[i], f[2]) == 1 && bname[i] == f[3])
				key = kname[i] SUBSEP bname[i]
		if (key == "") {
			printf "%-64s %7sx %16s  %s\n", f[1], ">= " f[4], "-", "-"
			continue
		}
		m = sprintf("%.2fx +-%3d%%", ratio[key], spread[key])
		v = state[key] == "noisy" ? "noisy" : ratio[key] + 0 >= f[4] + 0 ? "PASS" : "MISS"
		printf "%-64s %7sx %16s  %s\n", f[1], ">= " f[4], m, v
	}
}'
