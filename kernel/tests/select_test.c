// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for kcoro_select(): one of several channel operations
 * completes, the others leave no trace.  Covers coroutines and threads,
 * the default (never wait) and timeout forms, closed channels, biased and
 * unbiased choice, two selects meeting on opposite ends of rendezvous
 * channels, and a stress test where selects are cancelled (timeouts)
 * while senders race them: every value is received exactly once, by a
 * winning clause or a plain receive, or handed to the undelivered hook
 * exactly once.
 *
 * Coroutine bodies record what they saw; the test thread checks after
 * joining them.  Every case leaves the channel, segment, waiter and
 * coroutine counters as it found them.
 */
#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "kcoro_kunit.h"

static unsigned int stress_m = 2000;
module_param(stress_m, uint, 0444);
MODULE_PARM_DESC(stress_m, "values each producer sends in select_stress (default 2000)");

#define KST_E(v)	((void *)(unsigned long)(v))
#define KST_V(e)	((unsigned long)(e))

static long kst_waiters(struct kunit *test)
{
	return kcoro_kunit_waiters(test);
}

/* Wait until @n waiters are suspended, for as long as coroutines switch. */
static bool kst_wait_waiters(struct kunit *test, long n)
{
	return kcoro_kunit_wait_for(kst_waiters(test) == n);
}

static struct kcoro_chan *kst_chan(struct kunit *test, long cap,
				   unsigned int seg_size,
				   kcoro_chan_undelivered_fn hook, void *ctx)
{
	struct kcoro_chan_attr attr = {
		.capacity = cap,
		.segment_size = seg_size,
		.undelivered = hook,
		.undelivered_ctx = ctx,
	};
	struct kcoro_chan *ch = kcoro_chan_create(&attr);

	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));
	return ch;
}

static struct kcoro *kst_spawn(struct kunit *test, kcoro_fn_t fn, void *arg,
			       int cpu)
{
	struct kcoro_attr attr = { .cpu = cpu };
	struct kcoro *co = kcoro_spawn(fn, arg, &attr);

	KUNIT_ASSERT_FALSE(test, IS_ERR(co));
	return co;
}

/* Join and put @co, with a watchdog tied to progress (kcoro_kunit.h). */
static long kst_join(struct kunit *test, struct kcoro *co)
{
	long ret;

	kcoro_kunit_wait_done(test, co, NULL, NULL);
	ret = kcoro_join(co);
	kcoro_put(co);
	return ret;
}

static int kst_cpu(unsigned int n)
{
	return cpumask_nth(n % num_online_cpus(), cpu_online_mask);
}

/* ---------------------------------------------------------------------
 * One select in a coroutine, results recorded for the test thread.
 */

struct kst_one {
	struct kcoro_select_clause c[4];
	unsigned int n;
	unsigned int flags;
	s64 timeout_ns;
	int ret;
};

static long kst_one_fn(void *arg)
{
	struct kst_one *o = arg;
	ktime_t deadline = o->timeout_ns < 0 ? KTIME_MAX :
			   ktime_add_ns(ktime_get(), o->timeout_ns);

	o->ret = kcoro_select(o->c, o->n, o->flags, deadline);
	return 0;
}

/* @n receivers and no sender wait in @ch (kcoro_chan_get_snapshot()). */
static bool kst_receivers_are(struct kcoro_chan *ch, u64 n)
{
	struct kcoro_chan_snapshot snap;

	kcoro_chan_get_snapshot(ch, &snap);
	return snap.waiting_receivers == n && !snap.waiting_senders;
}

/* A select waits; a send on one of its channels completes that clause. */
static void select_basic(struct kunit *test)
{
	struct kcoro_chan *ch[3];
	struct kst_one o = { .n = 3, .timeout_ns = -1 };
	struct kcoro *co;
	void *e;
	int i;

	ch[0] = kst_chan(test, 0, 0, NULL, NULL);
	ch[1] = kst_chan(test, 2, 0, NULL, NULL);
	ch[2] = kst_chan(test, 0, 1, NULL, NULL);
	for (i = 0; i < 3; i++) {
		o.c[i].ch = ch[i];
		o.c[i].op = KCORO_SELECT_RECV;
	}
	co = kst_spawn(test, kst_one_fn, &o, KCORO_CPU_ANY);
	KUNIT_ASSERT_TRUE(test, kst_wait_waiters(test, 3));
	/*
	 * Each clause counts in its own channel (soon: the global count
	 * above goes up before a waiter is stored, the channel's after).
	 */
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_TRUE_MSG(test, kcoro_kunit_wait_for(kst_receivers_are(ch[i], 1)),
				      "channel %d: no waiting receiver", i);
	KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch[2], KST_E(0x1234)), 0);
	kst_join(test, co);
	/* A select that returned counts nowhere. */
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_TRUE_MSG(test, kst_receivers_are(ch[i], 0),
				      "channel %d: still a waiting receiver", i);
	KUNIT_EXPECT_EQ(test, o.ret, 2);
	KUNIT_EXPECT_EQ(test, o.c[2].result, 0);
	KUNIT_EXPECT_PTR_EQ(test, o.c[2].elem, KST_E(0x1234));
	/* The losers left nothing behind: no waiter, nothing consumed. */
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch[0], KST_E(1)), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch[1], KST_E(2)), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch[1], &e), 0);
	KUNIT_EXPECT_PTR_EQ(test, e, KST_E(2));
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch[1], &e), -EAGAIN);

	/* A ready clause completes at once; from a thread too. */
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch[1], KST_E(7)), 0);
	o.c[0].op = KCORO_SELECT_SEND;
	o.c[0].elem = KST_E(99);
	KUNIT_EXPECT_EQ(test, kcoro_select(o.c, 3, 0, KTIME_MAX), 1);
	KUNIT_EXPECT_PTR_EQ(test, o.c[1].elem, KST_E(7));
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);

	/* Invalid input. */
	KUNIT_EXPECT_EQ(test, kcoro_select(o.c, 0, 0, KTIME_MAX), -EINVAL);
	KUNIT_EXPECT_EQ(test, kcoro_select(o.c, KCORO_SELECT_MAX + 1, 0,
					   KTIME_MAX), -EINVAL);
	KUNIT_EXPECT_EQ(test, kcoro_select(o.c, 3, 0x80, KTIME_MAX), -EINVAL);
	o.c[2].op = 0;
	KUNIT_EXPECT_EQ(test, kcoro_select(o.c, 3, 0, KTIME_MAX), -EINVAL);
	/* A send and a receive on one rendezvous channel could only meet. */
	o.c[0] = (struct kcoro_select_clause){ .ch = ch[0], .op = KCORO_SELECT_SEND };
	o.c[1] = (struct kcoro_select_clause){ .ch = ch[0], .op = KCORO_SELECT_RECV };
	KUNIT_EXPECT_EQ(test, kcoro_select(o.c, 2, 0, KTIME_MAX), -EINVAL);
	/* On a buffered channel they are fine: the send completes at once. */
	o.c[0].ch = ch[1];
	o.c[1].ch = ch[1];
	KUNIT_EXPECT_EQ(test, kcoro_select(o.c, 2, KCORO_SELECT_BIASED,
					   KTIME_MAX), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch[1], &e), 0);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);
	for (i = 0; i < 3; i++)
		kcoro_chan_put(ch[i]);
}

/* A send clause in a select waits for its receiver; losers send nothing. */
static void select_send_clause(struct kunit *test)
{
	struct kcoro_chan *a = kst_chan(test, 0, 0, NULL, NULL);
	struct kcoro_chan *b = kst_chan(test, 0, 0, NULL, NULL);
	struct kst_one o = { .n = 2, .timeout_ns = -1 };
	struct kcoro *co;
	void *e;

	o.c[0] = (struct kcoro_select_clause){ .ch = a, .op = KCORO_SELECT_SEND,
					       .elem = KST_E(10) };
	o.c[1] = (struct kcoro_select_clause){ .ch = b, .op = KCORO_SELECT_SEND,
					       .elem = KST_E(20) };
	co = kst_spawn(test, kst_one_fn, &o, KCORO_CPU_ANY);
	KUNIT_ASSERT_TRUE(test, kst_wait_waiters(test, 2));
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv(b, &e), 0);
	KUNIT_EXPECT_PTR_EQ(test, e, KST_E(20));
	kst_join(test, co);
	KUNIT_EXPECT_EQ(test, o.ret, 1);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(a, &e), -EAGAIN);
	kcoro_chan_put(a);
	kcoro_chan_put(b);
}

/* The default form never waits; timeouts cancel cleanly. */
static void select_default_timeout(struct kunit *test)
{
	struct kcoro_chan *a = kst_chan(test, 0, 0, NULL, NULL);
	struct kcoro_chan *b = kst_chan(test, 1, 0, NULL, NULL);
	struct kcoro_select_clause c[2] = {
		{ .ch = a, .op = KCORO_SELECT_RECV },
		{ .ch = b, .op = KCORO_SELECT_RECV },
	};
	struct kst_one o = { .n = 2, .timeout_ns = 20 * NSEC_PER_MSEC };
	struct kcoro *co;
	ktime_t t0;
	void *e;

	KUNIT_EXPECT_EQ(test, kcoro_select(c, 2, KCORO_SELECT_DEFAULT,
					   KTIME_MAX), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_send(b, KST_E(5)), 0);
	KUNIT_EXPECT_EQ(test, kcoro_select(c, 2, KCORO_SELECT_DEFAULT,
					   KTIME_MAX), 1);
	KUNIT_EXPECT_PTR_EQ(test, c[1].elem, KST_E(5));

	/* Thread, timeout. */
	t0 = ktime_get();
	KUNIT_EXPECT_EQ(test, kcoro_select(c, 2, 0, ktime_add_ms(t0, 20)),
			-ETIMEDOUT);
	KUNIT_EXPECT_GE(test, ktime_ms_delta(ktime_get(), t0), 20);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);

	/* Coroutine, timeout. */
	o.c[0] = c[0];
	o.c[1] = c[1];
	co = kst_spawn(test, kst_one_fn, &o, KCORO_CPU_ANY);
	kst_join(test, co);
	KUNIT_EXPECT_EQ(test, o.ret, -ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);

	/* Nothing was consumed: the channels still work. */
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(b, KST_E(6)), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(b, &e), 0);
	KUNIT_EXPECT_PTR_EQ(test, e, KST_E(6));

	/* A cancelled coroutine's select returns -ECANCELED, no clause taken. */
	o.timeout_ns = -1;
	co = kst_spawn(test, kst_one_fn, &o, KCORO_CPU_ANY);
	KUNIT_ASSERT_TRUE(test, kst_wait_waiters(test, 2));
	kcoro_get(co);
	kcoro_cancel(co);
	kst_join(test, co);
	kcoro_put(co);
	KUNIT_EXPECT_EQ(test, o.ret, -ECANCELED);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(b, &e), -EAGAIN);
	kcoro_chan_put(a);
	kcoro_chan_put(b);
}

/* Closed channels complete receive and send clauses with -EPIPE. */
static void select_closed(struct kunit *test)
{
	struct kcoro_chan *a = kst_chan(test, 0, 0, NULL, NULL);
	struct kcoro_chan *b = kst_chan(test, 1, 0, NULL, NULL);
	struct kst_one o = { .n = 2, .timeout_ns = -1 };
	struct kcoro *co;

	o.c[0] = (struct kcoro_select_clause){ .ch = a, .op = KCORO_SELECT_RECV };
	o.c[1] = (struct kcoro_select_clause){ .ch = b, .op = KCORO_SELECT_RECV };
	co = kst_spawn(test, kst_one_fn, &o, KCORO_CPU_ANY);
	KUNIT_ASSERT_TRUE(test, kst_wait_waiters(test, 2));
	kcoro_chan_close(b);
	kst_join(test, co);
	KUNIT_EXPECT_EQ(test, o.ret, 1);
	KUNIT_EXPECT_EQ(test, o.c[1].result, -EPIPE);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);

	/* Already closed: at once. */
	o.c[0].op = KCORO_SELECT_SEND;
	o.c[0].elem = KST_E(3);
	kcoro_chan_close(a);
	KUNIT_EXPECT_GE(test, kcoro_select(o.c, 2, KCORO_SELECT_BIASED,
					   KTIME_MAX), 0);
	KUNIT_EXPECT_EQ(test, o.c[0].result, -EPIPE);
	kcoro_chan_put(a);
	kcoro_chan_put(b);
}

/* Unbiased picks among ready clauses at random; biased takes the first. */
static void select_fairness(struct kunit *test)
{
	struct kcoro_chan *a = kst_chan(test, KCORO_CHAN_UNLIMITED, 0, NULL, NULL);
	struct kcoro_chan *b = kst_chan(test, KCORO_CHAN_UNLIMITED, 0, NULL, NULL);
	struct kcoro_select_clause c[2];
	unsigned int hits[2] = {}, i;
	int ret;

	for (i = 0; i < 2000; i++) {
		KUNIT_ASSERT_EQ(test, kcoro_chan_send(a, KST_E(i)), 0);
		KUNIT_ASSERT_EQ(test, kcoro_chan_send(b, KST_E(i)), 0);
	}
	for (i = 0; i < 1000; i++) {
		c[0] = (struct kcoro_select_clause){ .ch = a, .op = KCORO_SELECT_RECV };
		c[1] = (struct kcoro_select_clause){ .ch = b, .op = KCORO_SELECT_RECV };
		ret = kcoro_select(c, 2, 0, KTIME_MAX);
		KUNIT_ASSERT_TRUE(test, ret == 0 || ret == 1);
		hits[ret]++;
	}
	kunit_info(test, "unbiased: %u / %u\n", hits[0], hits[1]);
	KUNIT_EXPECT_GT(test, hits[0], 350U);
	KUNIT_EXPECT_GT(test, hits[1], 350U);
	for (i = 0; i < 500; i++) {
		c[0] = (struct kcoro_select_clause){ .ch = a, .op = KCORO_SELECT_RECV };
		c[1] = (struct kcoro_select_clause){ .ch = b, .op = KCORO_SELECT_RECV };
		KUNIT_ASSERT_EQ(test, kcoro_select(c, 2, KCORO_SELECT_BIASED,
						   KTIME_MAX), 0);
	}
	kcoro_chan_put(a);
	kcoro_chan_put(b);
}

/* ---------------------------------------------------------------------
 * Two selects on opposite ends of two rendezvous channels must meet:
 * A selects { send(x, va), recv(y) }, B selects { recv(x), send(y, vb) }.
 */

struct kst_meet {
	struct kcoro_chan *x, *y;
	unsigned int rounds;
	unsigned int a_sent, a_got, b_sent, b_got, bad;
	bool thread_b;
	struct completion b_done;
};

static void kst_meet_a(struct kst_meet *m)
{
	struct kcoro_select_clause c[2];
	unsigned int i;
	int ret;

	for (i = 0; i < m->rounds; i++) {
		c[0] = (struct kcoro_select_clause){ .ch = m->x,
			.op = KCORO_SELECT_SEND, .elem = KST_E(2 * i) };
		c[1] = (struct kcoro_select_clause){ .ch = m->y,
			.op = KCORO_SELECT_RECV };
		ret = kcoro_select(c, 2, 0, KTIME_MAX);
		if (ret == 0)
			m->a_sent++;
		else if (ret == 1 && KST_V(c[1].elem) == 2 * i + 1)
			m->a_got++;
		else
			m->bad++;
	}
}

static void kst_meet_b(struct kst_meet *m)
{
	struct kcoro_select_clause c[2];
	unsigned int i;
	int ret;

	for (i = 0; i < m->rounds; i++) {
		c[0] = (struct kcoro_select_clause){ .ch = m->x,
			.op = KCORO_SELECT_RECV };
		c[1] = (struct kcoro_select_clause){ .ch = m->y,
			.op = KCORO_SELECT_SEND, .elem = KST_E(2 * i + 1) };
		ret = kcoro_select(c, 2, 0, KTIME_MAX);
		if (ret == 0 && KST_V(c[0].elem) == 2 * i)
			m->b_got++;
		else if (ret == 1)
			m->b_sent++;
		else
			m->bad++;
	}
}

static long kst_meet_a_fn(void *arg)
{
	kst_meet_a(arg);
	return 0;
}

static long kst_meet_b_fn(void *arg)
{
	kst_meet_b(arg);
	return 0;
}

static int kst_meet_b_thread(void *arg)
{
	struct kst_meet *m = arg;

	kst_meet_b(m);
	complete(&m->b_done);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ);
	return 0;
}

static void select_meet(struct kunit *test)
{
	struct kst_meet m = { .rounds = 2000 };
	struct task_struct *t = NULL;
	struct kcoro *a, *b = NULL;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		memset(&m, 0, sizeof(m));
		m.rounds = 2000;
		m.thread_b = pass;
		init_completion(&m.b_done);
		m.x = kst_chan(test, 0, pass ? 1 : 0, NULL, NULL);
		m.y = kst_chan(test, 0, pass ? 2 : 0, NULL, NULL);
		a = kst_spawn(test, kst_meet_a_fn, &m, kst_cpu(0));
		if (m.thread_b) {
			t = kthread_run(kst_meet_b_thread, &m, "kst_meet");
			KUNIT_ASSERT_FALSE(test, IS_ERR(t));
		} else {
			b = kst_spawn(test, kst_meet_b_fn, &m, kst_cpu(1));
		}
		kst_join(test, a);
		if (m.thread_b) {
			wait_for_completion(&m.b_done);
			kthread_stop(t);
		} else {
			kst_join(test, b);
		}
		kunit_info(test, "%s: a sent %u got %u, b got %u sent %u\n",
			   pass ? "coroutine+thread" : "coroutines",
			   m.a_sent, m.a_got, m.b_got, m.b_sent);
		KUNIT_EXPECT_EQ(test, m.bad, 0U);
		KUNIT_EXPECT_EQ(test, m.a_sent, m.b_got);
		KUNIT_EXPECT_EQ(test, m.a_got, m.b_sent);
		KUNIT_EXPECT_EQ(test, m.a_sent + m.a_got, m.rounds);
		KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);
		kcoro_chan_put(m.x);
		kcoro_chan_put(m.y);
	}
}

/* ---------------------------------------------------------------------
 * Stress: producers send unique values on NCH channels with random short
 * timeouts (their cancelled sends go to the hook); selectors receive from
 * all of them with random short deadlines (their cancelled selects race
 * the senders) and offer a value of their own on a side channel in the
 * same select.  At the end everything sent was received exactly once or
 * hooked exactly once, and every side-channel value the selects report
 * as sent was received, and no other.
 */

#define KST_NCH		3
#define KST_NPROD	2	/* per channel */
#define KST_NSEL	4

struct kst_stress {
	struct kcoro_chan *ch[KST_NCH];
	struct kcoro_chan *side;
	unsigned int seg_size;
	unsigned int m;
	unsigned long *seen;		/* one bit per value */
	unsigned long nvals;
	atomic_t dup, hooked, received, timeouts, producers_left;
	atomic_t side_sent, side_got;
	atomic_t bad;
};

/* Value: 1 + index; index = (channel * KST_NPROD + producer) * m + seq */
static void kst_mark(struct kst_stress *s, void *e, atomic_t *cnt)
{
	unsigned long v = KST_V(e);

	if (!v || v > s->nvals) {
		atomic_inc(&s->bad);
		return;
	}
	if (test_and_set_bit(v - 1, s->seen))
		atomic_inc(&s->dup);
	atomic_inc(cnt);
}

static void kst_hook(struct kcoro_chan *ch, void *elem, void *ctx)
{
	kst_mark(ctx, elem, &((struct kst_stress *)ctx)->hooked);
}

struct kst_prod {
	struct kst_stress *s;
	unsigned int id;
};

static long kst_prod_fn(void *arg)
{
	struct kst_prod *p = arg;
	struct kst_stress *s = p->s;
	struct kcoro_chan *ch = s->ch[p->id / KST_NPROD];
	unsigned long base = (unsigned long)p->id * s->m;
	unsigned int i;
	int ret;

	for (i = 0; i < s->m; i++) {
		ret = kcoro_chan_send_timeout(ch, KST_E(base + i + 1),
					      get_random_u32_below(200) *
					      NSEC_PER_USEC);
		if (ret == -ETIMEDOUT)
			atomic_inc(&s->timeouts);
		else if (ret)
			atomic_inc(&s->bad);
		if (!(i % 64))
			kcoro_yield();
	}
	if (atomic_dec_and_test(&s->producers_left)) {
		for (i = 0; i < KST_NCH; i++)
			kcoro_chan_close(s->ch[i]);
	}
	return 0;
}

static long kst_sel_fn(void *arg)
{
	struct kst_stress *s = arg;
	struct kcoro_select_clause c[KST_NCH + 1];
	unsigned int i, n;
	int ret;

	for (;;) {
		/* A channel closed and drained is not selected on again. */
		for (i = 0, n = 0; i < KST_NCH; i++)
			if (!kcoro_chan_is_closed_for_recv(s->ch[i]))
				c[n++] = (struct kcoro_select_clause){
					.ch = s->ch[i], .op = KCORO_SELECT_RECV };
		if (!n)
			break;
		c[n] = (struct kcoro_select_clause){ .ch = s->side,
			.op = KCORO_SELECT_SEND, .elem = KST_E(1) };
		ret = kcoro_select(c, n + 1, 0,
				   ktime_add_us(ktime_get(),
						get_random_u32_below(300)));
		if (ret == -ETIMEDOUT) {
			/*
			 * A deadline that passed before the select parked
			 * returns at once: let this CPU's producers run.
			 */
			kcoro_yield();
			continue;
		}
		if (ret < 0) {
			atomic_inc(&s->bad);
			break;
		}
		if (ret == n) {
			atomic_inc(&s->side_sent);
			continue;
		}
		if (c[ret].result == -EPIPE)
			continue;	/* closed and drained meanwhile */
		kst_mark(s, c[ret].elem, &s->received);
	}
	return 0;
}

static long kst_side_fn(void *arg)
{
	struct kst_stress *s = arg;
	void *e;

	while (!kcoro_chan_recv(s->side, &e)) {
		if (e != KST_E(1))
			atomic_inc(&s->bad);
		atomic_inc(&s->side_got);
	}
	return 0;
}

static void select_stress(struct kunit *test)
{
	struct kst_prod prod[KST_NCH * KST_NPROD];
	struct kcoro *pco[KST_NCH * KST_NPROD], *sco[KST_NSEL], *side;
	unsigned int i, pass;
	struct kst_stress *s;
	char buf[120];

	s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	for (pass = 0; pass < 2; pass++) {
		memset(s, 0, sizeof(*s));
		s->seg_size = pass + 1;
		s->m = stress_m;
		s->nvals = (unsigned long)KST_NCH * KST_NPROD * s->m;
		s->seen = bitmap_zalloc(s->nvals, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, s->seen);
		for (i = 0; i < KST_NCH; i++)
			s->ch[i] = kst_chan(test, i, s->seg_size, kst_hook, s);
		s->side = kst_chan(test, 0, s->seg_size, NULL, NULL);
		atomic_set(&s->producers_left, KST_NCH * KST_NPROD);

		side = kst_spawn(test, kst_side_fn, s, kst_cpu(1));
		for (i = 0; i < KST_NSEL; i++)
			sco[i] = kst_spawn(test, kst_sel_fn, s, kst_cpu(i));
		for (i = 0; i < KST_NCH * KST_NPROD; i++) {
			prod[i] = (struct kst_prod){ .s = s, .id = i };
			pco[i] = kst_spawn(test, kst_prod_fn, &prod[i],
					   kst_cpu(i + 1));
		}
		for (i = 0; i < KST_NCH * KST_NPROD; i++)
			kst_join(test, pco[i]);
		for (i = 0; i < KST_NSEL; i++)
			kst_join(test, sco[i]);
		kcoro_chan_close(s->side);
		kst_join(test, side);

		kunit_info(test,
			   "seg %u: %d received by selects, %d hooked (%d send timeouts), side %d/%d\n",
			   s->seg_size, atomic_read(&s->received),
			   atomic_read(&s->hooked), atomic_read(&s->timeouts),
			   atomic_read(&s->side_sent), atomic_read(&s->side_got));
		KUNIT_EXPECT_EQ(test, atomic_read(&s->bad), 0);
		KUNIT_EXPECT_EQ(test, atomic_read(&s->dup), 0);
		KUNIT_EXPECT_EQ(test, atomic_read(&s->hooked),
				atomic_read(&s->timeouts));
		KUNIT_EXPECT_EQ(test, (unsigned long)atomic_read(&s->received) +
				atomic_read(&s->hooked), s->nvals);
		KUNIT_EXPECT_EQ(test, bitmap_weight(s->seen, s->nvals), s->nvals);
		KUNIT_EXPECT_EQ(test, atomic_read(&s->side_sent),
				atomic_read(&s->side_got));
		KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);
		for (i = 0; i < KST_NCH; i++) {
			KUNIT_EXPECT_EQ_MSG(test, kcoro_test_chan_check(s->ch[i], buf,
									sizeof(buf)), 0,
					    "channel %d invariant: %s", i, buf);
			kcoro_chan_put(s->ch[i]);
		}
		kcoro_chan_put(s->side);
		bitmap_free(s->seen);
	}
}

/* ---------------------------------------------------------------------
 * Suite.
 */

/* ---------------------------------------------------------------------
 * Replayed: a clause is resumed while its select still registers.
 */

struct kst_thread_op {
	struct kst_one *sel;		/* a select, or: */
	struct kcoro_chan *ch;		/* a send of @elem on @ch */
	void *elem;
	int ret;
	bool done;
};

static int kst_thread_fn(void *arg)
{
	struct kst_thread_op *t = arg;

	if (t->sel) {
		kst_one_fn(t->sel);
		t->ret = t->sel->ret;
	} else {
		t->ret = kcoro_chan_send(t->ch, t->elem);
	}
	/* Publishes ret (and the select's clauses) to the test thread. */
	smp_store_release(&t->done, true);
	return 0;
}

static struct task_struct *kst_thread_on(struct kunit *test,
					 struct kst_thread_op *t, int cpu)
{
	struct task_struct *task = kthread_create(kst_thread_fn, t, "kst_op/%d",
						  cpu);

	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	kthread_bind(task, cpu);
	get_task_struct(task);
	wake_up_process(task);
	return task;
}

static bool kst_thread_done(struct kst_thread_op *t)
{
	/* Pairs with the release in kst_thread_fn(). */
	return smp_load_acquire(&t->done);
}

/*
 * A select receives on A and B (biased: it registers in array order).
 * It has registered on A and stops right
 * after its FAA on B; a send on A finds the select's waiter and claims
 * it, but the select is still registering (Kotlin's
 * TRY_SELECT_REREGISTER): the send fails that cell and waits in the next,
 * and the select, once it finished registering, registers on A again and
 * gets the element there.  Exactly one clause wins, the element arrives
 * once, and B keeps nothing.
 */
static void select_replay_reregister(struct kunit *test)
{
	struct kst_one o = { .n = 2, .flags = KCORO_SELECT_BIASED,
			     .timeout_ns = -1 };
	struct kst_thread_op sel = { .sel = &o }, snd = { };
	struct kcoro_test_pause p_reg, p_res;
	struct task_struct *ts, *tn = NULL;
	struct kcoro_chan *a, *b;
	char buf[120];

	a = kst_chan(test, 0, 1, NULL, NULL);
	b = kst_chan(test, 0, 1, NULL, NULL);
	o.c[0].ch = a;
	o.c[0].op = KCORO_SELECT_RECV;
	o.c[1].ch = b;
	o.c[1].op = KCORO_SELECT_RECV;
	kcoro_kunit_pause(test, &p_reg, b, KCORO_TP_RECV_FAA, 0, NULL, false);
	kcoro_kunit_pause(test, &p_res, a, KCORO_TP_RESUME, 0, NULL, true);

	ts = kst_thread_on(test, &sel, kst_cpu(0));
	if (!kcoro_kunit_wait_for(atomic_read(&p_reg.state) >= KCORO_TP_ARRIVED)) {
		KUNIT_FAIL(test, "the select never registered on B");
		goto out;
	}
	snd.ch = a;
	snd.elem = KST_E(0x5e1);
	tn = kst_thread_on(test, &snd, kst_cpu(1));
	if (!kcoro_kunit_wait_for(atomic_read(&p_res.state) >= KCORO_TP_ARRIVED)) {
		KUNIT_FAIL(test, "the send never claimed the select's waiter");
		goto out;
	}
	kcoro_test_pause_release(&p_reg);
	KUNIT_EXPECT_TRUE(test, kcoro_kunit_wait_for(kst_thread_done(&sel)));
	KUNIT_EXPECT_TRUE(test, kcoro_kunit_wait_for(kst_thread_done(&snd)));
	KUNIT_EXPECT_EQ(test, sel.ret, 0);
	KUNIT_EXPECT_EQ(test, o.c[0].result, 0);
	KUNIT_EXPECT_PTR_EQ(test, o.c[0].elem, KST_E(0x5e1));
	KUNIT_EXPECT_EQ(test, snd.ret, 0);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(b, KST_E(1)), -EAGAIN);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_test_chan_check(a, buf, sizeof(buf)), 0,
			    "A: %s", buf);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_test_chan_check(b, buf, sizeof(buf)), 0,
			    "B: %s", buf);
out:
	kcoro_test_pause_disarm(&p_res);
	kcoro_test_pause_disarm(&p_reg);
	kcoro_chan_cancel(a);
	kcoro_chan_cancel(b);
	kcoro_kunit_wait_for(kst_thread_done(&sel));
	kthread_stop_put(ts);
	if (tn) {
		kcoro_kunit_wait_for(kst_thread_done(&snd));
		kthread_stop_put(tn);
	}
	kcoro_chan_put(a);
	kcoro_chan_put(b);
}

/*
 * A select with a ready clause completes it in its first pass of tries:
 * the clauses before it in the chosen order never register (no cell is
 * reserved in their channels: their FAA pause points stay unvisited) and
 * no waiter is ever counted, biased or not.  When nothing is ready the
 * same clauses do register (the pause points are visited), so the first
 * half proves something.
 */
static void select_ready_no_register(struct kunit *test)
{
	struct kcoro_test_pause p_rcv, p_snd;
	struct kcoro_select_clause c[3];
	struct kcoro_chan *empty, *full, *ready;
	char buf[120];
	void *e;
	int i, ret;

	empty = kst_chan(test, 0, 1, NULL, NULL);
	full = kst_chan(test, 1, 0, NULL, NULL);
	ready = kst_chan(test, 4, 0, NULL, NULL);
	KUNIT_ASSERT_EQ(test, kcoro_chan_try_send(full, KST_E(1)), 0);
	kcoro_kunit_pause(test, &p_rcv, empty, KCORO_TP_RECV_FAA, 0, NULL, true);
	kcoro_kunit_pause(test, &p_snd, full, KCORO_TP_SEND_FAA, 1, NULL, true);

	memset(c, 0, sizeof(c));
	c[0].ch = empty;
	c[0].op = KCORO_SELECT_RECV;
	c[1].ch = full;
	c[1].op = KCORO_SELECT_SEND;
	c[1].elem = KST_E(2);
	c[2].ch = ready;
	c[2].op = KCORO_SELECT_RECV;
	for (i = 0; i < 16; i++) {
		KUNIT_ASSERT_EQ(test, kcoro_chan_try_send(ready, KST_E(0x100 + i)), 0);
		ret = kcoro_select(c, 3, i & 1 ? KCORO_SELECT_BIASED : 0,
				   KTIME_MAX);
		KUNIT_EXPECT_EQ(test, ret, 2);
		KUNIT_EXPECT_EQ(test, c[2].result, 0);
		KUNIT_EXPECT_PTR_EQ(test, c[2].elem, KST_E(0x100 + i));
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&p_rcv.state), KCORO_TP_ARMED);
	KUNIT_EXPECT_EQ(test, atomic_read(&p_snd.state), KCORO_TP_ARMED);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);

	/* Nothing ready, deadline passed: every clause registers, then leaves. */
	ret = kcoro_select(c, 3, KCORO_SELECT_BIASED, ktime_get());
	KUNIT_EXPECT_EQ(test, ret, -ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, atomic_read(&p_rcv.state), KCORO_TP_DONE);
	KUNIT_EXPECT_EQ(test, atomic_read(&p_snd.state), KCORO_TP_DONE);
	kcoro_test_pause_disarm(&p_snd);
	kcoro_test_pause_disarm(&p_rcv);
	KUNIT_EXPECT_EQ(test, kst_waiters(test), 0);

	/* The losers took and left nothing. */
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(full, &e), 0);
	KUNIT_EXPECT_PTR_EQ(test, e, KST_E(1));
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(full, &e), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ready, &e), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(empty, KST_E(3)), -EAGAIN);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_test_chan_check(empty, buf, sizeof(buf)),
			    0, "empty: %s", buf);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_test_chan_check(full, buf, sizeof(buf)),
			    0, "full: %s", buf);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_test_chan_check(ready, buf, sizeof(buf)),
			    0, "ready: %s", buf);
	kcoro_chan_put(empty);
	kcoro_chan_put(full);
	kcoro_chan_put(ready);
}

static struct kunit_case kst_cases[] = {
	KUNIT_CASE(select_basic),
	KUNIT_CASE(select_send_clause),
	KUNIT_CASE(select_default_timeout),
	KUNIT_CASE(select_closed),
	KUNIT_CASE(select_fairness),
	KUNIT_CASE(select_meet),
	KUNIT_CASE(select_replay_reregister),
	KUNIT_CASE(select_ready_no_register),
	KUNIT_CASE_SLOW(select_stress),
	{}
};

static struct kunit_suite kst_suite = {
	.name = "kcoro_select",
	.init = kcoro_kunit_init,
	.exit = kcoro_kunit_exit,
	.test_cases = kst_cases,
};

kunit_test_suites(&kst_suite);

MODULE_DESCRIPTION("KUnit tests for kcoro_select()");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
