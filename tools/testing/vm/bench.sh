# make bench: one VM run, every pair measured side by side.
#
# The one-CPU table: only CPU 0 stays online.  Under QEMU TCG every vCPU is
# a host thread, so a wake-up that crosses vCPUs costs host scheduling
# latency (up to a few ms when the host is busy), which would swamp what is
# measured; kcoro_bench pins that work to one CPU anyway.
for cpu in /sys/devices/system/cpu/cpu[1-9]*; do
	if [ -w "$cpu/online" ]; then echo 0 > "$cpu/online"; fi
done
echo "bench: $(grep -c ^processor /proc/cpuinfo) CPU(s), online: $(cat /sys/devices/system/cpu/online)"
insmod kcoro.ko
insmod kcoro_bench.ko steal=0
rmmod kcoro_bench
# The stealing rows: the other CPUs back online, the module loaded again.
for cpu in /sys/devices/system/cpu/cpu[1-9]*; do
	if [ -w "$cpu/online" ]; then echo 1 > "$cpu/online"; fi
done
echo "bench: online: $(cat /sys/devices/system/cpu/online)"
insmod kcoro_bench.ko table=0
[ "$(dmesg | grep -c 'kcoro_bench: done$')" = 2 ]
rmmod kcoro_bench
rmmod kcoro
