# Runs inside the VM on a KUnit kernel (debug: KASAN + lockdep; kcsan):
# every KUnit suite between markers for kunit.py, then the demo, then
# unload.
insmod kcoro.ko
echo KCORO-KUNIT-BEGIN > /dev/kmsg
for t in kcoro_test.ko kcoro_chan_test.ko; do
	if [ -f "$t" ]; then insmod "$t"; fi
done
echo KCORO-KUNIT-END > /dev/kmsg
for t in kcoro_chan_test kcoro_test; do
	if grep -q "^$t " /proc/modules; then rmmod "$t"; fi
done
insmod kcoro_demo.ko
rmmod kcoro_demo
rmmod kcoro
echo "kunit: ok"
