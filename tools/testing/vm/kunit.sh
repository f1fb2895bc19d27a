# Runs inside the VM on a KUnit kernel (debug: KASAN + lockdep; kcsan):
# each KUnit module between its own markers for kunit.py, then the demo,
# then unload.  The channel stress test runs 10,000 values per producer
# here (its default is 3,000) so that races have time to show; on arm64,
# whose TCG emulation is about three times slower, its default, so that
# the slowest case (one-cell segments, rendezvous) stays well inside the
# test's 20 s watchdog.  Likewise the hand-off stress: 200 blocking rounds
# per coroutine (25 by default, and on arm64).
stress_m=10000
handoff_rounds=200
if [ "$(uname -m)" = aarch64 ]; then
	stress_m=3000
	handoff_rounds=25
fi
insmod kcoro.ko
for t in kcoro_test kcoro_chan_test kcoro_select_test; do
	params=
	[ "$t" = kcoro_chan_test ] && params="stress_m=$stress_m"
	[ "$t" = kcoro_test ] && params="handoff_rounds=$handoff_rounds"
	echo "KCORO-KUNIT-BEGIN $t" > /dev/kmsg
	# shellcheck disable=SC2086
	insmod "$t.ko" $params
	echo "KCORO-KUNIT-END $t" > /dev/kmsg
	rmmod "$t"
done
insmod kcoro_demo.ko
rmmod kcoro_demo
rmmod kcoro
echo "kunit: ok"
