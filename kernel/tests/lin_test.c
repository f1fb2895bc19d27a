// SPDX-License-Identifier: GPL-2.0
/*
 * Linearizability of kcoro channels, checked history by history.
 *
 * Each case runs lin_histories short concurrent histories on one kind of
 * channel (rendezvous, buffered(1), buffered(2), unlimited, conflated,
 * drop-oldest(1), drop-latest(1)), each on a new channel with a random
 * segment size of 1, 2 or 32 cells: two to four actors, coroutines and
 * kthreads on different CPUs, each running one to four operations (send,
 * timed send, try_send, receive, timed receive, try_recv; now and then a
 * close or a cancel) that start together.  Every operation records the
 * ticks of one global counter just before the call and just after it
 * returns, its result and its element; the undelivered hook records every
 * element it gets and when.  Now and then the test cancels a coroutine
 * actor (-ECANCELED) or signals a kthread actor (-EINTR) while it runs.
 *
 * A history ends when every operation has returned.  Operations that would
 * wait for ever (a receive nobody sends to) are ended by the test: after a
 * short while it closes the channel, then cancels it; both are recorded
 * operations of the history like any other.  Then the channel is
 * destroyed (kcoro_chan_put(), recorded, its hook calls too) and the whole
 * history goes to the checker of kcoro_lin.h, which searches for a
 * linearization against the sequential specification of a channel
 * (Documentation/kcoro/channels.rst).  Any history without one fails the
 * case and is printed, event by event.
 *
 * The checker itself is tested in userspace with histories that are not
 * linearizable (tools/testing/kcoro-lin, run by make check).
 */
#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/wait.h>

#include "kcoro_kunit.h"
#include "kcoro_lin.h"

static unsigned int lin_histories = 600;
module_param(lin_histories, uint, 0444);
MODULE_PARM_DESC(lin_histories, "histories per kind of channel (default 600)");

#define KLT_ACTORS	4
#define KLT_OPS		4
#define KLT_PREFILL	2
#define KLT_MAX_HOOKS	LIN_MAX_EV
/* Polls of 50-100 us without progress before close, then cancel. */
#define KLT_PATIENCE	4
/* Violating histories printed in full per case. */
#define KLT_PRINT	3

#define KLT_E(v)	((void *)(unsigned long)(v))
#define KLT_V(e)	((unsigned long)(e))
#define KLT_POISON	KLT_E(0x6b6c745f706f6973UL)

/* Actor ids in the report: the test's own operations. */
#define KLT_PREFILLER	7
#define KLT_RESCUER	8
#define KLT_DESTROYER	9

/* The one clock of every history: real-time order of events. */
static atomic64_t klt_clock;
/* Histories checked and violations found by every case so far. */
static unsigned int klt_total, klt_total_bad;
/* Moves whenever an actor gets somewhere: the waits' progress. */
static atomic_t klt_steps;

static u64 klt_tick(void)
{
	return atomic64_inc_return(&klt_clock);
}

enum klt_kind {
	KLT_SEND,
	KLT_SEND_TMO,
	KLT_TRY_SEND,
	KLT_RECV,
	KLT_RECV_TMO,
	KLT_TRY_RECV,
	KLT_CLOSE,
	KLT_CANCEL,
};

struct klt_op {
	u8 kind;
	u8 ev;			/* its event in the history */
	bool deadline;		/* timed: the _deadline() variant */
	s64 timeout_ns;
};

struct klt_hist;

struct klt_actor {
	struct klt_hist *h;
	unsigned int id, nops;
	struct klt_op op[KLT_OPS];
	int cpu;
	struct kcoro *co;		/* a coroutine actor */
	struct klt_worker *worker;	/* or a kthread actor */
};

struct klt_hist {
	struct kcoro_chan *ch;
	unsigned int nact, nev;
	struct klt_actor act[KLT_ACTORS];
	struct lin_ev ev[LIN_MAX_EV];
	struct lin_ev hook[KLT_MAX_HOOKS];
	atomic_t nhook;
	atomic_t wrong_ch;
	atomic_t ready, finished;
	int go;
};

/* A kthread on one CPU that runs the kthread actors of each history. */
struct klt_worker {
	struct task_struct *task;
	wait_queue_head_t wq;
	struct klt_actor *job;
	int cpu;
};

struct klt_kind_param {
	const char *name;
	long cap;
	enum kcoro_chan_overflow ovf;
	struct lin_spec spec;
};

static const struct klt_kind_param klt_kinds[] = {
	{ "rendezvous", KCORO_CHAN_RENDEZVOUS, KCORO_CHAN_SUSPEND, { 0, LIN_SUSPEND } },
	{ "buffered(1)", 1, KCORO_CHAN_SUSPEND, { 1, LIN_SUSPEND } },
	{ "buffered(2)", 2, KCORO_CHAN_SUSPEND, { 2, LIN_SUSPEND } },
	{ "unlimited", KCORO_CHAN_UNLIMITED, KCORO_CHAN_SUSPEND,
	  { LIN_UNLIMITED, LIN_SUSPEND } },
	{ "conflated", KCORO_CHAN_CONFLATED, KCORO_CHAN_SUSPEND, { 1, LIN_DROP_OLDEST } },
	{ "drop-oldest(1)", 1, KCORO_CHAN_DROP_OLDEST, { 1, LIN_DROP_OLDEST } },
	{ "drop-latest(1)", 1, KCORO_CHAN_DROP_LATEST, { 1, LIN_DROP_LATEST } },
};

static void klt_kind_desc(const struct klt_kind_param *p, char *desc)
{
	strscpy(desc, p->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(chan_lin, klt_kinds, klt_kind_desc);

/* Never sleeps: records the element and the tick. */
static void klt_hook(struct kcoro_chan *ch, void *elem, void *ctx)
{
	struct klt_hist *h = ctx;
	int i = atomic_fetch_inc(&h->nhook);

	if (READ_ONCE(h->ch) && ch != READ_ONCE(h->ch))
		atomic_inc(&h->wrong_ch);
	if (i >= KLT_MAX_HOOKS)
		return;
	h->hook[i].val = KLT_V(elem);
	h->hook[i].op = LIN_HOOK;
	h->hook[i].inv = klt_tick();
	h->hook[i].resp = h->hook[i].inv;
}

static void klt_run_op(struct klt_hist *h, struct klt_op *op)
{
	struct lin_ev *ev = &h->ev[op->ev];
	void *e = KLT_E(ev->val);
	ktime_t dl = 0;
	int ret = -EINVAL;

	if (op->deadline)
		dl = ktime_add_ns(ktime_get(), op->timeout_ns);
	ev->inv = klt_tick();
	switch (op->kind) {
	case KLT_SEND:
		ret = kcoro_chan_send(h->ch, e);
		break;
	case KLT_SEND_TMO:
		ret = op->deadline ? kcoro_chan_send_deadline(h->ch, e, dl) :
		      kcoro_chan_send_timeout(h->ch, e, op->timeout_ns);
		break;
	case KLT_TRY_SEND:
		ret = kcoro_chan_try_send(h->ch, e);
		break;
	case KLT_RECV:
		ret = kcoro_chan_recv(h->ch, &e);
		break;
	case KLT_RECV_TMO:
		ret = op->deadline ? kcoro_chan_recv_deadline(h->ch, &e, dl) :
		      kcoro_chan_recv_timeout(h->ch, &e, op->timeout_ns);
		break;
	case KLT_TRY_RECV:
		ret = kcoro_chan_try_recv(h->ch, &e);
		break;
	case KLT_CLOSE:
		ret = kcoro_chan_close(h->ch);
		break;
	case KLT_CANCEL:
		ret = kcoro_chan_cancel(h->ch);
		break;
	}
	ev->resp = klt_tick();
	ev->res = ret;
	if (ev->op == LIN_RECV || ev->op == LIN_TRY_RECV)
		ev->val = ret ? 0 : KLT_V(e);
	atomic_inc(&klt_steps);
}

/* An actor: wait for the start, run the operations. */
static void klt_run_actor(struct klt_actor *a, bool thread)
{
	struct klt_hist *h = a->h;
	unsigned int i;

	atomic_inc(&h->ready);
	atomic_inc(&klt_steps);
	/* Pairs with the release in klt_history(): all start together. */
	while (!smp_load_acquire(&h->go)) {
		if (thread)
			cpu_relax();
		else
			kcoro_yield();
	}
	for (i = 0; i < a->nops; i++)
		klt_run_op(h, &a->op[i]);
}

static long klt_actor_co(void *arg)
{
	struct klt_actor *a = arg;

	klt_run_actor(a, false);
	/* The history's last use of @a: the test may reuse it now. */
	atomic_inc(&a->h->finished);
	return 0;
}

static int klt_worker_fn(void *arg)
{
	struct klt_worker *w = arg;
	struct klt_actor *a;
	struct klt_hist *h;

	allow_signal(SIGUSR1);
	for (;;) {
		wait_event_interruptible(w->wq, READ_ONCE(w->job) || kthread_should_stop());
		/* Pairs with the release in klt_start(). */
		a = smp_load_acquire(&w->job);
		if (!a) {
			flush_signals(current);
			if (kthread_should_stop())
				break;
			continue;
		}
		h = a->h;
		klt_run_actor(a, true);
		flush_signals(current);
		WRITE_ONCE(w->job, NULL);
		/* Publishes the events; the test may reuse @a and @w now. */
		atomic_inc(&h->finished);
	}
	return 0;
}

struct klt_ctx {
	struct kunit *test;
	const struct klt_kind_param *kind;
	struct lin_checker checker;
	struct klt_worker worker[KLT_ACTORS];
	unsigned int nworkers;
	struct klt_hist *h;
	unsigned long seq;
	/* totals */
	unsigned int histories, violations, undecided, skipped;
	unsigned long events, hooks, states, rescues, stimuli;
	unsigned int res[8];	/* 0, EAGAIN, ETIMEDOUT, ECANCELED, EINTR, EPIPE, 1/0 */
};

static u64 klt_progress(void *arg)
{
	return kcoro_kunit_switches(NULL) + atomic_read(&klt_steps);
}

static int klt_cpu(unsigned int n)
{
	return cpumask_nth(n % num_online_cpus(), cpu_online_mask);
}

static unsigned int klt_rand(unsigned int n)
{
	return get_random_u32_below(n);
}

static s64 klt_rand_timeout(bool send)
{
	static const s64 t[] = { 0, 10 * NSEC_PER_USEC, 100 * NSEC_PER_USEC, NSEC_PER_MSEC };

	/* Sends never start expired: see klt_generate(). */
	return send ? t[2 + klt_rand(2)] : t[klt_rand(ARRAY_SIZE(t))];
}

static const u8 klt_lin_op[] = {
	[KLT_SEND] = LIN_SEND, [KLT_SEND_TMO] = LIN_SEND, [KLT_TRY_SEND] = LIN_TRY_SEND,
	[KLT_RECV] = LIN_RECV, [KLT_RECV_TMO] = LIN_RECV, [KLT_TRY_RECV] = LIN_TRY_RECV,
	[KLT_CLOSE] = LIN_CLOSE, [KLT_CANCEL] = LIN_CANCEL,
};

/* A new event of the history, for operation @kind of @actor. */
static struct lin_ev *klt_new_ev(struct klt_ctx *x, unsigned int kind, unsigned int actor)
{
	struct klt_hist *h = x->h;
	struct lin_ev *ev = &h->ev[h->nev];

	memset(ev, 0, sizeof(*ev));
	ev->op = klt_lin_op[kind];
	ev->actor = actor;
	/* Unique per history and across histories: (history, number) */
	if (ev->op == LIN_SEND || ev->op == LIN_TRY_SEND)
		ev->val = ((u64)x->seq << 8) | (h->nev + 1);
	h->nev++;
	return ev;
}

/*
 * Draw the actors and their operations.
 *
 * Left out, because kcoro (like Kotlin's BufferedChannel) does not make
 * them linearizable against sends in progress: a send that decides
 * without waiting whether the buffer is full (a try-send, a send whose
 * deadline passed before it started, every drop-latest send) counts the
 * cells that concurrent sends reserved but have not written yet, and such
 * a reservation can still fail (a receive that passes the unwritten cell
 * poisons it, and the send moves on, or finds the channel closed).  The
 * checker found both: a try-send that failed with -EAGAIN while the
 * buffer held one element of two, and a drop-latest send that dropped its
 * element because of a send that then failed with -EPIPE.  So try-sends
 * run only before the actors start (prefill), timed sends never start
 * expired, and on a drop-latest channel one actor sends.  A blocking
 * send that aborts shows the same decision; the checker allows it the
 * weaker rule of kcoro_lin.h instead.
 */
static void klt_generate(struct klt_ctx *x)
{
	static const u8 mix[] = { KLT_SEND, KLT_SEND, KLT_SEND_TMO, KLT_SEND,
				  KLT_SEND_TMO, KLT_RECV, KLT_RECV, KLT_RECV_TMO,
				  KLT_TRY_RECV, KLT_TRY_RECV };
	bool drop_latest = x->kind->spec.policy == LIN_DROP_LATEST;
	struct klt_hist *h = x->h;
	unsigned int i, k, off = klt_rand(8), nthreads = 0;
	struct klt_actor *a;
	struct klt_op *op;

	h->nact = 2 + klt_rand(KLT_ACTORS - 1);
	for (i = 0; i < h->nact; i++) {
		a = &h->act[i];
		memset(a, 0, sizeof(*a));
		a->h = h;
		a->id = i;
		a->cpu = klt_cpu(off + i);
		/* About one actor in three is a kthread, one per worker. */
		if (nthreads < x->nworkers && !klt_rand(3))
			a->worker = &x->worker[nthreads++];
		a->nops = 1 + klt_rand(KLT_OPS);
		for (k = 0; k < a->nops; k++) {
			op = &a->op[k];
			op->kind = mix[klt_rand(ARRAY_SIZE(mix))];
			if (drop_latest && i && (op->kind == KLT_SEND ||
						 op->kind == KLT_SEND_TMO))
				op->kind = KLT_RECV;
			if (op->kind == KLT_SEND_TMO || op->kind == KLT_RECV_TMO) {
				op->timeout_ns = klt_rand_timeout(op->kind == KLT_SEND_TMO);
				op->deadline = klt_rand(2);
			}
		}
	}
	/* One history in four has a close or a cancel among its operations. */
	if (!klt_rand(4)) {
		a = &h->act[klt_rand(h->nact)];
		a->op[klt_rand(a->nops)].kind = klt_rand(2) ? KLT_CLOSE : KLT_CANCEL;
	}
	/* Events: the operations, actor by actor. */
	for (i = 0; i < h->nact; i++) {
		a = &h->act[i];
		for (k = 0; k < a->nops; k++) {
			a->op[k].ev = h->nev;
			klt_new_ev(x, a->op[k].kind, i);
		}
	}
}

/* The test's own operation, outside any actor. */
static void klt_own_op(struct klt_ctx *x, unsigned int kind, unsigned int actor)
{
	struct klt_op op = { .kind = kind, .ev = x->h->nev };

	klt_new_ev(x, kind, actor);
	klt_run_op(x->h, &op);
}

static bool klt_all_finished(struct klt_hist *h)
{
	/* Pairs with the atomic_inc() after each actor's last event. */
	return atomic_read_acquire(&h->finished) == h->nact;
}

/*
 * Poll briefly for every actor to finish: give up once no actor got
 * anywhere for KLT_PATIENCE polls (they wait for something that will not
 * come), or after 8 * KLT_PATIENCE polls.
 */
static bool klt_wait_briefly(struct klt_hist *h)
{
	unsigned int i, still = 0;
	int steps, last = atomic_read(&klt_steps);

	for (i = 0; i < 8 * KLT_PATIENCE && still < KLT_PATIENCE; i++) {
		if (klt_all_finished(h))
			return true;
		usleep_range(50, 100);
		steps = atomic_read(&klt_steps);
		still = steps == last ? still + 1 : 0;
		last = steps;
	}
	return klt_all_finished(h);
}

static void klt_keep_module(void)
{
	__module_get(THIS_MODULE);
}

/*
 * Every actor returns once the channel is cancelled.  One that does not
 * is a kcoro bug: fail, and rescue what can be rescued (a coroutine is
 * cancelled, kicked and, if still stuck, abandoned; a kthread is
 * signalled, and if it still does not return, its history and the module
 * are kept for good).
 */
static void klt_wait_finished(struct klt_ctx *x)
{
	struct klt_hist *h = x->h;
	unsigned int i;

	if (kcoro_kunit_wait_progress(klt_all_finished(h), klt_progress, NULL))
		return;
	KUNIT_FAIL(x->test, "history %lu: an operation did not return after cancel", x->seq);
	for (i = 0; i < h->nact; i++) {
		if (h->act[i].co)
			kcoro_kunit_wait_done(x->test, h->act[i].co, klt_progress, NULL);
		else if (h->act[i].worker)
			send_sig(SIGUSR1, h->act[i].worker->task, 1);
	}
	if (kcoro_kunit_wait_progress(klt_all_finished(h), klt_progress, NULL))
		return;
	klt_keep_module();
	x->h = NULL;	/* leaked: a kthread may still write to it */
	KUNIT_FAIL_AND_ABORT(x->test, "history %lu: a kthread actor is stuck, history leaked",
			     x->seq);
}

static int klt_ev_cmp(const void *a, const void *b)
{
	const struct lin_ev *x = a, *y = b;

	return x->inv < y->inv ? -1 : x->inv > y->inv;
}

static void klt_report(struct klt_ctx *x, struct kcoro_chan_attr *attr, int ret)
{
	struct klt_hist *h = x->h;
	char line[128];
	unsigned int i;

	if (x->violations > KLT_PRINT)
		return;
	kunit_info(x->test, "history %lu on %s (segment %u): %s%s%s, %u events:\n", x->seq,
		   x->kind->name, attr->segment_size,
		   ret == LIN_VIOLATION ? "NOT LINEARIZABLE" : "malformed",
		   x->checker.why ? ": " : "", x->checker.why ?: "", h->nev);
	/* In invocation order; ticks are the global counter's. */
	sort(h->ev, h->nev, sizeof(h->ev[0]), klt_ev_cmp, NULL);
	for (i = 0; i < h->nev; i++) {
		lin_format(line, sizeof(line), &h->ev[i]);
		kunit_info(x->test, "  %s\n", line);
	}
}

static void klt_count(struct klt_ctx *x)
{
	struct klt_hist *h = x->h;
	unsigned int i;
	int r;

	for (i = 0; i < h->nev; i++) {
		r = h->ev[i].res;
		if (h->ev[i].op == LIN_HOOK) {
			x->hooks++;
			continue;
		}
		if (h->ev[i].op == LIN_CLOSE || h->ev[i].op == LIN_CANCEL)
			x->res[6]++;
		else if (!r)
			x->res[0]++;
		else if (r == -EAGAIN)
			x->res[1]++;
		else if (r == -ETIMEDOUT)
			x->res[2]++;
		else if (r == -ECANCELED)
			x->res[3]++;
		else if (r == -EINTR)
			x->res[4]++;
		else if (r == -EPIPE)
			x->res[5]++;
		else
			x->res[7]++;
	}
	x->events += h->nev;
}

/* One history: run it, destroy the channel, check it. */
static void klt_history(struct klt_ctx *x)
{
	static const unsigned int segs[] = { 1, 2, 32 };
	struct kcoro_chan_attr attr = {
		.capacity = x->kind->cap,
		.overflow = x->kind->ovf,
		.undelivered = klt_hook,
		.segment_size = segs[klt_rand(ARRAY_SIZE(segs))],
	};
	struct kunit *test = x->test;
	struct klt_hist *h = x->h;
	struct klt_actor *a;
	struct kcoro_attr ca;
	unsigned int i, n;
	int ret;

	memset(h, 0, sizeof(*h));
	x->seq++;
	attr.undelivered_ctx = h;
	h->ch = kcoro_chan_create(&attr);
	if (IS_ERR(h->ch)) {
		KUNIT_FAIL(test, "kcoro_chan_create: %pe", h->ch);
		return;
	}
	klt_generate(x);
	/* One history in three starts with elements already buffered. */
	if (x->kind->spec.cap > 0 && !klt_rand(3)) {
		for (n = 1 + klt_rand(KLT_PREFILL); n; n--)
			klt_own_op(x, KLT_TRY_SEND, KLT_PREFILLER);
	}
	for (i = 0; i < h->nact; i++) {
		a = &h->act[i];
		if (a->worker) {
			/* Pairs with the acquire in klt_worker_fn(). */
			smp_store_release(&a->worker->job, a);
			wake_up(&a->worker->wq);
			continue;
		}
		ca = (struct kcoro_attr){ .cpu = a->cpu };
		a->co = kcoro_spawn(klt_actor_co, a, &ca);
		if (IS_ERR(a->co)) {
			KUNIT_FAIL(test, "kcoro_spawn: %pe", a->co);
			a->co = NULL;
			/* It never runs: count it as ready and finished. */
			atomic_inc(&h->ready);
			atomic_inc(&h->finished);
		}
	}
	if (!kcoro_kunit_wait_progress(atomic_read(&h->ready) == h->nact, klt_progress, NULL))
		KUNIT_FAIL(test, "history %lu: actors did not start", x->seq);
	/* Pairs with the acquire in klt_run_actor(). */
	smp_store_release(&h->go, 1);
	/* Now and then cancel a coroutine actor, or signal a kthread one. */
	if (!klt_rand(6)) {
		a = &h->act[klt_rand(h->nact)];
		udelay(klt_rand(50));
		if (a->co)
			kcoro_cancel(a->co);
		else if (a->worker)
			send_sig(SIGUSR1, a->worker->task, 1);
		x->stimuli++;
	}
	/* Operations that wait for ever: close, then cancel the channel. */
	if (!klt_wait_briefly(h)) {
		x->rescues++;
		klt_own_op(x, KLT_CLOSE, KLT_RESCUER);
		if (!klt_wait_briefly(h))
			klt_own_op(x, KLT_CANCEL, KLT_RESCUER);
	}
	klt_wait_finished(x);
	h = x->h;
	for (i = 0; i < h->nact; i++) {
		if (h->act[i].co) {
			kcoro_join(h->act[i].co);
			kcoro_put(h->act[i].co);
		}
	}
	/* The last reference: a cancel, its hook calls recorded as well. */
	n = h->nev++;
	h->ev[n] = (struct lin_ev){ .op = LIN_DESTROY, .actor = KLT_DESTROYER };
	h->ev[n].inv = klt_tick();
	kcoro_chan_put(h->ch);
	h->ev[n].resp = klt_tick();

	n = atomic_read(&h->nhook);
	KUNIT_EXPECT_EQ(test, atomic_read(&h->wrong_ch), 0);
	if (n > KLT_MAX_HOOKS || h->nev + n > LIN_MAX_EV) {
		KUNIT_FAIL(test, "history %lu: %u hook calls, %u events", x->seq, n, h->nev);
		return;
	}
	memcpy(&h->ev[h->nev], h->hook, n * sizeof(h->hook[0]));
	h->nev += n;
	for (i = 0; i < h->nev; i++) {
		if (h->ev[i].res == -ENOMEM) {
			x->skipped++;
			return;
		}
	}
	ret = lin_check(&x->checker, &x->kind->spec, h->ev, h->nev);
	x->histories++;
	x->states += x->checker.states;
	klt_count(x);
	if (ret == LIN_GAVE_UP) {
		x->undecided++;
		return;
	}
	if (ret != LIN_OK) {
		x->violations++;
		KUNIT_FAIL(test, "history %lu on %s: %s", x->seq, x->kind->name,
			   ret == LIN_VIOLATION ? "not linearizable" : "malformed");
		klt_report(x, &attr, ret);
	}
}

static int klt_workers_start(struct klt_ctx *x)
{
	struct klt_worker *w;
	unsigned int i;

	x->nworkers = min(num_online_cpus(), KLT_ACTORS);
	for (i = 0; i < x->nworkers; i++) {
		w = &x->worker[i];
		init_waitqueue_head(&w->wq);
		w->cpu = klt_cpu(i);
		w->task = kthread_create(klt_worker_fn, w, "klt_worker/%d", w->cpu);
		if (IS_ERR(w->task)) {
			int err = PTR_ERR(w->task);

			w->task = NULL;
			x->nworkers = i;
			return err;
		}
		kthread_bind(w->task, w->cpu);
		get_task_struct(w->task);
		wake_up_process(w->task);
	}
	return 0;
}

static void klt_workers_stop(struct klt_ctx *x)
{
	unsigned int i;

	for (i = 0; i < x->nworkers; i++)
		kthread_stop_put(x->worker[i].task);
}

/**
 * chan_lin() - every short concurrent history is linearizable
 * @test: the case; its parameter is the kind of channel
 */
static void chan_lin(struct kunit *test)
{
	struct klt_ctx *x;
	unsigned int i;
	ktime_t t0;

	x = kunit_kzalloc(test, sizeof(*x), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, x);
	x->h = kunit_kzalloc(test, sizeof(*x->h), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, x->h);
	x->test = test;
	x->kind = test->param_value;
	KUNIT_ASSERT_EQ(test, lin_checker_init(&x->checker, 15), 0);
	if (klt_workers_start(x)) {
		klt_workers_stop(x);
		lin_checker_free(&x->checker);
		KUNIT_FAIL_AND_ABORT(test, "cannot start the kthread actors");
	}
	t0 = ktime_get();
	for (i = 0; i < lin_histories; i++) {
		klt_history(x);
		if (x->violations > 50)
			break;
		cond_resched();
	}
	klt_workers_stop(x);
	lin_checker_free(&x->checker);
	klt_total += x->histories;
	klt_total_bad += x->violations;
	kunit_info(test, "lin: %u histories checked, %u violations (every kind so far)\n",
		   klt_total, klt_total_bad);
	kunit_info(test, "lin: %s: %u histories checked, %u violations, %u undecided, %u skipped (ENOMEM), %lld ms\n",
		   x->kind->name, x->histories, x->violations, x->undecided, x->skipped,
		   ktime_ms_delta(ktime_get(), t0));
	kunit_info(test, "lin: %s: %lu events, %lu hook calls, %lu states searched, %lu closed by the test, %lu cancel/signal\n",
		   x->kind->name, x->events, x->hooks, x->states, x->rescues, x->stimuli);
	kunit_info(test, "lin: %s: results: 0 %u, EAGAIN %u, ETIMEDOUT %u, ECANCELED %u, EINTR %u, EPIPE %u, close/cancel %u, other %u\n",
		   x->kind->name, x->res[0], x->res[1], x->res[2], x->res[3], x->res[4],
		   x->res[5], x->res[6], x->res[7]);
	KUNIT_EXPECT_EQ(test, x->violations, 0);
	KUNIT_EXPECT_EQ(test, x->res[7], 0);
}

static const struct kunit_attributes klt_slow = { .speed = KUNIT_SPEED_SLOW };

static struct kunit_case klt_cases[] = {
	KUNIT_CASE_PARAM_ATTR(chan_lin, chan_lin_gen_params, klt_slow),
	{}
};

static struct kunit_suite klt_suite = {
	.name = "kcoro_lin",
	.init = kcoro_kunit_init,
	.exit = kcoro_kunit_exit,
	.test_cases = klt_cases,
};

kunit_test_suites(&klt_suite);

MODULE_DESCRIPTION("KUnit linearizability check of kcoro channels");
MODULE_LICENSE("GPL");
