/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by kcoro's channel KUnit suites: a per-case baseline of kcoro's
 * counters, taken by the suite's .init hook, and the leak check of its
 * .exit hook (every case must leave no channel, segment, waiter or
 * coroutine behind).
 */
#ifndef _KCORO_KUNIT_H
#define _KCORO_KUNIT_H

#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/ktime.h>
#include <linux/rcupdate.h>

/* How long freed objects may take to go (RCU, a coroutine's last put). */
#define KCORO_KUNIT_LEAK_MS	5000

/**
 * struct kcoro_kunit_base - counters at the start of a case (test->priv)
 * @co: kcoro_get_stats()
 * @ch: kcoro_chan_get_stats()
 * @start: when the case started
 */
struct kcoro_kunit_base {
	struct kcoro_stats co;
	struct kcoro_chan_stats ch;
	ktime_t start;
};

static inline const struct kcoro_kunit_base *kcoro_kunit_base(struct kunit *test)
{
	return test->priv;
}

/* Suspended channel waiters now, relative to the start of the case. */
static inline long kcoro_kunit_waiters(struct kunit *test)
{
	struct kcoro_chan_stats st;

	kcoro_chan_get_stats(&st);
	return st.waiters - kcoro_kunit_base(test)->ch.waiters;
}

/* The suite's .init: take the baseline after pending RCU frees. */
static inline int kcoro_kunit_init(struct kunit *test)
{
	struct kcoro_kunit_base *base;

	base = kunit_kzalloc(test, sizeof(*base), GFP_KERNEL);
	if (!base)
		return -ENOMEM;
	rcu_barrier();
	kcoro_get_stats(&base->co);
	kcoro_chan_get_stats(&base->ch);
	base->start = ktime_get();
	test->priv = base;
	return 0;
}

/* The suite's .exit: everything the case created must be gone again. */
static inline void kcoro_kunit_exit(struct kunit *test)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(KCORO_KUNIT_LEAK_MS);
	const struct kcoro_kunit_base *base = test->priv;
	struct kcoro_chan_stats ch;
	struct kcoro_stats co;

	if (!base)
		return;
	for (;;) {
		rcu_barrier();
		kcoro_chan_get_stats(&ch);
		kcoro_get_stats(&co);
		if ((ch.channels == base->ch.channels &&
		     ch.segments == base->ch.segments &&
		     ch.waiters == base->ch.waiters &&
		     co.live == base->co.live) || time_after(jiffies, deadline))
			break;
		msleep(20);
	}
	KUNIT_EXPECT_EQ_MSG(test, ch.channels, base->ch.channels, "channels leaked");
	KUNIT_EXPECT_EQ_MSG(test, ch.segments, base->ch.segments, "segments leaked");
	KUNIT_EXPECT_EQ_MSG(test, ch.waiters, base->ch.waiters, "waiters left");
	KUNIT_EXPECT_EQ_MSG(test, co.live, base->co.live, "coroutines leaked");
	kunit_info(test, "took %lld ms\n", ktime_ms_delta(ktime_get(), base->start));
}

#endif /* _KCORO_KUNIT_H */
