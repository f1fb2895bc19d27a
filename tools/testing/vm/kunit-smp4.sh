# Runs inside the VM on a KUnit kernel booted with four vCPUs
# (KCORO_VM_CPUS=4): only the channel and select stress cases, each test
# module between its own markers for kunit.py, selected with KUnit's
# filter_glob (set before the module loads; no trailing newline).  More
# CPUs than the two of kunit.sh's run mean more concurrent schedulers,
# more producer and consumer slots (chan_stress has two per CPU) and more
# stealing.  Sizes as in kunit.sh: chan_stress at 10,000 values per
# producer, 3000 (its default) on arm64, whose TCG emulation is about three
# times slower; select_stress at its default of 2000 values per producer,
# 1000 on arm64.
chan_m=10000
sel_m=2000
if [ "$(uname -m)" = aarch64 ]; then
	chan_m=3000
	sel_m=1000
fi
rc=0
cpus=$(grep -c ^processor /proc/cpuinfo)
[ "$cpus" -ge 4 ] || { echo "kunit-smp4: $cpus CPUs, want 4"; exit 1; }
insmod kcoro.ko
for t in kcoro_chan_test:kcoro_chan.chan_stress:$chan_m \
	 kcoro_select_test:kcoro_select.select_stress:$sel_m; do
	mod=${t%%:*}
	glob=${t#*:}
	glob=${glob%:*}
	printf %s "$glob" > /sys/module/kunit/parameters/filter_glob
	echo "KCORO-KUNIT-BEGIN $mod" > /dev/kmsg
	insmod "$mod.ko" "stress_m=${t##*:}"
	echo "KCORO-KUNIT-END $mod" > /dev/kmsg
	rmmod "$mod" || { echo "kunit-smp4: $mod stays loaded (abandoned coroutines)"; rc=1; }
done
[ $rc = 0 ] || exit $rc
rmmod kcoro
echo "kunit-smp4: ok"
