# SPDX-License-Identifier: GPL-2.0
# make bench-scale: the scale table of kcoro_bench in a VM of its own, with
# the memory 100k coroutine stacks need (KCORO_VM_MEM, set by the
# Makefile), every CPU online: kcoro_bench pins the coroutines to one CPU,
# the other schedulers stay idle and ask for work, as on a real machine.
echo "bench: $(grep -c ^processor /proc/cpuinfo) CPU(s), online: $(cat /sys/devices/system/cpu/online), $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
insmod kcoro.ko
insmod kcoro_bench.ko table=0 steal=0 scale=1
[ "$(dmesg | grep -c 'kcoro_bench: done$')" = 1 ]
rmmod kcoro_bench
rmmod kcoro
