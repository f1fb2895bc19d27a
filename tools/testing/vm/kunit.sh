# Runs inside the VM on a KUnit kernel (debug: KASAN + lockdep; kcsan):
# each KUnit module between its own markers for kunit.py, then the demo,
# then unload.  The channel stress test runs 10,000 values per producer
# here (its default is 3,000) so that races have time to show; on arm64,
# whose TCG emulation is about three times slower, its default, to keep
# the leg's time down (the suites' watchdogs are tied to progress, not to
# time: Documentation/kcoro/testing.rst).  Likewise the hand-off stress:
# 200 blocking rounds per coroutine (25 by default, and on arm64).  The
# linearizability check: 600 histories per kind of channel (its default),
# 300 on arm64.
stress_m=10000
handoff_rounds=200
lin_histories=600
if [ "$(uname -m)" = aarch64 ]; then
	stress_m=3000
	handoff_rounds=25
	lin_histories=300
fi
# A case that gives up on a coroutine leaks it on purpose, and the
# coroutine pins its module: the other suites still run, the run fails.
rc=0
insmod kcoro.ko
for t in kcoro_test kcoro_chan_test kcoro_select_test kcoro_lin_test; do
	params=
	[ "$t" = kcoro_chan_test ] && params="stress_m=$stress_m"
	[ "$t" = kcoro_test ] && params="handoff_rounds=$handoff_rounds"
	[ "$t" = kcoro_lin_test ] && params="lin_histories=$lin_histories"
	echo "KCORO-KUNIT-BEGIN $t" > /dev/kmsg
	# shellcheck disable=SC2086
	insmod "$t.ko" $params
	echo "KCORO-KUNIT-END $t" > /dev/kmsg
	rmmod "$t" || { echo "kunit: $t stays loaded (abandoned coroutines)"; rc=1; }
done
[ $rc = 0 ] || exit $rc
insmod kcoro_demo.ko
rmmod kcoro_demo
rmmod kcoro
echo "kunit: ok"
