# Runs inside the VM on the stock Debian kernel (make check-stock).
# Load kcoro, run the demo's coroutines, unload everything; kcoro-vm judges
# the console.
insmod kcoro.ko
grep -q '^kcoro ' /proc/modules
# One scheduler kthread per online CPU.
[ "$(cat /proc/[0-9]*/comm | grep -c '^kcoro/')" = "$(grep -c ^processor /proc/cpuinfo)" ]
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
insmod kcoro_demo.ko
dmesg | grep -q 'kcoro_demo: all coroutines joined'
rmmod kcoro_demo
rmmod kcoro
if grep -q '^kcoro ' /proc/modules; then exit 1; fi
# The schedulers are gone with the module.
if cat /proc/[0-9]*/comm | grep -q '^kcoro/'; then exit 1; fi
echo "stock: ok"
