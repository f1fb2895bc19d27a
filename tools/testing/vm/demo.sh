# The README's main job: load kcoro and the demo, show what it did; then
# the userspace demo (when make demo copied it in): processes and kernel
# coroutines on /dev/kcoro channels.
insmod kcoro.ko
insmod kcoro_demo.ko
rmmod kcoro_demo
if [ -x ./kcoro-demo ]; then
	./kcoro-demo
fi
rmmod kcoro
