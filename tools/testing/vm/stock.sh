# Runs inside the VM on the stock Debian kernel (make check-stock).
# Load kcoro, run the demo's coroutines, unload everything; kcoro-vm judges
# the console.
insmod kcoro.ko
grep -q '^kcoro ' /proc/modules
# One scheduler kthread per online CPU.
[ "$(cat /proc/[0-9]*/comm | grep -c '^kcoro/')" = "$(grep -c ^processor /proc/cpuinfo)" ]
insmod kcoro_demo.ko
dmesg | grep -q 'kcoro_demo: all coroutines joined'
rmmod kcoro_demo
rmmod kcoro
if grep -q '^kcoro ' /proc/modules; then exit 1; fi
# The schedulers are gone with the module.
if cat /proc/[0-9]*/comm | grep -q '^kcoro/'; then exit 1; fi
echo "stock: ok"
