# SPDX-License-Identifier: GPL-2.0
# Userspace IPC benchmark programs.
#
#   make bench-ipc   kcoro channels between processes against pipes, eventfd,
#                    POSIX mqueues and unix sockets: one stock-kernel VM run,
#                    table in $(OUT)/bench-ipc.log (not a test: a missed
#                    target is reported, only a failed measurement fails)

BENCH_CFLAGS	:= -static -O2 -Wall -Wextra -Werror -I$(TOP)/include/uapi

.PHONY: bench-ipc bench-ipc-prog

bench-ipc-prog: $(OUT)/user/kcoro-ipc-bench

$(OUT)/user/kcoro-ipc-bench: $(TOP)/tools/bench/kcoro-ipc-bench.c \
		$(TOP)/include/uapi/linux/kcoro.h
	mkdir -p $(@D)
	gcc $(BENCH_CFLAGS) -o $@ $<

# The table is shown even when a measurement failed (the run then fails).
bench-ipc: stock-build $(OUT)/user/kcoro-ipc-bench
	rc=0; $(VM)/kcoro-vm -k $$($(VM)/stock-kernel.sh image) -t $(VM_TIMEOUT) \
		-s $(TOP)/tools/testing/vm/bench-ipc.sh -o $(OUT)/bench-ipc.log \
		-f $(OUT)/stock/kcoro.ko -f $(OUT)/user/kcoro-ipc-bench || rc=$$?; \
	sed -n '/^KCORO-IPC-BENCH: begin/,/^KCORO-IPC-BENCH: end/{/^KCORO-IPC-BENCH: /d;/^\[ *[0-9.]*\] /d;/^ratio: /d;p}' \
		$(OUT)/bench-ipc.log; \
	exit $$rc
