// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro demo: what a driver using kcoro looks like.
 *
 * Loading this module spawns three groups of coroutines, joins them and
 * prints what each did:
 *  - workers: one per CPU-slot, summing a range in chunks and yielding
 *    between chunks, so the coroutines of a CPU interleave;
 *  - ping-pong: two coroutines on different CPUs hand a ball back and forth
 *    with kcoro_park()/kcoro_unpark();
 *  - sleepers: coroutines that sleep different times and note the order in
 *    which they woke;
 *  - a pipeline: producer coroutines on every CPU send over a rendezvous
 *    channel to consumers, which forward over a buffered channel to the
 *    loading thread; every item arrives exactly once;
 *  - a blocker: a coroutine calls plain msleep(), which blocks its
 *    scheduler kthread, while a sibling on the same CPU keeps counting:
 *    kcoro hands the CPU's coroutines to a standby kthread meanwhile.
 */
#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/module.h>
#include <linux/slab.h>

#define pr_fmt_demo(fmt) "kcoro_demo: " fmt
#define demo_info(fmt, ...) pr_info(pr_fmt_demo(fmt), ##__VA_ARGS__)

#define WORKERS_PER_CPU	3
#define WORK_CHUNKS	8
#define PINGPONG_ROUNDS	1000

struct demo_worker {
	unsigned int index;
	int cpu;
	unsigned long sum;
	unsigned int yields;
};

static long demo_worker_fn(void *arg)
{
	struct demo_worker *w = arg;
	unsigned long i, base = w->index * 1000UL;
	unsigned int chunk;

	for (chunk = 0; chunk < WORK_CHUNKS; chunk++) {
		for (i = 0; i < 125; i++)
			w->sum += base + chunk * 125 + i;
		kcoro_yield();
		w->yields++;
	}
	w->cpu = kcoro_cpu(kcoro_current());
	return w->index;
}

struct demo_pingpong {
	struct kcoro *player[2];
	atomic_t turn;		/* whose turn: 0 or 1; -1 until both exist */
	unsigned int hits[2];
};

struct demo_player {
	struct demo_pingpong *game;
	int me;
};

static long demo_player_fn(void *arg)
{
	struct demo_player *p = arg;
	struct demo_pingpong *g = p->game;
	unsigned int round;

	for (round = 0; round < PINGPONG_ROUNDS; round++) {
		while (atomic_read_acquire(&g->turn) != p->me) {
			if (atomic_read(&g->turn) == -2)
				return -ECANCELED;
			kcoro_park();
		}
		g->hits[p->me]++;
		atomic_set_release(&g->turn, !p->me);
		kcoro_unpark(g->player[!p->me]);
	}
	return g->hits[p->me];
}

static atomic_t demo_wake_seq;

static long demo_sleeper_fn(void *arg)
{
	unsigned int ms = (unsigned long)arg;
	ktime_t start = ktime_get();

	kcoro_msleep(ms);
	demo_info("sleeper %3u ms woke #%d after %lld us\n", ms,
		  atomic_inc_return(&demo_wake_seq),
		  ktime_us_delta(ktime_get(), start));
	return ms;
}

static int demo_workers(void)
{
	unsigned int nr = num_online_cpus() * WORKERS_PER_CPU, i;
	struct demo_worker *w;
	struct kcoro **co;
	int cpu, ret = 0;

	w = kcalloc(nr, sizeof(*w), GFP_KERNEL);
	co = kcalloc(nr, sizeof(*co), GFP_KERNEL);
	if (!w || !co) {
		ret = -ENOMEM;
		goto out;
	}
	cpu = cpumask_first(cpu_online_mask);
	for (i = 0; i < nr; i++) {
		struct kcoro_attr attr = { .cpu = cpu };

		w[i].index = i;
		co[i] = kcoro_spawn(demo_worker_fn, &w[i], &attr);
		if (IS_ERR(co[i])) {
			ret = PTR_ERR(co[i]);
			nr = i;
			break;
		}
		cpu = cpumask_next(cpu, cpu_online_mask);
		if (cpu >= nr_cpu_ids)
			cpu = cpumask_first(cpu_online_mask);
	}
	for (i = 0; i < nr; i++) {
		long res = kcoro_join(co[i]);
		unsigned long want = 1000UL * 1000 * i + 1000UL * 999 / 2;

		demo_info("worker %2u (coroutine %llu) on cpu%d: sum %lu %s after %u yields, returned %ld\n",
			  i, kcoro_id(co[i]), w[i].cpu, w[i].sum,
			  w[i].sum == want ? "(correct)" : "(WRONG)",
			  w[i].yields, res);
		if (w[i].sum != want || res != i)
			ret = -EIO;
		kcoro_put(co[i]);
	}
out:
	kfree(co);
	kfree(w);
	return ret;
}

static int demo_pingpong(void)
{
	struct demo_pingpong game = { .turn = ATOMIC_INIT(-1) };
	struct demo_player p[2] = { { &game, 0 }, { &game, 1 } };
	int cpu0 = cpumask_first(cpu_online_mask);
	int cpu1 = cpumask_last(cpu_online_mask);
	struct kcoro_attr attr[2] = { { .cpu = cpu0 }, { .cpu = cpu1 } };
	int i, ret = 0;

	/* Both players park until the game starts (turn 0). */
	for (i = 0; i < 2; i++) {
		game.player[i] = kcoro_spawn(demo_player_fn, &p[i], &attr[i]);
		if (IS_ERR(game.player[i])) {
			ret = PTR_ERR(game.player[i]);
			if (i) {
				atomic_set(&game.turn, -2);
				kcoro_unpark(game.player[0]);
				kcoro_join(game.player[0]);
				kcoro_put(game.player[0]);
			}
			return ret;
		}
	}
	atomic_set_release(&game.turn, 0);
	kcoro_unpark(game.player[0]);
	/*
	 * Each player unparks the other, so both references are dropped only
	 * once both have finished: a coroutine must stay alive for as long
	 * as someone may still unpark it.
	 */
	for (i = 0; i < 2; i++) {
		long hits = kcoro_join(game.player[i]);

		demo_info("ping-pong player %d on cpu%d hit the ball %ld times\n",
			  i, kcoro_cpu(game.player[i]), hits);
		if (hits != PINGPONG_ROUNDS)
			ret = -EIO;
	}
	for (i = 0; i < 2; i++)
		kcoro_put(game.player[i]);
	return ret;
}

static int demo_sleepers(void)
{
	static const unsigned int ms[] = { 30, 10, 20 };
	struct kcoro *co[ARRAY_SIZE(ms)];
	int i, n, ret = 0;

	atomic_set(&demo_wake_seq, 0);
	for (n = 0; n < ARRAY_SIZE(ms); n++) {
		co[n] = kcoro_spawn(demo_sleeper_fn, (void *)(unsigned long)ms[n],
				    NULL);
		if (IS_ERR(co[n])) {
			ret = PTR_ERR(co[n]);
			break;
		}
	}
	for (i = 0; i < n; i++) {
		kcoro_join(co[i]);
		kcoro_put(co[i]);
	}
	return ret;
}

#define PIPE_ITEMS	200

struct demo_pipe {
	struct kcoro_chan *stage1;	/* rendezvous: producers -> workers */
	struct kcoro_chan *stage2;	/* buffered(4): workers -> thread */
	unsigned int base;
};

static long demo_producer_fn(void *arg)
{
	struct demo_pipe *p = arg;
	unsigned long i;

	for (i = 1; i <= PIPE_ITEMS; i++)
		if (kcoro_chan_send(p->stage1, (void *)(p->base + i)))
			return -EIO;
	return 0;
}

static long demo_pipe_worker_fn(void *arg)
{
	struct demo_pipe *p = arg;
	long forwarded = 0;
	void *item;

	/* Squares each item until stage 1 is closed and drained. */
	while (!kcoro_chan_recv(p->stage1, &item)) {
		unsigned long v = (unsigned long)item;

		if (kcoro_chan_send(p->stage2, (void *)(v * v)))
			return -EIO;
		forwarded++;
	}
	return forwarded;
}

static int demo_pipeline(void)
{
	unsigned int nprod = num_online_cpus(), nwork = 2, n, i;
	struct kcoro_chan_attr buffered = { .capacity = 4 };
	struct demo_pipe pipes[8], *pipe = &pipes[0];
	unsigned long sum = 0, want = 0, items = 0;
	struct kcoro *prod[8], *work[2];
	long forwarded = 0;
	int cpu, ret = 0;
	void *item;

	nprod = min_t(unsigned int, nprod, ARRAY_SIZE(prod));
	pipe->stage1 = kcoro_chan_create(NULL);
	if (IS_ERR(pipe->stage1))
		return PTR_ERR(pipe->stage1);
	pipe->stage2 = kcoro_chan_create(&buffered);
	if (IS_ERR(pipe->stage2)) {
		kcoro_chan_put(pipe->stage1);
		return PTR_ERR(pipe->stage2);
	}
	cpu = cpumask_first(cpu_online_mask);
	for (n = 0; n < nprod; n++) {
		struct kcoro_attr attr = { .cpu = cpu };

		pipes[n] = *pipe;
		pipes[n].base = n * 1000;
		prod[n] = kcoro_spawn(demo_producer_fn, &pipes[n], &attr);
		if (IS_ERR(prod[n]))
			break;
		for (i = 1; i <= PIPE_ITEMS; i++)
			want += (n * 1000UL + i) * (n * 1000UL + i);
		cpu = cpumask_next(cpu, cpu_online_mask);
		if (cpu >= nr_cpu_ids)
			cpu = cpumask_first(cpu_online_mask);
	}
	nprod = n;
	for (n = 0; n < nwork; n++) {
		work[n] = kcoro_spawn(demo_pipe_worker_fn, pipe, NULL);
		if (IS_ERR(work[n]))
			break;
	}
	nwork = n;

	/* This thread is the sink: it blocks in the channel like any task. */
	while (items < (unsigned long)nprod * PIPE_ITEMS && nwork &&
	       !kcoro_chan_recv(pipe->stage2, &item)) {
		sum += (unsigned long)item;
		items++;
	}
	for (n = 0; n < nprod; n++) {
		if (kcoro_join(prod[n]))
			ret = -EIO;
		kcoro_put(prod[n]);
	}
	kcoro_chan_close(pipe->stage1);
	for (n = 0; n < nwork; n++) {
		forwarded += kcoro_join(work[n]);
		kcoro_put(work[n]);
	}
	demo_info("pipeline: %u producers -> rendezvous -> %u workers -> buffered(4) -> thread: %lu items, sum of squares %lu %s\n",
		  nprod, nwork, items, sum, sum == want && forwarded == items ?
		  "(exactly once)" : "(WRONG)");
	if (sum != want || forwarded != items)
		ret = -EIO;
	kcoro_chan_put(pipe->stage2);
	kcoro_chan_put(pipe->stage1);
	return ret;
}

static unsigned int blocker_ms = 50;
module_param(blocker_ms, uint, 0444);
MODULE_PARM_DESC(blocker_ms, "how long the blocker blocks in msleep() (ms, default 50)");

static struct {
	unsigned long steps;	/* the sibling's; both run on one CPU */
	unsigned long during;	/* of which while the blocker slept */
	bool done;
} demo_blk;

static long demo_sibling_fn(void *arg)
{
	while (!READ_ONCE(demo_blk.done)) {
		WRITE_ONCE(demo_blk.steps, demo_blk.steps + 1);
		kcoro_sleep_ns(100 * NSEC_PER_USEC);
	}
	return 0;
}

static long demo_blocker_fn(void *arg)
{
	unsigned long before;

	kcoro_msleep(1);		/* let the sibling start */
	before = READ_ONCE(demo_blk.steps);
	msleep(blocker_ms);		/* an ordinary blocking kernel call */
	demo_blk.during = READ_ONCE(demo_blk.steps) - before;
	WRITE_ONCE(demo_blk.done, true);
	return 0;
}

static int demo_blocker(void)
{
	struct kcoro_attr attr = { .cpu = cpumask_first(cpu_online_mask) };
	struct kcoro_stats before, after;
	struct kcoro *co[2];
	int i, n;

	memset(&demo_blk, 0, sizeof(demo_blk));
	kcoro_get_stats(&before);
	for (n = 0; n < 2; n++) {
		co[n] = kcoro_spawn(n ? demo_blocker_fn : demo_sibling_fn, NULL,
				    &attr);
		if (IS_ERR(co[n])) {
			WRITE_ONCE(demo_blk.done, true);
			break;
		}
	}
	for (i = 0; i < n; i++) {
		kcoro_join(co[i]);
		kcoro_put(co[i]);
	}
	if (n < 2)
		return PTR_ERR(co[n]);
	/* Checked by tools/testing/vm/stock.sh. */
	kcoro_get_stats(&after);
	demo_info("blocker: msleep(%u) in a coroutine on cpu%d; its sibling there ran %lu steps meanwhile (%llu hand-off(s))\n",
		  blocker_ms, attr.cpu, demo_blk.during,
		  after.handoffs - before.handoffs);
	return 0;
}

static int __init kcoro_demo_init(void)
{
	struct kcoro_stats before, after;
	int ret;

	kcoro_get_stats(&before);
	demo_info("spawning coroutines on %u CPUs\n", num_online_cpus());
	ret = demo_workers();
	if (!ret)
		ret = demo_pingpong();
	if (!ret)
		ret = demo_sleepers();
	if (!ret)
		ret = demo_pipeline();
	if (!ret)
		ret = demo_blocker();
	kcoro_get_stats(&after);
	if (ret) {
		pr_err("kcoro_demo: failed: %d\n", ret);
		return ret;
	}
	demo_info("all coroutines joined: %llu spawned, %llu switches, %ld live\n",
		  after.spawned - before.spawned,
		  after.switches - before.switches, after.live);
	return 0;
}

static void __exit kcoro_demo_exit(void)
{
}

module_init(kcoro_demo_init);
module_exit(kcoro_demo_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kcoro demo: coroutines that yield, park and sleep");
