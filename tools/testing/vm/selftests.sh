# SPDX-License-Identifier: GPL-2.0
# Runs inside the VM (make check-selftests-stock, check-selftests-debug):
# load kcoro, run every kselftest binary as a 64-bit and then as a 32-bit
# program (the compat_ioctl path), unload kcoro.  Each binary prints its
# TAP and a "# Totals:" line; the script fails when any binary fails or
# kcoro does not unload, and kcoro-vm judges the console besides.
insmod kcoro.ko
[ -c /dev/kcoro ]
tests="kcoro_dev_test kcoro_call_test kcoro_chan_test kcoro_select_test kcoro_select_proc_test
	kcoro_proc_test kcoro_service_test
	kcoro_fuzz_test kcoro_sched_test kcoro_limits_test"

# 32-bit programs need CONFIG_IA32_EMULATION, which registers
# /proc/sys/abi/vsyscall32; without it the kernel cannot exec them.
compat=0
if [ -e /proc/sys/abi/vsyscall32 ] &&
	./kcoro_dev_test_32 -l 2>&1 | grep -q '^# FIXTURE'; then
	compat=1
else
	echo "KCORO-SELFTEST: this kernel runs no 32-bit programs (CONFIG_IA32_EMULATION): 32-bit binaries skipped"
fi

fail=0
for t in $tests; do
	for bits in 64 32; do
		if [ $bits = 32 ] && [ $compat = 0 ]; then
			continue
		fi
		echo "KCORO-SELFTEST: $t ($bits-bit)"
		if ! "./${t}_$bits"; then
			echo "KCORO-SELFTEST: $t ($bits-bit) FAILED"
			fail=1
		fi
	done
done

# kcoro_sched_test brings back the CPUs it took offline, unless it was
# killed (a timeout): make sure, for what follows.
for f in /sys/devices/system/cpu/cpu*/online; do
	[ "$(cat "$f")" = 1 ] || echo 1 > "$f" ||
		echo "KCORO-SELFTEST: cannot bring $f back"
done

# Every file is closed now: kcoro must unload, also at once after a busy
# service lost its last fd (its coroutines still drain the requests;
# module exit waits for them).
echo "KCORO-SELFTEST: unload with a busy service"
if ! KCORO_UNLOAD_BUSY=1 ./kcoro_limits_test_64 -t unload_busy_service; then
	echo "KCORO-SELFTEST: unload_busy_service FAILED"
	fail=1
fi
# If that failed, unload as before (service coroutines may take a moment).
tries=0
while grep -q '^kcoro ' /proc/modules && ! rmmod kcoro 2>/dev/null; do
	tries=$((tries + 1))
	if [ $tries -ge 20 ]; then
		echo "KCORO-SELFTEST: kcoro does not unload"
		grep '^kcoro ' /proc/modules
		exit 1
	fi
	sleep 1
done
if grep -q '^kcoro ' /proc/modules; then
	echo "KCORO-SELFTEST: kcoro still loaded"
	exit 1
fi
if [ $fail = 0 ]; then
	echo "KCORO-SELFTEST: all passed, kcoro unloaded"
else
	echo "KCORO-SELFTEST: failures above"
fi
exit $fail
