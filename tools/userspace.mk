# SPDX-License-Identifier: GPL-2.0
# Userspace programs (owned by the userspace work; see tools/userspace.mk).
#
# Included by the top-level Makefile (TOP, OUT, VM, VM_TIMEOUT, KCORO_CACHE
# come from there).  Every program is static and built twice, 64-bit and
# 32-bit (-m32, which runs through the kernel's compat_ioctl path):
#
#   make user                  libkcoro, the kselftests and the demo
#   make check-selftests-stock the kselftests on the stock kernel VM
#   make check-selftests-debug the kselftests on the debug (KASAN,
#                              lockdep) kernel VM
#   make demo-user             the userspace demo (DEMO_FILES), for make demo
#
# Outputs go to $(OUT)/user: <name>_64 and <name>_32 for each kselftest,
# lib64/libkcoro.a and lib32/libkcoro.a, kcoro-demo.

USER_OUT	:= $(OUT)/user
KSFT_HDRS	:= $(USER_OUT)/ksft
LIBKCORO_DIR	:= $(TOP)/tools/lib/kcoro
SELFTEST_DIR	:= $(TOP)/tools/testing/selftests/kcoro
USER_CC		?= gcc
USER_CFLAGS	:= -O2 -g -static -pthread -Wall -Wextra -Werror \
		   -I$(TOP)/include/uapi -I$(LIBKCORO_DIR)
LIBKCORO_DEPS	:= $(LIBKCORO_DIR)/kcoro.h $(TOP)/include/uapi/linux/kcoro.h

SELFTESTS	:= kcoro_dev_test kcoro_call_test kcoro_chan_test kcoro_select_test \
		   kcoro_select_proc_test \
		   kcoro_proc_test kcoro_service_test kcoro_fuzz_test \
		   kcoro_sched_test kcoro_limits_test
SELFTEST_BINS	:= $(foreach t,$(SELFTESTS),$(USER_OUT)/$(t)_64 $(USER_OUT)/$(t)_32)
DEMO_FILES	:= $(USER_OUT)/kcoro-demo

.PHONY: user selftests demo-user check-selftests-stock check-selftests-debug

user: selftests demo-user
selftests: $(SELFTEST_BINS)
demo-user: $(DEMO_FILES)

# The kselftest harness of the 6.12 source tree (see ksft-headers.sh).
$(KSFT_HDRS)/kselftest_harness.h: $(SELFTEST_DIR)/ksft-headers.sh
	$(SELFTEST_DIR)/ksft-headers.sh $(KSFT_HDRS)

# -m32 needs <asm/...> for i386.  gcc-multilib provides /usr/include/asm,
# but it conflicts with every cross compiler on Debian 12, so setup.sh
# installs only gcc-12-multilib and this points -m32 builds at the
# multiarch kernel headers, which serve both word sizes.
USER_ASM32	:= $(USER_OUT)/include32
CFLAGS_32	:= -idirafter $(USER_ASM32)
CFLAGS_64	:=

$(USER_ASM32)/asm:
	mkdir -p $(@D)
	ln -sfn /usr/include/$$($(USER_CC) -print-multiarch)/asm $@

# libkcoro.a, one per word size: $(1) is 64 or 32.
define libkcoro_rule
$(USER_OUT)/lib$(1)/kcoro.o: $(LIBKCORO_DIR)/kcoro.c $(LIBKCORO_DEPS) | $(USER_ASM32)/asm
	@mkdir -p $$(@D)
	$(USER_CC) $(USER_CFLAGS) -m$(1) $$(CFLAGS_$(1)) -c -o $$@ $$<
$(USER_OUT)/lib$(1)/libkcoro.a: $(USER_OUT)/lib$(1)/kcoro.o
	rm -f $$@
	ar rcs $$@ $$<
$(USER_OUT)/%_$(1): $(SELFTEST_DIR)/%.c $(SELFTEST_DIR)/kcoro_selftest.h \
		$(USER_OUT)/lib$(1)/libkcoro.a $(KSFT_HDRS)/kselftest_harness.h
	$(USER_CC) $(USER_CFLAGS) -m$(1) $$(CFLAGS_$(1)) -isystem $(KSFT_HDRS) -o $$@ $$< \
		$(USER_OUT)/lib$(1)/libkcoro.a
endef
$(eval $(call libkcoro_rule,64))
$(eval $(call libkcoro_rule,32))

$(USER_OUT)/kcoro-demo: $(TOP)/tools/demo/kcoro-demo.c $(USER_OUT)/lib64/libkcoro.a
	$(USER_CC) $(USER_CFLAGS) -o $@ $< $(USER_OUT)/lib64/libkcoro.a

# One VM run of every kselftest binary, 64-bit then 32-bit, against the
# given kcoro.ko.  kcoro-vm fails on a splat or a failing script (which
# fails when any binary does); the lines after the run show each binary's
# totals and every "not ok", which also fails the target.
# $(1): log name, $(2): kernel image, $(3): kcoro.ko, $(4): the binaries
# (default: the x86_64 ones), $(5): extra kcoro-vm options.
define run_selftests
	rc=0; \
	$(VM)/kcoro-vm $(5) -k $(2) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/selftests.sh -o $(OUT)/$(1).log \
		-f $(3) $(addprefix -f ,$(or $(4),$(SELFTEST_BINS))) || rc=1; \
	grep -a -e '^KCORO-SELFTEST: ' -e '^# Totals: ' $(OUT)/$(1).log || rc=1; \
	if grep -a -E '(^|[^#] )not ok [0-9]' $(OUT)/$(1).log; then rc=1; fi; \
	exit $$rc
endef

check-selftests-stock: stock-build selftests
	$(call run_selftests,selftests-stock,$$($(VM)/stock-kernel.sh image),$(OUT)/stock/kcoro.ko)

check-selftests-debug: debug-build selftests
	$(call run_selftests,selftests-debug,$$(cat $(OUT)/debug-tree.path)/arch/x86/boot/bzImage,$(OUT)/debug/kcoro.ko)

# arm64: the same kselftests cross-built static (64-bit only), run on the
# stock arm64 kernel.
ARM64_CC	:= aarch64-linux-gnu-gcc
ARM64_USER_OUT	:= $(USER_OUT)/arm64
SELFTEST_BINS_ARM64 := $(foreach t,$(SELFTESTS),$(ARM64_USER_OUT)/$(t)_64)

.PHONY: selftests-arm64 check-selftests-stock-arm64
selftests-arm64: $(SELFTEST_BINS_ARM64)

$(ARM64_USER_OUT)/libkcoro.a: $(LIBKCORO_DIR)/kcoro.c $(LIBKCORO_DEPS)
	@mkdir -p $(@D)
	$(ARM64_CC) $(USER_CFLAGS) -c -o $(ARM64_USER_OUT)/kcoro.o $<
	rm -f $@
	aarch64-linux-gnu-ar rcs $@ $(ARM64_USER_OUT)/kcoro.o

$(ARM64_USER_OUT)/%_64: $(SELFTEST_DIR)/%.c $(SELFTEST_DIR)/kcoro_selftest.h \
		$(ARM64_USER_OUT)/libkcoro.a $(KSFT_HDRS)/kselftest_harness.h
	$(ARM64_CC) $(USER_CFLAGS) -isystem $(KSFT_HDRS) -o $@ $< \
		$(ARM64_USER_OUT)/libkcoro.a

check-selftests-stock-arm64: stock-arm64-build selftests-arm64
	$(call run_selftests,selftests-stock-arm64,$$($(VM)/stock-kernel.sh -a arm64 image),$(OUT)/stock-arm64/kcoro.ko,$(SELFTEST_BINS_ARM64),-a arm64)

# make demo also runs the userspace demo (the top-level rule copies
# $(DEMO_FILES) into the VM; tools/testing/vm/demo.sh runs it if present).
demo: $(DEMO_FILES)
