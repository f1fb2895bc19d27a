# SPDX-License-Identifier: GPL-2.0
# make bench-ipc: kcoro channels between processes against the kernel's own
# IPC, every pair measured side by side in this one boot.
#
# Only CPU 0 stays online, as for make bench.  Under QEMU TCG every vCPU is
# a host thread, and a wake-up that crosses vCPUs waits for the host to
# schedule the sleeping vCPU's thread: a trial run with the two processes
# pinned to two vCPUs measured pipe round trips of 6 ms (100 times the
# one-CPU figure) with a spread of several 100% between runs, which drowns
# the syscall paths being compared.  On one CPU every hand-off is a context
# switch on that CPU, for kcoro and the baselines alike.
for cpu in /sys/devices/system/cpu/cpu[1-9]*; do
	if [ -w "$cpu/online" ]; then echo 0 > "$cpu/online"; fi
done
insmod kcoro.ko
[ -c /dev/kcoro ]
# A failed measurement fails the run, after the table is shown.
rc=0
./kcoro-ipc-bench -v > /tmp/ipc-bench.txt || rc=$?
rmmod kcoro
echo "KCORO-IPC-BENCH: begin"
cat /tmp/ipc-bench.txt
echo "KCORO-IPC-BENCH: end"
exit "$rc"
