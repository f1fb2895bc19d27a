# Runs inside the VM on the stock Debian kernel (make check-stock).
# Load kcoro, run the demo's coroutines, unload everything; kcoro-vm judges
# the console.
insmod kcoro.ko
grep -q '^kcoro ' /proc/modules
# Scheduler kthreads on every online CPU: the active one and a standby
# for hand-offs.
for n in $(seq 0 $(($(grep -c ^processor /proc/cpuinfo) - 1))); do
	[ "$(cat /proc/[0-9]*/comm | grep -cx "kcoro/$n")" -ge 2 ]
done
# CPU hotplug: the last CPU's scheduler stops with it and comes back.
cpu=/sys/devices/system/cpu/cpu$(($(grep -c ^processor /proc/cpuinfo) - 1))/online
if [ -w "$cpu" ]; then
	n=${cpu#/sys/devices/system/cpu/cpu}; n=${n%/online}
	echo 0 > "$cpu"
	if grep -qx "kcoro/$n" /proc/[0-9]*/comm; then exit 1; fi
	insmod kcoro_demo.ko	# runs with one CPU fewer
	rmmod kcoro_demo
	echo 1 > "$cpu"
	grep -qx "kcoro/$n" /proc/[0-9]*/comm
fi
# kretprobes keep their return addresses per task; kcoro must move them
# with each coroutine's stack: every yield of the demo's workers (3 per
# CPU, 8 yields each) returns through the probe, with no rethook WARNING.
T=/sys/kernel/tracing
mount -t tracefs nodev $T 2>/dev/null || true
echo 'r:kcoro_yield_ret kcoro_yield' >> $T/kprobe_events
echo 1 > $T/events/kprobes/kcoro_yield_ret/enable
insmod kcoro_demo.ko
echo 0 > $T/events/kprobes/kcoro_yield_ret/enable
hits=$(grep -c kcoro_yield_ret: $T/trace)
echo "kretprobe on kcoro_yield: $hits returns"
[ "$hits" = $((24 * $(grep -c ^processor /proc/cpuinfo))) ]
echo '-:kcoro_yield_ret' >> $T/kprobe_events
# kcoro's tracepoints show its scheduling: spawns, switches, parks,
# wake-ups, exits and hand-offs (the blocker) of the demo's coroutines.
echo > $T/trace
echo 1 > $T/events/kcoro/enable
rmmod kcoro_demo
insmod kcoro_demo.ko
echo 0 > $T/events/kcoro/enable
for ev in kcoro_spawn kcoro_switch kcoro_park kcoro_wake kcoro_exit kcoro_handoff; do
	n=$(grep -c " $ev: " $T/trace)
	echo "tracepoint $ev: $n events"
	[ "$n" -gt 0 ]
done
# debugfs lists the live coroutines (none left once the demo is done).
grep -q '^id' /sys/kernel/debug/kcoro/coroutines
grep -q '^live' /sys/kernel/debug/kcoro/stats
# While the demo's blocker sleeps a second in msleep(), a worker is
# detached, and /proc/<its pid>/stack shows the coroutine's frames.
rmmod kcoro_demo
insmod kcoro_demo.ko blocker_ms=1000 &
demo=$!
pstack=
while kill -0 $demo 2>/dev/null; do
	pid=$(grep '	detached	' /sys/kernel/debug/kcoro/workers | cut -f2 | head -1)
	if [ -n "$pid" ]; then
		pstack=$(cat /proc/$pid/stack)
		break
	fi
done
wait $demo
echo "$pstack"
echo "$pstack" | grep -q 'demo_blocker_fn'
echo "$pstack" | grep -q 'kcoro_entry_tramp'
# Each CPU's scheduler kthreads: one active, the others standing by.
for n in $(seq 0 $(($(grep -c ^processor /proc/cpuinfo) - 1))); do
	[ "$(grep -c "^$n	[0-9]*	active	" /sys/kernel/debug/kcoro/workers)" = 1 ]
	grep -q "^$n	[0-9]*	standby	" /sys/kernel/debug/kcoro/workers
done
dmesg | grep -q 'kcoro_demo: all coroutines joined'
# While a coroutine blocked in msleep(), a standby kthread ran its sibling.
dmesg | grep 'kcoro_demo: blocker:' | tail -1 |
	grep -q ' ran [1-9][0-9]* steps meanwhile ([1-9][0-9]* hand-off'
rmmod kcoro_demo
rmmod kcoro
if grep -q '^kcoro ' /proc/modules; then exit 1; fi
# The schedulers are gone with the module.
if cat /proc/[0-9]*/comm | grep -q '^kcoro/'; then exit 1; fi
echo "stock: ok"
