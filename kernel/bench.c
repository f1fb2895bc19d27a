// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro benchmark ("make bench"): loading this module measures coroutines
 * against the kernel's own mechanisms, side by side in one boot, and prints
 * a table:
 *  - a hand-off between two coroutines of one CPU (kcoro_yield(), and
 *    kcoro_park()/kcoro_unpark()) against two kthreads of one CPU handing
 *    over with complete()/wait_for_completion();
 *  - spawning and joining a coroutine, from a kthread and from a coroutine,
 *    against kthread_run()+kthread_stop() and queue_work()+flush_work();
 *  - channels between coroutines against kfifos with wait queues between
 *    kthreads (see bench_kfifo() for what each kthread baseline does);
 *  - the memory an idle coroutine costs, against an idle kthread;
 *  - how much sibling coroutines of one CPU get done while one of them
 *    blocks its scheduler kthread in msleep(), with the hand-off to a
 *    standby kthread and without, against sleeping in kcoro_sleep_ns();
 *  - with two CPUs or more online, STEAL_ITEMS CPU-bound coroutines spawned
 *    on one CPU: the wall time until all are joined when they spread by
 *    work stealing, against all of them pinned to that CPU and against the
 *    same work as work items on an unbound workqueue.
 *  - with scale=1 (its own VM run with a few GB, "make bench-scale"),
 *    spawn, wake-all and join per coroutine for 1k, 10k and 100k
 *    coroutines parked at once on one CPU (see bench_scale_all()).
 *
 * Every timed part of the table but the last runs on one CPU, driven by a
 * kthread bound there ("make bench" offlines the other CPUs for it, then
 * brings them back and loads the module again for the stealing rows: see
 * the table and steal parameters).  Each measurement is calibrated to take
 * about BENCH_TARGET_NS; then, round after round, every row runs its two
 * measurements back to back: BENCH_MIN_RUNS rounds, and more, up to
 * BENCH_MAX_RUNS, while a ratio spreads by BENCH_SETTLED_PCT or more (see
 * bench_ratio()).  A row shows the median of its per-round ratios with
 * their spread, or "noisy" when it never settled.
 * Under QEMU TCG the CPU is emulated, so only the ratios mean something.
 *
 * With only=NAME the module runs that one measurement alone for about
 * secs seconds, for "make profile" (perf record around the insmod).
 *
 * This is not a test: the module loads (and can be unloaded) whatever it
 * measures.
 */
#define pr_fmt(fmt) "kcoro_bench: " fmt

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/kfifo.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/kthread.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/module.h>
#include <linux/nodemask.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/thread_info.h>
#include <linux/timekeeping.h>
#include <linux/vmalloc.h>
#include <linux/vmstat.h>
#include <linux/workqueue.h>
#ifdef CONFIG_X86
#include <asm/hypervisor.h>
#endif

#define BENCH_MIN_RUNS		5
#define BENCH_MAX_RUNS		41
/* A ratio has settled when its spread is below this, in %. */
#define BENCH_SETTLED_PCT	10
#define BENCH_TARGET_MS		50ULL
#define BENCH_TARGET_NS		(BENCH_TARGET_MS * NSEC_PER_MSEC)
#define BENCH_CALIB_NS		(BENCH_TARGET_NS / 5)
#define BENCH_MIN_OPS		16ULL
#define BENCH_MAX_OPS		BIT_ULL(28)

#define MEM_COROS		1000
#define MEM_KTHREADS		500

#define STEAL_ITEMS		64
/* bench_spin() iterations between two scheduling points of a work item */
#define STEAL_SLICE		4096

/* The blocking rows: sibling coroutines while one sleeps. */
#define BLOCK_SIBLINGS		4
#define BLOCK_SLEEP_MS		20
#define BLOCK_SLEEPS		10

static bool bench_table = true;
module_param_named(table, bench_table, bool, 0444);
MODULE_PARM_DESC(table, "measure the one-CPU rows and memory (default: yes)");
static bool bench_steal = true;
module_param_named(steal, bench_steal, bool, 0444);
MODULE_PARM_DESC(steal, "measure work stealing, with 2+ CPUs online (default: yes)");
static bool bench_scale;
module_param_named(scale, bench_scale, bool, 0444);
MODULE_PARM_DESC(scale, "measure spawn, wake-all and join per coroutine for 1k to 100k parked coroutines (default: no)");
static char *bench_only;
module_param_named(only, bench_only, charp, 0444);
MODULE_PARM_DESC(only, "run only this measurement, for secs seconds (make profile)");
static uint bench_secs = 4;
module_param_named(secs, bench_secs, uint, 0444);
MODULE_PARM_DESC(secs, "how long only= runs its measurement (default: 4)");

/* The CPU every timed coroutine and kthread runs on. */
static int bench_cpu;
static DECLARE_COMPLETION(bench_done);

/**
 * struct bench_result - one calibrated measurement
 * @ops: operations per run
 * @err: 0, or why the measurement failed
 */
struct bench_result {
	u64 ops;
	int err;
};

/**
 * struct bench_row - one row: a kcoro measurement against a baseline
 * @a: the kcoro measurement (index into the result array)
 * @b: the baseline
 * @a_name: the kcoro side's label
 * @b_name: the baseline's label
 * @a_ns: each round's run of @a
 * @b_ns: each round's run of @b, right before or after it
 * @runs: how many rounds @a_ns and @b_ns hold
 */
struct bench_row {
	int a;
	int b;
	const char *a_name;
	const char *b_name;
	u64 a_ns[BENCH_MAX_RUNS];
	u64 b_ns[BENCH_MAX_RUNS];
	int runs;
};

/* The body of an idle kthread: sleep until kthread_stop(). */
static int bench_kthread_idle(void)
{
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static int bench_kthread_nop_fn(void *arg)
{
	return bench_kthread_idle();
}

static long bench_coro_nop_fn(void *arg)
{
	return 0;
}

/* Start a kthread bound to @cpu; it runs once woken. */
static struct task_struct *bench_kthread_on(int (*fn)(void *), void *arg,
					    int cpu, const char *name)
{
	struct task_struct *t;

	t = kthread_create(fn, arg, "%s", name);
	if (!IS_ERR(t))
		kthread_bind(t, cpu);
	return t;
}

/*
 * Hand-off between two coroutines.  Both park until the driver sets @turn
 * to 0 (or to -2 to cancel), so the timed part starts with both on the run
 * queue.
 */
struct bench_pingpong {
	struct kcoro *co[2];
	u64 rounds;
	atomic_t turn;
	atomic_t running;
	atomic64_t start;
	u64 end;
};

struct bench_player {
	struct bench_pingpong *pp;
	int me;
};

static bool bench_wait_start(struct bench_pingpong *pp)
{
	while (atomic_read_acquire(&pp->turn) == -1)
		kcoro_park();
	if (atomic_read(&pp->turn) < 0)
		return false;
	atomic64_cmpxchg(&pp->start, 0, ktime_get_ns());
	return true;
}

static void bench_player_done(struct bench_pingpong *pp)
{
	if (atomic_dec_and_test(&pp->running))
		pp->end = ktime_get_ns();
}

/* kcoro_yield() in a loop: with two coroutines each yield is a hand-off. */
static long bench_yield_fn(void *arg)
{
	struct bench_player *p = arg;
	struct bench_pingpong *pp = p->pp;
	u64 i;

	if (!bench_wait_start(pp))
		return -ECANCELED;
	for (i = 0; i < pp->rounds; i++)
		kcoro_yield();
	bench_player_done(pp);
	return 0;
}

/* Pass the ball with kcoro_unpark(); wait for it in kcoro_park(). */
static long bench_park_fn(void *arg)
{
	struct bench_player *p = arg;
	struct bench_pingpong *pp = p->pp;
	u64 i;

	if (!bench_wait_start(pp))
		return -ECANCELED;
	for (i = 0; i < pp->rounds; i++) {
		while (atomic_read_acquire(&pp->turn) != p->me)
			kcoro_park();
		atomic_set_release(&pp->turn, !p->me);
		kcoro_unpark(pp->co[!p->me]);
	}
	bench_player_done(pp);
	return 0;
}

static int bench_coro_pair(long (*fn)(void *), u64 ops, u64 *ns)
{
	struct bench_pingpong pp = {
		.rounds = ops / 2,
		.turn = ATOMIC_INIT(-1),
		.running = ATOMIC_INIT(2),
		.start = ATOMIC64_INIT(0),
	};
	struct bench_player p[2] = { { &pp, 0 }, { &pp, 1 } };
	struct kcoro_attr attr = { .cpu = bench_cpu };
	int i, ret = 0;

	for (i = 0; i < 2; i++) {
		pp.co[i] = kcoro_spawn(fn, &p[i], &attr);
		if (IS_ERR(pp.co[i])) {
			ret = PTR_ERR(pp.co[i]);
			if (i) {
				atomic_set_release(&pp.turn, -2);
				kcoro_unpark(pp.co[0]);
				kcoro_join(pp.co[0]);
				kcoro_put(pp.co[0]);
			}
			return ret;
		}
	}
	atomic_set_release(&pp.turn, 0);
	kcoro_unpark(pp.co[0]);
	kcoro_unpark(pp.co[1]);
	for (i = 0; i < 2; i++) {
		long res = kcoro_join(pp.co[i]);

		if (res && !ret)
			ret = res;
		kcoro_put(pp.co[i]);
	}
	*ns = pp.end - atomic64_read(&pp.start);
	return ret;
}

static int bench_coro_yield(u64 ops, u64 *ns)
{
	return bench_coro_pair(bench_yield_fn, ops, ns);
}

static int bench_coro_park(u64 ops, u64 *ns)
{
	return bench_coro_pair(bench_park_fn, ops, ns);
}

/* Hand-off between two kthreads of one CPU with completions. */
struct bench_kpingpong {
	struct completion go[2];
	struct completion done;
	u64 rounds;
	u64 start;
	u64 end;
};

struct bench_kplayer {
	struct bench_kpingpong *kp;
	int me;
};

static int bench_kplayer_fn(void *arg)
{
	struct bench_kplayer *p = arg;
	struct bench_kpingpong *kp = p->kp;
	u64 i;

	if (p->me == 0) {
		kp->start = ktime_get_ns();
		for (i = 0; i < kp->rounds; i++) {
			complete(&kp->go[1]);
			wait_for_completion(&kp->go[0]);
		}
		kp->end = ktime_get_ns();
		complete(&kp->done);
	} else {
		for (i = 0; i < kp->rounds; i++) {
			wait_for_completion(&kp->go[1]);
			complete(&kp->go[0]);
		}
	}
	return bench_kthread_idle();
}

static int bench_kthread_pair(u64 ops, u64 *ns)
{
	struct bench_kpingpong kp = { .rounds = ops / 2 };
	struct bench_kplayer p[2] = { { &kp, 0 }, { &kp, 1 } };
	struct task_struct *t[2];
	int i;

	init_completion(&kp.go[0]);
	init_completion(&kp.go[1]);
	init_completion(&kp.done);
	for (i = 0; i < 2; i++) {
		t[i] = bench_kthread_on(bench_kplayer_fn, &p[i], bench_cpu,
					i ? "kcoro_bench_pp1" : "kcoro_bench_pp0");
		if (IS_ERR(t[i])) {
			if (i)
				kthread_stop(t[0]);
			return PTR_ERR(t[i]);
		}
	}
	wake_up_process(t[1]);
	wake_up_process(t[0]);
	wait_for_completion(&kp.done);
	kthread_stop(t[0]);
	kthread_stop(t[1]);
	*ns = kp.end - kp.start;
	return 0;
}

/* kcoro_spawn() + kcoro_join() of an empty coroutine on bench_cpu. */
static int bench_spawn_loop(u64 ops, u64 *ns)
{
	struct kcoro_attr attr = { .cpu = bench_cpu };
	struct kcoro *co;
	u64 start, i;

	start = ktime_get_ns();
	for (i = 0; i < ops; i++) {
		co = kcoro_spawn(bench_coro_nop_fn, NULL, &attr);
		if (IS_ERR(co))
			return PTR_ERR(co);
		kcoro_join(co);
		kcoro_put(co);
	}
	*ns = ktime_get_ns() - start;
	return 0;
}

struct bench_spawner {
	u64 ops;
	u64 ns;
};

static long bench_spawner_fn(void *arg)
{
	struct bench_spawner *s = arg;

	return bench_spawn_loop(s->ops, &s->ns);
}

/* The same loop in a parent coroutine: kcoro_join() parks the parent. */
static int bench_coro_spawn_in_coro(u64 ops, u64 *ns)
{
	struct bench_spawner s = { .ops = ops };
	struct kcoro_attr attr = { .cpu = bench_cpu };
	struct kcoro *co;
	long ret;

	co = kcoro_spawn(bench_spawner_fn, &s, &attr);
	if (IS_ERR(co))
		return PTR_ERR(co);
	ret = kcoro_join(co);
	kcoro_put(co);
	*ns = s.ns;
	return ret;
}

static int bench_kthread_spawn(u64 ops, u64 *ns)
{
	struct task_struct *t;
	u64 start, i;

	start = ktime_get_ns();
	for (i = 0; i < ops; i++) {
		t = kthread_run(bench_kthread_nop_fn, NULL, "kcoro_bench_nop");
		if (IS_ERR(t))
			return PTR_ERR(t);
		kthread_stop(t);
	}
	*ns = ktime_get_ns() - start;
	return 0;
}

static struct work_struct bench_work;

static void bench_work_fn(struct work_struct *work)
{
}

static int bench_work_spawn(u64 ops, u64 *ns)
{
	u64 start, i;

	start = ktime_get_ns();
	for (i = 0; i < ops; i++) {
		INIT_WORK(&bench_work, bench_work_fn);
		queue_work(system_wq, &bench_work);
		flush_work(&bench_work);
	}
	*ns = ktime_get_ns() - start;
	return 0;
}

/*
 * Message passing: @np producers send @ops messages in all to @nc
 * consumers, through a kcoro channel between coroutines, or through a
 * spinlock-protected kfifo with two wait queues between kthreads.
 */
struct bench_msg {
	struct kcoro_chan *ch;
	u64 per_producer;
	atomic64_t received;
	bool sync;			/* producer waits until taken (1x1 only) */
	/* kthread side */
	spinlock_t lock;		/* protects fifo */
	DECLARE_KFIFO_PTR(fifo, unsigned long);
	wait_queue_head_t not_empty;
	wait_queue_head_t not_full;
	atomic_t producers_left;
	struct completion done;
	atomic_t threads_left;
};

static long bench_chan_producer_fn(void *arg)
{
	struct bench_msg *m = arg;
	u64 i;

	for (i = 1; i <= m->per_producer; i++)
		if (kcoro_chan_send(m->ch, (void *)(unsigned long)i))
			return -EIO;
	return 0;
}

static long bench_chan_consumer_fn(void *arg)
{
	struct bench_msg *m = arg;
	void *v;

	while (!kcoro_chan_recv(m->ch, &v))
		atomic64_inc(&m->received);
	return 0;
}

static int bench_chan(long capacity, int np, int nc, u64 ops, u64 *ns)
{
	struct kcoro_chan_attr cattr = { .capacity = capacity };
	struct kcoro_attr attr = { .cpu = bench_cpu };
	struct bench_msg m = { .per_producer = ops / np };
	struct kcoro *co[4];
	int i, n = 0, ret = 0;
	u64 start;

	m.ch = kcoro_chan_create(&cattr);
	if (IS_ERR(m.ch))
		return PTR_ERR(m.ch);
	start = ktime_get_ns();
	for (i = 0; i < np + nc; i++) {
		co[n] = kcoro_spawn(i < np ? bench_chan_producer_fn :
				    bench_chan_consumer_fn, &m, &attr);
		if (IS_ERR(co[n])) {
			ret = PTR_ERR(co[n]);
			break;
		}
		n++;
	}
	/* Producers first: once they are done, close so consumers end. */
	for (i = 0; i < n; i++) {
		if (i == np || (ret && i == n - 1))
			kcoro_chan_close(m.ch);
		if (kcoro_join(co[i]) && !ret)
			ret = -EIO;
		kcoro_put(co[i]);
	}
	if (n <= np)
		kcoro_chan_close(m.ch);
	*ns = ktime_get_ns() - start;
	if (!ret && atomic64_read(&m.received) != m.per_producer * np)
		ret = -EIO;
	kcoro_chan_put(m.ch);
	return ret;
}

static int bench_kfifo_producer_fn(void *arg)
{
	struct bench_msg *m = arg;
	unsigned long i;
	bool put;

	for (i = 1; i <= m->per_producer; i++) {
		for (;;) {
			spin_lock(&m->lock);
			put = kfifo_put(&m->fifo, i);
			spin_unlock(&m->lock);
			if (put)
				break;
			wait_event(m->not_full, !kfifo_is_full(&m->fifo));
		}
		wake_up(&m->not_empty);
		/* Rendezvous: return only once the consumer has taken it. */
		if (m->sync)
			wait_event(m->not_full,
				   atomic64_read(&m->received) >= i);
	}
	if (atomic_dec_and_test(&m->producers_left))
		wake_up_all(&m->not_empty);
	if (atomic_dec_and_test(&m->threads_left))
		complete(&m->done);
	return bench_kthread_idle();
}

static int bench_kfifo_consumer_fn(void *arg)
{
	struct bench_msg *m = arg;
	unsigned long v;
	bool got;

	for (;;) {
		spin_lock(&m->lock);
		got = kfifo_get(&m->fifo, &v);
		spin_unlock(&m->lock);
		if (got) {
			atomic64_inc(&m->received);
			wake_up(&m->not_full);
			continue;
		}
		if (!atomic_read(&m->producers_left) && kfifo_is_empty(&m->fifo))
			break;
		wait_event(m->not_empty, !kfifo_is_empty(&m->fifo) ||
			   !atomic_read(&m->producers_left));
	}
	if (atomic_dec_and_test(&m->threads_left))
		complete(&m->done);
	return bench_kthread_idle();
}

/*
 * The kthread side.  With @sync (one producer only) this is a true
 * rendezvous, what a rendezvous channel's send does: the producer puts one
 * message, wakes the consumer and sleeps until the consumer has taken it,
 * so every message costs a switch to the consumer and one back.  Without
 * it the producer sleeps only when the kfifo is full: a kfifo of size 2 is
 * then a buffered(2) channel, where one switch can carry two messages, and
 * is kept as an extra row (it is what the rendezvous row used to compare
 * against).
 */
static int bench_kfifo(unsigned int size, bool sync, int np, int nc, u64 ops,
		       u64 *ns)
{
	struct bench_msg m = { .per_producer = ops / np, .sync = sync };
	struct task_struct *t[4];
	int i, n = 0, ret;
	u64 start;

	ret = kfifo_alloc(&m.fifo, size, GFP_KERNEL);
	if (ret)
		return ret;
	spin_lock_init(&m.lock);
	init_waitqueue_head(&m.not_empty);
	init_waitqueue_head(&m.not_full);
	init_completion(&m.done);
	atomic_set(&m.producers_left, np);
	atomic_set(&m.threads_left, np + nc);
	for (i = 0; i < np + nc; i++) {
		t[n] = bench_kthread_on(i < np ? bench_kfifo_producer_fn :
					bench_kfifo_consumer_fn, &m, bench_cpu,
					"kcoro_bench_fifo");
		if (IS_ERR(t[n])) {
			ret = PTR_ERR(t[n]);
			break;
		}
		n++;
	}
	if (ret) {
		for (i = 0; i < n; i++)
			kthread_stop(t[i]);
		kfifo_free(&m.fifo);
		return ret;
	}
	start = ktime_get_ns();
	for (i = 0; i < n; i++)
		wake_up_process(t[i]);
	wait_for_completion(&m.done);
	*ns = ktime_get_ns() - start;
	for (i = 0; i < n; i++)
		kthread_stop(t[i]);
	if (atomic64_read(&m.received) != m.per_producer * np)
		ret = -EIO;
	kfifo_free(&m.fifo);
	return ret;
}

static int bench_chan_rv(u64 ops, u64 *ns)
{
	return bench_chan(KCORO_CHAN_RENDEZVOUS, 1, 1, ops, ns);
}

/* kfifo_alloc() needs two slots at least; a rendezvous uses one. */
static int bench_kfifo_rv(u64 ops, u64 *ns)
{
	return bench_kfifo(2, true, 1, 1, ops, ns);
}

static int bench_kfifo_2(u64 ops, u64 *ns)
{
	return bench_kfifo(2, false, 1, 1, ops, ns);
}

static int bench_chan_1x1(u64 ops, u64 *ns)
{
	return bench_chan(64, 1, 1, ops, ns);
}

static int bench_kfifo_1x1(u64 ops, u64 *ns)
{
	return bench_kfifo(64, false, 1, 1, ops, ns);
}

static int bench_chan_2x2(u64 ops, u64 *ns)
{
	return bench_chan(64, 2, 2, ops, ns);
}

static int bench_kfifo_2x2(u64 ops, u64 *ns)
{
	return bench_kfifo(64, false, 2, 2, ops, ns);
}

/*
 * CPU-bound work: STEAL_ITEMS items share @ops iterations of a xorshift
 * loop, with a scheduling point every STEAL_SLICE iterations (kcoro_yield()
 * in a coroutine, cond_resched() in a work item): a coroutine that never
 * suspends cannot be taken off its CPU.  One run at a time.
 */
enum {
	S_STEAL,
	S_PINNED,
	S_WQ,
	S_NR
};

static struct {
	u64 per_item;
	atomic64_t sink;		/* keeps the loop's result alive */
	/* Of the fastest run of each kind: */
	u64 best_ns[S_NR];
	unsigned int cpus[S_NR];	/* how many CPUs ran some work */
	unsigned int busiest[S_NR];	/* % of the slices the busiest ran */
	u64 tail_ns[S_NR];		/* first CPU out of work to the end */
	struct kcoro *co[STEAL_ITEMS];
	struct work_struct work[STEAL_ITEMS];
} bench_st;

/* What each CPU ran in this run: slices, and when it ended the last. */
struct bench_cpu_work {
	unsigned long slices;
	u64 last;
};

static DEFINE_PER_CPU(struct bench_cpu_work, bench_cpu_work);

static u64 bench_spin(u64 x, u64 n)
{
	while (n--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

static void bench_steal_item(bool coro)
{
	u64 left = bench_st.per_item, x = 1, n;

	while (left) {
		n = min_t(u64, left, STEAL_SLICE);
		x = bench_spin(x, n);
		left -= n;
		this_cpu_inc(bench_cpu_work.slices);
		this_cpu_write(bench_cpu_work.last, ktime_get_ns());
		if (coro)
			kcoro_yield();
		else
			cond_resched();
	}
	atomic64_add(x, &bench_st.sink);
}

static long bench_steal_coro_fn(void *arg)
{
	bench_steal_item(true);
	return 0;
}

static void bench_steal_work_fn(struct work_struct *work)
{
	bench_steal_item(false);
}

static void bench_steal_begin(u64 ops)
{
	int cpu;

	bench_st.per_item = div_u64(ops, STEAL_ITEMS);
	for_each_possible_cpu(cpu)
		per_cpu(bench_cpu_work, cpu).slices = 0;
}

/* Where the work ran, if this is the fastest run of @kind so far. */
static void bench_steal_end(int kind, u64 ns)
{
	u64 first_out = U64_MAX, last_out = 0;
	unsigned long total = 0, most = 0;
	struct bench_cpu_work *w;
	unsigned int cpus = 0;
	int cpu;

	if (ns >= bench_st.best_ns[kind])
		return;
	for_each_possible_cpu(cpu) {
		w = per_cpu_ptr(&bench_cpu_work, cpu);
		if (!w->slices)
			continue;
		cpus++;
		total += w->slices;
		most = max(most, w->slices);
		first_out = min(first_out, w->last);
		last_out = max(last_out, w->last);
	}
	bench_st.best_ns[kind] = ns;
	bench_st.cpus[kind] = cpus;
	bench_st.busiest[kind] = total ? most * 100 / total : 0;
	bench_st.tail_ns[kind] = cpus ? last_out - first_out : 0;
}

/* Spawn the items as coroutines on @cpu, or KCORO_CPU_ANY; join them all. */
static int bench_steal_coros(int cpu, int kind, u64 ops, u64 *ns)
{
	struct kcoro_attr attr = { .cpu = cpu };
	int i, n, ret = 0;
	u64 start;

	bench_steal_begin(ops);
	start = ktime_get_ns();
	for (n = 0; n < STEAL_ITEMS; n++) {
		bench_st.co[n] = kcoro_spawn(bench_steal_coro_fn, NULL, &attr);
		if (IS_ERR(bench_st.co[n])) {
			ret = PTR_ERR(bench_st.co[n]);
			break;
		}
	}
	for (i = 0; i < n; i++) {
		kcoro_join(bench_st.co[i]);
		kcoro_put(bench_st.co[i]);
	}
	*ns = ktime_get_ns() - start;
	bench_steal_end(kind, *ns);
	return ret;
}

/* From the kthread on bench_cpu: they start there, stealing spreads them. */
static int bench_steal_any(u64 ops, u64 *ns)
{
	return bench_steal_coros(KCORO_CPU_ANY, S_STEAL, ops, ns);
}

static int bench_steal_pinned(u64 ops, u64 *ns)
{
	return bench_steal_coros(bench_cpu, S_PINNED, ops, ns);
}

static int bench_steal_wq(u64 ops, u64 *ns)
{
	struct workqueue_struct *wq;
	u64 start;
	int i;

	wq = alloc_workqueue("kcoro_bench", WQ_UNBOUND, 0);
	if (!wq)
		return -ENOMEM;
	bench_steal_begin(ops);
	start = ktime_get_ns();
	for (i = 0; i < STEAL_ITEMS; i++) {
		INIT_WORK(&bench_st.work[i], bench_steal_work_fn);
		queue_work(wq, &bench_st.work[i]);
	}
	flush_workqueue(wq);
	*ns = ktime_get_ns() - start;
	bench_steal_end(S_WQ, *ns);
	destroy_workqueue(wq);
	return 0;
}

enum {
	B_YIELD,
	B_PARK,
	B_KTHREAD_PAIR,
	B_SPAWN_THREAD,
	B_SPAWN_CORO,
	B_KTHREAD_RUN,
	B_WORK,
	B_CHAN_RV,
	B_KFIFO_RV,
	B_KFIFO_2,
	B_CHAN_1X1,
	B_KFIFO_1X1,
	B_CHAN_2X2,
	B_KFIFO_2X2,
	B_NR
};

static int (* const bench_runs[B_NR])(u64 ops, u64 *ns) = {
	[B_YIELD]		= bench_coro_yield,
	[B_PARK]		= bench_coro_park,
	[B_KTHREAD_PAIR]	= bench_kthread_pair,
	[B_SPAWN_THREAD]	= bench_spawn_loop,
	[B_SPAWN_CORO]		= bench_coro_spawn_in_coro,
	[B_KTHREAD_RUN]		= bench_kthread_spawn,
	[B_WORK]		= bench_work_spawn,
	[B_CHAN_RV]		= bench_chan_rv,
	[B_KFIFO_RV]		= bench_kfifo_rv,
	[B_KFIFO_2]		= bench_kfifo_2,
	[B_CHAN_1X1]		= bench_chan_1x1,
	[B_KFIFO_1X1]		= bench_kfifo_1x1,
	[B_CHAN_2X2]		= bench_chan_2x2,
	[B_KFIFO_2X2]		= bench_kfifo_2x2,
};

/*
 * The measurements' short names, for only= ("make profile BENCH=NAME"
 * lists them from here: one per line, the comment says what it runs).
 */
static const char * const bench_keys[B_NR] = {
	[B_YIELD]		= "yield",		/* kcoro_yield() ping-pong, 2 coroutines */
	[B_PARK]		= "park",		/* kcoro_park()/kcoro_unpark() ping-pong */
	[B_KTHREAD_PAIR]	= "completion",		/* completion ping-pong, 2 kthreads */
	[B_SPAWN_THREAD]	= "spawn",		/* spawn+join from a kthread */
	[B_SPAWN_CORO]		= "spawn-coro",		/* the same from a coroutine */
	[B_KTHREAD_RUN]		= "kthread-run",	/* kthread_run()+kthread_stop() */
	[B_WORK]		= "work",		/* queue_work()+flush_work() */
	[B_CHAN_RV]		= "chan-rv",		/* rendezvous channel, 2 coroutines */
	[B_KFIFO_RV]		= "kfifo-rv",		/* kfifo+wq rendezvous, 2 kthreads */
	[B_KFIFO_2]		= "kfifo-2",		/* kfifo(2)+wait queues, 2 kthreads */
	[B_CHAN_1X1]		= "chan-1x1",		/* buffered(64) channel, 1x1 coroutines */
	[B_KFIFO_1X1]		= "kfifo-1x1",		/* kfifo(64)+spinlock, 1x1 kthreads */
	[B_CHAN_2X2]		= "chan-2x2",		/* buffered(64) channel, 2x2 coroutines */
	[B_KFIFO_2X2]		= "kfifo-2x2",		/* kfifo(64)+spinlock, 2x2 kthreads */
};

static int (* const bench_steal_runs[S_NR])(u64 ops, u64 *ns) = {
	[S_STEAL]	= bench_steal_any,
	[S_PINNED]	= bench_steal_pinned,
	[S_WQ]		= bench_steal_wq,
};

static const char * const bench_steal_names[S_NR] = {
	[S_STEAL]	= "coroutines spread by stealing",
	[S_PINNED]	= "coroutines pinned to the CPU",
	[S_WQ]		= "unbound workqueue items",
};

/* Find an operation count that takes about BENCH_TARGET_NS. */
static void bench_calibrate(int (*run)(u64 ops, u64 *ns),
			    struct bench_result *res)
{
	u64 ops = BENCH_MIN_OPS, ns = 0;

	for (;;) {
		res->err = run(ops, &ns);
		if (res->err)
			return;
		if (ns >= BENCH_CALIB_NS || ops >= BENCH_MAX_OPS)
			break;
		ops *= 4;
	}
	ops = div64_u64(ops * BENCH_TARGET_NS, max(ns, 1ULL));
	res->ops = round_up(clamp(ops, BENCH_MIN_OPS, BENCH_MAX_OPS), 2);
}

static int bench_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static u64 bench_median(u64 *v, int n)
{
	sort(v, n, sizeof(*v), bench_cmp_u64, NULL);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Picoseconds per operation of a run of @ns. */
static u64 bench_run_ps(const struct bench_result *res, u64 ns)
{
	return div64_u64(ns * 1000, max(res->ops, 1ULL));
}

/*
 * What a row shows of one side: the median run in ns per operation, or
 * in us per run (@wall).
 */
static u64 bench_shown(const struct bench_result *res, const u64 *ns,
		       int runs, bool wall)
{
	u64 v[BENCH_MAX_RUNS];
	int r;

	if (!runs)
		return 0;
	for (r = 0; r < runs; r++)
		v[r] = wall ? ns[r] : bench_run_ps(res, ns[r]);
	return div_u64(bench_median(v, runs), wall ? NSEC_PER_USEC : 1000);
}

/**
 * bench_ratio - how much faster the kcoro side of a row is, how sure that is
 * @res: the measurements
 * @row: the row
 * @spread: set to the spread of the ratio, in %
 *
 * In each round the row's two measurements ran back to back, so their
 * ratio sees the same host; the ratio of a row is the median of those
 * per-round ratios.  Its spread is the width of a ~95% confidence interval
 * of that median, relative to it: the order statistics k and n - 1 - k of
 * the n sorted ratios, k = (n - 1.96 sqrt(n)) / 2 (a sign test).  Up to 7
 * runs k is 0 and this is (max - min) / median; more runs narrow it, which
 * is what lets a noisy row settle.
 *
 * Return: the ratio in thousandths (the baseline's time per operation
 * over the kcoro side's).
 */
static u64 bench_ratio(const struct bench_result *res,
		       const struct bench_row *row, unsigned int *spread)
{
	u64 v[BENCH_MAX_RUNS], med;
	int n = row->runs, r, k;

	*spread = 0;
	if (!n)
		return 0;
	for (r = 0; r < n; r++)
		v[r] = div64_u64(bench_run_ps(&res[row->b], row->b_ns[r]) * 1000,
				 max(bench_run_ps(&res[row->a], row->a_ns[r]), 1ULL));
	med = bench_median(v, n);
	/* the largest k with (n - 2k)^2 >= 1.96^2 n */
	for (k = 0; 2 * (k + 1) <= n &&
	     (n - 2 * (k + 1)) * (n - 2 * (k + 1)) * 10000 >= 38416 * n;)
		k++;
	*spread = div64_u64((v[n - 1 - k] - v[k]) * 100, max(med, 1ULL));
	return med;
}

static bool bench_settled(const struct bench_result *res,
			  const struct bench_row *rows, int nrows)
{
	unsigned int spread;
	int i;

	for (i = 0; i < nrows; i++) {
		if (res[rows[i].a].err || res[rows[i].b].err)
			continue;
		bench_ratio(res, &rows[i], &spread);
		if (spread >= BENCH_SETTLED_PCT)
			return false;
	}
	return true;
}

/* Run measurement @i of @runs once; false when it failed. */
static bool bench_run(int (* const *runs)(u64 ops, u64 *ns),
		      struct bench_result *res, int i, u64 *ns)
{
	if (!res[i].err)
		res[i].err = runs[i](res[i].ops, ns);
	return !res[i].err;
}

/*
 * Rounds: in each, every row runs its two calibrated measurements back to
 * back (the baseline first in every other round), so the two sides of a
 * ratio see the same (emulated, shared) host, whatever it does between
 * rows.  BENCH_MIN_RUNS rounds, then more while a ratio of @rows has not
 * settled, up to BENCH_MAX_RUNS.
 */
static void bench_interleave(int (* const *runs)(u64 ops, u64 *ns),
			     struct bench_result *res,
			     struct bench_row *rows, int nrows)
{
	struct bench_row *row;
	u64 a = 0, b = 0;
	bool ok;
	int i, r;

	for (i = 0; i < nrows; i++)
		rows[i].runs = 0;
	for (r = 0; r < BENCH_MAX_RUNS; r++) {
		if (r >= BENCH_MIN_RUNS && bench_settled(res, rows, nrows))
			break;
		for (i = 0; i < nrows; i++) {
			row = &rows[i];
			if (r & 1)
				ok = bench_run(runs, res, row->b, &b) &&
				     bench_run(runs, res, row->a, &a);
			else
				ok = bench_run(runs, res, row->a, &a) &&
				     bench_run(runs, res, row->b, &b);
			if (!ok)
				continue;
			row->a_ns[row->runs] = a;
			row->b_ns[row->runs] = b;
			row->runs++;
		}
	}
}

/* "36.5x +-  4%", or "noisy" for a ratio that did not settle. */
static void bench_ratio_str(char *buf, size_t len, u64 milli,
			    unsigned int spread)
{
	u64 r10 = div_u64(milli + 50, 100);

	if (spread >= BENCH_SETTLED_PCT)
		snprintf(buf, len, "  noisy +-%3u%%", spread);
	else
		snprintf(buf, len, "%6llu.%01llux +-%3u%%", r10 / 10, r10 % 10,
			 spread);
}

/*
 * One row: @a (kcoro) against @b (the kernel's mechanism), each shown
 * divided by @div, in @unit; ratio b / a.
 */
static void bench_pair(const char *a_name, u64 a, const char *b_name, u64 b,
		       u64 div, const char *unit)
{
	u64 r10 = div64_u64(b * 10 + a / 2, max(a, 1ULL));

	pr_info("%-40s %10llu %-2s   vs %-28s %10llu %-2s   ratio %4llu.%01llux\n",
		a_name, div64_u64(a, div), unit, b_name, div64_u64(b, div), unit,
		r10 / 10, r10 % 10);
}

static bool bench_failed(const char *a_name, const struct bench_result *a,
			 const char *b_name, const struct bench_result *b)
{
	if (!a->err && !b->err)
		return false;
	pr_info("%-40s failed (%d)  vs %-28s failed (%d)\n",
		a_name, a->err, b_name, b->err);
	return true;
}

/*
 * The rows of @rows: the median time per operation (@wall: per run, in
 * us) of each side, the median ratio and its spread; then, for "make
 * bench"'s targets table (tools/bench/targets.sh), one "ratio:" line per
 * row that the make rule keeps out of the table.
 */
static void bench_rows(const struct bench_result *res,
		       const struct bench_row *rows, int nrows, bool wall)
{
	const struct bench_row *row;
	unsigned int spread;
	char buf[32];
	u64 milli;
	int i;

	for (i = 0; i < nrows; i++) {
		row = &rows[i];
		if (bench_failed(row->a_name, &res[row->a], row->b_name,
				 &res[row->b]))
			continue;
		milli = bench_ratio(res, row, &spread);
		bench_ratio_str(buf, sizeof(buf), milli, spread);
		pr_info("%-40s %10llu %-2s   vs %-28s %10llu %-2s   ratio %s\n",
			row->a_name,
			bench_shown(&res[row->a], row->a_ns, row->runs, wall),
			wall ? "us" : "ns", row->b_name,
			bench_shown(&res[row->b], row->b_ns, row->runs, wall),
			wall ? "us" : "ns", buf);
	}
	for (i = 0; i < nrows; i++) {
		row = &rows[i];
		if (res[row->a].err || res[row->b].err || !row->runs)
			continue;
		milli = bench_ratio(res, row, &spread);
		pr_info("ratio: %s | %s | %llu.%03llu | %u | %s\n",
			row->a_name, row->b_name, milli / 1000, milli % 1000,
			spread, spread < BENCH_SETTLED_PCT ? "settled" : "noisy");
	}
}

/* Memory: idle coroutines and idle kthreads, from the free page count. */
struct bench_mem {
	long coro_bytes;	/* per idle coroutine, measured */
	long kthread_bytes;	/* per idle kthread, measured */
	long fresh_stacks;	/* stacks vmalloc'ed for the coroutines */
	long cached_stacks;	/* stacks in kcoro's cache before */
	int err;
};

static atomic_t mem_started;
static bool mem_stop;

/*
 * Free memory: the free page count plus the pages sitting on the per-CPU
 * free lists, which NR_FREE_PAGES counts as allocated.  Without them the
 * result would be off by up to a few MB, as those lists fill and drain.
 */
static long bench_free_bytes(void)
{
	long pages = global_zone_page_state(NR_FREE_PAGES);
	struct zone *zone;
	int nid, z, cpu;

	/* Let RCU-deferred frees settle first. */
	rcu_barrier();
	msleep(200);
	for_each_online_node(nid) {
		for (z = 0; z < MAX_NR_ZONES; z++) {
			zone = &NODE_DATA(nid)->node_zones[z];
			if (!populated_zone(zone))
				continue;
			for_each_possible_cpu(cpu)
				pages += READ_ONCE(per_cpu_ptr(zone->per_cpu_pageset,
							       cpu)->count);
		}
	}
	return pages << PAGE_SHIFT;
}

static void bench_wait_started(int n)
{
	while (atomic_read(&mem_started) < n)
		msleep(20);
}

static long bench_idle_coro_fn(void *arg)
{
	atomic_inc(&mem_started);
	/* Pairs with the release in bench_mem_coros(). */
	while (!smp_load_acquire(&mem_stop))
		kcoro_park();
	return 0;
}

static int bench_idle_kthread_fn(void *arg)
{
	atomic_inc(&mem_started);
	return bench_kthread_idle();
}

static void bench_mem_coros(struct bench_mem *m)
{
	struct kcoro_attr attr = { .cpu = bench_cpu };
	struct kcoro_stats before, after;
	struct kcoro **co;
	long free;
	int i, n;

	co = kcalloc(MEM_COROS, sizeof(*co), GFP_KERNEL);
	if (!co) {
		m->err = -ENOMEM;
		return;
	}
	atomic_set(&mem_started, 0);
	WRITE_ONCE(mem_stop, false);
	kcoro_get_stats(&before);
	free = bench_free_bytes();
	for (n = 0; n < MEM_COROS; n++) {
		co[n] = kcoro_spawn(bench_idle_coro_fn, NULL, &attr);
		if (IS_ERR(co[n])) {
			m->err = PTR_ERR(co[n]);
			break;
		}
	}
	bench_wait_started(n);
	if (!m->err) {
		m->coro_bytes = (free - bench_free_bytes()) / n;
		kcoro_get_stats(&after);
		m->fresh_stacks = after.stacks - before.stacks;
		m->cached_stacks = before.cached_stacks;
	}
	/* Pairs with the acquire in bench_idle_coro_fn(). */
	smp_store_release(&mem_stop, true);
	for (i = 0; i < n; i++)
		kcoro_unpark(co[i]);
	for (i = 0; i < n; i++) {
		kcoro_join(co[i]);
		kcoro_put(co[i]);
	}
	kfree(co);
}

static void bench_mem_kthreads(struct bench_mem *m)
{
	struct task_struct **t;
	long free;
	int i, n;

	t = kcalloc(MEM_KTHREADS, sizeof(*t), GFP_KERNEL);
	if (!t) {
		m->err = -ENOMEM;
		return;
	}
	atomic_set(&mem_started, 0);
	free = bench_free_bytes();
	for (n = 0; n < MEM_KTHREADS; n++) {
		t[n] = kthread_run(bench_idle_kthread_fn, NULL,
				   "kcoro_bench_idle");
		if (IS_ERR(t[n])) {
			m->err = PTR_ERR(t[n]);
			break;
		}
	}
	bench_wait_started(n);
	if (!m->err)
		m->kthread_bytes = (free - bench_free_bytes()) / n;
	for (i = 0; i < n; i++)
		kthread_stop(t[i]);
	kfree(t);
}

static void bench_mem_row(const struct bench_mem *m)
{
	if (m->err || m->coro_bytes <= 0 || m->kthread_bytes <= 0) {
		pr_info("memory measurement failed (%d): %ld B per coroutine, %ld B per kthread\n",
			m->err, m->coro_bytes, m->kthread_bytes);
		return;
	}
	bench_pair("memory per idle coroutine", m->coro_bytes,
		   "memory per idle kthread", m->kthread_bytes, 1, "B");
	pr_info("  coroutine in theory: kcoro_object_size() %zu + THREAD_SIZE %lu = %zu B\n",
		kcoro_object_size(), THREAD_SIZE,
		kcoro_object_size() + THREAD_SIZE);
	pr_info("  (drop in free pages incl. per-CPU lists / count: %d coroutines, %ld fresh vmalloc'ed stacks, %ld were cached; %d kthreads)\n",
		MEM_COROS, m->fresh_stacks, m->cached_stacks, MEM_KTHREADS);
}

static const char *bench_machine(void)
{
#ifdef CONFIG_X86
	if (hypervisor_is_type(X86_HYPER_KVM))
		return "KVM guest: near native";
	if (boot_cpu_has(X86_FEATURE_HYPERVISOR))
		return "QEMU TCG (emulated CPU): only the ratios are meaningful";
	return "not under QEMU TCG";
#else
	return "machine not identified: compare ratios only";
#endif
}

/*
 * Blocking.  BLOCK_SIBLINGS coroutines of bench_cpu yield in a loop,
 * counting their steps, while another coroutine of that CPU sleeps
 * BLOCK_SLEEPS times: in kcoro_sleep_ns() (a kcoro suspension, the
 * reference), or in msleep(), which blocks its scheduler kthread, with the
 * hand-off on and off.  The rows are the siblings' steps per ms of sleep,
 * and how long after the sleeper blocked a sibling ran again.
 */
enum { K_NATIVE, K_HANDOFF, K_BLOCKED, K_NR };

static const char * const bench_block_names[K_NR] = {
	[K_NATIVE]	= "sleeping in kcoro_sleep_ns()",
	[K_HANDOFF]	= "blocked in msleep(), with hand-off",
	[K_BLOCKED]	= "blocked in msleep(), without",
};

static struct {
	long steps;		/* the siblings', all on bench_cpu */
	bool stop;
	u64 blocked_at;		/* when the sleeper went to sleep, or 0 */
	u64 resume_ns;		/* sum of: blocked_at to a sibling's step */
	int resumed;
	long during;		/* sibling steps during the sleeps */
	u64 slept_ns;
} bench_blk;

static long bench_block_sibling_fn(void *arg)
{
	u64 at;

	while (!READ_ONCE(bench_blk.stop)) {
		WRITE_ONCE(bench_blk.steps, bench_blk.steps + 1);
		at = READ_ONCE(bench_blk.blocked_at);
		if (at) {
			WRITE_ONCE(bench_blk.blocked_at, 0);
			bench_blk.resume_ns += ktime_get_ns() - at;
			bench_blk.resumed++;
		}
		kcoro_yield();
	}
	return 0;
}

static long bench_block_sleeper_fn(void *arg)
{
	int kind = (long)arg, i;
	long steps;
	u64 t0;

	for (i = 0; i < BLOCK_SLEEPS; i++) {
		kcoro_yield();
		steps = READ_ONCE(bench_blk.steps);
		t0 = ktime_get_ns();
		WRITE_ONCE(bench_blk.blocked_at, t0);
		if (kind == K_NATIVE)
			kcoro_sleep_ns(BLOCK_SLEEP_MS * NSEC_PER_MSEC);
		else
			msleep(BLOCK_SLEEP_MS);
		WRITE_ONCE(bench_blk.blocked_at, 0);
		bench_blk.slept_ns += ktime_get_ns() - t0;
		bench_blk.during += READ_ONCE(bench_blk.steps) - steps;
	}
	WRITE_ONCE(bench_blk.stop, true);
	return 0;
}

static void bench_block_row(int kind)
{
	struct kcoro_attr attr = { .cpu = bench_cpu };
	struct kcoro *co[BLOCK_SIBLINGS + 1];
	bool was = kcoro_set_handoff(kind != K_BLOCKED);
	int i, n;

	memset(&bench_blk, 0, sizeof(bench_blk));
	for (n = 0; n <= BLOCK_SIBLINGS; n++) {
		co[n] = kcoro_spawn(n < BLOCK_SIBLINGS ? bench_block_sibling_fn :
				    bench_block_sleeper_fn, (void *)(long)kind, &attr);
		if (IS_ERR(co[n])) {
			WRITE_ONCE(bench_blk.stop, true);
			break;
		}
	}
	for (i = 0; i < n; i++) {
		kcoro_join(co[i]);
		kcoro_put(co[i]);
	}
	kcoro_set_handoff(was);
	if (n <= BLOCK_SIBLINGS) {
		pr_info("  %-38s failed (%ld)\n", bench_block_names[kind],
			PTR_ERR(co[n]));
		return;
	}
	pr_info("  %-38s %10llu steps/ms   %6llu us to resume (%d of %d sleeps)\n",
		bench_block_names[kind],
		div64_u64(bench_blk.during * NSEC_PER_MSEC, max(bench_blk.slept_ns, 1ULL)),
		bench_blk.resumed ? div_u64(bench_blk.resume_ns, bench_blk.resumed) / 1000 : 0,
		bench_blk.resumed, BLOCK_SLEEPS);
}

static void bench_block_all(void)
{
	struct kcoro_stats before, after;
	int kind;

	pr_info("blocking: %d sibling coroutines yield on cpu%d while another sleeps %d x %d ms; the siblings' steps per ms of sleep, and the mean time from going to sleep to a sibling's next step\n",
		BLOCK_SIBLINGS, bench_cpu, BLOCK_SLEEPS, BLOCK_SLEEP_MS);
	kcoro_get_stats(&before);
	for (kind = 0; kind < K_NR; kind++)
		bench_block_row(kind);
	kcoro_get_stats(&after);
	pr_info("  (%llu hand-offs, %llu missed for an empty pool)\n",
		after.handoffs - before.handoffs,
		after.handoff_missed - before.handoff_missed);
}

/* The one-CPU rows; "make bench"'s targets table finds them by name. */
static struct bench_row bench_table_rows[] = {
	{ B_YIELD, B_KTHREAD_PAIR, "yield ping-pong, 2 coroutines (switch)",
	  "completion ping-pong, 2 kt" },
	{ B_PARK, B_KTHREAD_PAIR, "park/unpark ping-pong, 2 coroutines",
	  "completion ping-pong, 2 kt" },
	{ B_SPAWN_THREAD, B_KTHREAD_RUN, "spawn+join from a kthread",
	  "kthread_run+kthread_stop" },
	{ B_SPAWN_CORO, B_KTHREAD_RUN, "spawn+join from a coroutine (same CPU)",
	  "kthread_run+kthread_stop" },
	{ B_SPAWN_THREAD, B_WORK, "spawn+join from a kthread",
	  "queue_work+flush_work" },
	{ B_SPAWN_CORO, B_WORK, "spawn+join from a coroutine (same CPU)",
	  "queue_work+flush_work" },
	{ B_CHAN_RV, B_KFIFO_RV, "rendezvous send+recv, 2 coroutines",
	  "kfifo+wq rendezvous, 2 kt" },
	/* Not a rendezvous: kfifo(2) buffers, see bench_kfifo(). */
	{ B_CHAN_RV, B_KFIFO_2, "  (same, vs a buffered(2) baseline)",
	  "kfifo(2)+waitqueue, 2 kt" },
	{ B_CHAN_1X1, B_KFIFO_1X1, "buffered(64) chan, 1x1 coroutines",
	  "kfifo(64)+spinlock, 1x1 kt" },
	{ B_CHAN_2X2, B_KFIFO_2X2, "buffered(64) chan, 2x2 coroutines",
	  "kfifo(64)+spinlock, 2x2 kt" },
};

static struct bench_result bench_res[B_NR];

/* Calibrate every measurement on its own, then interleave them. */
static void bench_measure_all(struct bench_result *res)
{
	int i;

	for (i = 0; i < B_NR; i++)
		bench_calibrate(bench_runs[i], &res[i]);
	bench_interleave(bench_runs, res, bench_table_rows,
			 ARRAY_SIZE(bench_table_rows));
}

/* The one-CPU rows and the memory rows. */
static void bench_table_all(void)
{
	struct bench_result *res = bench_res;
	struct bench_mem mem = { };

	/* First, while kcoro's stack cache is still empty. */
	bench_mem_coros(&mem);
	if (!mem.err)
		bench_mem_kthreads(&mem);
	bench_measure_all(res);

	pr_info("%s; %u CPU(s) online, all on cpu%d; %d rounds (%d to %d, until every ratio spreads under %d%%), each running the two sides of every row back to back, ~%llu ms each\n",
		bench_machine(), num_online_cpus(), bench_cpu,
		bench_table_rows[0].runs, BENCH_MIN_RUNS, BENCH_MAX_RUNS,
		BENCH_SETTLED_PCT, BENCH_TARGET_MS);
	pr_info("per op: the median round; ratio: the median of the per-round ratios; +-: its spread, the width of a ~95%% confidence interval of that median (up to 7 rounds: max - min) relative to it\n");
	pr_info("%-40s %13s   vs %-28s %13s   ratio\n",
		"kcoro", "per op", "kernel", "per op");
	bench_rows(res, bench_table_rows, ARRAY_SIZE(bench_table_rows), false);
	bench_mem_row(&mem);
	bench_block_all();
}

static struct bench_row bench_steal_rows[] = {
	{ S_STEAL, S_PINNED, "coroutines spread by stealing",
	  "coroutines pinned to the CPU" },
	{ S_STEAL, S_WQ, "coroutines spread by stealing",
	  "unbound workqueue items" },
};

/*
 * The stealing rows.  The same amount of work for the three kinds,
 * calibrated on the pinned one (one CPU does it all), so the wall times
 * compare directly: pinned / stealing is the speed-up stealing gives,
 * close to the CPU count at best.
 */
static void bench_steal_all(void)
{
	struct bench_result *res = bench_res;
	unsigned int cpus = num_online_cpus();
	int i;

	if (cpus < 2) {
		pr_info("work stealing: skipped, %u CPU online (it needs 2 or more)\n",
			cpus);
		return;
	}
	bench_calibrate(bench_steal_runs[S_PINNED], &res[S_PINNED]);
	for (i = 0; i < S_NR; i++) {
		res[i] = res[S_PINNED];
		bench_st.best_ns[i] = U64_MAX;
	}
	if (!res[S_PINNED].err)
		bench_interleave(bench_steal_runs, res, bench_steal_rows,
				 ARRAY_SIZE(bench_steal_rows));

	pr_info("work stealing: %u CPU(s) online; %d CPU-bound work items spawned from a kthread on cpu%d, a scheduling point every %d iterations; %d rounds\n",
		cpus, STEAL_ITEMS, bench_cpu, STEAL_SLICE,
		bench_steal_rows[0].runs);
	pr_info("%-40s %13s   vs %-28s %13s   ratio\n",
		"kcoro", "wall time", "baseline", "wall time");
	bench_rows(res, bench_steal_rows, ARRAY_SIZE(bench_steal_rows), true);
	pr_info("  (fastest runs: CPUs that ran the work, the busiest one's share, how long before the last the first CPU ran out of work)\n");
	for (i = 0; i < S_NR; i++)
		pr_info("  %-38s %u CPU(s), busiest %u%%, %llu us\n",
			bench_steal_names[i], bench_st.cpus[i],
			bench_st.busiest[i], div_u64(bench_st.tail_ns[i], NSEC_PER_USEC));
}

/*
 * The scale table: spawn, wake-all and join per coroutine for 1k, 10k and
 * 100k coroutines parked at once on bench_cpu.  The cost per coroutine
 * should not depend on how many others are parked or queued: the largest
 * size's cost must stay within SCALE_LIMIT times the smallest's.  Each
 * coroutine has a stack of its own (THREAD_SIZE), so 100k of them need a
 * VM with a few GB ("make bench-scale"); a size that does not fit in the
 * free memory is skipped rather than run into the OOM killer.
 */
static const int bench_scale_n[] = { 1000, 10000, 100000 };
#define SCALE_SIZES		ARRAY_SIZE(bench_scale_n)
#define SCALE_RUNS		3
#define SCALE_LIMIT		2

enum { SC_SPAWN, SC_WAKE, SC_JOIN, SC_NR };

static const char * const bench_scale_names[SC_NR] = {
	[SC_SPAWN]	= "spawn",
	[SC_WAKE]	= "wake-all",
	[SC_JOIN]	= "join",
};

/**
 * struct bench_scale - one run of the scale table
 * @n: coroutines spawned
 * @phase: the phase the coroutines may proceed to (SC_WAKE, then SC_JOIN)
 * @arrived: coroutines that reached their park in this phase
 * @all: completed by the coroutine that brings @arrived to @n
 */
struct bench_scale {
	int n;
	int phase;
	atomic_t arrived;
	struct completion all;
};

/*
 * Park once after the spawn and once after the wake-all; the last one to
 * arrive each time tells the driver.  The join phase's wake-up ends it.
 */
static long bench_scale_fn(void *arg)
{
	struct bench_scale *sc = arg;
	int phase;

	for (phase = SC_WAKE; phase <= SC_JOIN; phase++) {
		if (atomic_inc_return(&sc->arrived) == READ_ONCE(sc->n))
			complete(&sc->all);
		/* Pairs with the release in bench_scale_next(). */
		while (smp_load_acquire(&sc->phase) < phase)
			kcoro_park();
	}
	return 0;
}

/* Wait for every coroutine to arrive, waking now and then (hung tasks). */
static void bench_scale_wait(struct bench_scale *sc)
{
	while (!wait_for_completion_timeout(&sc->all, 10 * HZ))
		;
}

/* Let the @n coroutines of @co proceed to @phase and wake them all. */
static void bench_scale_next(struct bench_scale *sc, struct kcoro **co,
			     int n, int phase)
{
	int i;

	atomic_set(&sc->arrived, 0);
	reinit_completion(&sc->all);
	/* Pairs with the acquire in bench_scale_fn(). */
	smp_store_release(&sc->phase, phase);
	for (i = 0; i < n; i++)
		kcoro_unpark(co[i]);
}

/* @n coroutines through the three phases: add each phase's time to @ns. */
static int bench_scale_run(struct kcoro **co, int n, u64 *ns)
{
	struct kcoro_attr attr = { .cpu = bench_cpu };
	struct bench_scale sc = { .n = n, .phase = SC_SPAWN };
	int i, ret = 0;
	u64 t0, t1;

	atomic_set(&sc.arrived, 0);
	init_completion(&sc.all);
	/* No run pays for the stacks an earlier one freed (see below). */
	vm_unmap_aliases();
	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		co[i] = kcoro_spawn(bench_scale_fn, &sc, &attr);
		if (IS_ERR(co[i])) {
			ret = PTR_ERR(co[i]);
			/* The spawned ones go straight through to the end. */
			bench_scale_next(&sc, co, i, SC_JOIN);
			n = i;
			goto join;
		}
	}
	bench_scale_wait(&sc);
	t1 = ktime_get_ns();
	ns[SC_SPAWN] += t1 - t0;

	bench_scale_next(&sc, co, n, SC_WAKE);
	bench_scale_wait(&sc);
	t0 = ktime_get_ns();
	ns[SC_WAKE] += t0 - t1;

	bench_scale_next(&sc, co, n, SC_JOIN);
join:
	for (i = 0; i < n; i++) {
		kcoro_join(co[i]);
		kcoro_put(co[i]);
	}
	/*
	 * Stacks beyond kcoro's cache were vfree'd, and vmalloc unmaps
	 * their addresses lazily, in batches of tens of MB (one TLB flush
	 * each): finish that here, so that every size pays for its own
	 * stacks, the small ones included.
	 */
	vm_unmap_aliases();
	ns[SC_JOIN] += ktime_get_ns() - t0;
	return ret;
}

/*
 * Whether @n coroutines fit in three quarters of the free memory: a stack,
 * a page of slack for its page tables and vmalloc, and the object each.
 */
static bool bench_scale_fits(int n, long *need_mb)
{
	u64 need = (u64)n * (THREAD_SIZE + PAGE_SIZE + kcoro_object_size());
	struct sysinfo si;

	si_meminfo(&si);
	*need_mb = need >> 20;
	return need <= div_u64((u64)si.freeram * si.mem_unit * 3, 4);
}

static void bench_scale_all(void)
{
	u64 best[SC_NR][SCALE_SIZES], ns[SC_NR];
	struct kcoro_stats before, after;
	int sizes, s, run, p, total, err = 0;
	struct kcoro **co;
	long need_mb;

	for (sizes = 0; sizes < SCALE_SIZES; sizes++) {
		if (!bench_scale_fits(bench_scale_n[sizes], &need_mb)) {
			pr_info("scale: %d coroutines skipped, they need about %ld MB (give the VM more memory)\n",
				bench_scale_n[sizes], need_mb);
			break;
		}
	}
	if (!sizes)
		return;
	total = bench_scale_n[sizes - 1];
	co = kvmalloc_array(total, sizeof(*co), GFP_KERNEL);
	if (!co) {
		pr_info("scale: no memory for the table\n");
		return;
	}
	memset(best, 0xff, sizeof(best));
	kcoro_get_stats(&before);
	/*
	 * The sizes in turn, each over the same number of coroutines
	 * (the largest size): 1k coroutines timed once would fit between
	 * two times the host takes a vCPU away and look cheaper than 100k,
	 * which cannot.  Over the same stretch of time a busy host slows
	 * every size alike.
	 */
	for (run = 0; run < SCALE_RUNS && !err; run++) {
		for (s = 0; s < sizes && !err; s++) {
			int n = bench_scale_n[s], reps = total / n, i;

			memset(ns, 0, sizeof(ns));
			for (i = 0; i < reps && !err; i++)
				err = bench_scale_run(co, n, ns);
			for (p = 0; p < SC_NR && !err; p++)
				best[p][s] = min(best[p][s],
						 div_u64(ns[p], (u64)reps * n));
		}
	}
	kcoro_get_stats(&after);
	kvfree(co);
	if (err) {
		pr_info("scale: failed (%d)\n", err);
		return;
	}

	pr_info("scale: N coroutines parked at once on cpu%d, spawned, woken and joined by a kthread, each size repeated up to %d coroutines; %u CPU(s) online; best of %d runs, per coroutine\n",
		bench_cpu, total, num_online_cpus(), SCALE_RUNS);
	pr_info("  %-14s %10s %10s %10s\n", "coroutines",
		bench_scale_names[SC_SPAWN], bench_scale_names[SC_WAKE],
		bench_scale_names[SC_JOIN]);
	for (s = 0; s < sizes; s++)
		pr_info("  %-14d %7llu ns %7llu ns %7llu ns\n", bench_scale_n[s],
			best[SC_SPAWN][s], best[SC_WAKE][s], best[SC_JOIN][s]);
	if (sizes > 1) {
		char col[SC_NR][24];

		for (p = 0; p < SC_NR; p++) {
			u64 first = max(best[p][0], 1ULL), last = best[p][sizes - 1];

			/* last / first with two decimals */
			snprintf(col[p], sizeof(col[p]), "%llu.%02llux %s",
				 div64_u64(last, first),
				 div64_u64(last * 100, first) % 100,
				 last <= SCALE_LIMIT * first ? "PASS" : "MISS");
		}
		pr_info("  %-14s %10s %10s %10s   (%dk / %dk, target: <= %dx)\n",
			"ratio", col[SC_SPAWN], col[SC_WAKE], col[SC_JOIN],
			bench_scale_n[sizes - 1] / 1000, bench_scale_n[0] / 1000,
			SCALE_LIMIT);
	}
	pr_info("  (%ld stacks allocated now, %ld of them cached; %llu coroutines spawned)\n",
		after.stacks, after.cached_stacks, after.spawned - before.spawned);
}

/*
 * only=NAME: that one measurement, calibrated, then run again and again
 * for about bench_secs seconds, for a profiler watching the whole system.
 */
static void bench_profile(const char *name)
{
	struct bench_result *res = bench_res;
	u64 start, ns = 0, ops = 0, busy = 0;
	int i, k, runs = 0;

	for (k = 0; k < B_NR; k++)
		if (!strcmp(name, bench_keys[k]))
			break;
	if (k == B_NR) {
		pr_info("only=%s: no such measurement; they are:\n", name);
		for (i = 0; i < B_NR; i++)
			pr_info("  %s\n", bench_keys[i]);
		return;
	}
	bench_calibrate(bench_runs[k], &res[k]);
	start = ktime_get_ns();
	while (!res[k].err && ktime_get_ns() - start < bench_secs * NSEC_PER_SEC) {
		res[k].err = bench_runs[k](res[k].ops, &ns);
		ops += res[k].ops;
		busy += ns;
		runs++;
	}
	if (res[k].err) {
		pr_info("profile: %s failed (%d)\n", name, res[k].err);
		return;
	}
	pr_info("profile: %s: %d runs of %llu operations in %llu ms, %llu ns per operation (%s)\n",
		name, runs, res[k].ops, div_u64(busy, NSEC_PER_MSEC),
		div64_u64(busy, max(ops, 1ULL)), bench_machine());
}

static int bench_main(void *unused)
{
	if (bench_only) {
		bench_profile(bench_only);
		bench_table = false;
		bench_steal = false;
		bench_scale = false;
	}
	if (bench_table)
		bench_table_all();
	if (bench_steal)
		bench_steal_all();
	if (bench_scale)
		bench_scale_all();
	pr_info("done\n");

	kthread_complete_and_exit(&bench_done, 0);
}

static int __init kcoro_bench_init(void)
{
	struct task_struct *t;
	unsigned long left;

	bench_cpu = cpumask_last(cpu_online_mask);
	t = bench_kthread_on(bench_main, NULL, bench_cpu, "kcoro_bench");
	if (IS_ERR(t)) {
		pr_err("cannot start: %ld\n", PTR_ERR(t));
		return 0;
	}
	wake_up_process(t);
	/* Wake up now and then, so the hung-task detector stays quiet. */
	do {
		left = wait_for_completion_timeout(&bench_done, 10 * HZ);
	} while (!left);
	return 0;
}

static void __exit kcoro_bench_exit(void)
{
}

module_init(kcoro_bench_init);
module_exit(kcoro_bench_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kcoro benchmark: coroutines against kthreads and workqueues");
