# SPDX-License-Identifier: GPL-2.0
#
# kcoro - stackful coroutines for the Linux kernel.
#
#   make            build the modules against $(KDIR) (Debian stock headers)
#   make demo       the main job: boot the stock kernel, load kcoro, run the demo
#   make check      everything: lint, stock-kernel VM, KUnit on the debug
#                   (KASAN, lockdep) and kcsan kernels
#   make bench      benchmark tables, kernel and userspace IPC (not a test)
#   make lint       checkpatch --strict, W=1 and sparse builds, all clean
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
		   kcoro_select_test.ko
OUT		:= $(TOP)/build
SOURCES		:= Kbuild Makefile kernel include
VM_TIMEOUT	?= 900

# Build the module tree for one kernel in its own directory, so objects for
# the stock and the debug kernel never mix.  $(1): name, $(2): kernel tree.
define build_for
	mkdir -p $(OUT)/$(1)
	rsync -a --delete --exclude '*.o' --exclude '*.ko' --exclude '.*.cmd' \
		--exclude '*.mod*' --exclude 'Module.symvers' --exclude modules.order \
		$(SOURCES) $(OUT)/$(1)/
	$(MAKE) -C $(2) M=$(OUT)/$(1) $(KBUILD_EXTRA) modules
endef

.PHONY: all modules clean setup demo check check-stock check-debug check-overflow \
	check-kcsan bench bench-kernel lint stock-build debug-build kcsan-build

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

lint: debug-build
	$(TOP)/tools/lint.sh $(KDIR) $$(cat $(OUT)/debug-tree.path)

# The closing line counts the VM legs, every KUnit case of both kernels and
# every kselftest case of both kernels (64- and 32-bit programs).
check: lint check-stock check-overflow check-debug check-kcsan \
		check-selftests-stock check-selftests-debug
	@pass=$$(cat $(OUT)/debug.log $(OUT)/kcsan.log $(OUT)/selftests-stock.log \
		$(OUT)/selftests-debug.log | \
		sed -n 's/^# Totals: pass:\([0-9]*\) fail:\([0-9]*\).*/\1 \2/p' | \
		awk '{ p += $$1; f += $$2 } END { print p + 7 " passed, " f " failed" }'); \
	echo "make check: lint, stock, overflow, debug, kcsan and kselftest VM legs, KUnit and kselftest cases:"; \
	echo "$$pass"

# Userspace: libkcoro, kselftests, demo and benchmark programs.
include $(TOP)/tools/userspace.mk
include $(TOP)/tools/bench/bench.mk

# Both tables: the in-kernel one, then the userspace IPC one (own VM run).
bench: bench-kernel bench-ipc

bench-kernel: stock-build
	$(VM)/kcoro-vm -k $$($(VM)/stock-kernel.sh image) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/bench.sh -o $(OUT)/bench.log \
		-f $(OUT)/stock/kcoro.ko -f $(OUT)/stock/kcoro_bench.ko
	@sed -n 's/.*\] kcoro_bench: //p' $(OUT)/bench.log

endif
