// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for kcoro channels: rendezvous, buffered, unlimited,
 * conflated and drop-policy channels, timed operations, close, cancel,
 * cancellation of suspended waiters (kcoro_cancel(), signals), segment
 * reclamation, and a stress test that checks exactly-once delivery while
 * producers and consumers are cancelled under it.
 *
 * Elements are void * values: small integers cast to pointers, pointers to
 * structs, NULL and arbitrary bit patterns, which must all round-trip.
 *
 * A coroutine body never uses KUNIT_ASSERT_*(): that would abort the
 * scheduler kthread it runs on, not the test.  Bodies record what they saw
 * and the test thread checks it after joining them.  The undelivered hook
 * must not sleep: it only counts and logs with atomics.  Every case leaves
 * the channel, segment, waiter and coroutine counters as it found them.
 */
#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "kcoro_kunit.h"

/*
 * How long a coroutine that waits to be cancelled sleeps; the watchdogs
 * of this suite are tied to progress (kcoro_kunit.h), not to this.
 */
#define KCT_TIMEOUT_MS		30000
/* How long freed objects may take to be counted as freed. */
/* Long enough for an operation that should wait to have started waiting. */
#define KCT_SETTLE_MS		30

static unsigned int stress_m = 3000;
module_param(stress_m, uint, 0444);
MODULE_PARM_DESC(stress_m, "values each producer sends in chan_stress (default 3000)");

static unsigned int reclaim_n = 5000;
module_param(reclaim_n, uint, 0444);
MODULE_PARM_DESC(reclaim_n, "timed-out sends in chan_segment_reclaim (default 5000)");

#define KCT_E(v)		((void *)(unsigned long)(v))
#define KCT_V(e)		((unsigned long)(e))
/* A value no test sends: what a receive slot holds before the receive. */
#define KCT_POISON		KCT_E(0x6b63745f706f6973UL)

/* The @i-th value of a sequence: NULL first, then arbitrary bit patterns. */
static void *kct_val(unsigned long i)
{
	return KCT_E(i * 0x9e3779b97f4a7c15UL);
}

/* The @n-th online CPU, wrapping around. */
static int kct_cpu(unsigned int n)
{
	return cpumask_nth(n % num_online_cpus(), cpu_online_mask);
}

/* Wait until @cond holds, for as long as coroutines switch; returns @cond. */
#define kct_wait_for(cond)	kcoro_kunit_wait_for(cond)

/* ---------------------------------------------------------------------
 * Per-case baseline: the .init hook records the counters, .exit checks
 * that everything the case created is gone again.
 */

static const struct kcoro_chan_stats *kct_base(struct kunit *test)
{
	return &kcoro_kunit_base(test)->ch;
}

/* Suspended waiters now, relative to the start of the case. */
static long kct_waiters(struct kunit *test)
{
	return kcoro_kunit_waiters(test);
}

/* Live segments now, relative to the start of the case. */
static long kct_segments(struct kunit *test)
{
	struct kcoro_chan_stats st;

	kcoro_chan_get_stats(&st);
	return st.segments - kct_base(test)->segments;
}

static long kct_channels(struct kunit *test)
{
	struct kcoro_chan_stats st;

	kcoro_chan_get_stats(&st);
	return st.channels - kct_base(test)->channels;
}

/* Segments after every pending RCU free has run, relative to the start. */
static long kct_settled_segments(struct kunit *test)
{
	rcu_barrier();
	return kct_segments(test);
}

/* Wait for exactly @n more suspended waiters than at the start. */
static bool kct_wait_waiters(struct kunit *test, long n)
{
	return kct_wait_for(kct_waiters(test) == n);
}

/* Expect exactly @n more suspended waiters than at the start, soon. */
static void kct_expect_waiters(struct kunit *test, long n)
{
	KUNIT_EXPECT_TRUE_MSG(test, kct_wait_waiters(test, n),
			      "waiters: %ld, expected %ld", kct_waiters(test), n);
}

/* ---------------------------------------------------------------------
 * The undelivered hook: counts, sums and logs what it is handed, and
 * optionally counts per value (the stress test).  Never sleeps.
 */

#define KCT_HOOK_LOG		64

struct kct_hook {
	struct kcoro_chan *ch;		/* the channel expected, once known */
	atomic_t count;
	atomic_long_t sum;
	atomic_long_t xor;
	atomic_t wrong_ch;		/* called for another channel */
	atomic_t not_task;		/* called outside process context */
	atomic_t *per_val;		/* optional: calls per value */
	unsigned long nvals;
	atomic_t bogus;			/* values >= nvals */
	void *log[KCT_HOOK_LOG];
};

static void kct_hook_fn(struct kcoro_chan *ch, void *elem, void *ctx)
{
	struct kct_hook *h = ctx;
	struct kcoro_chan *want = READ_ONCE(h->ch);
	int n = atomic_fetch_inc(&h->count);

	if (n < KCT_HOOK_LOG)
		WRITE_ONCE(h->log[n], elem);
	atomic_long_add(KCT_V(elem), &h->sum);
	atomic_long_xor(KCT_V(elem), &h->xor);
	if (want && ch != want)
		atomic_inc(&h->wrong_ch);
	if (!in_task())
		atomic_inc(&h->not_task);
	if (h->per_val) {
		if (KCT_V(elem) < h->nvals)
			atomic_inc(&h->per_val[KCT_V(elem)]);
		else
			atomic_inc(&h->bogus);
	}
}

static void kct_hook_reset(struct kct_hook *h)
{
	memset(h, 0, sizeof(*h));
}

static int kct_hooked(struct kct_hook *h)
{
	return atomic_read(&h->count);
}

static void kct_expect_hook_sane(struct kunit *test, struct kct_hook *h)
{
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&h->wrong_ch), 0,
			    "hook called with another channel");
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&h->not_task), 0,
			    "hook called outside process context");
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&h->bogus), 0,
			    "hook called with values never sent");
}

/* The hook saw exactly @vals[0..@n-1], in this order. */
static void kct_expect_hook_seq(struct kunit *test, struct kct_hook *h,
				const unsigned long *vals, int n)
{
	int i, cnt = kct_hooked(h);

	kct_expect_hook_sane(test, h);
	KUNIT_EXPECT_EQ_MSG(test, cnt, n, "undelivered hook calls");
	for (i = 0; i < min3(cnt, n, KCT_HOOK_LOG); i++)
		KUNIT_EXPECT_EQ_MSG(test, KCT_V(READ_ONCE(h->log[i])), vals[i],
				    "hook call %d", i);
}

/* The hook saw exactly @vals[0..@n-1], each once, in any order. */
static void kct_expect_hook_set(struct kunit *test, struct kct_hook *h,
				const unsigned long *vals, int n)
{
	bool used[KCT_HOOK_LOG] = { };
	int i, j, cnt = kct_hooked(h);

	kct_expect_hook_sane(test, h);
	KUNIT_EXPECT_EQ_MSG(test, cnt, n, "undelivered hook calls");
	for (i = 0; i < n; i++) {
		for (j = 0; j < min(cnt, KCT_HOOK_LOG); j++) {
			if (!used[j] && KCT_V(READ_ONCE(h->log[j])) == vals[i])
				break;
		}
		if (j < min(cnt, KCT_HOOK_LOG))
			used[j] = true;
		else
			KUNIT_FAIL(test, "element %#lx never reached the hook", vals[i]);
	}
}

static struct kcoro_chan *kct_chan(long cap, enum kcoro_chan_overflow ovf,
				   unsigned int seg, struct kct_hook *h)
{
	struct kcoro_chan_attr attr = {
		.capacity = cap,
		.overflow = ovf,
		.segment_size = seg,
		.undelivered = h ? kct_hook_fn : NULL,
		.undelivered_ctx = h,
	};
	struct kcoro_chan *ch = kcoro_chan_create(&attr);

	if (h && !IS_ERR(ch))
		WRITE_ONCE(h->ch, ch);
	return ch;
}

/* The invariants of a quiescent channel (kcoro_test_chan_check()). */
static void kct_expect_invariants(struct kunit *test, struct kcoro_chan *ch)
{
	char buf[160];

	KUNIT_EXPECT_EQ_MSG(test, kcoro_test_chan_check(ch, buf, sizeof(buf)), 0,
			    "channel invariant: %s", buf);
}

/* ---------------------------------------------------------------------
 * Watchdog: if a case stops making progress in a channel operation,
 * cancel the channel so that every waiter returns and the case can report
 * the failure instead of hanging the suite.  Tied to progress (see struct
 * kcoro_kunit_watch): it looks every KCT_WD_POLL_MS and fires only when
 * the watched counter stood still, never because a slow case took long.
 */

#define KCT_WD_POLL_MS		10

struct kct_wd {
	struct delayed_work dw;
	struct kcoro_chan *ch;
	struct kcoro_kunit_watch w;
	bool fired;
};

static void kct_wd_fn(struct work_struct *work)
{
	struct kct_wd *wd = container_of(to_delayed_work(work), struct kct_wd, dw);

	if (!kcoro_kunit_watch_stalled(&wd->w)) {
		schedule_delayed_work(&wd->dw, msecs_to_jiffies(KCT_WD_POLL_MS));
		return;
	}
	WRITE_ONCE(wd->fired, true);
	kcoro_chan_cancel(wd->ch);
}

/* Watch @progress(@arg), or coroutine switches if it is NULL. */
static struct kct_wd *kct_wd_arm_progress(struct kunit *test,
					  struct kcoro_chan *ch,
					  u64 (*progress)(void *), void *arg)
{
	struct kct_wd *wd = kunit_kzalloc(test, sizeof(*wd), GFP_KERNEL);

	if (!wd)
		return NULL;
	wd->ch = ch;
	kcoro_kunit_watch_start(&wd->w, progress, arg);
	INIT_DELAYED_WORK(&wd->dw, kct_wd_fn);
	schedule_delayed_work(&wd->dw, msecs_to_jiffies(KCT_WD_POLL_MS));
	return wd;
}

static struct kct_wd *kct_wd_arm(struct kunit *test, struct kcoro_chan *ch)
{
	return kct_wd_arm_progress(test, ch, NULL, NULL);
}

static void kct_wd_disarm(struct kunit *test, struct kct_wd *wd)
{
	if (!wd)
		return;
	/* Also stops a work that keeps queueing itself. */
	cancel_delayed_work_sync(&wd->dw);
	KUNIT_EXPECT_FALSE_MSG(test, wd->fired,
			       "watchdog had to cancel the channel: an operation hung");
}

/* ---------------------------------------------------------------------
 * Coroutine and kthread helpers.
 */

static struct kcoro *kct_spawn(kcoro_fn_t fn, void *arg, int cpu)
{
	struct kcoro_attr attr = { .cpu = cpu };

	return kcoro_spawn(fn, arg, &attr);
}

/*
 * kcoro_join() + kcoro_put() with a watchdog tied to progress (see
 * kcoro_kunit_wait_done()); returns the result.
 */
static long kct_join(struct kunit *test, struct kcoro *co)
{
	long ret;

	if (IS_ERR_OR_NULL(co))
		return 0;
	kcoro_kunit_wait_done(test, co, NULL, NULL);
	ret = kcoro_join(co);
	kcoro_put(co);
	return ret;
}

/*
 * A kthread the test stops (and reaps) even after it has returned; bound
 * to @cpu unless it is negative.
 */
static struct task_struct *kct_kthread_on(int (*fn)(void *), void *arg,
					  const char *name, int cpu)
{
	struct task_struct *t = kthread_create(fn, arg, "%s", name);

	if (IS_ERR(t))
		return t;
	if (cpu >= 0)
		kthread_bind(t, cpu);
	get_task_struct(t);
	wake_up_process(t);
	return t;
}

static struct task_struct *kct_kthread(int (*fn)(void *), void *arg,
				       const char *name)
{
	return kct_kthread_on(fn, arg, name, -1);
}

/* Operations that a coroutine or kthread runs once, for the test thread. */
enum kct_kind {
	KCT_SEND,
	KCT_SEND_TMO,
	KCT_TRY_SEND,
	KCT_RECV,
	KCT_RECV_TMO,
	KCT_TRY_RECV,
};

struct kct_op {
	struct kcoro_chan *ch;
	enum kct_kind kind;
	void *elem;		/* sent, or received */
	s64 timeout_ns;
	bool cancel_first;	/* coroutine: wait to be cancelled, then run */
	int pre_ret;		/* what that wait returned */
	int ret;
	s64 elapsed_ns;
	bool started;
	bool done;
	struct kcoro *co;
	struct task_struct *task;
};

static int kct_do(struct kcoro_chan *ch, enum kct_kind kind, void **elem,
		  s64 timeout_ns)
{
	switch (kind) {
	case KCT_SEND:
		return kcoro_chan_send(ch, *elem);
	case KCT_SEND_TMO:
		return kcoro_chan_send_timeout(ch, *elem, timeout_ns);
	case KCT_TRY_SEND:
		return kcoro_chan_try_send(ch, *elem);
	case KCT_RECV:
		return kcoro_chan_recv(ch, elem);
	case KCT_RECV_TMO:
		return kcoro_chan_recv_timeout(ch, elem, timeout_ns);
	case KCT_TRY_RECV:
		return kcoro_chan_try_recv(ch, elem);
	}
	return -EINVAL;
}

static void kct_op_run(struct kct_op *op)
{
	void *e = op->elem;
	ktime_t t0;
	int ret;

	/* Pairs with kct_op_done(): the test thread sees all of @op. */
	smp_store_release(&op->started, true);
	t0 = ktime_get();
	ret = kct_do(op->ch, op->kind, &e, op->timeout_ns);
	op->elapsed_ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	op->elem = e;
	op->ret = ret;
	/* Publishes elem, ret and elapsed_ns to kct_op_done(). */
	smp_store_release(&op->done, true);
}

static long kct_op_co_fn(void *arg)
{
	struct kct_op *op = arg;

	if (op->cancel_first)
		op->pre_ret = kcoro_msleep(KCT_TIMEOUT_MS);
	kct_op_run(op);
	return 0;
}

static int kct_op_thread_fn(void *arg)
{
	allow_signal(SIGUSR1);
	kct_op_run(arg);
	return 0;
}

static void kct_op_init(struct kct_op *op, struct kcoro_chan *ch,
			enum kct_kind kind, void *elem)
{
	memset(op, 0, sizeof(*op));
	op->ch = ch;
	op->kind = kind;
	op->elem = elem;
	op->timeout_ns = -1;
}

static bool kct_op_done(struct kct_op *op)
{
	/* Pairs with the release in kct_op_run(). */
	return smp_load_acquire(&op->done);
}

/* Run @op in a new coroutine on @cpu. */
static bool kct_op_co(struct kunit *test, struct kct_op *op, int cpu)
{
	struct kcoro *co = kct_spawn(kct_op_co_fn, op, cpu);

	if (IS_ERR(co)) {
		KUNIT_FAIL(test, "spawn: %pe", co);
		return false;
	}
	op->co = co;
	return true;
}

/* Run @op in a new kthread, bound to @cpu if >= 0, accepting SIGUSR1. */
static bool kct_op_thread_on(struct kunit *test, struct kct_op *op, int cpu)
{
	struct task_struct *t = kct_kthread_on(kct_op_thread_fn, op, "kct_op",
					       cpu);

	if (IS_ERR(t)) {
		KUNIT_FAIL(test, "kthread: %pe", t);
		return false;
	}
	op->task = t;
	return true;
}

static bool kct_op_thread(struct kunit *test, struct kct_op *op)
{
	return kct_op_thread_on(test, op, -1);
}

/* Wait for @op's coroutine or kthread and reap it; returns its result. */
static int kct_op_finish(struct kunit *test, struct kct_op *op)
{
	if (op->co) {
		kct_join(test, op->co);
		op->co = NULL;
	}
	if (op->task) {
		if (!kct_wait_for(kct_op_done(op))) {
			KUNIT_FAIL(test, "kthread operation %d made no progress, signalling it",
				   op->kind);
			send_sig(SIGUSR1, op->task, 1);
		}
		kthread_stop_put(op->task);
		op->task = NULL;
	}
	return op->ret;
}

/* Start @op in a coroutine and wait until it is suspended in the channel. */
static bool kct_op_co_suspended(struct kunit *test, struct kct_op *op, int cpu,
				long waiters)
{
	if (!kct_op_co(test, op, cpu))
		return false;
	if (!kct_wait_waiters(test, waiters)) {
		KUNIT_FAIL(test, "operation %d did not suspend: waiters %ld, expected %ld",
			   op->kind, kct_waiters(test), waiters);
		KUNIT_FAIL(test, "operation %d: done %d, returned %d",
			   op->kind, kct_op_done(op), op->ret);
		return false;
	}
	return true;
}

/* Sequences: send kct_val(first + i) or receive and compare, n times. */
struct kct_seq {
	struct kcoro_chan *ch;
	unsigned long first;
	unsigned int n;
	unsigned int ok;	/* operations that returned 0 */
	int err;		/* the error that stopped the sequence */
	unsigned int mismatch;	/* received values not the expected ones */
	unsigned int first_bad;
	bool use_try;		/* try_send, which must never fail */
};

static long kct_seq_send_fn(void *arg)
{
	struct kct_seq *q = arg;
	unsigned int i;
	int ret;

	for (i = 0; i < q->n; i++) {
		if (q->use_try)
			ret = kcoro_chan_try_send(q->ch, kct_val(q->first + i));
		else
			ret = kcoro_chan_send(q->ch, kct_val(q->first + i));
		if (ret) {
			q->err = ret;
			break;
		}
		q->ok++;
	}
	return 0;
}

static long kct_seq_recv_fn(void *arg)
{
	struct kct_seq *q = arg;
	unsigned int i;
	void *e;
	int ret;

	for (i = 0; i < q->n; i++) {
		e = KCT_POISON;
		ret = kcoro_chan_recv(q->ch, &e);
		if (ret) {
			q->err = ret;
			break;
		}
		q->ok++;
		if (e != kct_val(q->first + i) && !q->mismatch++)
			q->first_bad = i;
	}
	return 0;
}

static void kct_expect_seq(struct kunit *test, struct kct_seq *q, const char *what)
{
	KUNIT_EXPECT_EQ_MSG(test, q->err, 0, "%s: error", what);
	KUNIT_EXPECT_EQ_MSG(test, q->ok, q->n, "%s: operations done", what);
	KUNIT_EXPECT_EQ_MSG(test, q->mismatch, 0U,
			    "%s: wrong values, first at %u", what, q->first_bad);
}

/* The test thread receives kct_val(first..first+n-1) with @kind. */
static void kct_thread_recv_seq(struct kunit *test, struct kcoro_chan *ch,
				enum kct_kind kind, unsigned long first,
				unsigned int n, const char *what)
{
	unsigned int i, bad = 0;
	void *e;
	int ret;

	for (i = 0; i < n; i++) {
		e = KCT_POISON;
		ret = kct_do(ch, kind, &e, -1);
		if (ret) {
			KUNIT_FAIL(test, "%s: receive %u of %u: %d", what, i, n, ret);
			return;
		}
		if (e != kct_val(first + i) && !bad++)
			KUNIT_FAIL(test, "%s: receive %u got %p, expected %p",
				   what, i, e, kct_val(first + i));
	}
	KUNIT_EXPECT_EQ_MSG(test, bad, 0U, "%s: values out of order", what);
}

/* ---------------------------------------------------------------------
 * Case: attribute validation, references and the stats counters.
 */

static void kct_expect_create_fails(struct kunit *test, long cap,
				    enum kcoro_chan_overflow ovf,
				    unsigned int flags)
{
	struct kcoro_chan_attr attr = {
		.capacity = cap, .overflow = ovf, .flags = flags,
	};
	struct kcoro_chan *ch = kcoro_chan_create(&attr);

	KUNIT_EXPECT_EQ_MSG(test, PTR_ERR_OR_ZERO(ch), -EINVAL,
			    "capacity %ld overflow %d flags %#x", cap, ovf, flags);
	if (!IS_ERR(ch))
		kcoro_chan_put(ch);
}

/**
 * chan_create_validation() - bad attributes are refused, good ones work
 * @test: the test
 *
 * Unknown flags, a capacity below CONFLATED, CONFLATED with DROP_LATEST
 * and an unknown overflow policy fail with -EINVAL and create nothing.
 * NULL attributes give a rendezvous channel.  Every valid capacity and
 * segment size creates one channel; get/put keep it alive until the last
 * put, which frees it.
 */
static void chan_create_validation(struct kunit *test)
{
	static const long caps[] = {
		KCORO_CHAN_RENDEZVOUS, 1, 4, 1000, KCORO_CHAN_UNLIMITED,
		KCORO_CHAN_CONFLATED,
	};
	static const unsigned int segs[] = { 0, 1, 2, 32 };
	struct kcoro_chan *ch;
	unsigned int i, j;
	void *e;

	kct_expect_create_fails(test, 0, KCORO_CHAN_SUSPEND, KCORO_CHAN_ACCOUNT << 1);
	kct_expect_create_fails(test, 4, KCORO_CHAN_SUSPEND, 0x80000000);
	kct_expect_create_fails(test, -3, KCORO_CHAN_SUSPEND, 0);
	kct_expect_create_fails(test, LONG_MIN, KCORO_CHAN_SUSPEND, 0);
	kct_expect_create_fails(test, KCORO_CHAN_CONFLATED, KCORO_CHAN_DROP_LATEST, 0);
	kct_expect_create_fails(test, 4, (enum kcoro_chan_overflow)3, 0);
	KUNIT_EXPECT_EQ(test, kct_channels(test), 0L);
	KUNIT_EXPECT_EQ(test, kct_segments(test), 0L);

	/* NULL attributes: an empty rendezvous channel. */
	ch = kcoro_chan_create(NULL);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR_OR_NULL(ch), "create(NULL): %pe", ch);
	KUNIT_EXPECT_EQ(test, kct_channels(test), 1L);
	KUNIT_EXPECT_FALSE(test, kcoro_chan_is_closed_for_send(ch));
	KUNIT_EXPECT_FALSE(test, kcoro_chan_is_closed_for_recv(ch));
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(1)), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);

	/* References: alive until the last put. */
	kcoro_chan_get(ch);
	kcoro_chan_put(ch);
	KUNIT_EXPECT_EQ(test, kct_channels(test), 1L);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(1)), -EAGAIN);
	kcoro_chan_put(ch);
	KUNIT_EXPECT_EQ(test, kct_channels(test), 0L);

	for (i = 0; i < ARRAY_SIZE(caps); i++) {
		for (j = 0; j < ARRAY_SIZE(segs); j++) {
			ch = kct_chan(caps[i], KCORO_CHAN_SUSPEND, segs[j], NULL);
			KUNIT_EXPECT_FALSE_MSG(test, IS_ERR_OR_NULL(ch),
					       "capacity %ld segment %u: %pe",
					       caps[i], segs[j], ch);
			if (IS_ERR_OR_NULL(ch))
				continue;
			KUNIT_EXPECT_EQ(test, kct_channels(test), 1L);
			kcoro_chan_put(ch);
		}
	}
	KUNIT_EXPECT_EQ(test, kct_channels(test), 0L);
}

/* ---------------------------------------------------------------------
 * Case: rendezvous of pointers to structs between two coroutines.
 */

#define BASIC_N		200
#define KCT_MAGIC	0x6b636f72U

struct kct_item {
	unsigned int seq;
	unsigned int magic;
};

struct kct_basic {
	struct kcoro_chan *ch;
	struct kct_item items[BASIC_N];
	struct kct_item *got[BASIC_N];
	unsigned int sent, received;
	int send_err, recv_err;
};

static long kct_basic_send_fn(void *arg)
{
	struct kct_basic *b = arg;
	unsigned int i;
	int ret;

	for (i = 0; i < BASIC_N; i++) {
		ret = kcoro_chan_send(b->ch, &b->items[i]);
		if (ret) {
			b->send_err = ret;
			break;
		}
		b->sent++;
	}
	return 0;
}

static long kct_basic_recv_fn(void *arg)
{
	struct kct_basic *b = arg;
	unsigned int i;
	void *e;
	int ret;

	for (i = 0; i < BASIC_N; i++) {
		e = KCT_POISON;
		ret = kcoro_chan_recv(b->ch, &e);
		if (ret) {
			b->recv_err = ret;
			break;
		}
		b->got[i] = e;
		b->received++;
	}
	return 0;
}

/* One run: receiver on @rcpu, sender on @scpu, started in either order. */
static void kct_basic_run(struct kunit *test, struct kct_basic *b,
			  int scpu, int rcpu, bool sender_first)
{
	struct kcoro *snd = NULL, *rcv = NULL;
	unsigned int i, bad = 0;

	memset(b->got, 0, sizeof(b->got));
	b->sent = 0;
	b->received = 0;
	b->send_err = 0;
	b->recv_err = 0;
	for (i = 0; i < BASIC_N; i++) {
		b->items[i].seq = i;
		b->items[i].magic = KCT_MAGIC;
	}
	if (sender_first)
		snd = kct_spawn(kct_basic_send_fn, b, scpu);
	rcv = kct_spawn(kct_basic_recv_fn, b, rcpu);
	if (!sender_first)
		snd = kct_spawn(kct_basic_send_fn, b, scpu);
	KUNIT_EXPECT_FALSE_MSG(test, IS_ERR(snd), "spawn sender: %pe", snd);
	KUNIT_EXPECT_FALSE_MSG(test, IS_ERR(rcv), "spawn receiver: %pe", rcv);
	if (IS_ERR(snd) || IS_ERR(rcv))
		kcoro_chan_cancel(b->ch);
	kct_join(test, snd);
	kct_join(test, rcv);

	KUNIT_EXPECT_EQ(test, b->send_err, 0);
	KUNIT_EXPECT_EQ(test, b->recv_err, 0);
	KUNIT_EXPECT_EQ(test, b->sent, BASIC_N);
	KUNIT_EXPECT_EQ(test, b->received, BASIC_N);
	for (i = 0; i < b->received; i++) {
		if (b->got[i] == &b->items[i] && b->got[i]->seq == i &&
		    b->got[i]->magic == KCT_MAGIC)
			continue;
		if (!bad++)
			KUNIT_FAIL(test, "cpus %d->%d: item %u is %p, expected %p",
				   scpu, rcpu, i, b->got[i], &b->items[i]);
	}
	KUNIT_EXPECT_EQ(test, bad, 0U);
}

/**
 * chan_ptr_rendezvous_basic() - pointers to structs through a rendezvous
 * @test: the test
 *
 * A sender coroutine sends pointers to BASIC_N structs, a receiver
 * coroutine receives them: on two CPUs and on one, receiver or sender
 * first.  Every pointer arrives in order, unchanged.  Then the rendezvous
 * property: a send with no receiver stays suspended (it does not return
 * 0 before a receiver took the element), and so does a receive with no
 * sender; NULL round-trips.  No element ever reaches the hook.
 */
static void chan_ptr_rendezvous_basic(struct kunit *test)
{
	struct kct_hook *h;
	struct kct_basic *b;
	struct kct_op *op;
	struct kct_wd *wd;
	int ret, other = kct_cpu(1);
	void *e;

	b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	op = kunit_kzalloc(test, sizeof(*op), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, b && op && h);
	b->ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(b->ch), "create: %pe", b->ch);
	wd = kct_wd_arm(test, b->ch);

	kct_basic_run(test, b, kct_cpu(0), other, false);
	kct_basic_run(test, b, kct_cpu(0), other, true);
	kct_basic_run(test, b, kct_cpu(0), kct_cpu(0), false);
	kct_basic_run(test, b, other, other, true);
	kct_expect_waiters(test, 0);

	/* A sender with no receiver waits; the element is not "sent" yet. */
	kct_op_init(op, b->ch, KCT_SEND, &b->items[7]);
	if (kct_op_co_suspended(test, op, other, 1)) {
		msleep(KCT_SETTLE_MS);
		KUNIT_EXPECT_FALSE_MSG(test, kct_op_done(op),
				       "rendezvous send returned %d with no receiver", op->ret);
		e = KCT_POISON;
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(b->ch, &e), 0);
		KUNIT_EXPECT_PTR_EQ(test, e, (void *)&b->items[7]);
	}
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);

	/* A receiver with no sender waits; try_send hands it the element. */
	kct_op_init(op, b->ch, KCT_RECV, KCT_POISON);
	if (kct_op_co_suspended(test, op, other, 1)) {
		msleep(KCT_SETTLE_MS);
		KUNIT_EXPECT_FALSE(test, kct_op_done(op));
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(b->ch, &b->items[9]), 0);
	}
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);
	KUNIT_EXPECT_PTR_EQ(test, op->elem, (void *)&b->items[9]);

	/* NULL is an element like any other. */
	kct_op_init(op, b->ch, KCT_SEND, NULL);
	if (kct_op_co(test, op, other)) {
		e = KCT_POISON;
		ret = kcoro_chan_recv(b->ch, &e);
		KUNIT_EXPECT_EQ(test, ret, 0);
		KUNIT_EXPECT_NULL(test, e);
	}
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);

	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(b->ch, &e), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(b->ch, KCT_E(1)), -EAGAIN);
	kct_wd_disarm(test, wd);
	kct_expect_hook_seq(test, h, NULL, 0);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kcoro_chan_put(b->ch);
}

/* ---------------------------------------------------------------------
 * Case: rendezvous between the test thread and a coroutine.
 */

#define THREAD_N	300

/**
 * chan_thread_rendezvous() - the test thread and a coroutine exchange
 * @test: the test
 *
 * The test thread sends THREAD_N values (NULL, all-ones, error pointers,
 * arbitrary bit patterns) that a coroutine receives, then receives
 * THREAD_N values that a coroutine sends, on each CPU in turn.  The test
 * thread sleeps in the channel, the coroutine parks.  All in order, and
 * nothing reaches the hook.
 */
static void chan_thread_rendezvous(struct kunit *test)
{
	struct kcoro_chan *ch;
	struct kct_hook *h;
	struct kct_seq *q;
	struct kct_wd *wd;
	unsigned int i, cpu, failed;
	struct kcoro *co;
	int ret;

	q = kunit_kzalloc(test, sizeof(*q), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, q && h);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);

	for (cpu = 0; cpu < min(num_online_cpus(), 2U); cpu++) {
		/* Thread -> coroutine. */
		*q = (struct kct_seq){ .ch = ch, .first = 0, .n = THREAD_N };
		co = kct_spawn(kct_seq_recv_fn, q, kct_cpu(cpu));
		KUNIT_EXPECT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
		failed = 0;
		for (i = 0; !IS_ERR(co) && i < THREAD_N; i++) {
			ret = kcoro_chan_send(ch, kct_val(i));
			if (ret && !failed++)
				KUNIT_FAIL(test, "thread send %u: %d", i, ret);
		}
		kct_join(test, co);
		KUNIT_EXPECT_EQ(test, failed, 0U);
		kct_expect_seq(test, q, "coroutine receiver");

		/* Coroutine -> thread. */
		*q = (struct kct_seq){ .ch = ch, .first = 1000, .n = THREAD_N };
		co = kct_spawn(kct_seq_send_fn, q, kct_cpu(cpu));
		KUNIT_EXPECT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
		if (!IS_ERR(co))
			kct_thread_recv_seq(test, ch, KCT_RECV, 1000, THREAD_N,
					    "thread receiver");
		kct_join(test, co);
		kct_expect_seq(test, q, "coroutine sender");
	}

	kct_wd_disarm(test, wd);
	kct_expect_hook_seq(test, h, NULL, 0);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kcoro_chan_put(ch);
}

/* ---------------------------------------------------------------------
 * Case: buffered channel, FIFO order, full and empty.
 */

/**
 * chan_buffered_fifo() - a capacity-4 buffer fills, empties, in order
 * @test: the test
 *
 * For segment sizes 1, 2 and 32: try_send fills exactly 4 slots, the 5th
 * gets -EAGAIN (and never reaches the hook); try_recv returns the 4 in
 * order, then -EAGAIN.  A coroutine sending into the full buffer stays
 * suspended until one slot frees, then its element joins the buffer at
 * the end.  A coroutine receiving from the empty buffer gets the next
 * try_send directly.
 */
static void chan_buffered_fifo(struct kunit *test)
{
	static const unsigned int segs[] = { 1, 2, 32 };
	struct kcoro_chan *ch;
	struct kct_hook *h;
	struct kct_op *op;
	struct kct_wd *wd;
	unsigned int s, i, pass;
	void *e;

	op = kunit_kzalloc(test, sizeof(*op), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, op && h);

	for (s = 0; s < ARRAY_SIZE(segs); s++) {
		kct_hook_reset(h);
		ch = kct_chan(4, KCORO_CHAN_SUSPEND, segs[s], h);
		KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
		wd = kct_wd_arm(test, ch);

		for (pass = 0; pass < 3; pass++) {
			for (i = 0; i < 4; i++)
				KUNIT_EXPECT_EQ_MSG(test,
						    kcoro_chan_try_send(ch, kct_val(pass * 10 + i)),
						    0, "seg %u pass %u slot %u", segs[s], pass, i);
			KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(99)), -EAGAIN);
			KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(98)), -EAGAIN);
			kct_thread_recv_seq(test, ch, KCT_TRY_RECV, pass * 10, 4, "try_recv");
			KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);
		}
		KUNIT_EXPECT_EQ(test, kct_hooked(h), 0);
		KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);

		/* Full buffer: a blocking send waits for a free slot. */
		for (i = 0; i < 4; i++)
			KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, kct_val(100 + i)), 0);
		kct_op_init(op, ch, KCT_SEND, kct_val(104));
		if (kct_op_co_suspended(test, op, kct_cpu(1), 1)) {
			msleep(KCT_SETTLE_MS);
			KUNIT_EXPECT_FALSE(test, kct_op_done(op));
			e = KCT_POISON;
			KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), 0);
			KUNIT_EXPECT_PTR_EQ(test, e, kct_val(100));
		}
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);
		kct_thread_recv_seq(test, ch, KCT_TRY_RECV, 101, 4, "after a blocked send");
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);

		/* Empty buffer: a blocking receive waits for the next send. */
		kct_op_init(op, ch, KCT_RECV, KCT_POISON);
		if (kct_op_co_suspended(test, op, kct_cpu(1), 1))
			KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, kct_val(200)), 0);
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);
		KUNIT_EXPECT_PTR_EQ(test, op->elem, kct_val(200));
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);

		kct_wd_disarm(test, wd);
		kct_expect_hook_seq(test, h, NULL, 0);
		KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
		kcoro_chan_put(ch);
	}
}

/* ---------------------------------------------------------------------
 * Case: unlimited channel.
 */

/**
 * chan_unlimited() - 10,000 sends with no receiver never wait
 * @test: the test
 *
 * Half the values go in with try_send from the test thread (each must
 * return 0), the other half with kcoro_chan_send from a coroutine that
 * must finish without any receiver.  Every value is stored in a cell, so
 * at least n / segment_size segments are live.  Then the test thread
 * receives all of them in order, and the drained segments are freed.
 * Done with 32-cell segments for 10,000 values and 1-cell segments for
 * 2,000.
 */
static void chan_unlimited(struct kunit *test)
{
	static const struct { unsigned int seg, n; } runs[] = {
		{ 32, 10000 }, { 1, 2000 },
	};
	struct kcoro_chan *ch;
	struct kct_hook *h;
	struct kct_seq *q;
	struct kct_wd *wd;
	unsigned int r, i, half, failed;
	struct kcoro *co;
	void *e;

	q = kunit_kzalloc(test, sizeof(*q), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, q && h);

	for (r = 0; r < ARRAY_SIZE(runs); r++) {
		kct_hook_reset(h);
		ch = kct_chan(KCORO_CHAN_UNLIMITED, KCORO_CHAN_SUSPEND, runs[r].seg, h);
		KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
		wd = kct_wd_arm(test, ch);

		half = runs[r].n / 2;
		failed = 0;
		for (i = 0; i < half; i++) {
			if (kcoro_chan_try_send(ch, kct_val(i)) && !failed++)
				KUNIT_FAIL(test, "try_send %u failed", i);
		}
		*q = (struct kct_seq){ .ch = ch, .first = half, .n = runs[r].n - half };
		co = kct_spawn(kct_seq_send_fn, q, kct_cpu(1));
		KUNIT_EXPECT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
		kct_join(test, co);
		kct_expect_seq(test, q, "unlimited sender");
		KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
		KUNIT_EXPECT_GE_MSG(test, kct_segments(test), (long)(runs[r].n / runs[r].seg),
				    "%u elements buffered in %u-cell segments",
				    runs[r].n, runs[r].seg);

		kct_thread_recv_seq(test, ch, KCT_TRY_RECV, 0, runs[r].n, "unlimited drain");
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);
		KUNIT_EXPECT_LE_MSG(test, kct_settled_segments(test), 4L,
				    "drained segments of a live channel are not freed");

		kct_wd_disarm(test, wd);
		kct_expect_hook_seq(test, h, NULL, 0);
		kcoro_chan_put(ch);
		KUNIT_EXPECT_EQ(test, kct_hooked(h), 0);
	}
}

/* ---------------------------------------------------------------------
 * Case: conflated channels and the drop policies.
 */

/*
 * Kotlin's testChannelBufferOverflow: send 1, send 2, send 3, try_send 4
 * (none of which waits), then the hook must have seen exactly @hooked in
 * this order and the receiver gets exactly @left.
 */
static void kct_overflow_seq(struct kunit *test, struct kct_hook *h,
			     long cap, enum kcoro_chan_overflow ovf,
			     const unsigned long *hooked, int nhooked,
			     const unsigned long *left, int nleft)
{
	struct kcoro_chan *ch;
	struct kct_wd *wd;
	void *e;
	int i;

	kct_hook_reset(h);
	ch = kct_chan(cap, ovf, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "capacity %ld overflow %d: %pe",
			       cap, ovf, ch);
	wd = kct_wd_arm(test, ch);

	KUNIT_EXPECT_EQ_MSG(test, kcoro_chan_send(ch, KCT_E(1)), 0, "cap %ld ovf %d", cap, ovf);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_chan_send(ch, KCT_E(2)), 0, "cap %ld ovf %d", cap, ovf);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_chan_send(ch, KCT_E(3)), 0, "cap %ld ovf %d", cap, ovf);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_chan_try_send(ch, KCT_E(4)), 0, "cap %ld ovf %d", cap, ovf);
	kct_expect_hook_seq(test, h, hooked, nhooked);
	for (i = 0; i < nleft; i++) {
		e = KCT_POISON;
		KUNIT_EXPECT_EQ_MSG(test, kcoro_chan_try_recv(ch, &e), 0,
				    "cap %ld ovf %d: receive %d", cap, ovf, i);
		KUNIT_EXPECT_EQ_MSG(test, KCT_V(e), left[i],
				    "cap %ld ovf %d: receive %d", cap, ovf, i);
	}
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kct_wd_disarm(test, wd);
	kcoro_chan_put(ch);
	KUNIT_EXPECT_EQ_MSG(test, kct_hooked(h), nhooked,
			    "put of an empty channel called the hook");
}

/**
 * chan_conflated_drop() - CONFLATED, DROP_OLDEST and DROP_LATEST
 * @test: the test
 *
 * The sequence send 1, send 2, send 3, try_send 4 never waits.  With
 * capacity 2 the hook sees DROP_OLDEST -> [1, 2] (then 3, 4 are received)
 * and DROP_LATEST -> [3, 4] (a try-send's dropped element goes to the
 * hook too: nothing is dropped silently; 1, 2 are received).  CONFLATED
 * keeps only the newest: hook [1, 2, 3],
 * then 4.  A rendezvous capacity with a drop policy is a one-slot buffer,
 * as in Kotlin's factory.  A conflated channel hands an element straight
 * to a waiting receiver, and after close refuses sends (-EPIPE, hook)
 * while its last element stays receivable.
 */
static void chan_conflated_drop(struct kunit *test)
{
	static const unsigned long h123[] = { 1, 2, 3 }, h12[] = { 1, 2 };
	static const unsigned long h34[] = { 3, 4 }, h234[] = { 2, 3, 4 };
	static const unsigned long l4[] = { 4 }, l34[] = { 3, 4 };
	static const unsigned long l12[] = { 1, 2 }, l1[] = { 1 };
	static const unsigned long h6[] = { 6 };
	struct kcoro_chan *ch;
	struct kct_hook *h;
	struct kct_op *op;
	struct kct_wd *wd;
	void *e;

	op = kunit_kzalloc(test, sizeof(*op), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, op && h);

	kct_overflow_seq(test, h, 2, KCORO_CHAN_DROP_OLDEST, h12, 2, l34, 2);
	kct_overflow_seq(test, h, 2, KCORO_CHAN_DROP_LATEST, h34, 2, l12, 2);
	kct_overflow_seq(test, h, KCORO_CHAN_CONFLATED, KCORO_CHAN_SUSPEND, h123, 3, l4, 1);
	kct_overflow_seq(test, h, KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_DROP_OLDEST, h123, 3, l4, 1);
	kct_overflow_seq(test, h, KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_DROP_LATEST, h234, 3, l1, 1);

	kct_hook_reset(h);
	ch = kct_chan(KCORO_CHAN_CONFLATED, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);

	/* A waiting receiver gets the element itself, nothing is dropped. */
	kct_op_init(op, ch, KCT_RECV, KCT_POISON);
	if (kct_op_co_suspended(test, op, kct_cpu(1), 1))
		KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(7)), 0);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);
	KUNIT_EXPECT_PTR_EQ(test, op->elem, KCT_E(7));
	KUNIT_EXPECT_EQ(test, kct_hooked(h), 0);

	/* Closed: sends fail, the buffered element is still received. */
	KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(5)), 0);
	KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
	KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(6)), -EPIPE);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(8)), -EPIPE);
	kct_expect_hook_seq(test, h, h6, 1);
	e = KCT_POISON;
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &e), 0);
	KUNIT_EXPECT_PTR_EQ(test, e, KCT_E(5));
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &e), -EPIPE);
	kct_wd_disarm(test, wd);
	kcoro_chan_put(ch);
	kct_expect_hook_seq(test, h, h6, 1);
}

/* ---------------------------------------------------------------------
 * Case: timed operations.
 */

#define TMO_NS		(20 * NSEC_PER_MSEC)
#define TMO_LONG_NS	(10LL * NSEC_PER_SEC)

/**
 * chan_timeouts() - timed operations expire, and only when they should
 * @test: the test
 *
 * On an empty rendezvous channel recv_timeout returns -ETIMEDOUT after at
 * least the timeout, from the test thread and from a coroutine.
 * send_timeout with no receiver returns -ETIMEDOUT after at least the
 * timeout and hands its element to the hook exactly once.  The timed-out
 * elements are never received; the channel still works afterwards, and
 * long timeouts do not fire early: a timed receive or send that a partner
 * completes returns 0.  On a full buffer send_timeout expires the same
 * way and leaves the buffered element alone.
 */
static void chan_timeouts(struct kunit *test)
{
	static const unsigned long h11[] = { 11 }, h1112[] = { 11, 12 };
	static const unsigned long h22[] = { 22 };
	struct kcoro_chan *ch;
	struct kct_hook *h;
	struct kct_op *op;
	struct kct_wd *wd;
	ktime_t t0;
	s64 dt;
	void *e;
	int ret;

	op = kunit_kzalloc(test, sizeof(*op), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, op && h);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);

	/* recv_timeout on an empty channel, thread then coroutine. */
	e = KCT_POISON;
	t0 = ktime_get();
	ret = kcoro_chan_recv_timeout(ch, &e, TMO_NS);
	dt = ktime_to_ns(ktime_sub(ktime_get(), t0));
	KUNIT_EXPECT_EQ(test, ret, -ETIMEDOUT);
	KUNIT_EXPECT_GE_MSG(test, dt, (s64)TMO_NS, "thread recv_timeout expired early");

	kct_op_init(op, ch, KCT_RECV_TMO, KCT_POISON);
	op->timeout_ns = TMO_NS;
	if (kct_op_co(test, op, kct_cpu(1)))
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), -ETIMEDOUT);
	KUNIT_EXPECT_GE_MSG(test, op->elapsed_ns, (s64)TMO_NS,
			    "coroutine recv_timeout expired early");

	/* send_timeout with no receiver: -ETIMEDOUT, the hook has it. */
	t0 = ktime_get();
	ret = kcoro_chan_send_timeout(ch, KCT_E(11), TMO_NS);
	dt = ktime_to_ns(ktime_sub(ktime_get(), t0));
	KUNIT_EXPECT_EQ(test, ret, -ETIMEDOUT);
	KUNIT_EXPECT_GE_MSG(test, dt, (s64)TMO_NS, "thread send_timeout expired early");
	kct_expect_hook_seq(test, h, h11, 1);

	kct_op_init(op, ch, KCT_SEND_TMO, KCT_E(12));
	op->timeout_ns = TMO_NS;
	if (kct_op_co(test, op, kct_cpu(1)))
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), -ETIMEDOUT);
	KUNIT_EXPECT_GE_MSG(test, op->elapsed_ns, (s64)TMO_NS,
			    "coroutine send_timeout expired early");
	kct_expect_hook_seq(test, h, h1112, 2);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);

	/* Long timeouts: completed by a partner, they return 0. */
	kct_op_init(op, ch, KCT_RECV_TMO, KCT_POISON);
	op->timeout_ns = TMO_LONG_NS;
	if (kct_op_co_suspended(test, op, kct_cpu(1), 1)) {
		msleep(KCT_SETTLE_MS);
		KUNIT_EXPECT_FALSE(test, kct_op_done(op));
		KUNIT_EXPECT_EQ(test, kcoro_chan_send_timeout(ch, KCT_E(13), TMO_LONG_NS), 0);
	}
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);
	KUNIT_EXPECT_PTR_EQ(test, op->elem, KCT_E(13));

	kct_op_init(op, ch, KCT_SEND_TMO, KCT_E(14));
	op->timeout_ns = TMO_LONG_NS;
	if (kct_op_co_suspended(test, op, kct_cpu(1), 1)) {
		msleep(KCT_SETTLE_MS);
		KUNIT_EXPECT_FALSE(test, kct_op_done(op));
		e = KCT_POISON;
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv_timeout(ch, &e, TMO_LONG_NS), 0);
		KUNIT_EXPECT_PTR_EQ(test, e, KCT_E(14));
	}
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);
	kct_wd_disarm(test, wd);
	kct_expect_hook_seq(test, h, h1112, 2);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kcoro_chan_put(ch);

	/* A full buffer: the timed-out send leaves the buffer alone. */
	kct_hook_reset(h);
	ch = kct_chan(1, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(21)), 0);
	t0 = ktime_get();
	ret = kcoro_chan_send_timeout(ch, KCT_E(22), TMO_NS);
	dt = ktime_to_ns(ktime_sub(ktime_get(), t0));
	KUNIT_EXPECT_EQ(test, ret, -ETIMEDOUT);
	KUNIT_EXPECT_GE(test, dt, (s64)TMO_NS);
	kct_expect_hook_seq(test, h, h22, 1);

	/* ... and a timed send into the full buffer that a receive frees. */
	kct_op_init(op, ch, KCT_SEND_TMO, KCT_E(23));
	op->timeout_ns = TMO_LONG_NS;
	if (kct_op_co_suspended(test, op, kct_cpu(1), 1)) {
		e = KCT_POISON;
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), 0);
		KUNIT_EXPECT_PTR_EQ(test, e, KCT_E(21));
	}
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, op), 0);
	e = KCT_POISON;
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), 0);
	KUNIT_EXPECT_PTR_EQ(test, e, KCT_E(23));
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);
	kct_wd_disarm(test, wd);
	kct_expect_hook_seq(test, h, h22, 1);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kcoro_chan_put(ch);
}

/* ---------------------------------------------------------------------
 * Case: close.
 */

struct kct_closer {
	struct kcoro_chan *ch;
	bool closed;
};

static long kct_closer_fn(void *arg)
{
	struct kct_closer *c = arg;

	kcoro_msleep(KCT_SETTLE_MS);
	c->closed = kcoro_chan_close(c->ch);
	return 0;
}

#define CLOSE_WAITERS	3

/**
 * chan_close() - close keeps what is in the channel, refuses the rest
 * @test: the test
 *
 * A buffered channel with 3 elements is closed: close returns true once,
 * sends fail with -EPIPE (send and send_timeout hand their element to the
 * hook, try_send does not), the 3 elements are still received in order,
 * then every receive returns -EPIPE.  Receivers suspended at close
 * (coroutines and a kthread) return -EPIPE.  Senders suspended at close
 * stay suspended and their elements are still received, in order, before
 * -EPIPE.  A thread sleeping in recv is woken by a close from a coroutine.
 */
static void chan_close(struct kunit *test)
{
	static const unsigned long h9997[] = { 99, 97 };
	static const unsigned int segs[] = { 1, 32 };
	struct kct_closer *closer;
	struct kcoro_chan *ch;
	struct kct_hook *h;
	struct kct_op *op;
	struct kct_wd *wd;
	struct kcoro *co;
	unsigned int s, i;
	void *e;

	op = kunit_kcalloc(test, CLOSE_WAITERS + 1, sizeof(*op), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	closer = kunit_kzalloc(test, sizeof(*closer), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, op && h && closer);

	for (s = 0; s < ARRAY_SIZE(segs); s++) {
		kct_hook_reset(h);
		ch = kct_chan(4, KCORO_CHAN_SUSPEND, segs[s], h);
		KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
		wd = kct_wd_arm(test, ch);
		for (i = 0; i < 3; i++)
			KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, kct_val(i)), 0);
		KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
		KUNIT_EXPECT_FALSE(test, kcoro_chan_close(ch));
		KUNIT_EXPECT_TRUE(test, kcoro_chan_is_closed_for_send(ch));
		KUNIT_EXPECT_FALSE(test, kcoro_chan_is_closed_for_recv(ch));
		KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(99)), -EPIPE);
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(98)), -EPIPE);
		KUNIT_EXPECT_EQ(test, kcoro_chan_send_timeout(ch, KCT_E(97), TMO_NS), -EPIPE);
		kct_expect_hook_seq(test, h, h9997, 2);
		kct_thread_recv_seq(test, ch, KCT_RECV, 0, 3, "closed, buffered");
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &e), -EPIPE);
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EPIPE);
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv_timeout(ch, &e, TMO_NS), -EPIPE);
		KUNIT_EXPECT_TRUE(test, kcoro_chan_is_closed_for_recv(ch));
		kct_wd_disarm(test, wd);
		kcoro_chan_put(ch);
		kct_expect_hook_seq(test, h, h9997, 2);
	}

	/* Receivers suspended at close. */
	kct_hook_reset(h);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);
	for (i = 0; i < CLOSE_WAITERS; i++) {
		kct_op_init(&op[i], ch, KCT_RECV, KCT_POISON);
		kct_op_co(test, &op[i], kct_cpu(i));
	}
	kct_op_init(&op[i], ch, KCT_RECV, KCT_POISON);
	kct_op_thread(test, &op[i]);
	kct_expect_waiters(test, CLOSE_WAITERS + 1);
	KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
	for (i = 0; i <= CLOSE_WAITERS; i++)
		KUNIT_EXPECT_EQ_MSG(test, kct_op_finish(test, &op[i]), -EPIPE,
				    "receiver %u suspended at close", i);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kct_wd_disarm(test, wd);
	kcoro_chan_put(ch);

	/* Senders suspended at close: still delivered, in order. */
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);
	for (i = 0; i < CLOSE_WAITERS; i++) {
		kct_op_init(&op[i], ch, KCT_SEND, kct_val(10 + i));
		kct_op_co_suspended(test, &op[i], kct_cpu(i), i + 1);
	}
	KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
	msleep(KCT_SETTLE_MS);
	for (i = 0; i < CLOSE_WAITERS; i++)
		KUNIT_EXPECT_FALSE_MSG(test, kct_op_done(&op[i]),
				       "sender %u suspended at close returned %d",
				       i, op[i].ret);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), (long)CLOSE_WAITERS);
	KUNIT_EXPECT_FALSE(test, kcoro_chan_is_closed_for_recv(ch));
	kct_thread_recv_seq(test, ch, KCT_RECV, 10, CLOSE_WAITERS, "senders suspended at close");
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &e), -EPIPE);
	for (i = 0; i < CLOSE_WAITERS; i++)
		KUNIT_EXPECT_EQ_MSG(test, kct_op_finish(test, &op[i]), 0,
				    "sender %u suspended at close", i);
	kct_wd_disarm(test, wd);
	kcoro_chan_put(ch);
	kct_expect_hook_seq(test, h, NULL, 0);

	/* The test thread sleeps in recv; a coroutine closes. */
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);
	closer->ch = ch;
	co = kct_spawn(kct_closer_fn, closer, kct_cpu(1));
	KUNIT_EXPECT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
	if (!IS_ERR(co))
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &e), -EPIPE);
	kct_join(test, co);
	KUNIT_EXPECT_TRUE(test, closer->closed);
	kct_wd_disarm(test, wd);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kcoro_chan_put(ch);
	kct_expect_hook_seq(test, h, NULL, 0);
}

/* ---------------------------------------------------------------------
 * Case: cancel, and the last put.
 */

#define CANCEL_SENDERS	3
#define CANCEL_MANY	1000

/**
 * chan_cancel() - cancel drops every element exactly once
 * @test: the test
 *
 * For segment sizes 1, 2 and 32: a capacity-4 channel holds 4 buffered
 * elements and 3 suspended senders.  cancel returns true (then false),
 * the 7 elements reach the hook exactly once each, the senders return
 * -EPIPE, receives return -EPIPE, later sends fail (-EPIPE, hook for send
 * only).  Receivers suspended at cancel return -EPIPE.  Cancel after close
 * still drops the buffer.  The last kcoro_chan_put() hands the buffered
 * elements to the hook; an unlimited channel with 1,000 elements hooks all
 * of them (count, sum and xor).
 */
static void chan_cancel(struct kunit *test)
{
	static const unsigned long h7[] = { 10, 11, 12, 13, 20, 21, 22 };
	static const unsigned long h8[] = { 10, 11, 12, 13, 20, 21, 22, 30 };
	static const unsigned long h123[] = { 1, 2, 3 };
	static const unsigned long h40[] = { 40, 41, 42, 43, 44 };
	static const unsigned int segs[] = { 1, 2, 32 };
	unsigned long sum = 0, xor = 0;
	struct kcoro_chan *ch;
	struct kct_hook *h;
	struct kct_op *op;
	struct kct_wd *wd;
	unsigned int s, i;
	void *e;

	op = kunit_kcalloc(test, CANCEL_SENDERS, sizeof(*op), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, op && h);

	for (s = 0; s < ARRAY_SIZE(segs); s++) {
		kct_hook_reset(h);
		ch = kct_chan(4, KCORO_CHAN_SUSPEND, segs[s], h);
		KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
		wd = kct_wd_arm(test, ch);
		for (i = 0; i < 4; i++)
			KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(10 + i)), 0);
		for (i = 0; i < CANCEL_SENDERS; i++) {
			kct_op_init(&op[i], ch, KCT_SEND, KCT_E(20 + i));
			kct_op_co_suspended(test, &op[i], kct_cpu(i), i + 1);
		}
		KUNIT_EXPECT_EQ(test, kct_hooked(h), 0);
		KUNIT_EXPECT_TRUE(test, kcoro_chan_cancel(ch));
		for (i = 0; i < CANCEL_SENDERS; i++)
			KUNIT_EXPECT_EQ_MSG(test, kct_op_finish(test, &op[i]), -EPIPE,
					    "seg %u: sender %u suspended at cancel", segs[s], i);
		kct_expect_hook_set(test, h, h7, ARRAY_SIZE(h7));
		KUNIT_EXPECT_FALSE(test, kcoro_chan_cancel(ch));
		KUNIT_EXPECT_FALSE(test, kcoro_chan_close(ch));
		KUNIT_EXPECT_TRUE(test, kcoro_chan_is_closed_for_send(ch));
		KUNIT_EXPECT_TRUE(test, kcoro_chan_is_closed_for_recv(ch));
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &e), -EPIPE);
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EPIPE);
		KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(30)), -EPIPE);
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(31)), -EPIPE);
		kct_expect_hook_set(test, h, h8, ARRAY_SIZE(h8));
		KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
		kct_wd_disarm(test, wd);
		kcoro_chan_put(ch);
		KUNIT_EXPECT_EQ(test, kct_hooked(h), (int)ARRAY_SIZE(h8));
	}

	/* Receivers suspended at cancel. */
	kct_hook_reset(h);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);
	for (i = 0; i < CANCEL_SENDERS - 1; i++) {
		kct_op_init(&op[i], ch, KCT_RECV, KCT_POISON);
		kct_op_co(test, &op[i], kct_cpu(i));
	}
	kct_op_init(&op[i], ch, KCT_RECV, KCT_POISON);
	kct_op_thread(test, &op[i]);
	kct_expect_waiters(test, CANCEL_SENDERS);
	KUNIT_EXPECT_TRUE(test, kcoro_chan_cancel(ch));
	for (i = 0; i < CANCEL_SENDERS; i++)
		KUNIT_EXPECT_EQ_MSG(test, kct_op_finish(test, &op[i]), -EPIPE,
				    "receiver %u suspended at cancel", i);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kct_wd_disarm(test, wd);
	kcoro_chan_put(ch);
	kct_expect_hook_seq(test, h, NULL, 0);

	/* Close, then cancel: the buffer is dropped all the same. */
	ch = kct_chan(4, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	for (i = 1; i <= 3; i++)
		KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(i)), 0);
	KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
	KUNIT_EXPECT_EQ(test, kct_hooked(h), 0);
	/* Documented: true only for the first close or cancel. */
	KUNIT_EXPECT_FALSE(test, kcoro_chan_cancel(ch));
	kct_expect_hook_set(test, h, h123, 3);
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &e), -EPIPE);
	kcoro_chan_put(ch);
	kct_expect_hook_set(test, h, h123, 3);

	/* The last put cancels. */
	kct_hook_reset(h);
	ch = kct_chan(8, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	for (i = 0; i < ARRAY_SIZE(h40); i++)
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(h40[i])), 0);
	kcoro_chan_get(ch);
	kcoro_chan_put(ch);
	KUNIT_EXPECT_EQ(test, kct_channels(test), 1L);
	KUNIT_EXPECT_EQ(test, kct_hooked(h), 0);
	kcoro_chan_put(ch);
	KUNIT_EXPECT_EQ(test, kct_channels(test), 0L);
	kct_expect_hook_set(test, h, h40, ARRAY_SIZE(h40));

	/* Many elements in small segments. */
	kct_hook_reset(h);
	ch = kct_chan(KCORO_CHAN_UNLIMITED, KCORO_CHAN_SUSPEND, 2, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	for (i = 0; i < CANCEL_MANY; i++) {
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, kct_val(i + 1)), 0);
		sum += KCT_V(kct_val(i + 1));
		xor ^= KCT_V(kct_val(i + 1));
	}
	KUNIT_EXPECT_TRUE(test, kcoro_chan_cancel(ch));
	KUNIT_EXPECT_EQ(test, kct_hooked(h), CANCEL_MANY);
	KUNIT_EXPECT_EQ(test, (unsigned long)atomic_long_read(&h->sum), sum);
	KUNIT_EXPECT_EQ(test, (unsigned long)atomic_long_read(&h->xor), xor);
	kct_expect_hook_sane(test, h);
	kcoro_chan_put(ch);
	KUNIT_EXPECT_EQ(test, kct_hooked(h), CANCEL_MANY);
}

/* ---------------------------------------------------------------------
 * Case: cancellation of suspended waiters.
 */

/**
 * chan_waiter_cancel() - kcoro_cancel() and signals end a wait
 * @test: the test
 *
 * A coroutine suspended in send and kcoro_cancel()ed returns -ECANCELED
 * and its element reaches the hook (and nobody receives it).  One
 * suspended in recv returns -ECANCELED; its cell must not swallow later
 * elements: try_send still finds no receiver, and a later send reaches
 * another receiver.  A cancelled sender on a full buffer leaves the
 * buffer alone.  A coroutine cancelled before it calls send or recv gets
 * -ECANCELED at once (send: element to the hook).  A kthread suspended in
 * send or recv that gets a signal returns -EINTR (send: hook).
 */
static void chan_waiter_cancel(struct kunit *test)
{
	static const unsigned long h1[] = { 1 }, h17[] = { 1, 7 };
	static const unsigned long h178[] = { 1, 7, 8 }, h6[] = { 6 };
	struct kcoro_chan *ch, *ch2;
	struct kct_hook *h, *h2;
	struct kct_op *op;
	struct kct_wd *wd, *wd2;
	void *e;

	op = kunit_kcalloc(test, 2, sizeof(*op), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	h2 = kunit_kzalloc(test, sizeof(*h2), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, op && h && h2);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	ch2 = kct_chan(1, KCORO_CHAN_SUSPEND, 0, h2);
	if (IS_ERR(ch2)) {
		kcoro_chan_put(ch);
		KUNIT_FAIL_AND_ABORT(test, "create: %pe", ch2);
	}
	wd = kct_wd_arm(test, ch);
	wd2 = kct_wd_arm(test, ch2);

	/* A suspended sender is cancelled. */
	kct_op_init(&op[0], ch, KCT_SEND, KCT_E(1));
	if (kct_op_co_suspended(test, &op[0], kct_cpu(1), 1))
		kcoro_cancel(op[0].co);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), -ECANCELED);
	kct_expect_hook_seq(test, h, h1, 1);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);

	/* A suspended receiver is cancelled; nothing sent later is lost. */
	kct_op_init(&op[0], ch, KCT_RECV, KCT_POISON);
	if (kct_op_co_suspended(test, &op[0], kct_cpu(1), 1))
		kcoro_cancel(op[0].co);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), -ECANCELED);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	KUNIT_EXPECT_EQ_MSG(test, kcoro_chan_try_send(ch, KCT_E(2)), -EAGAIN,
			    "try_send found the cancelled receiver");
	kct_op_init(&op[0], ch, KCT_RECV, KCT_POISON);
	if (kct_op_co_suspended(test, &op[0], kct_cpu(0), 1))
		KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(3)), 0);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), 0);
	KUNIT_EXPECT_PTR_EQ(test, op[0].elem, KCT_E(3));
	/* ... coroutine to coroutine, after another cancelled receiver. */
	kct_op_init(&op[0], ch, KCT_RECV, KCT_POISON);
	if (kct_op_co_suspended(test, &op[0], kct_cpu(1), 1))
		kcoro_cancel(op[0].co);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), -ECANCELED);
	kct_op_init(&op[0], ch, KCT_SEND, KCT_E(4));
	kct_op_init(&op[1], ch, KCT_RECV, KCT_POISON);
	if (kct_op_co_suspended(test, &op[0], kct_cpu(1), 1))
		kct_op_co(test, &op[1], kct_cpu(0));
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), 0);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[1]), 0);
	KUNIT_EXPECT_PTR_EQ(test, op[1].elem, KCT_E(4));
	kct_expect_hook_seq(test, h, h1, 1);

	/* A cancelled sender on a full buffer. */
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch2, KCT_E(5)), 0);
	kct_op_init(&op[0], ch2, KCT_SEND, KCT_E(6));
	if (kct_op_co_suspended(test, &op[0], kct_cpu(1), 1))
		kcoro_cancel(op[0].co);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), -ECANCELED);
	kct_expect_hook_seq(test, h2, h6, 1);
	e = KCT_POISON;
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch2, &e), 0);
	KUNIT_EXPECT_PTR_EQ(test, e, KCT_E(5));
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch2, &e), -EAGAIN);

	/* Cancelled before the call: no suspension at all. */
	kct_op_init(&op[0], ch, KCT_RECV, KCT_POISON);
	op[0].cancel_first = true;
	if (kct_op_co(test, &op[0], kct_cpu(1)))
		kcoro_cancel(op[0].co);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), -ECANCELED);
	KUNIT_EXPECT_EQ(test, op[0].pre_ret, -ECANCELED);
	kct_op_init(&op[0], ch, KCT_SEND, KCT_E(7));
	op[0].cancel_first = true;
	if (kct_op_co(test, &op[0], kct_cpu(1)))
		kcoro_cancel(op[0].co);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), -ECANCELED);
	kct_expect_hook_seq(test, h, h17, 2);

	/* Signals end a kthread's wait. */
	kct_op_init(&op[0], ch, KCT_SEND, KCT_E(8));
	if (kct_op_thread(test, &op[0]) && kct_wait_waiters(test, 1))
		send_sig(SIGUSR1, op[0].task, 1);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), -EINTR);
	kct_expect_hook_seq(test, h, h178, 3);
	kct_op_init(&op[0], ch, KCT_RECV, KCT_POISON);
	if (kct_op_thread(test, &op[0]) && kct_wait_waiters(test, 1))
		send_sig(SIGUSR1, op[0].task, 1);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[0]), -EINTR);

	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &e), -EAGAIN);
	kct_wd_disarm(test, wd);
	kct_wd_disarm(test, wd2);
	kct_expect_hook_seq(test, h, h178, 3);
	kct_expect_hook_seq(test, h2, h6, 1);
	kcoro_chan_put(ch);
	kcoro_chan_put(ch2);
	KUNIT_EXPECT_EQ(test, kct_hooked(h), 3);
	KUNIT_EXPECT_EQ(test, kct_hooked(h2), 1);
}

/* ---------------------------------------------------------------------
 * Case: the stress test.
 *
 * Producer slots (2 coroutines per online CPU, plus one kthread) each send
 * stress_m distinct values: value = producer * stress_m + sequence, so
 * value 0 is NULL.  Consumer slots (2 coroutines per CPU, plus one kthread)
 * receive until -EPIPE.  Both sides mix the blocking, timed and try
 * operations.  A chaos coroutine strikes once per KCT_CHAOS_EVERY sends, spread
 * over the run: it kcoro_cancel()s a random producer or consumer coroutine
 * (while it is most likely suspended in the channel), or signals one of
 * the kthreads.  A cancelled coroutine stops at its first -ECANCELED and
 * the chaos coroutine respawns its slot, which goes on with the next value
 * (producers) or receives on (consumers).  When the producers are done the
 * channel is closed, drained and cancelled; in the "cancel midway"
 * variant it is cancelled while half the values are still to be sent.
 * Conflated and drop-policy variants run the same way (without try_send
 * on drop-latest channels, where it drops its element silently).
 *
 * Exactly-once: a value whose send returned 0 was received once or handed
 * to the hook once (buffered and dropped by cancel or by the drop policy),
 * never both; a value
 * whose blocking send failed was handed to the hook once and never
 * received; a value never sent, or kept by a failed try_send, was neither.
 * Per consumer slot, the values of each producer arrive in order (FIFO).
 */

enum {
	KCT_ST_NONE,		/* never sent */
	KCT_ST_OK,		/* send returned 0 */
	KCT_ST_FAILED,		/* send failed: the hook owns it */
	KCT_ST_KEPT,		/* try_send failed: nobody owns it */
};

static const char * const kct_st_name[] = {
	[KCT_ST_NONE] = "never sent",
	[KCT_ST_OK] = "sent",
	[KCT_ST_FAILED] = "send failed",
	[KCT_ST_KEPT] = "try_send failed",
};

/* What the current incarnation of a worker slot is doing. */
enum {
	KCT_W_RUNNING,
	KCT_W_CANCELLED,	/* stopped on -ECANCELED: to be respawned */
	KCT_W_FINISHED,		/* the slot is done */
};

/* Chaos strikes per run: one per KCT_CHAOS_EVERY values sent, at least 16. */
#define KCT_CHAOS_EVERY		100
#define KCT_MAX_SIGNALS		16

struct kct_stress;

struct kct_worker {
	struct kct_stress *s;
	unsigned int id;
	bool thread;
	int state;
	bool cancel_sent;	/* the current incarnation was cancelled */
	unsigned int cancels;	/* incarnations cancelled */
	unsigned int spawns;	/* incarnations */
	unsigned int signals;	/* signals sent to the kthread */
	unsigned int seq;	/* producers: the next value to send */
	struct kcoro *co;
	struct task_struct *task;
	/* what its operations returned */
	unsigned int ok, eagain, etimedout, ecanceled, eintr, epipe, kept;
	unsigned int other;
	int other_err;
	/* consumers */
	unsigned int order;	/* values of one producer out of order */
	unsigned long sum, xor;
	int *last;		/* last sequence seen per producer */
};

struct kct_stress {
	struct kcoro_chan *ch;
	struct kct_hook hook;
	unsigned int m, nprod, ncons;	/* slots; the last of each is a kthread */
	unsigned long nvals;
	u8 *status;
	atomic_t *rcv;
	atomic_t *hooked;
	atomic_t bogus;
	atomic_t progress;		/* sends attempted */
	atomic_t prod_done, cons_done;	/* slots finished */
	bool stop;
	unsigned int nevents;		/* chaos strikes planned */
	unsigned int cancels, signals, events, respawns, spawn_fail;
	struct kct_worker *prod, *cons;
};

/* What a stress run has done: switches, sends attempted, workers done. */
static u64 kct_stress_progress(void *arg)
{
	struct kct_stress *s = arg;

	return kcoro_kunit_switches(NULL) + atomic_read(&s->progress) +
	       atomic_read(&s->prod_done) + atomic_read(&s->cons_done);
}

struct kct_stress_param {
	unsigned int seg;
	long cap;
	enum kcoro_chan_overflow ovf;
	bool cancel;
};

#define KCT_SUSP	KCORO_CHAN_SUSPEND
#define KCT_OLDEST	KCORO_CHAN_DROP_OLDEST
#define KCT_LATEST	KCORO_CHAN_DROP_LATEST

static const struct kct_stress_param kct_stress_params[] = {
	{ 1, 0, KCT_SUSP, false }, { 1, 1, KCT_SUSP, false }, { 1, 4, KCT_SUSP, false },
	{ 2, 0, KCT_SUSP, false }, { 2, 1, KCT_SUSP, false }, { 2, 4, KCT_SUSP, false },
	{ 32, 0, KCT_SUSP, false }, { 32, 1, KCT_SUSP, false }, { 32, 4, KCT_SUSP, false },
	{ 1, 0, KCT_SUSP, true }, { 2, 1, KCT_SUSP, true }, { 2, 4, KCT_SUSP, true },
	{ 32, 0, KCT_SUSP, true },
	{ 1, KCORO_CHAN_CONFLATED, KCT_SUSP, false }, { 2, 2, KCT_OLDEST, true },
	{ 2, 2, KCT_LATEST, false }, { 32, 1, KCT_LATEST, true },
};

static void kct_stress_desc(const struct kct_stress_param *p, char *desc)
{
	static const char * const ovf[] = {
		[KCORO_CHAN_SUSPEND] = "",
		[KCORO_CHAN_DROP_OLDEST] = " drop-oldest",
		[KCORO_CHAN_DROP_LATEST] = " drop-latest",
	};

	if (p->cap == KCORO_CHAN_CONFLATED)
		snprintf(desc, KUNIT_PARAM_DESC_SIZE, "seg %u conflated %s", p->seg,
			 p->cancel ? "cancel midway" : "close, drain, cancel");
	else
		snprintf(desc, KUNIT_PARAM_DESC_SIZE, "seg %u cap %ld%s %s", p->seg, p->cap,
			 ovf[p->ovf], p->cancel ? "cancel midway" : "close, drain, cancel");
}

KUNIT_ARRAY_PARAM(chan_stress, kct_stress_params, kct_stress_desc);

/* 50 us .. 1 ms */
static s64 kct_rand_timeout(void)
{
	return 50 * NSEC_PER_USEC + get_random_u32_below(950 * NSEC_PER_USEC);
}

static void kct_relax(struct kct_worker *w)
{
	if (w->thread)
		cond_resched();
	else
		kcoro_yield();
}

static void kct_count(struct kct_worker *w, int ret)
{
	switch (ret) {
	case 0:
		w->ok++;
		break;
	case -EAGAIN:
		w->eagain++;
		break;
	case -ETIMEDOUT:
		w->etimedout++;
		break;
	case -ECANCELED:
		w->ecanceled++;
		break;
	case -EINTR:
		w->eintr++;
		break;
	case -EPIPE:
		w->epipe++;
		break;
	default:
		if (!w->other++)
			w->other_err = ret;
		break;
	}
}

/* Send the slot's remaining values; false if stopped by -ECANCELED. */
static bool kct_produce(struct kct_worker *w)
{
	struct kct_stress *s = w->s;
	unsigned long v;
	int ret;
	u8 st;
	u32 r;

	while (w->seq < s->m) {
		v = (unsigned long)w->id * s->m + w->seq++;
		st = KCT_ST_FAILED;
		r = get_random_u32_below(8);
		if (r == 0) {
			ret = kcoro_chan_try_send(s->ch, KCT_E(v));
			if (ret == -EAGAIN) {
				w->eagain++;
				ret = kcoro_chan_send(s->ch, KCT_E(v));
			} else if (ret) {
				st = KCT_ST_KEPT;
				w->kept++;
			}
		} else if (r == 1) {
			ret = kcoro_chan_send_timeout(s->ch, KCT_E(v), kct_rand_timeout());
		} else {
			ret = kcoro_chan_send(s->ch, KCT_E(v));
		}
		WRITE_ONCE(s->status[v], ret ? st : KCT_ST_OK);
		atomic_inc(&s->progress);
		kct_count(w, ret);
		if (ret == -ECANCELED)
			return false;
		if (ret == -EINTR)
			flush_signals(current);
	}
	return true;
}

static void kct_got(struct kct_worker *w, void *e)
{
	struct kct_stress *s = w->s;
	unsigned long v = KCT_V(e);
	unsigned int p;
	int seq;

	w->ok++;
	if (v >= s->nvals) {
		atomic_inc(&s->bogus);
		return;
	}
	atomic_inc(&s->rcv[v]);
	w->sum += v;
	w->xor ^= v;
	p = v / s->m;
	seq = v % s->m;
	if (seq <= w->last[p])
		w->order++;
	w->last[p] = seq;
}

/* Receive until the channel is done; false if stopped by -ECANCELED. */
static bool kct_consume(struct kct_worker *w)
{
	struct kct_stress *s = w->s;
	void *e;
	int ret;
	u32 r;

	for (;;) {
		e = KCT_POISON;
		r = get_random_u32_below(8);
		if (r == 0) {
			ret = kcoro_chan_try_recv(s->ch, &e);
			if (ret == -EAGAIN) {
				w->eagain++;
				kct_relax(w);
				continue;
			}
		} else if (r == 1) {
			ret = kcoro_chan_recv_timeout(s->ch, &e, kct_rand_timeout());
		} else {
			ret = kcoro_chan_recv(s->ch, &e);
		}
		if (!ret) {
			kct_got(w, e);
			continue;
		}
		kct_count(w, ret);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret == -EINTR) {
			flush_signals(current);
			continue;
		}
		return ret != -ECANCELED;
	}
}

static int kct_worker_state(struct kct_worker *w)
{
	/* Pairs with the release in kct_worker_end(). */
	return smp_load_acquire(&w->state);
}

static void kct_worker_end(struct kct_worker *w, bool finished)
{
	/* The incarnation's counters are final: pairs with kct_worker_state(). */
	smp_store_release(&w->state, finished ? KCT_W_FINISHED : KCT_W_CANCELLED);
	if (finished)
		atomic_inc(w == &w->s->prod[w->id] ? &w->s->prod_done : &w->s->cons_done);
}

static long kct_prod_co_fn(void *arg)
{
	struct kct_worker *w = arg;

	kct_worker_end(w, kct_produce(w));
	return 0;
}

static long kct_cons_co_fn(void *arg)
{
	struct kct_worker *w = arg;

	kct_worker_end(w, kct_consume(w));
	return 0;
}

static int kct_prod_thread_fn(void *arg)
{
	struct kct_worker *w = arg;

	allow_signal(SIGUSR1);
	kct_produce(w);
	kct_worker_end(w, true);
	return 0;
}

static int kct_cons_thread_fn(void *arg)
{
	struct kct_worker *w = arg;

	allow_signal(SIGUSR1);
	kct_consume(w);
	kct_worker_end(w, true);
	return 0;
}

static bool kct_is_producer(struct kct_worker *w)
{
	return w == &w->s->prod[w->id];
}

/* Start a new incarnation of @w (its first, or after a cancellation). */
static int kct_spawn_worker(struct kct_worker *w)
{
	bool producer = kct_is_producer(w);
	struct kcoro *co;

	co = kct_spawn(producer ? kct_prod_co_fn : kct_cons_co_fn, w,
		       kct_cpu(w->id + w->spawns + !producer));
	if (IS_ERR(co)) {
		w->co = NULL;
		return PTR_ERR(co);
	}
	w->co = co;
	w->spawns++;
	return 0;
}

/* Chaos: respawn the slots whose coroutine stopped on -ECANCELED. */
static void kct_respawn(struct kct_stress *s, struct kct_worker *ws,
			unsigned int n)
{
	struct kct_worker *w;
	unsigned int i;

	for (i = 0; i < n; i++) {
		w = &ws[i];
		if (w->thread || kct_worker_state(w) != KCT_W_CANCELLED ||
		    !kcoro_done(w->co))
			continue;
		kcoro_join(w->co);
		kcoro_put(w->co);
		w->cancel_sent = false;
		w->state = KCT_W_RUNNING;
		s->respawns++;
		if (kct_spawn_worker(w)) {
			/* Give the slot up so that the test ends; it fails. */
			s->spawn_fail++;
			kct_worker_end(w, true);
		}
	}
}

/* Chaos: cancel a coroutine slot, or signal a kthread one. */
static void kct_strike(struct kct_stress *s, struct kct_worker *w)
{
	if (kct_worker_state(w) != KCT_W_RUNNING)
		return;
	if (w->thread) {
		if (w->signals >= KCT_MAX_SIGNALS)
			return;
		w->signals++;
		s->signals++;
		send_sig(SIGUSR1, w->task, 1);
		return;
	}
	if (w->cancel_sent)
		return;
	w->cancel_sent = true;
	w->cancels++;
	s->cancels++;
	kcoro_cancel(w->co);
}

static long kct_chaos_fn(void *arg)
{
	struct kct_stress *s = arg;
	unsigned long total = s->nvals;
	unsigned int k = 0;
	u32 r;

	while (!READ_ONCE(s->stop)) {
		kct_respawn(s, s->prod, s->nprod);
		kct_respawn(s, s->cons, s->ncons);
		if (k < s->nevents &&
		    atomic_read(&s->progress) >= (k + 1) * total / (s->nevents + 1)) {
			k++;
			r = get_random_u32_below(s->nprod + s->ncons);
			kct_strike(s, r < s->nprod ? &s->prod[r] : &s->cons[r - s->nprod]);
			kcoro_yield();
			continue;
		}
		/* The test thread cancels us to stop: then this returns at once. */
		kcoro_sleep_ns(100 * NSEC_PER_USEC);
	}
	s->events = k;
	return 0;
}

static bool kct_start_worker(struct kunit *test, struct kct_worker *w,
			     bool producer)
{
	int err;

	if (w->thread) {
		w->task = kct_kthread(producer ? kct_prod_thread_fn : kct_cons_thread_fn,
				      w, producer ? "kct_prod" : "kct_cons");
		if (IS_ERR(w->task)) {
			KUNIT_FAIL(test, "kthread: %pe", w->task);
			w->task = NULL;
			return false;
		}
		return true;
	}
	err = kct_spawn_worker(w);
	if (err) {
		KUNIT_FAIL(test, "spawn: %d", err);
		return false;
	}
	return true;
}

static void kct_stop_worker(struct kunit *test, struct kct_worker *w)
{
	if (w->co) {
		kct_join(test, w->co);
		w->co = NULL;
	}
	if (w->task) {
		if (!kct_wait_for(kct_worker_state(w) == KCT_W_FINISHED)) {
			KUNIT_FAIL(test, "worker kthread %u stuck, signalling it", w->id);
			send_sig(SIGUSR1, w->task, 1);
		}
		kthread_stop_put(w->task);
		w->task = NULL;
	}
}

/* Wait (polling) until @cnt reaches @n; false if progress stops. */
static bool kct_wait_count(atomic_t *cnt, unsigned int n)
{
	return kct_wait_for(atomic_read(cnt) >= n);
}

static void kct_stress_free(struct kct_stress *s)
{
	unsigned int i;

	if (s->cons) {
		for (i = 0; i < s->ncons; i++)
			kfree(s->cons[i].last);
	}
	kfree(s->prod);
	kfree(s->cons);
	kvfree(s->status);
	kvfree(s->rcv);
	kvfree(s->hooked);
	kfree(s);
}

static struct kct_stress *kct_stress_alloc(unsigned int nprod, unsigned int ncons,
					   unsigned int m)
{
	struct kct_stress *s = kzalloc(sizeof(*s), GFP_KERNEL);
	unsigned int i;

	if (!s)
		return NULL;
	s->m = m;
	s->nprod = nprod;
	s->ncons = ncons;
	s->nvals = (unsigned long)nprod * m;
	s->prod = kcalloc(nprod, sizeof(*s->prod), GFP_KERNEL);
	s->cons = kcalloc(ncons, sizeof(*s->cons), GFP_KERNEL);
	s->status = kvcalloc(s->nvals, sizeof(*s->status), GFP_KERNEL);
	s->rcv = kvcalloc(s->nvals, sizeof(*s->rcv), GFP_KERNEL);
	s->hooked = kvcalloc(s->nvals, sizeof(*s->hooked), GFP_KERNEL);
	if (!s->prod || !s->cons || !s->status || !s->rcv || !s->hooked)
		goto fail;
	for (i = 0; i < nprod; i++) {
		s->prod[i].s = s;
		s->prod[i].id = i;
		s->prod[i].thread = i == nprod - 1;
	}
	for (i = 0; i < ncons; i++) {
		s->cons[i].s = s;
		s->cons[i].id = i;
		s->cons[i].thread = i == ncons - 1;
		s->cons[i].last = kmalloc_array(nprod, sizeof(int), GFP_KERNEL);
		if (!s->cons[i].last)
			goto fail;
		memset(s->cons[i].last, 0xff, nprod * sizeof(int));
	}
	s->hook.per_val = s->hooked;
	s->hook.nvals = s->nvals;
	s->nevents = max(s->nvals / KCT_CHAOS_EVERY, 16UL);
	return s;
fail:
	kct_stress_free(s);
	return NULL;
}

/* Per-slot sanity: only the errors its situation allows. */
static void kct_check_worker(struct kunit *test, struct kct_worker *w,
			     bool producer, bool cancel_mode)
{
	const char *kind = producer ? "producer" : "consumer";

	KUNIT_EXPECT_EQ_MSG(test, w->other, 0U, "%s %u: unexpected error %d",
			    kind, w->id, w->other_err);
	KUNIT_EXPECT_LE_MSG(test, w->ecanceled, w->cancels,
			    "%s %u: more -ECANCELED than cancellations", kind, w->id);
	KUNIT_EXPECT_LE_MSG(test, w->eintr, w->signals,
			    "%s %u: more -EINTR than signals", kind, w->id);
	KUNIT_EXPECT_EQ_MSG(test, kct_worker_state(w), KCT_W_FINISHED,
			    "%s %u: not finished", kind, w->id);
	if (producer) {
		KUNIT_EXPECT_EQ_MSG(test, w->seq, w->s->m, "producer %u: values sent", w->id);
		if (!cancel_mode) {
			KUNIT_EXPECT_EQ_MSG(test, w->epipe, 0U,
					    "producer %u: -EPIPE before close", w->id);
			KUNIT_EXPECT_EQ_MSG(test, w->kept, 0U,
					    "producer %u: try_send failed before close", w->id);
		}
	} else {
		KUNIT_EXPECT_EQ_MSG(test, w->order, 0U,
				    "consumer %u: values of one producer out of order", w->id);
		KUNIT_EXPECT_EQ_MSG(test, w->epipe, 1U,
				    "consumer %u: -EPIPE ends the slot exactly once", w->id);
	}
}

/**
 * chan_stress() - exactly-once delivery under concurrency and cancellation
 * @test: the test
 *
 * See the comment above enum KCT_ST_NONE.  Parameters: segment size 1, 2
 * or 32, capacity 0, 1 or 4 (plus conflated and drop-policy channels), and
 * whether the channel is closed after the producers finish (drained, then
 * cancelled: nothing may be left) or cancelled while everything is in
 * flight.
 */
static void chan_stress(struct kunit *test)
{
	const struct kct_stress_param *p = test->param_value;
	unsigned long nst[4] = { }, perr[4] = { }, cerr[4] = { };
	unsigned long sum = 0, xor = 0, rsum = 0, rxor = 0, received = 0;
	unsigned int ncpu = num_online_cpus(), i, bad = 0;
	unsigned long v, attempted = 0, ok_hooked = 0;
	struct kcoro *chaos = NULL;
	struct kct_stress *s;
	ktime_t t0 = ktime_get();
	int hooked_before, r, hk;
	bool started = true;
	struct kct_wd *wd;
	u8 st;

	s = kct_stress_alloc(2 * ncpu + 1, 2 * ncpu + 1, max(stress_m, 1U));
	KUNIT_ASSERT_NOT_NULL(test, s);
	s->ch = kct_chan(p->cap, p->ovf, p->seg, &s->hook);
	if (IS_ERR(s->ch)) {
		kct_stress_free(s);
		KUNIT_FAIL_AND_ABORT(test, "create: %pe", s->ch);
	}
	wd = kct_wd_arm_progress(test, s->ch, kct_stress_progress, s);

	for (i = 0; i < s->ncons && started; i++)
		started = kct_start_worker(test, &s->cons[i], false);
	for (i = 0; i < s->nprod && started; i++)
		started = kct_start_worker(test, &s->prod[i], true);
	if (started) {
		chaos = kct_spawn(kct_chaos_fn, s, kct_cpu(0));
		if (IS_ERR(chaos)) {
			KUNIT_FAIL(test, "spawn chaos: %pe", chaos);
			chaos = NULL;
			started = false;
		}
	}
	if (!started) {
		kcoro_chan_cancel(s->ch);
	} else if (!p->cancel) {
		KUNIT_EXPECT_TRUE_MSG(test, kct_wait_count(&s->prod_done, s->nprod),
				      "producers not done: %d of %u",
				      atomic_read(&s->prod_done), s->nprod);
		KUNIT_EXPECT_TRUE(test, kcoro_chan_close(s->ch));
		KUNIT_EXPECT_TRUE_MSG(test, kct_wait_count(&s->cons_done, s->ncons),
				      "consumers not done: %d of %u",
				      atomic_read(&s->cons_done), s->ncons);
		hooked_before = kct_hooked(&s->hook);
		kcoro_chan_cancel(s->ch);
		KUNIT_EXPECT_EQ_MSG(test, kct_hooked(&s->hook), hooked_before,
				    "cancel after the drain found elements");
	} else {
		kct_wait_for(atomic_read(&s->progress) >= s->nvals / 2 ||
			     atomic_read(&s->prod_done) == s->nprod);
		KUNIT_EXPECT_TRUE(test, kcoro_chan_cancel(s->ch));
		KUNIT_EXPECT_TRUE(test, kct_wait_count(&s->prod_done, s->nprod));
		KUNIT_EXPECT_TRUE(test, kct_wait_count(&s->cons_done, s->ncons));
	}

	WRITE_ONCE(s->stop, true);
	if (chaos) {
		kcoro_cancel(chaos);
		kct_join(test, chaos);
	}
	for (i = 0; i < s->nprod; i++)
		kct_stop_worker(test, &s->prod[i]);
	for (i = 0; i < s->ncons; i++)
		kct_stop_worker(test, &s->cons[i]);
	kct_wd_disarm(test, wd);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	KUNIT_EXPECT_EQ(test, s->spawn_fail, 0U);

	/* Exactly once, value by value. */
	for (v = 0; v < s->nvals; v++) {
		st = s->status[v];
		r = atomic_read(&s->rcv[v]);
		hk = atomic_read(&s->hooked[v]);
		nst[st]++;
		if (st == KCT_ST_OK || st == KCT_ST_FAILED) {
			attempted++;
			sum += v;
			xor ^= v;
		}
		if (st == KCT_ST_OK)
			ok_hooked += hk;
		if ((st == KCT_ST_OK && r + hk == 1) ||
		    (st == KCT_ST_FAILED && r == 0 && hk == 1) ||
		    ((st == KCT_ST_NONE || st == KCT_ST_KEPT) && r == 0 && hk == 0))
			continue;
		if (bad++ < 8)
			KUNIT_FAIL(test, "value %lu (prod %lu seq %lu): %s, received %d hooked %d",
				   v, v / s->m, v % s->m, kct_st_name[st], r, hk);
	}
	KUNIT_EXPECT_EQ_MSG(test, bad, 0U, "values not delivered exactly once");
	for (i = 0; i < s->ncons; i++) {
		received += s->cons[i].ok;
		rsum += s->cons[i].sum;
		rxor ^= s->cons[i].xor;
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&s->bogus), 0);
	kct_expect_hook_sane(test, &s->hook);
	KUNIT_EXPECT_EQ_MSG(test, received + kct_hooked(&s->hook), attempted,
			    "received + hooked != sends attempted");
	KUNIT_EXPECT_EQ_MSG(test, rsum + (unsigned long)atomic_long_read(&s->hook.sum), sum,
			    "checksum: sum");
	KUNIT_EXPECT_EQ_MSG(test, rxor ^ (unsigned long)atomic_long_read(&s->hook.xor), xor,
			    "checksum: xor");
	if (!p->cancel && p->ovf == KCORO_CHAN_SUSPEND && p->cap != KCORO_CHAN_CONFLATED)
		KUNIT_EXPECT_EQ_MSG(test, ok_hooked, 0UL,
				    "elements sent before close were not all received");
	for (i = 0; i < s->nprod; i++) {
		kct_check_worker(test, &s->prod[i], true, p->cancel);
		perr[0] += s->prod[i].etimedout;
		perr[1] += s->prod[i].ecanceled;
		perr[2] += s->prod[i].eintr;
		perr[3] += s->prod[i].epipe;
	}
	for (i = 0; i < s->ncons; i++) {
		kct_check_worker(test, &s->cons[i], false, p->cancel);
		cerr[0] += s->cons[i].etimedout;
		cerr[1] += s->cons[i].ecanceled;
		cerr[2] += s->cons[i].eintr;
		cerr[3] += s->cons[i].epipe;
	}

	kct_expect_invariants(test, s->ch);
	kcoro_chan_put(s->ch);
	KUNIT_EXPECT_EQ_MSG(test, kct_settled_segments(test), 0L, "segments left after put");

	kunit_info(test, "%u+1 producers x %u, %u+1 consumers, %lld ms\n",
		   s->nprod - 1, s->m, s->ncons - 1, ktime_ms_delta(ktime_get(), t0));
	kunit_info(test, "values: sent %lu, send failed %lu, try_send kept %lu, never sent %lu\n",
		   nst[KCT_ST_OK], nst[KCT_ST_FAILED], nst[KCT_ST_KEPT], nst[KCT_ST_NONE]);
	kunit_info(test, "received %lu, hooked %d (%lu of them sent ok)\n",
		   received, kct_hooked(&s->hook), ok_hooked);
	kunit_info(test, "send errors: timeout %lu, cancelled %lu, signal %lu, closed %lu\n",
		   perr[0], perr[1], perr[2], perr[3]);
	kunit_info(test, "recv errors: timeout %lu, cancelled %lu, signal %lu, closed %lu\n",
		   cerr[0], cerr[1], cerr[2], cerr[3]);
	kunit_info(test, "chaos: %u events, %u cancels, %u respawns, %u signals\n",
		   s->events, s->cancels, s->respawns, s->signals);
	kct_stress_free(s);
}

/* ---------------------------------------------------------------------
 * Case: segments are reclaimed while the channel lives.
 */

/*
 * Segments a live channel may hold in chan_segment_reclaim, counted after
 * rcu_barrier() (segments are freed after a grace period).
 */
#define RECLAIM_BOUND	8
/* Operations between two samples of the settled segment count. */
#define RECLAIM_CHUNK	256
/* Coroutines timing out side by side (timers may tick only every jiffy). */
#define RECLAIM_PAR	16
#define RECLAIM_TMO_NS	(20 * NSEC_PER_USEC)

struct kct_reclaim {
	struct kunit *test;
	struct kcoro_chan *ch;
	long max_raw;		/* segments, RCU-pending ones included */
	long max_settled;	/* segments after rcu_barrier() */
};

struct kct_reclaim_job {
	struct kct_reclaim *c;
	bool send;
	unsigned int first, n;
	unsigned int timedout;
	unsigned int other;
	int other_err;
};

static void kct_reclaim_sample(struct kct_reclaim *c)
{
	long segs = kct_segments(c->test);

	if (segs > READ_ONCE(c->max_raw))
		WRITE_ONCE(c->max_raw, segs);
}

/* Between chunks, in the test thread: the count once RCU has caught up. */
static void kct_reclaim_settle(struct kct_reclaim *c)
{
	long segs = kct_settled_segments(c->test);

	if (segs > c->max_settled)
		c->max_settled = segs;
}

/* Timed sends or receives that nobody completes. */
static long kct_reclaim_job_fn(void *arg)
{
	struct kct_reclaim_job *j = arg;
	unsigned int i;
	void *e;
	int ret;

	for (i = j->first; i < j->first + j->n; i++) {
		if (j->send)
			ret = kcoro_chan_send_timeout(j->c->ch, KCT_E(i), RECLAIM_TMO_NS);
		else
			ret = kcoro_chan_recv_timeout(j->c->ch, &e, RECLAIM_TMO_NS);
		if (ret == -ETIMEDOUT)
			j->timedout++;
		else if (!j->other++)
			j->other_err = ret;
		if (!(i % 16))
			kct_reclaim_sample(j->c);
	}
	return 0;
}

/*
 * @n timed-out operations by RECLAIM_PAR coroutines, RECLAIM_CHUNK at a
 * time with a settled sample after each chunk.  Returns how many timed out.
 */
static unsigned int kct_reclaim_timeouts(struct kunit *test, struct kct_reclaim *c,
					 struct kct_reclaim_job *jobs, bool send,
					 unsigned int n)
{
	unsigned int done, k, chunk, per, timedout = 0;
	struct kcoro *co[RECLAIM_PAR];

	for (done = 0; done < n; done += chunk) {
		chunk = min(n - done, RECLAIM_CHUNK);
		per = DIV_ROUND_UP(chunk, RECLAIM_PAR);
		for (k = 0; k < RECLAIM_PAR; k++) {
			jobs[k] = (struct kct_reclaim_job){
				.c = c, .send = send, .first = done + k * per,
				.n = k * per < chunk ? min(per, chunk - k * per) : 0,
			};
			co[k] = kct_spawn(kct_reclaim_job_fn, &jobs[k], kct_cpu(k));
			if (IS_ERR(co[k]))
				KUNIT_FAIL(test, "spawn: %pe", co[k]);
		}
		for (k = 0; k < RECLAIM_PAR; k++) {
			kct_join(test, co[k]);
			timedout += jobs[k].timedout;
			KUNIT_EXPECT_EQ_MSG(test, jobs[k].other, 0U, "%s_timeout returned %d",
					    send ? "send" : "recv", jobs[k].other_err);
		}
		kct_reclaim_settle(c);
	}
	return timedout;
}

/**
 * chan_segment_reclaim() - the segment count stays bounded
 * @test: the test
 *
 * With 2-cell segments on a rendezvous channel: reclaim_n sends that all
 * time out (each element to the hook once), then reclaim_n / 2 receives
 * that time out, from RECLAIM_PAR coroutines at a time, then reclaim_n / 2
 * elements that a coroutine and the test thread exchange.  Cancelled and
 * completed cells alike must let their segments go: after every
 * RECLAIM_CHUNK operations, once RCU has caught up, at most RECLAIM_BOUND
 * segments are live.
 */
static void chan_segment_reclaim(struct kunit *test)
{
	unsigned int i, done, n = max(reclaim_n, 2U), tmo;
	struct kct_reclaim_job *jobs;
	s64 ms_send, ms_recv, ms_xchg;
	unsigned long sum = 0;
	struct kct_reclaim *c;
	struct kcoro_chan *ch;
	struct kct_hook *h;
	struct kct_seq *q;
	struct kct_wd *wd;
	struct kcoro *co;
	ktime_t t0;
	void *e;
	int ret;

	c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	q = kunit_kzalloc(test, sizeof(*q), GFP_KERNEL);
	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	jobs = kunit_kcalloc(test, RECLAIM_PAR, sizeof(*jobs), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, c && q && h && jobs);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 2, h);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ch), "create: %pe", ch);
	wd = kct_wd_arm(test, ch);
	c->test = test;
	c->ch = ch;

	/* Timed-out senders. */
	t0 = ktime_get();
	tmo = kct_reclaim_timeouts(test, c, jobs, true, n);
	ms_send = ktime_ms_delta(ktime_get(), t0);
	KUNIT_EXPECT_EQ(test, tmo, n);
	for (i = 0; i < n; i++)
		sum += i;
	KUNIT_EXPECT_EQ(test, kct_hooked(h), (int)n);
	KUNIT_EXPECT_EQ(test, (unsigned long)atomic_long_read(&h->sum), sum);
	KUNIT_EXPECT_LE_MSG(test, c->max_settled, (long)RECLAIM_BOUND,
			    "segments while senders time out");
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);

	/* Timed-out receivers. */
	t0 = ktime_get();
	tmo = kct_reclaim_timeouts(test, c, jobs, false, n / 2);
	ms_recv = ktime_ms_delta(ktime_get(), t0);
	KUNIT_EXPECT_EQ(test, tmo, n / 2);
	KUNIT_EXPECT_LE_MSG(test, c->max_settled, (long)RECLAIM_BOUND,
			    "segments while receivers time out");
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);

	/* Completed exchanges (DONE_RCV cells), coroutine to test thread. */
	t0 = ktime_get();
	for (done = 0; done < n / 2; done += q->n) {
		*q = (struct kct_seq){ .ch = ch, .first = done,
				       .n = min(n / 2 - done, RECLAIM_CHUNK) };
		co = kct_spawn(kct_seq_send_fn, q, kct_cpu(1));
		if (IS_ERR(co)) {
			KUNIT_FAIL(test, "spawn: %pe", co);
			break;
		}
		for (i = 0; i < q->n; i++) {
			e = KCT_POISON;
			ret = kcoro_chan_recv(ch, &e);
			if (ret || e != kct_val(done + i)) {
				KUNIT_FAIL(test, "exchange %u: %d, %p", done + i, ret, e);
				break;
			}
			if (!(i % 16))
				kct_reclaim_sample(c);
		}
		kct_join(test, co);
		kct_expect_seq(test, q, "exchange sender");
		kct_reclaim_settle(c);
	}
	ms_xchg = ktime_ms_delta(ktime_get(), t0);
	KUNIT_EXPECT_LE_MSG(test, c->max_settled, (long)RECLAIM_BOUND,
			    "segments while elements are exchanged");

	kct_wd_disarm(test, wd);
	KUNIT_EXPECT_EQ(test, kct_hooked(h), (int)n);
	kct_expect_hook_sane(test, h);
	KUNIT_EXPECT_EQ(test, kct_waiters(test), 0L);
	kunit_info(test, "%u timed-out sends (%lld ms), %u timed-out receives (%lld ms), %u exchanges (%lld ms)\n",
		   n, ms_send, n / 2, ms_recv, n / 2, ms_xchg);
	kunit_info(test, "at most %ld segments live once settled, %ld with RCU-pending ones\n",
		   c->max_settled, c->max_raw);
	kct_expect_invariants(test, ch);
	kcoro_chan_put(ch);
}

/* ---------------------------------------------------------------------
 * Suite.
 */

static const struct kunit_attributes kct_slow = { .speed = KUNIT_SPEED_SLOW };

/* ---------------------------------------------------------------------
 * The callback waiter: asynchronous send and receive.
 */

struct kct_async {
	struct kcoro_chan_async a;
	atomic_t notified;
	atomic_t not_atomic;	/* notified with preemption enabled */
};

static void kct_async_notify(struct kcoro_chan_async *a)
{
	struct kct_async *x = container_of(a, struct kct_async, a);

	if (preemptible())
		atomic_inc(&x->not_atomic);
	atomic_inc(&x->notified);
}

static void kct_async_init(struct kct_async *x)
{
	memset(x, 0, sizeof(*x));
	x->a.notify = kct_async_notify;
}

struct kct_async_sender {
	struct kcoro_chan *ch;
	void *elem;
};

static long kct_async_send_fn(void *arg)
{
	struct kct_async_sender *s = arg;

	return kcoro_chan_send(s->ch, s->elem);
}

static void chan_async(struct kunit *test)
{
	struct kct_async_sender snd;
	struct kcoro_chan *ch;
	struct kct_async x;
	struct kcoro *co;
	struct kct_hook h;
	void *elem;

	kct_hook_reset(&h);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, &h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));

	/* A queued receive completed by a coroutine's send. */
	kct_async_init(&x);
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv_async(ch, &x.a, &elem), -EINPROGRESS);
	kct_expect_waiters(test, 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&x.notified), 0);
	snd.ch = ch;
	snd.elem = kct_val(7);
	co = kct_spawn(kct_async_send_fn, &snd, kct_cpu(1));
	KUNIT_EXPECT_EQ(test, kct_join(test, co), 0L);
	KUNIT_EXPECT_TRUE(test, kct_wait_for(atomic_read(&x.notified) == 1));
	elem = KCT_POISON;
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x.a, &elem), 0);
	KUNIT_EXPECT_PTR_EQ(test, elem, kct_val(7));
	KUNIT_EXPECT_EQ(test, atomic_read(&x.not_atomic), 0);
	kct_expect_waiters(test, 0);

	/* A queued send taken by this thread's try-receive. */
	kct_async_init(&x);
	KUNIT_EXPECT_EQ(test, kcoro_chan_send_async(ch, kct_val(8), &x.a),
			-EINPROGRESS);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &elem), 0);
	KUNIT_EXPECT_PTR_EQ(test, elem, kct_val(8));
	KUNIT_EXPECT_EQ(test, atomic_read(&x.notified), 1);
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x.a, NULL), 0);

	/* Completing a request nobody took cancels it: the hook gets 9. */
	kct_async_init(&x);
	KUNIT_EXPECT_EQ(test, kcoro_chan_send_async(ch, kct_val(9), &x.a),
			-EINPROGRESS);
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x.a, NULL),
			-ECANCELED);
	KUNIT_EXPECT_EQ(test, atomic_read(&x.notified), 0);
	kct_expect_hook_seq(test, &h, (unsigned long[]){ KCT_V(kct_val(9)) }, 1);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &elem), -EAGAIN);

	/* The cancelled cell is skipped: the next exchange still works. */
	kct_async_init(&x);
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv_async(ch, &x.a, &elem), -EINPROGRESS);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, kct_val(10)), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&x.notified), 1);
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x.a, &elem), 0);
	KUNIT_EXPECT_PTR_EQ(test, elem, kct_val(10));

	/* Close completes a queued receive with -EPIPE. */
	kct_async_init(&x);
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv_async(ch, &x.a, &elem), -EINPROGRESS);
	KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
	KUNIT_EXPECT_EQ(test, atomic_read(&x.notified), 1);
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x.a, &elem), -EPIPE);
	kct_async_init(&x);
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv_async(ch, &x.a, &elem), -EPIPE);
	KUNIT_EXPECT_EQ(test, kcoro_chan_send_async(ch, kct_val(11), &x.a), -EPIPE);
	KUNIT_EXPECT_EQ(test, kct_hooked(&h), 2);
	kct_expect_waiters(test, 0);
	kcoro_chan_put(ch);
}

/* ---------------------------------------------------------------------
 * A receiver whose segment cannot be allocated in its atomic section.
 */

static const long kct_segfail_caps[] = {
	KCORO_CHAN_RENDEZVOUS, 1, 4, KCORO_CHAN_UNLIMITED,
};

static void kct_segfail_desc(const long *cap, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "capacity %ld", *cap);
}

KUNIT_ARRAY_PARAM(chan_segfail, kct_segfail_caps, kct_segfail_desc);

#define KCT_SEGFAIL_RECV	4

/*
 * Segments of one cell, so that each receiver ahead of the senders needs a
 * new one, and injected failures of the allocations made inside the
 * atomic sections (the spare taken, GFP_ATOMIC failing).  A receiver that
 * reserved its cell must finish it: it used to give the cell up, and the
 * element a sender then buffered there was never received nor hooked.
 * Every element sent is received exactly once, nothing reaches the hook,
 * a timed receiver that went through the same path cancels cleanly, and
 * the buffer has not grown beyond its capacity.
 */
static void chan_segment_alloc_fail(struct kunit *test)
{
	const long cap = *(const long *)test->param_value;
	struct kct_op op[KCT_SEGFAIL_RECV], tmo;
	struct kcoro_chan_stats st0, st1;
	struct kcoro_chan *ch;
	unsigned long seen = 0;
	struct kct_hook h;
	void *elem;
	long i, n;

	memset(op, 0, sizeof(op));
	kct_hook_reset(&h);
	ch = kct_chan(cap, KCORO_CHAN_SUSPEND, 1, &h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));
	kcoro_chan_get_stats(&st0);

	/* Each receiver after the first fails twice, then gets its segment. */
	for (i = 0; i < KCT_SEGFAIL_RECV; i++) {
		kcoro_test_fail_segment_allocs(i ? 2 : 0);
		kct_op_init(&op[i], ch, KCT_RECV, KCT_POISON);
		if (!kct_op_co_suspended(test, &op[i], kct_cpu(i), i + 1))
			goto out;
		KUNIT_EXPECT_EQ_MSG(test, kcoro_test_fail_segment_allocs(0), 0,
				    "receiver %ld left injected failures", i);
	}
	/* One more, timed: it goes the same way, then cancels itself. */
	kcoro_test_fail_segment_allocs(1);
	kct_op_init(&tmo, ch, KCT_RECV_TMO, KCT_POISON);
	tmo.timeout_ns = 20 * NSEC_PER_MSEC;
	if (!kct_op_co(test, &tmo, kct_cpu(1)))
		goto out;
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &tmo), -ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, kcoro_test_fail_segment_allocs(0), 0);

	kcoro_chan_get_stats(&st1);
	KUNIT_EXPECT_GE_MSG(test, st1.segment_waits - st0.segment_waits,
			    KCT_SEGFAIL_RECV,
			    "receivers that waited for their segment");

	for (i = 0; i < KCT_SEGFAIL_RECV; i++)
		KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(i + 1)), 0);
	for (i = 0; i < KCT_SEGFAIL_RECV; i++) {
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op[i]), 0);
		n = KCT_V(op[i].elem);
		if (n < 1 || n > KCT_SEGFAIL_RECV || (seen & BIT(n))) {
			KUNIT_FAIL(test, "receiver %ld got %#lx", i, n);
			continue;
		}
		seen |= BIT(n);
	}
	KUNIT_EXPECT_EQ(test, seen, GENMASK(KCT_SEGFAIL_RECV, 1));
	KUNIT_EXPECT_EQ(test, kct_hooked(&h), 0);
	kct_expect_waiters(test, 0);
	kct_expect_invariants(test, ch);

	/* The buffer holds its capacity, not one more. */
	if (cap != KCORO_CHAN_UNLIMITED) {
		for (i = 0; i < cap; i++)
			KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(100 + i)), 0);
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(200)), -EAGAIN);
		for (i = 0; i < cap; i++) {
			KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &elem), 0);
			KUNIT_EXPECT_PTR_EQ(test, elem, KCT_E(100 + i));
		}
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &elem), -EAGAIN);
		kct_expect_invariants(test, ch);
	}
	kcoro_chan_put(ch);
	return;
out:
	kcoro_test_fail_segment_allocs(0);
	kcoro_chan_cancel(ch);
	for (i = 0; i < KCT_SEGFAIL_RECV; i++)
		kct_op_finish(test, &op[i]);
	kcoro_chan_put(ch);
}

/* ---------------------------------------------------------------------
 * Replayed interleavings: pause points (kernel/test_hooks.h) stop an
 * operation inside its atomic section at a named place, so that a case
 * can run the others through a chosen order, the same every time.
 * Paused operations run in kthreads (a paused coroutine would hold its
 * CPU's coroutine scheduler), each bound to a CPU: one that spins with
 * preemption off on a RESUMING_* cell must not share its CPU with the
 * paused claimant.
 */

static bool kct_arrived(struct kcoro_test_pause *p)
{
	return atomic_read(&p->state) >= KCORO_TP_ARRIVED;
}

static bool kct_wait_arrived(struct kunit *test, struct kcoro_test_pause *p,
			     const char *what)
{
	if (kct_wait_for(kct_arrived(p)))
		return true;
	KUNIT_FAIL(test, "nobody reached the pause point: %s", what);
	return false;
}

static bool kct_thread_suspended(struct kunit *test, struct kct_op *op,
				 int cpu, long waiters)
{
	if (!kct_op_thread_on(test, op, cpu))
		return false;
	if (kct_wait_waiters(test, waiters))
		return true;
	KUNIT_FAIL(test, "operation %d did not suspend (waiters %ld)", op->kind,
		   kct_waiters(test));
	return false;
}

/* Interrupt the operation of kthread @op (a waiter: -EINTR). */
static void kct_op_signal(struct kct_op *op)
{
	send_sig(SIGUSR1, op->task, 1);
}

/*
 * Kotlin's Q7 (bufferedchannel notes, appendix R), capacity 1, segments of
 * one cell: S0 buffers in cell 0, S1 waits in cell 1; R0 and R1 both
 * reserve their cells before R0's expandBuffer looks at cell 1, which it
 * therefore wraps (waiter_eb) instead of resuming; S1 is cancelled; R1
 * finds INTERRUPTED_SEND and waits in cell 2.  Without the fix in
 * kc_waiter_cancel_cell() nobody pays the wrapped cell's expandBuffer and
 * bufferEnd - receivers is one short for good; then a receiver cancelled
 * at the front waits for an expandBuffer that never comes.
 */
static void chan_replay_q7(struct kunit *test)
{
	struct kcoro_test_pause p_eb, p_r1;
	struct kct_op s1, r0, r1;
	struct kcoro_chan *ch;
	struct kct_hook h;
	void *elem;

	memset(&s1, 0, sizeof(s1));
	memset(&r0, 0, sizeof(r0));
	memset(&r1, 0, sizeof(r1));
	kct_hook_reset(&h);
	ch = kct_chan(1, KCORO_CHAN_SUSPEND, 1, &h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));
	kcoro_kunit_pause(test, &p_eb, ch, KCORO_TP_EB_FAA, 1, NULL, false);
	kcoro_kunit_pause(test, &p_r1, ch, KCORO_TP_RECV_FAA, 1, &p_eb, false);

	KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(1)), 0);
	kct_op_init(&s1, ch, KCT_SEND, KCT_E(2));
	if (!kct_thread_suspended(test, &s1, kct_cpu(0), 1))
		goto out;
	/* R0 takes cell 0; its expandBuffer stops before cell 1. */
	kct_op_init(&r0, ch, KCT_RECV, KCT_POISON);
	if (!kct_op_thread_on(test, &r0, kct_cpu(1)) ||
	    !kct_wait_arrived(test, &p_eb, "R0's expandBuffer"))
		goto out;
	/* R1 reserves cell 1 and stops there, which lets R0 go on. */
	kct_op_init(&r1, ch, KCT_RECV, KCT_POISON);
	if (!kct_op_thread_on(test, &r1, kct_cpu(0)) ||
	    !kct_wait_arrived(test, &p_r1, "R1 after its FAA"))
		goto out;
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &r0), 0);
	KUNIT_EXPECT_PTR_EQ(test, r0.elem, KCT_E(1));
	/* S1, wrapped by R0's expandBuffer, is cancelled. */
	kct_op_signal(&s1);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &s1), -EINTR);
	kct_expect_hook_seq(test, &h, (const unsigned long[]){ 2 }, 1);
	/* R1 finds INTERRUPTED_SEND and waits in cell 2. */
	kcoro_test_pause_release(&p_r1);
	kct_expect_waiters(test, 1);
	kct_expect_invariants(test, ch);
	/* Cancelled at the front, R1 must not wait for an expandBuffer. */
	kct_op_signal(&r1);
	KUNIT_EXPECT_EQ(test, kct_op_finish(test, &r1), -EINTR);
	kct_expect_invariants(test, ch);
	/* Capacity 1, still. */
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(3)), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(4)), -EAGAIN);
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &elem), 0);
	KUNIT_EXPECT_PTR_EQ(test, elem, KCT_E(3));
out:
	kcoro_test_pause_disarm(&p_eb);
	kcoro_test_pause_disarm(&p_r1);
	kcoro_chan_cancel(ch);
	kct_op_finish(test, &r0);
	kct_op_finish(test, &r1);
	kct_op_finish(test, &s1);
	kcoro_chan_put(ch);
}

static const long kct_replay_caps[] = {
	KCORO_CHAN_RENDEZVOUS, 1, KCORO_CHAN_UNLIMITED,
};

static void kct_replay_desc(const long *cap, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "capacity %ld", *cap);
}

KUNIT_ARRAY_PARAM(chan_replay, kct_replay_caps, kct_replay_desc);

/*
 * A new channel of capacity @cap (segments of one cell) and operation
 * @kind of @elem in a kthread, stopped at @point of cell 0.  Returns the
 * channel; *@ok says whether the operation arrived there.
 */
static struct kcoro_chan *kct_replay_start(struct kunit *test, long cap,
					   struct kct_hook *h,
					   struct kcoro_test_pause *p,
					   enum kcoro_test_point point,
					   struct kct_op *op, enum kct_kind kind,
					   void *elem, bool *ok)
{
	struct kcoro_chan *ch;

	kct_hook_reset(h);
	ch = kct_chan(cap, KCORO_CHAN_SUSPEND, 1, h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));
	kcoro_kunit_pause(test, p, ch, point, 0, NULL, false);
	kct_op_init(op, ch, kind, elem);
	*ok = kct_op_thread_on(test, op, kct_cpu(1)) &&
	      kct_wait_arrived(test, p, "the operation after its FAA");
	return ch;
}

/* The end of a kct_replay_start() scenario, whether it passed or not. */
static void kct_replay_end(struct kunit *test, struct kcoro_test_pause *p,
			   struct kct_op *op, struct kcoro_chan *ch)
{
	kcoro_test_pause_disarm(p);
	kct_op_finish(test, op);
	kcoro_chan_put(ch);
}

/*
 * Close and cancel between an operation's FAA and its cell: a send that
 * reserved its cell before the close goes on as if the close came after
 * it (its element is received), unless a receive linearizes first; a
 * receive that reserved an empty cell fails with -EPIPE; a send whose
 * channel is cancelled meanwhile fails with -EPIPE and its element
 * reaches the hook, once.
 */
static void chan_replay_close(struct kunit *test)
{
	const long cap = *(const long *)test->param_value;
	struct kcoro_test_pause p;
	struct kcoro_chan *ch;
	struct kct_op op;
	struct kct_hook h;
	void *elem;
	bool ok;

	/*
	 * A send reserved cell 0, then the channel is closed: the send goes
	 * on (it buffers, or waits for its receiver) and is received.
	 */
	ch = kct_replay_start(test, cap, &h, &p, KCORO_TP_SEND_FAA, &op,
			      KCT_SEND, KCT_E(1), &ok);
	if (ok) {
		KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
		kcoro_test_pause_release(&p);
		if (cap == KCORO_CHAN_RENDEZVOUS)
			kct_expect_waiters(test, 1);
		else
			KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op), 0);
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &elem), 0);
		KUNIT_EXPECT_PTR_EQ(test, elem, KCT_E(1));
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op), 0);
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &elem), -EPIPE);
		KUNIT_EXPECT_EQ(test, kct_hooked(&h), 0);
		kct_expect_invariants(test, ch);
	}
	kct_replay_end(test, &p, &op, ch);

	/*
	 * The same, but a receive comes before the send reaches its cell:
	 * it finds the channel closed with an empty cell that a send is
	 * coming to, poisons the cell (Kotlin's hasElements) and fails; the
	 * send, sent back to a new cell, finds the channel closed, fails and
	 * hands its element to the hook, once.
	 */
	ch = kct_replay_start(test, cap, &h, &p, KCORO_TP_SEND_FAA, &op,
			      KCT_SEND, KCT_E(4), &ok);
	if (ok) {
		KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &elem), -EPIPE);
		kcoro_test_pause_release(&p);
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op), -EPIPE);
		kct_expect_hook_seq(test, &h, (const unsigned long[]){ 4 }, 1);
		kct_expect_invariants(test, ch);
	}
	kct_replay_end(test, &p, &op, ch);

	/* A receive reserved empty cell 0, then the channel is closed. */
	ch = kct_replay_start(test, cap, &h, &p, KCORO_TP_RECV_FAA, &op,
			      KCT_RECV, KCT_POISON, &ok);
	if (ok) {
		KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
		kcoro_test_pause_release(&p);
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op), -EPIPE);
		KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, KCT_E(2)), -EPIPE);
		KUNIT_EXPECT_EQ(test, kct_hooked(&h), 0);
		kct_expect_invariants(test, ch);
	}
	kct_replay_end(test, &p, &op, ch);

	/* A send reserved cell 0, then the channel is cancelled. */
	ch = kct_replay_start(test, cap, &h, &p, KCORO_TP_SEND_FAA, &op,
			      KCT_SEND, KCT_E(3), &ok);
	if (ok) {
		KUNIT_EXPECT_TRUE(test, kcoro_chan_cancel(ch));
		kcoro_test_pause_release(&p);
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &op), -EPIPE);
		kct_expect_hook_seq(test, &h, (const unsigned long[]){ 3 }, 1);
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &elem), -EPIPE);
		kct_expect_invariants(test, ch);
	}
	kct_replay_end(test, &p, &op, ch);
}

/*
 * A resumer claimed a waiter (RESUMING_*) and stops; the waiter's owner is
 * cancelled meanwhile, wins the waiter's decision and waits for the
 * claimant, which then fails to resume it and moves to the next cell.
 * Both ways round on a rendezvous channel: every element is received or
 * hooked exactly once.
 */
static void chan_replay_resume_cancel(struct kunit *test)
{
	struct kcoro_test_pause p_res, p_can;
	struct kct_op w, r;
	struct kcoro_chan *ch;
	struct kct_hook h;
	void *elem;

	/* A sender claims a waiting receiver, which is interrupted. */
	memset(&w, 0, sizeof(w));
	memset(&r, 0, sizeof(r));
	kct_hook_reset(&h);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 1, &h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));
	kcoro_kunit_pause(test, &p_res, ch, KCORO_TP_RESUME, 0, NULL, false);
	kcoro_kunit_pause(test, &p_can, ch, KCORO_TP_CANCEL, 0, &p_res, true);
	kct_op_init(&w, ch, KCT_RECV, KCT_POISON);
	kct_op_init(&r, ch, KCT_SEND, KCT_E(1));
	if (kct_thread_suspended(test, &w, kct_cpu(0), 1) &&
	    kct_op_thread_on(test, &r, kct_cpu(1)) &&
	    kct_wait_arrived(test, &p_res, "sender claiming the receiver")) {
		kct_op_signal(&w);
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &w), -EINTR);
		KUNIT_EXPECT_TRUE(test, kct_arrived(&p_can));
		/* The sender moved on to cell 1 and waits there. */
		kct_expect_waiters(test, 1);
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv(ch, &elem), 0);
		KUNIT_EXPECT_PTR_EQ(test, elem, KCT_E(1));
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &r), 0);
		KUNIT_EXPECT_EQ(test, kct_hooked(&h), 0);
		kct_expect_invariants(test, ch);
	}
	kcoro_test_pause_disarm(&p_can);
	kcoro_test_pause_disarm(&p_res);
	kcoro_chan_cancel(ch);
	kct_op_finish(test, &w);
	kct_op_finish(test, &r);
	kcoro_chan_put(ch);

	/* A receiver claims a waiting sender, which is interrupted. */
	memset(&w, 0, sizeof(w));
	memset(&r, 0, sizeof(r));
	kct_hook_reset(&h);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 1, &h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));
	kcoro_kunit_pause(test, &p_res, ch, KCORO_TP_RESUME, 0, NULL, false);
	kcoro_kunit_pause(test, &p_can, ch, KCORO_TP_CANCEL, 0, &p_res, true);
	kct_op_init(&w, ch, KCT_SEND, KCT_E(2));
	kct_op_init(&r, ch, KCT_RECV, KCT_POISON);
	if (kct_thread_suspended(test, &w, kct_cpu(0), 1) &&
	    kct_op_thread_on(test, &r, kct_cpu(1)) &&
	    kct_wait_arrived(test, &p_res, "receiver claiming the sender")) {
		kct_op_signal(&w);
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &w), -EINTR);
		KUNIT_EXPECT_TRUE(test, kct_arrived(&p_can));
		kct_expect_hook_seq(test, &h, (const unsigned long[]){ 2 }, 1);
		/* The receiver moved on to cell 1 and waits there. */
		kct_expect_waiters(test, 1);
		KUNIT_EXPECT_EQ(test, kcoro_chan_send(ch, KCT_E(3)), 0);
		KUNIT_EXPECT_EQ(test, kct_op_finish(test, &r), 0);
		KUNIT_EXPECT_PTR_EQ(test, r.elem, KCT_E(3));
		kct_expect_invariants(test, ch);
	}
	kcoro_test_pause_disarm(&p_can);
	kcoro_test_pause_disarm(&p_res);
	kcoro_chan_cancel(ch);
	kct_op_finish(test, &w);
	kct_op_finish(test, &r);
	kcoro_chan_put(ch);
}

/* ---------------------------------------------------------------------
 * Who is waiting: the per-channel counts of kcoro_chan_get_snapshot().
 */

static void kct_expect_waiting(struct kunit *test, struct kcoro_chan *ch,
			       u64 senders, u64 receivers, const char *when)
{
	struct kcoro_chan_snapshot snap;

	kcoro_chan_get_snapshot(ch, &snap);
	KUNIT_EXPECT_EQ_MSG(test, snap.waiting_senders, senders,
			    "waiting senders %s", when);
	KUNIT_EXPECT_EQ_MSG(test, snap.waiting_receivers, receivers,
			    "waiting receivers %s", when);
}

/*
 * Every way a waiter leaves its cell drops it from the count exactly once:
 * resumed by a receiver, a sender, expandBuffer, close and cancel, and
 * cancelled by its owner (async completion, a timed-out thread).  Callback
 * waiters make each step deterministic.
 */
static void chan_waiting(struct kunit *test)
{
	struct kcoro_chan *ch;
	struct kct_async x[3];
	struct kct_hook h;
	void *elem;
	int i;

	kct_hook_reset(&h);
	ch = kct_chan(KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, 0, &h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));
	kct_expect_waiting(test, ch, 0, 0, "on a new channel");

	/* A queued send, taken by a try-receive (resumed by a receiver). */
	kct_async_init(&x[0]);
	KUNIT_EXPECT_EQ(test, kcoro_chan_send_async(ch, kct_val(1), &x[0].a),
			-EINPROGRESS);
	kct_expect_waiting(test, ch, 1, 0, "after a queued send");
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, kct_val(2)), -EAGAIN);
	kct_expect_waiting(test, ch, 1, 0, "after a failed try-send");
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &elem), 0);
	KUNIT_EXPECT_PTR_EQ(test, elem, kct_val(1));
	kct_expect_waiting(test, ch, 0, 0, "after the send was taken");
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x[0].a, NULL), 0);

	/* Three queued receives; a failed try-receive adds none. */
	for (i = 0; i < 3; i++) {
		kct_async_init(&x[i]);
		KUNIT_EXPECT_EQ(test, kcoro_chan_recv_async(ch, &x[i].a, &elem),
				-EINPROGRESS);
	}
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &elem), -EAGAIN);
	kct_expect_waiting(test, ch, 0, 3, "with three queued receives");
	/* Resumed by a sender, cancelled by its owner, resumed by close. */
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, kct_val(3)), 0);
	kct_expect_waiting(test, ch, 0, 2, "after a send");
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x[0].a, &elem), 0);
	KUNIT_EXPECT_PTR_EQ(test, elem, kct_val(3));
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x[1].a, &elem),
			-ECANCELED);
	kct_expect_waiting(test, ch, 0, 1, "after a cancelled receive");
	KUNIT_EXPECT_TRUE(test, kcoro_chan_close(ch));
	kct_expect_waiting(test, ch, 0, 0, "after close");
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x[2].a, &elem),
			-EPIPE);
	kcoro_chan_put(ch);

	/* A buffer of one: senders wait once it is full. */
	kct_hook_reset(&h);
	ch = kct_chan(1, KCORO_CHAN_SUSPEND, 0, &h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ch));
	/* A thread that times out no longer counts once it returned. */
	KUNIT_EXPECT_EQ(test, kcoro_chan_recv_timeout(ch, &elem, 1000000),
			-ETIMEDOUT);
	kct_expect_waiting(test, ch, 0, 0, "after a timed-out receive");
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_send(ch, kct_val(4)), 0);
	KUNIT_EXPECT_EQ(test, kcoro_chan_send_timeout(ch, kct_val(5), 1000000),
			-ETIMEDOUT);
	kct_expect_waiting(test, ch, 0, 0, "after a timed-out send");
	for (i = 0; i < 3; i++) {
		kct_async_init(&x[i]);
		KUNIT_EXPECT_EQ(test, kcoro_chan_send_async(ch, kct_val(6 + i),
							    &x[i].a),
				-EINPROGRESS);
	}
	kct_expect_waiting(test, ch, 3, 0, "with a full buffer");
	/*
	 * Taking the buffered element makes room: the receive's
	 * expandBuffer moves the oldest waiting sender into the buffer.
	 */
	KUNIT_EXPECT_EQ(test, kcoro_chan_try_recv(ch, &elem), 0);
	KUNIT_EXPECT_PTR_EQ(test, elem, kct_val(4));
	KUNIT_EXPECT_EQ(test, atomic_read(&x[0].notified), 1);
	kct_expect_waiting(test, ch, 2, 0, "after expandBuffer");
	KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x[0].a, NULL), 0);
	/* Cancel fails the others; their elements go to the hook. */
	KUNIT_EXPECT_TRUE(test, kcoro_chan_cancel(ch));
	kct_expect_waiting(test, ch, 0, 0, "after cancel");
	for (i = 1; i < 3; i++)
		KUNIT_EXPECT_EQ(test, kcoro_chan_async_complete(ch, &x[i].a, NULL),
				-EPIPE);
	kct_expect_hook_set(test, &h, (unsigned long[]){
		KCT_V(kct_val(5)), KCT_V(kct_val(6)), KCT_V(kct_val(7)),
		KCT_V(kct_val(8)) }, 4);
	kct_expect_waiters(test, 0);
	kcoro_chan_put(ch);
}

static struct kunit_case kct_cases[] = {
	KUNIT_CASE(chan_create_validation),
	KUNIT_CASE(chan_ptr_rendezvous_basic),
	KUNIT_CASE(chan_thread_rendezvous),
	KUNIT_CASE(chan_buffered_fifo),
	KUNIT_CASE(chan_unlimited),
	KUNIT_CASE(chan_conflated_drop),
	KUNIT_CASE(chan_timeouts),
	KUNIT_CASE(chan_close),
	KUNIT_CASE(chan_cancel),
	KUNIT_CASE(chan_waiter_cancel),
	KUNIT_CASE(chan_async),
	KUNIT_CASE_PARAM(chan_segment_alloc_fail, chan_segfail_gen_params),
	KUNIT_CASE(chan_replay_q7),
	KUNIT_CASE_PARAM(chan_replay_close, chan_replay_gen_params),
	KUNIT_CASE(chan_replay_resume_cancel),
	KUNIT_CASE(chan_waiting),
	KUNIT_CASE_PARAM_ATTR(chan_stress, chan_stress_gen_params, kct_slow),
	KUNIT_CASE_SLOW(chan_segment_reclaim),
	{}
};

static struct kunit_suite kct_suite = {
	.name = "kcoro_chan",
	.init = kcoro_kunit_init,
	.exit = kcoro_kunit_exit,
	.test_cases = kct_cases,
};

kunit_test_suites(&kct_suite);

MODULE_DESCRIPTION("KUnit tests for kcoro channels");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
MODULE_LICENSE("GPL");
