# SPDX-License-Identifier: GPL-2.0
# make profile: one benchmark row under perf record, then perf report.
#
# profile.conf (written by tools/bench/profile.sh) sets kind (kernel: a
# kcoro_bench measurement, ipc: a kcoro-ipc-bench one), name and secs.
# Only CPU 0 stays online, as for make bench.  QEMU TCG has no PMU: the
# samples come from the cpu-clock software event (an hrtimer).
. ./profile.conf
for cpu in /sys/devices/system/cpu/cpu[1-9]*; do
	if [ -w "$cpu/online" ]; then echo 0 > "$cpu/online"; fi
done
# Real addresses in /proc/kallsyms, and perf open to everyone.
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid
# perf report reads the kernel's text through /proc/kcore and names it
# with /proc/kallsyms, modules included (their functions show in the
# [kernel.kallsyms] dso): so the modules stay loaded until the report is
# done.  kcoro_bench, loaded under perf record, has no map in perf.data
# that a .ko could fill; the .ko files under /lib/modules are the fallback
# when /proc/kcore cannot be read.
mods=/lib/modules/$(uname -r)/extra
mkdir -p "$mods"
cp kcoro*.ko "$mods/"
perf=$(command -v perf || true)
[ -n "$perf" ] || perf=$(ls /usr/bin/perf_* | head -1)
export HOME=/tmp
insmod kcoro.ko
case $kind in
kernel)
	set -- insmod ./kcoro_bench.ko "only=$name" "secs=$secs" ;;
ipc)
	[ -c /dev/kcoro ]
	set -- ./kcoro-ipc-bench -p "$name" -t "${secs}000" ;;
*)
	echo "profile: unknown kind '$kind'"; exit 1 ;;
esac
"$perf" record -N -a -g -e cpu-clock -F 2000 -o /tmp/perf.data -- "$@" \
	> /tmp/run.txt 2> /tmp/record.txt
report() {
	"$perf" report -i /tmp/perf.data --stdio --no-children "$@" 2>/dev/null
}
echo "KCORO-PROFILE: begin"
cat /tmp/run.txt /tmp/record.txt
echo
echo "== hottest symbols (self time, the whole system; [k] kernel and modules, [.] user) =="
report -g none --sort overhead,dso,sym --percent-limit 0.3 |
	grep -v -e '^#' -e '^$' | head -40
echo
echo "== callers of the hottest symbols (call chains above 3%) =="
report -g graph,3,callee,function,percent --max-stack 8 --sort sym \
	--percent-limit 3 | grep -v -e '^#' -e '^$' | head -100
echo "KCORO-PROFILE: end"
# Unloaded only now: perf report maps addresses through /proc/modules.
[ "$kind" = kernel ] && rmmod kcoro_bench
rmmod kcoro
dmesg | grep -q 'kcoro_bench: profile: .* per operation' ||
	grep -q '^profile: .* per operation' /tmp/run.txt
