# Expected to die: a coroutine recurses until it hits the guard page below
# its stack.  kcoro-vm -e checks the kernel's report.
insmod kcoro.ko
insmod kcoro_overflow.ko
