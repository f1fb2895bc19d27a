# Runs inside the VM on the debug kernel (KUnit, KASAN, lockdep):
# the KUnit suites, then the demo, then unload.
insmod kcoro.ko
echo KCORO-KUNIT-BEGIN > /dev/kmsg
insmod kcoro_test.ko
echo KCORO-KUNIT-END > /dev/kmsg
rmmod kcoro_test
insmod kcoro_demo.ko
rmmod kcoro_demo
rmmod kcoro
echo "debug: ok"
