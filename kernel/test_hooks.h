/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hooks into kcoro's internals for its KUnit suites only.  They exist when
 * the kernel has KUnit (the debug and KCSAN test kernels) and are exported
 * in the EXPORTED_FOR_KUNIT_TESTING namespace.
 */
#ifndef _KCORO_TEST_HOOKS_H
#define _KCORO_TEST_HOOKS_H

#include <linux/types.h>

struct kcoro_chan;

#if IS_ENABLED(CONFIG_KUNIT)
int kcoro_test_fail_segment_allocs(int n);
int kcoro_test_chan_check(struct kcoro_chan *ch, char *buf, size_t len);
#endif

#endif /* _KCORO_TEST_HOOKS_H */
