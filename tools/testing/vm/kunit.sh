# Runs inside the VM on a KUnit kernel (debug: KASAN + lockdep; kcsan):
# each KUnit module between its own markers for kunit.py, then the demo,
# then unload.
insmod kcoro.ko
for t in kcoro_test kcoro_chan_test; do
	echo "KCORO-KUNIT-BEGIN $t" > /dev/kmsg
	insmod "$t.ko"
	echo "KCORO-KUNIT-END $t" > /dev/kmsg
	rmmod "$t"
done
insmod kcoro_demo.ko
rmmod kcoro_demo
rmmod kcoro
echo "kunit: ok"
