/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by kcoro's KUnit suites:
 *
 * - a per-case baseline of kcoro's counters, taken by the suite's .init
 *   hook, and the leak check of its .exit hook (every case must leave no
 *   channel, segment, waiter or coroutine behind);
 * - watchdogs tied to progress: a case waits for as long as what it waits
 *   for keeps moving, however slow the VM, and calls a wait stuck only
 *   when nothing moved (kcoro_kunit_watch);
 * - giving up on a coroutine safely: kcoro_kunit_abandon() keeps every
 *   byte the coroutine may still reach alive, for good.
 *
 * Documentation/kcoro/testing.rst describes the rules.
 */
#ifndef _KCORO_KUNIT_H
#define _KCORO_KUNIT_H

#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/rcupdate.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>

#include "test_hooks.h"

/* How long freed objects may take to go (RCU, a coroutine's last put). */
#define KCORO_KUNIT_LEAK_MS	5000

/* ---------------------------------------------------------------------
 * Watchdogs tied to progress.
 *
 * A wait watches a progress counter: by default the number of switches
 * into coroutines, module-wide; a case whose coroutines can switch without
 * getting anywhere (spurious wake-ups on purpose) watches a counter of its
 * own.  The wait is stuck only when that counter stood still for
 * KCORO_KUNIT_STALL_MS of jiffies and for at least KCORO_KUNIT_STALL_POLLS
 * polls of the waiter itself: a slow case that still moves is never
 * failed, however long it takes, and a VM that the host did not run for a
 * while (jiffies jump when it comes back) first gets the polls to see
 * that things move again.  There is no limit on a wait's total time; the
 * VM's own time limit is the last resort.
 */
#define KCORO_KUNIT_STALL_MS		20000
#define KCORO_KUNIT_STALL_POLLS		1000

/**
 * struct kcoro_kunit_watch - a wait's view of progress
 * @progress: returns a counter that moves while the case makes progress
 * @arg: its argument
 * @last: the counter at the last change
 * @since: jiffies at the last change
 * @polls: polls since the last change
 */
struct kcoro_kunit_watch {
	u64 (*progress)(void *arg);
	void *arg;
	u64 last;
	unsigned long since;
	unsigned int polls;
};

/* The default progress counter: switches into coroutines, module-wide. */
static inline u64 kcoro_kunit_switches(void *unused)
{
	struct kcoro_stats stats;

	kcoro_get_stats(&stats);
	return stats.switches;
}

/* Start watching @progress(@arg), or coroutine switches if it is NULL. */
static inline void kcoro_kunit_watch_start(struct kcoro_kunit_watch *w,
					   u64 (*progress)(void *), void *arg)
{
	w->progress = progress ?: kcoro_kunit_switches;
	w->arg = arg;
	w->last = w->progress(arg);
	w->since = jiffies;
	w->polls = 0;
}

/* Forget the stall so far: the next one is counted from now. */
static inline void kcoro_kunit_watch_reset(struct kcoro_kunit_watch *w)
{
	w->since = jiffies;
	w->polls = 0;
}

/* One poll: true once the counter has stood still too long. */
static inline bool kcoro_kunit_watch_stalled(struct kcoro_kunit_watch *w)
{
	u64 now = w->progress(w->arg);

	if (now != w->last) {
		w->last = now;
		kcoro_kunit_watch_reset(w);
		return false;
	}
	return ++w->polls >= KCORO_KUNIT_STALL_POLLS &&
	       time_after(jiffies, w->since + msecs_to_jiffies(KCORO_KUNIT_STALL_MS));
}

/* Poll until @cond holds or @progress stalls; returns @cond. */
#define kcoro_kunit_wait_progress(cond, progress, arg)			\
({									\
	struct kcoro_kunit_watch __w;					\
	bool __ok;							\
									\
	kcoro_kunit_watch_start(&__w, progress, arg);			\
	while (!(__ok = (cond)) && !kcoro_kunit_watch_stalled(&__w))	\
		usleep_range(100, 200);					\
	__ok;								\
})

/* Poll until @cond holds, for as long as coroutines switch. */
#define kcoro_kunit_wait_for(cond)	kcoro_kunit_wait_progress(cond, NULL, NULL)

/* Coroutines abandoned by this module's cases (see kcoro_kunit_abandon()). */
static atomic_long_t kcoro_kunit_abandoned __maybe_unused;

/**
 * kcoro_kunit_abandon() - give up on a coroutine that will not finish
 * @test: the case, failed and aborted here
 * @co: the coroutine, which may still run at any later time
 *
 * A case that gives up must never free memory the coroutine can still
 * reach: everything the case allocated through KUnit so far, and the
 * case's own stack frames (locals handed to coroutines).  Both are kept
 * for good:
 *
 * - the KUnit allocations are taken off the case's resource list before
 *   the case ends, so KUnit never releases them;
 * - the case is aborted from here, so the kthread that runs it exits from
 *   below this frame: the frames above, the case function's among them,
 *   are never reused (returning would run the rest of the case and then
 *   KUnit and do_exit() on exactly that memory), and pinning the stack
 *   (try_get_task_stack() without a put) keeps it from being freed.
 *
 * @co keeps an extra reference, and since it holds one on its module,
 * that module stays loaded.  Kthreads the case started are not stopped:
 * they must end on their own (see kcoro_kunit_gave_up()).  The leak is
 * deliberate and reported; later cases go on.
 */
static inline void __noreturn __maybe_unused
kcoro_kunit_abandon(struct kunit *test, struct kcoro *co)
{
	struct list_head *keep;
	unsigned long flags;

	kcoro_get(co);
	atomic_long_inc(&kcoro_kunit_abandoned);
	get_task_struct(current);
	WARN_ON(!try_get_task_stack(current));
	keep = kmalloc(sizeof(*keep), GFP_KERNEL | __GFP_NOFAIL);
	INIT_LIST_HEAD(keep);
	spin_lock_irqsave(&test->lock, flags);
	list_splice_init(&test->resources, keep);
	spin_unlock_irqrestore(&test->lock, flags);
	KUNIT_FAIL_AND_ABORT(test, "coroutine %llu (CPU %d) abandoned, and what it may use leaked",
			     kcoro_id(co), kcoro_cpu(co));
	unreachable();
}

/* Has any case given up on a coroutine since @since was read? */
static inline bool __maybe_unused kcoro_kunit_gave_up(long since)
{
	return atomic_long_read(&kcoro_kunit_abandoned) != since;
}

static inline long __maybe_unused kcoro_kunit_nop_fn(void *arg)
{
	return 0;
}

/* Give every scheduler work, which wakes it: recovers a lost wake-up. */
static inline void __maybe_unused kcoro_kunit_kick(void)
{
	struct kcoro_attr attr = { };
	struct kcoro *co;
	int cpu;

	for_each_online_cpu(cpu) {
		attr.cpu = cpu;
		co = kcoro_spawn(kcoro_kunit_nop_fn, NULL, &attr);
		if (!IS_ERR(co))
			kcoro_put(co);
	}
}

/**
 * kcoro_kunit_pause() - arm a pause point, or fail the case
 * @test: the case
 * @p: the pause point, filled in here (see struct kcoro_test_pause)
 * @ch: the channel whose operations it watches
 * @point: where (KCORO_TP_*)
 * @index: at which cell
 * @release: another pause point this one releases when reached, or NULL
 * @pass: count the arrival but do not stop there
 */
static inline void __maybe_unused
kcoro_kunit_pause(struct kunit *test, struct kcoro_test_pause *p,
		  struct kcoro_chan *ch, enum kcoro_test_point point,
		  u64 index, struct kcoro_test_pause *release, bool pass)
{
	memset(p, 0, sizeof(*p));
	p->ch = ch;
	p->point = point;
	p->index = index;
	p->release = release;
	p->pass = pass;
	KUNIT_ASSERT_EQ(test, kcoro_test_pause_arm(p), 0);
}

/**
 * kcoro_kunit_wait_done() - wait for a coroutine to finish, while it moves
 * @test: the case, failed if @co gets stuck
 * @co: the coroutine
 * @progress: what to watch (NULL: coroutine switches), see
 *	struct kcoro_kunit_watch
 * @arg: its argument
 *
 * A coroutine that never finishes would hang the suite, and the VM run
 * with it, in kcoro_join().  Poll for it instead, for as long as @progress
 * moves.  At the first stall fail the case, cancel @co (which ends a
 * channel operation or a sleep) and give every scheduler work, which
 * rescues a coroutine whose wake-up was merely lost (the failure stays: a
 * lost wake-up is a bug).  At the second, abandon @co and abort the case
 * (kcoro_kunit_abandon()): this returns only once @co has finished, and
 * kcoro_join() then returns at once.
 */
static inline void __maybe_unused
kcoro_kunit_wait_done(struct kunit *test, struct kcoro *co,
		      u64 (*progress)(void *), void *arg)
{
	struct kcoro_kunit_watch w;
	bool kicked = false;

	kcoro_kunit_watch_start(&w, progress, arg);
	while (!kcoro_done(co)) {
		if (kcoro_kunit_watch_stalled(&w)) {
			if (kicked)
				kcoro_kunit_abandon(test, co);
			KUNIT_FAIL(test, "coroutine %llu (CPU %d) stuck for %u ms, %u polls",
				   kcoro_id(co), kcoro_cpu(co),
				   jiffies_to_msecs(jiffies - w.since), w.polls);
			/* Cancel it and kick the schedulers. */
			kcoro_cancel(co);
			kcoro_kunit_kick();
			kicked = true;
			kcoro_kunit_watch_reset(&w);
		}
		usleep_range(100, 200);
	}
}

/**
 * struct kcoro_kunit_base - counters at the start of a case (test->priv)
 * @co: kcoro_get_stats()
 * @ch: kcoro_chan_get_stats()
 * @abandoned: kcoro_kunit_abandoned
 * @start: when the case started
 */
struct kcoro_kunit_base {
	struct kcoro_stats co;
	struct kcoro_chan_stats ch;
	long abandoned;
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
	base->abandoned = atomic_long_read(&kcoro_kunit_abandoned);
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
	long live;

	if (!base)
		return;
	/* Abandoned coroutines stay alive for good; the failure is reported. */
	live = base->co.live + atomic_long_read(&kcoro_kunit_abandoned) -
	       base->abandoned;
	for (;;) {
		rcu_barrier();
		kcoro_chan_get_stats(&ch);
		kcoro_get_stats(&co);
		if ((ch.channels == base->ch.channels &&
		     ch.segments == base->ch.segments &&
		     ch.waiters == base->ch.waiters &&
		     co.live == live) || time_after(jiffies, deadline))
			break;
		msleep(20);
	}
	KUNIT_EXPECT_EQ_MSG(test, ch.channels, base->ch.channels, "channels leaked");
	KUNIT_EXPECT_EQ_MSG(test, ch.segments, base->ch.segments, "segments leaked");
	KUNIT_EXPECT_EQ_MSG(test, ch.waiters, base->ch.waiters, "waiters left");
	KUNIT_EXPECT_EQ_MSG(test, co.live, live, "coroutines leaked");
	KUNIT_EXPECT_EQ_MSG(test, ch.eb_stalls, base->ch.eb_stalls,
			    "a cancelled receiver waited for an expandBuffer that never came");
	kunit_info(test, "took %lld ms\n", ktime_ms_delta(ktime_get(), base->start));
}

#endif /* _KCORO_KUNIT_H */
