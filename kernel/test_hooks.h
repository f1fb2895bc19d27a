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

/*
 * Pause points: named places in the channel code where an operation can be
 * stopped, inside its atomic section, until the test releases it.  The
 * paused operation spins preemptibly, so the test and other operations
 * can use its CPU; but a coroutine paused there holds its CPU's
 * coroutine scheduler, so the other coroutines of the interleaving run on
 * other CPUs.
 */
enum kcoro_test_point {
	KCORO_TP_SEND_FAA,	/* a send reserved cell @index */
	KCORO_TP_RECV_FAA,	/* a receive reserved cell @index */
	KCORO_TP_EB_FAA,	/* an expandBuffer attempt took cell @index */
	KCORO_TP_RESUME,	/* a resumer claimed the waiter in cell @index */
	KCORO_TP_CANCEL,	/* an owner takes its cancelled waiter out of cell @index */
};

#if IS_ENABLED(CONFIG_KUNIT)
#include <linux/atomic.h>

int kcoro_test_fail_segment_allocs(int n);
int kcoro_test_chan_check(struct kcoro_chan *ch, char *buf, size_t len);

enum {
	KCORO_TP_ARMED,
	KCORO_TP_ARRIVED,	/* an operation waits at the point */
	KCORO_TP_RELEASED,
	KCORO_TP_DONE,		/* it went on */
};

/**
 * struct kcoro_test_pause - one armed pause point
 * @ch: the channel
 * @point: where
 * @index: the cell (global index)
 * @pass: do not wait; only mark the arrival and release @release
 * @release: another pause to release when an operation arrives here
 * @state: KCORO_TP_*
 */
struct kcoro_test_pause {
	struct kcoro_chan *ch;
	enum kcoro_test_point point;
	u64 index;
	bool pass;
	struct kcoro_test_pause *release;
	atomic_t state;
};

int kcoro_test_pause_arm(struct kcoro_test_pause *p);
void kcoro_test_pause_release(struct kcoro_test_pause *p);
void kcoro_test_pause_disarm(struct kcoro_test_pause *p);
#endif

#endif /* _KCORO_TEST_HOOKS_H */
