# SPDX-License-Identifier: GPL-2.0
#
# kcoro - stackful coroutines for the Linux kernel.
#
#   make            build the modules against $(KDIR) (Debian stock headers)
#   make demo       the main job: boot the stock kernel, load kcoro, run the demo
#   make check      everything: lint, stock-kernel VM, KUnit on the debug
#                   (KASAN, lockdep) and kcsan kernels, kselftests, for
#                   x86_64 and arm64 (KCORO_ARCH=x86_64 or KCORO_ARCH=arm64:
#                   one only)
#   make check-arm64  the arm64 legs alone (stock, overflow, debug KUnit,
#                   its 4-vCPU stress run)
#   make bench      benchmark tables, kernel and userspace IPC, and the
#                   scale table (not a test; make bench-scale: that one)
#                   make bench-arm64: the in-kernel table on arm64
#   make profile BENCH=NAME  one benchmark row under perf record in the
#                   stock VM, then perf report (no NAME: list the rows)
#   make lint       checkpatch --strict, W=1 and sparse builds, all clean
#   make check-lin  the self-test of the linearizability checker (host)
#   make setup      install the Debian packages the above need
#
# Kernels and their build trees are cached in $(KCORO_CACHE).

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

SHELL		:= /bin/bash
TOP		:= $(CURDIR)
VM		:= $(TOP)/tools/vm
KCORO_CACHE	?= $(HOME)/.cache/kcoro
export KCORO_CACHE
STOCK_KVER	:= $(shell $(VM)/stock-kernel.sh 2>/dev/null)
KDIR		?= /usr/src/linux-headers-$(STOCK_KVER)
KUNIT_MODULES	:= kcoro.ko kcoro_demo.ko kcoro_test.ko kcoro_chan_test.ko \
		   kcoro_select_test.ko kcoro_lin_test.ko
OUT		:= $(TOP)/build
SOURCES		:= Kbuild Makefile kernel include
VM_TIMEOUT	?= 900
# Architectures "make check" and "make lint" cover.
KCORO_ARCH	?= x86_64 arm64
ARM64_MAKE	:= ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-

# Build the module tree for one kernel in its own directory, so objects for
# the stock and the debug kernel never mix.  $(1): name, $(2): kernel tree,
# $(3): extra make arguments (ARCH, CROSS_COMPILE).
define build_for
	mkdir -p $(OUT)/$(1)
	rsync -a --delete --exclude '*.o' --exclude '*.ko' --exclude '.*.cmd' \
		--exclude '*.mod*' --exclude 'Module.symvers' --exclude modules.order \
		$(SOURCES) $(OUT)/$(1)/
	$(MAKE) -C $(2) M=$(OUT)/$(1) $(3) $(KBUILD_EXTRA) modules
endef

.PHONY: all modules clean setup demo check check-stock check-debug check-overflow \
	check-kcsan bench bench-kernel lint stock-build debug-build kcsan-build \
	check-x86_64 check-arm64 check-stock-arm64 check-overflow-arm64 \
	check-debug-arm64 stock-arm64-build debug-arm64-build bench-arm64 \
	check-debug-smp4 check-kcsan-smp4 check-debug-arm64-smp4 check-lin \
	bench-scale profile

all modules:
	$(MAKE) -C $(KDIR) M=$(TOP) modules

clean:
	$(MAKE) -C $(KDIR) M=$(TOP) clean
	rm -rf $(OUT)

setup:
	$(TOP)/tools/setup.sh

stock-build:
	$(call build_for,stock,$(KDIR))

# The KUnit kernels: debug (KASAN + lockdep) and kcsan (race detector).
debug-build kcsan-build: %-build: | $(OUT)
	$(VM)/build-kernel.sh $(TOP)/tools/testing/kunit/kcoro-$*.config \
		> $(OUT)/$*-tree.path
	$(call build_for,$*,$$(cat $(OUT)/$*-tree.path))

$(OUT):
	mkdir -p $@

demo: stock-build
	$(VM)/kcoro-vm -k $$($(VM)/stock-kernel.sh image) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/demo.sh -o $(OUT)/demo.log \
		-f $(OUT)/stock/kcoro.ko -f $(OUT)/stock/kcoro_demo.ko \
		$(addprefix -f ,$(DEMO_FILES))
	@sed -n -e 's/.*\] kcoro_demo: //p' -e 's/^kcoro-demo: //p' $(OUT)/demo.log

check-stock: stock-build
	$(VM)/kcoro-vm -k $$($(VM)/stock-kernel.sh image) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/stock.sh -o $(OUT)/stock.log \
		-f $(OUT)/stock/kcoro.ko -f $(OUT)/stock/kcoro_demo.ko

# A coroutine stack overflow must hit the guard page and be reported with
# a trace through the coroutine, never corrupt memory.
check-overflow: stock-build
	$(VM)/kcoro-vm -k $$($(VM)/stock-kernel.sh image) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/overflow.sh -o $(OUT)/overflow.log \
		-f $(OUT)/stock/kcoro.ko -f $(OUT)/stock/kcoro_overflow.ko \
		-e 'BUG: TASK stack guard page was hit' \
		-e 'kcoro_overflow_recurse' -e 'kcoro_entry_tramp'

# KUnit suites on a test kernel; kunit.py parses their KTAP.
check-debug check-kcsan: check-%: %-build
	tree=$$(cat $(OUT)/$*-tree.path); \
	$(VM)/kcoro-vm -k $$tree/arch/x86/boot/bzImage -t $(VM_TIMEOUT) \
		-K $$tree/tools/testing/kunit/kunit.py \
		-s $(TOP)/tools/testing/vm/kunit.sh -o $(OUT)/$*.log \
		$(addprefix -f $(OUT)/$*/,$(KUNIT_MODULES))

# The self-test of the channel linearizability checker that
# kcoro_lin_test runs in the kernel (kernel/tests/kcoro_lin.h): a host
# program fed with histories that are linearizable and histories that
# are not.
LIN_DIR		:= $(TOP)/tools/testing/kcoro-lin
$(OUT)/user/lin_selftest: $(LIN_DIR)/lin_selftest.c $(LIN_DIR)/lin_user.h \
		$(TOP)/kernel/tests/kcoro_lin.h
	@mkdir -p $(@D)
	$(USER_CC) -O2 -g -Wall -Wextra -Werror -o $@ $<

check-lin: $(OUT)/user/lin_selftest
	$< > $(OUT)/lin-selftest.log; rc=$$?; \
	grep -e '^not ok' -e '^# Totals' $(OUT)/lin-selftest.log; exit $$rc

# The channel and select stress cases again with four vCPUs (the runs
# above have two): more schedulers, more producer and consumer slots.
SMP4_MODULES	:= kcoro.ko kcoro_chan_test.ko kcoro_select_test.ko
check-debug-smp4 check-kcsan-smp4: check-%-smp4: %-build
	tree=$$(cat $(OUT)/$*-tree.path); \
	KCORO_VM_CPUS=4 $(VM)/kcoro-vm -k $$tree/arch/x86/boot/bzImage -t $(VM_TIMEOUT) \
		-K $$tree/tools/testing/kunit/kunit.py \
		-s $(TOP)/tools/testing/vm/kunit-smp4.sh -o $(OUT)/$*-smp4.log \
		$(addprefix -f $(OUT)/$*/,$(SMP4_MODULES))

# arm64: the same legs on Debian's stock arm64 kernel (its headers and
# image fetched by stock-kernel.sh -a arm64, modules cross-built) and on an
# arm64 debug kernel (KUnit, KASAN, lockdep) cross-built from
# linux-source-6.12.
ARM64_STOCK_IMAGE = $$($(VM)/stock-kernel.sh -a arm64 image)

stock-arm64-build:
	$(call build_for,stock-arm64,$$($(VM)/stock-kernel.sh -a arm64 headers),$(ARM64_MAKE))

debug-arm64-build: | $(OUT)
	$(VM)/build-kernel.sh -a arm64 $(TOP)/tools/testing/kunit/kcoro-debug-arm64.config \
		> $(OUT)/debug-arm64-tree.path
	$(call build_for,debug-arm64,$$(cat $(OUT)/debug-arm64-tree.path),$(ARM64_MAKE))

check-stock-arm64: stock-arm64-build
	$(VM)/kcoro-vm -a arm64 -k $(ARM64_STOCK_IMAGE) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/stock.sh -o $(OUT)/stock-arm64.log \
		-f $(OUT)/stock-arm64/kcoro.ko -f $(OUT)/stock-arm64/kcoro_demo.ko

# arm64 reports an overflow at exception entry, on the overflow stack,
# with the task stack's bounds and a trace through the coroutine.
check-overflow-arm64: stock-arm64-build
	$(VM)/kcoro-vm -a arm64 -k $(ARM64_STOCK_IMAGE) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/overflow.sh -o $(OUT)/overflow-arm64.log \
		-f $(OUT)/stock-arm64/kcoro.ko -f $(OUT)/stock-arm64/kcoro_overflow.ko \
		-e 'Insufficient stack space to handle exception' \
		-e 'kernel stack overflow' \
		-e 'kcoro_overflow_recurse' -e 'kcoro_entry_tramp'

check-debug-arm64: debug-arm64-build
	tree=$$(cat $(OUT)/debug-arm64-tree.path); \
	$(VM)/kcoro-vm -a arm64 -k $$tree/arch/arm64/boot/Image -t $(VM_TIMEOUT) \
		-K $$tree/tools/testing/kunit/kunit.py \
		-s $(TOP)/tools/testing/vm/kunit.sh -o $(OUT)/debug-arm64.log \
		$(addprefix -f $(OUT)/debug-arm64/,$(KUNIT_MODULES))

check-debug-arm64-smp4: debug-arm64-build
	tree=$$(cat $(OUT)/debug-arm64-tree.path); \
	KCORO_VM_CPUS=4 $(VM)/kcoro-vm -a arm64 -k $$tree/arch/arm64/boot/Image \
		-t $(VM_TIMEOUT) -K $$tree/tools/testing/kunit/kunit.py \
		-s $(TOP)/tools/testing/vm/kunit-smp4.sh -o $(OUT)/debug-arm64-smp4.log \
		$(addprefix -f $(OUT)/debug-arm64/,$(SMP4_MODULES))

check-x86_64: check-stock check-overflow check-debug check-kcsan \
		check-debug-smp4 check-kcsan-smp4 \
		check-selftests-stock check-selftests-debug
check-arm64: check-stock-arm64 check-overflow-arm64 check-debug-arm64 \
		check-debug-arm64-smp4 check-selftests-stock-arm64

# lint.sh: checkpatch once, then W=1 + sparse builds against each kernel
# of the selected architectures.
LINT_TREES := $(if $(filter x86_64,$(KCORO_ARCH)),\
	x86_64:$(KDIR) x86_64:$$(cat $(OUT)/debug-tree.path)) \
	$(if $(filter arm64,$(KCORO_ARCH)),\
	arm64:$$($(VM)/stock-kernel.sh -a arm64 headers) \
	arm64:$$(cat $(OUT)/debug-arm64-tree.path))

lint: $(if $(filter x86_64,$(KCORO_ARCH)),debug-build) \
	$(if $(filter arm64,$(KCORO_ARCH)),debug-arm64-build)
	$(TOP)/tools/lint.sh $(LINT_TREES)

# The closing line counts the VM legs, every KUnit case of the test kernels,
# every kselftest case (x86_64: 64- and 32-bit programs) and every case of
# the linearizability checker's self-test.
CHECK_LOGS := lin-selftest \
	$(if $(filter x86_64,$(KCORO_ARCH)),debug kcsan debug-smp4 \
	kcsan-smp4 selftests-stock selftests-debug) \
	$(if $(filter arm64,$(KCORO_ARCH)),debug-arm64 debug-arm64-smp4 \
	selftests-stock-arm64)
CHECK_LEGS := $(words lint $(if $(filter x86_64,$(KCORO_ARCH)),1 2 3 4 5 6 7 8) \
	$(if $(filter arm64,$(KCORO_ARCH)),1 2 3 4 5))

check: lint check-lin $(addprefix check-,$(filter x86_64 arm64,$(KCORO_ARCH)))
	@pass=$$(cat $(addprefix $(OUT)/,$(addsuffix .log,$(CHECK_LOGS))) | \
		sed -n 's/^# Totals: pass:\([0-9]*\) fail:\([0-9]*\).*/\1 \2/p' | \
		awk '{ p += $$1; f += $$2 } END { print p + $(CHECK_LEGS) " passed, " f " failed" }'); \
	echo "make check ($(KCORO_ARCH)): lint, VM legs, KUnit and kselftest cases:"; \
	echo "$$pass"

# Userspace: libkcoro, kselftests, demo and benchmark programs.
include $(TOP)/tools/userspace.mk
include $(TOP)/tools/bench/bench.mk

# The tables: the in-kernel one, the userspace IPC one and the scale one
# (each its own VM run), then issue 16's targets, PASS/MISS, from the
# "ratio:" lines of the first two.
bench: bench-kernel bench-ipc bench-scale
	@$(TOP)/tools/bench/targets.sh $(OUT)/bench.log $(OUT)/bench-ipc.log

bench-kernel: stock-build
	$(VM)/kcoro-vm -k $$($(VM)/stock-kernel.sh image) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/bench.sh -o $(OUT)/bench.log \
		-f $(OUT)/stock/kcoro.ko -f $(OUT)/stock/kcoro_bench.ko
	@sed -n -e '/kcoro_bench: done/d' -e '/kcoro_bench: ratio: /d' \
		-e 's/.*\] kcoro_bench: //p' $(OUT)/bench.log

# One row of either table under perf (tools/bench/profile.sh).
PROFILE_SECS	?= 4
profile: stock-build bench-ipc-prog
	@$(TOP)/tools/bench/profile.sh -o $(OUT) -b "$(BENCH)" -t $(PROFILE_SECS)

# The scale table: 1k to 100k parked coroutines, each with its own stack
# (THREAD_SIZE), in a VM with the memory that takes (BENCH_SCALE_MEM MB).
BENCH_SCALE_MEM	?= 4096
bench-scale: stock-build
	KCORO_VM_MEM=$(BENCH_SCALE_MEM) $(VM)/kcoro-vm \
		-k $$($(VM)/stock-kernel.sh image) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/bench-scale.sh -o $(OUT)/bench-scale.log \
		-f $(OUT)/stock/kcoro.ko -f $(OUT)/stock/kcoro_bench.ko
	@sed -n -e '/kcoro_bench: done/d' -e 's/.*\] kcoro_bench: //p' $(OUT)/bench-scale.log

# The same table on the stock arm64 kernel (its own VM run: compare ratios
# within one architecture only).
bench-arm64: stock-arm64-build
	$(VM)/kcoro-vm -a arm64 -k $(ARM64_STOCK_IMAGE) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/bench.sh -o $(OUT)/bench-arm64.log \
		-f $(OUT)/stock-arm64/kcoro.ko -f $(OUT)/stock-arm64/kcoro_bench.ko
	@sed -n -e '/kcoro_bench: done/d' -e '/kcoro_bench: ratio: /d' \
		-e 's/.*\] kcoro_bench: //p' $(OUT)/bench-arm64.log

endif
