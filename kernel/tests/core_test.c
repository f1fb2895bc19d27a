// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the kcoro core: scheduling order, spawn and join at
 * scale, park/unpark and sleep across CPUs, coroutine stacks, kcoro_exit(),
 * CPU hotplug, and reference counting.
 *
 * A coroutine body never uses KUNIT_ASSERT_*(): that would abort the
 * scheduler kthread it runs on, not the test.  Bodies record what they saw
 * in a context structure and the test thread checks it after joining them.
 * Every case joins and puts all of its coroutines before it returns, and
 * the suite's exit hook checks that no coroutine object or stack is left.
 */
#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/kallsyms.h>
#include <linux/kcoro.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/stacktrace.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <uapi/linux/magic.h>

#include "kcoro_kunit.h"

/* How long freed coroutines may take to drop their last reference. */
#define KCORO_TEST_LEAK_MS	5000

/* Counters when the suite started, for the final leak check. */
static struct kcoro_stats kcoro_test_suite_base;

/* The @n-th online CPU, wrapping around. */
static int kcoro_test_cpu(unsigned int n)
{
	return cpumask_nth(n % num_online_cpus(), cpu_online_mask);
}

static struct kcoro *kcoro_test_spawn_on(kcoro_fn_t fn, void *arg, int cpu)
{
	struct kcoro_attr attr = { .cpu = cpu };

	return kcoro_spawn(fn, arg, &attr);
}

/**
 * kcoro_test_join_watch() - kcoro_join() with a watchdog tied to progress
 * @test: the test, failed if @co gets stuck
 * @co: the coroutine
 * @progress: what to watch (NULL: coroutine switches), see
 *	struct kcoro_kunit_watch
 * @arg: its argument
 *
 * See kcoro_kunit_wait_done(): a coroutine that stops making progress is
 * kicked, then abandoned with everything it may still reach, and the
 * case aborted.
 *
 * Return: the result of @co.
 */
static long kcoro_test_join_watch(struct kunit *test, struct kcoro *co,
				  u64 (*progress)(void *), void *arg)
{
	kcoro_kunit_wait_done(test, co, progress, arg);
	return kcoro_join(co);
}

static long kcoro_test_join(struct kunit *test, struct kcoro *co)
{
	return kcoro_test_join_watch(test, co, NULL, NULL);
}

/* Join and put @co unless it is NULL or an error pointer; returns result. */
static long kcoro_test_finish(struct kunit *test, struct kcoro *co)
{
	long ret;

	if (IS_ERR_OR_NULL(co))
		return 0;
	ret = kcoro_test_join(test, co);
	kcoro_put(co);
	return ret;
}

/* Wait until @cond holds, for as long as coroutines switch; returns @cond. */
#define kcoro_test_wait_for(cond)	kcoro_kunit_wait_for(cond)

/*
 * A kthread the test can stop with kthread_stop_put() even after it has
 * returned; bound to @cpu unless that is negative.
 */
static struct task_struct *kcoro_test_kthread_on(int (*fn)(void *), void *arg,
						 const char *name, int cpu)
{
	struct task_struct *t;

	t = kthread_create(fn, arg, "%s", name);
	if (IS_ERR(t))
		return t;
	if (cpu >= 0)
		kthread_bind(t, cpu);
	get_task_struct(t);
	wake_up_process(t);
	return t;
}

static struct task_struct *kcoro_test_kthread(int (*fn)(void *), void *arg,
					      const char *name)
{
	return kcoro_test_kthread_on(fn, arg, name, -1);
}

static long kcoro_test_stacks_in_use(const struct kcoro_stats *s)
{
	return s->stacks - s->cached_stacks;
}

/**
 * __kcoro_test_expect_no_leaks() - all coroutines since @base are freed
 * @test: the test
 * @base: counters taken before the coroutines were spawned
 * @abandoned: kcoro_kunit_abandoned when @base was taken (coroutines
 *	abandoned since then stay alive for good)
 *
 * A finished coroutine drops its own reference just after it wakes its
 * joiners, so the counters may lag kcoro_join() by a moment: wait for them.
 */
static void __kcoro_test_expect_no_leaks(struct kunit *test,
					 const struct kcoro_stats *base,
					 long abandoned)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(KCORO_TEST_LEAK_MS);
	/* Abandoned coroutines stay alive for good; their case failed. */
	long live = base->live + atomic_long_read(&kcoro_kunit_abandoned) -
		    abandoned;
	struct kcoro_stats now;

	for (;;) {
		kcoro_get_stats(&now);
		if (now.live == live &&
		    kcoro_test_stacks_in_use(&now) == kcoro_test_stacks_in_use(base))
			break;
		if (time_after(jiffies, deadline))
			break;
		usleep_range(500, 1000);
	}
	KUNIT_EXPECT_EQ_MSG(test, now.live, live,
			    "coroutine objects still alive");
	KUNIT_EXPECT_EQ_MSG(test, kcoro_test_stacks_in_use(&now),
			    kcoro_test_stacks_in_use(base),
			    "coroutine stacks neither in use nor cached");
}

/* No case of this one abandoned a coroutine since @base was taken. */
#define kcoro_test_expect_no_leaks(test, base)				\
	__kcoro_test_expect_no_leaks(test, base,			\
				     atomic_long_read(&kcoro_kunit_abandoned))

/*
 * Case: input validation of kcoro_spawn() and kcoro_join() of a finished
 * coroutine.
 */

static long kcoro_test_value_fn(void *arg)
{
	return (long)arg;
}

static long kcoro_test_where_fn(void *arg)
{
	int *where = arg;

	where[0] = raw_smp_processor_id();
	where[1] = kcoro_cpu(kcoro_current());
	return 0;
}

/* Spawning with @attr must fail with @err; clean up if it did not. */
static void kcoro_test_spawn_fails(struct kunit *test,
				   const struct kcoro_attr *attr, int err)
{
	struct kcoro *co = kcoro_spawn(kcoro_kunit_nop_fn, NULL, attr);

	KUNIT_EXPECT_EQ_MSG(test, PTR_ERR_OR_ZERO(co), err,
			    "attr: stack_size %zu cpu %d flags %#x",
			    attr->stack_size, attr->cpu, attr->flags);
	kcoro_test_finish(test, co);
}

/**
 * kcoro_test_spawn_validation() - bad attributes are refused, good ones not
 * @test: the test
 *
 * Unknown flags, a stack bigger than THREAD_SIZE and a CPU number out of
 * range fail with -EINVAL (and create nothing); an offline CPU fails with
 * -ENODEV.  NULL attributes, KCORO_CPU_ANY and a THREAD_SIZE stack work.
 * Joining a finished coroutine returns its result at once, as often as
 * asked, and ids are unique and increasing.
 */
static void kcoro_test_spawn_validation(struct kunit *test)
{
	struct kcoro_attr attr = { .cpu = KCORO_CPU_ANY };
	struct kcoro_stats before, after;
	int where[2] = { -1, -1 };
	struct kcoro *co, *co2;
	int cpu;

	KUNIT_EXPECT_NULL(test, kcoro_current());
	kcoro_get_stats(&before);

	attr.flags = KCORO_SPAWN_ACCOUNT << 1;
	kcoro_test_spawn_fails(test, &attr, -EINVAL);
	attr.flags = 0x80000000;
	kcoro_test_spawn_fails(test, &attr, -EINVAL);
	attr.flags = 0;

	attr.stack_size = THREAD_SIZE + 1;
	kcoro_test_spawn_fails(test, &attr, -EINVAL);
	attr.stack_size = SIZE_MAX;
	kcoro_test_spawn_fails(test, &attr, -EINVAL);
	attr.stack_size = 0;

	attr.cpu = nr_cpu_ids;
	kcoro_test_spawn_fails(test, &attr, -EINVAL);
	attr.cpu = INT_MAX;
	kcoro_test_spawn_fails(test, &attr, -EINVAL);
	attr.cpu = -2;
	kcoro_test_spawn_fails(test, &attr, -EINVAL);
	attr.cpu = INT_MIN;
	kcoro_test_spawn_fails(test, &attr, -EINVAL);

	for_each_possible_cpu(cpu) {
		if (cpu_online(cpu))
			continue;
		attr.cpu = cpu;
		kcoro_test_spawn_fails(test, &attr, -ENODEV);
	}
	attr.cpu = KCORO_CPU_ANY;

	/* Refused spawns must not have created anything. */
	kcoro_get_stats(&after);
	KUNIT_EXPECT_EQ(test, after.spawned, before.spawned);
	KUNIT_EXPECT_EQ(test, after.live, before.live);

	/*
	 * Valid: NULL attributes, KCORO_CPU_ANY, the largest stack size, a
	 * charged coroutine.
	 */
	co = kcoro_spawn(kcoro_test_value_fn, (void *)-12345L, NULL);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
	attr.stack_size = THREAD_SIZE;
	attr.flags = KCORO_SPAWN_ACCOUNT;
	co2 = kcoro_spawn(kcoro_test_value_fn, (void *)LONG_MAX, &attr);
	if (IS_ERR(co2)) {
		kcoro_test_finish(test, co);
		KUNIT_FAIL_AND_ABORT(test, "spawn with a THREAD_SIZE stack: %pe", co2);
	}
	KUNIT_EXPECT_GT(test, kcoro_id(co2), kcoro_id(co));
	KUNIT_EXPECT_TRUE(test, cpu_online(kcoro_cpu(co)));

	/* Join of a finished coroutine: returns its result, again and again. */
	KUNIT_EXPECT_TRUE(test, kcoro_test_wait_for(kcoro_done(co)));
	KUNIT_EXPECT_EQ(test, kcoro_join(co), -12345L);
	KUNIT_EXPECT_EQ(test, kcoro_join(co), -12345L);
	KUNIT_EXPECT_EQ(test, kcoro_test_join(test, co2), LONG_MAX);
	KUNIT_EXPECT_TRUE(test, kcoro_done(co2));
	KUNIT_EXPECT_EQ(test, kcoro_join(co2), LONG_MAX);
	kcoro_put(co);
	kcoro_put(co2);

	/* A pinned coroutine runs on, and reports, the CPU it asked for. */
	cpu = kcoro_test_cpu(num_online_cpus() - 1);
	co = kcoro_test_spawn_on(kcoro_test_where_fn, where, cpu);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
	KUNIT_EXPECT_EQ(test, kcoro_cpu(co), cpu);
	KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, co), 0L);
	KUNIT_EXPECT_EQ(test, where[0], cpu);
	KUNIT_EXPECT_EQ(test, where[1], cpu);
}

/*
 * Case: round-robin order of kcoro_yield() on one CPU.
 */

#define YIELD_COROS	3
#define YIELD_ROUNDS	200

struct kcoro_yield_ctx;

struct kcoro_yield_child {
	struct kcoro_yield_ctx *ctx;
	int id;
};

struct kcoro_yield_ctx {
	int cpu;
	unsigned int len;
	u8 log[YIELD_COROS * YIELD_ROUNDS];
	struct kcoro_yield_child child[YIELD_COROS];
	long child_ret[YIELD_COROS];
	int nr_spawned;
	int spawn_err;
	unsigned int wrong_cpu;
};

/* All of these run on one scheduler kthread: no locking needed. */
static long kcoro_yield_child_fn(void *arg)
{
	struct kcoro_yield_child *c = arg;
	struct kcoro_yield_ctx *ctx = c->ctx;
	unsigned int i;

	for (i = 0; i < YIELD_ROUNDS; i++) {
		if (ctx->len < ARRAY_SIZE(ctx->log))
			ctx->log[ctx->len] = c->id;
		ctx->len++;
		if (raw_smp_processor_id() != ctx->cpu)
			ctx->wrong_cpu++;
		kcoro_yield();
	}
	return 100 + c->id;
}

/*
 * Spawning from a coroutine of the same CPU queues the children in spawn
 * order before any of them runs, which makes the expected order exact.
 */
static long kcoro_yield_parent_fn(void *arg)
{
	struct kcoro_yield_ctx *ctx = arg;
	struct kcoro *co[YIELD_COROS];
	int i, n;

	for (n = 0; n < YIELD_COROS; n++) {
		ctx->child[n].ctx = ctx;
		ctx->child[n].id = n;
		co[n] = kcoro_test_spawn_on(kcoro_yield_child_fn,
					    &ctx->child[n], ctx->cpu);
		if (IS_ERR(co[n])) {
			ctx->spawn_err = PTR_ERR(co[n]);
			break;
		}
	}
	ctx->nr_spawned = n;
	for (i = 0; i < n; i++) {
		ctx->child_ret[i] = kcoro_join(co[i]);
		kcoro_put(co[i]);
	}
	return n;
}

/**
 * kcoro_test_yield_order() - yields on one CPU interleave round-robin
 * @test: the test
 *
 * Three coroutines pinned to one CPU each log their id and yield, many
 * rounds.  The run queue is FIFO, so the log must read 0 1 2 0 1 2 ...
 * exactly, every coroutine must stay on its CPU, and each must have been
 * switched to once per round plus once to start.
 */
static void kcoro_test_yield_order(struct kunit *test)
{
	struct kcoro_stats before, after;
	struct kcoro_yield_ctx *ctx;
	unsigned int i, bad = 0;
	struct kcoro *co;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->cpu = kcoro_test_cpu(num_online_cpus() - 1);
	memset(ctx->log, 0xff, sizeof(ctx->log));

	kcoro_get_stats(&before);
	co = kcoro_test_spawn_on(kcoro_yield_parent_fn, ctx, ctx->cpu);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
	KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, co), (long)YIELD_COROS);
	kcoro_get_stats(&after);

	KUNIT_EXPECT_EQ(test, ctx->spawn_err, 0);
	KUNIT_ASSERT_EQ(test, ctx->nr_spawned, YIELD_COROS);
	KUNIT_EXPECT_EQ(test, ctx->len, YIELD_COROS * YIELD_ROUNDS);
	KUNIT_EXPECT_EQ(test, ctx->wrong_cpu, 0U);
	for (i = 0; i < YIELD_COROS; i++)
		KUNIT_EXPECT_EQ(test, ctx->child_ret[i], 100L + i);
	for (i = 0; i < ARRAY_SIZE(ctx->log); i++) {
		if (ctx->log[i] == i % YIELD_COROS)
			continue;
		if (!bad++)
			KUNIT_FAIL(test, "log[%u] is %u, expected %u (log[%u..] = %*ph)",
				   i, ctx->log[i], i % YIELD_COROS, i - i % 8, 8,
				   &ctx->log[i - i % 8]);
	}
	KUNIT_EXPECT_EQ(test, bad, 0U);
	KUNIT_EXPECT_EQ(test, after.spawned - before.spawned, 1ULL + YIELD_COROS);
	KUNIT_EXPECT_GE(test, after.switches - before.switches,
			(u64)YIELD_COROS * (YIELD_ROUNDS + 1) + 1);
}

/*
 * Case: 10,000 coroutines over all CPUs.
 */

#define MANY_COROS	10000

struct kcoro_many_slot {
	unsigned int idx;
	int cpu;
	int ran_on;
};

static long kcoro_many_fn(void *arg)
{
	struct kcoro_many_slot *s = arg;
	int cpu = raw_smp_processor_id();

	kcoro_yield();
	s->ran_on = raw_smp_processor_id() == cpu ? cpu : -1;
	return (long)s->idx * 3 + 1;
}

/**
 * kcoro_test_many() - spawn and join 10,000 coroutines on all CPUs
 * @test: the test
 *
 * Coroutine i is pinned round-robin to the online CPUs, yields once and
 * returns 3 * i + 1.  Every spawn must succeed, every result and CPU must
 * be right, and the results must add up.
 */
static void kcoro_test_many(struct kunit *test)
{
	unsigned int i, nr, bad_result = 0, bad_cpu = 0, bad_home = 0;
	struct kcoro_many_slot *slots;
	u64 sum = 0, want = 0;
	struct kcoro **co;
	int cpu = -1;
	long ret;

	slots = kvcalloc(MANY_COROS, sizeof(*slots), GFP_KERNEL);
	co = kvcalloc(MANY_COROS, sizeof(*co), GFP_KERNEL);
	if (!slots || !co) {
		kvfree(slots);
		kvfree(co);
		KUNIT_FAIL_AND_ABORT(test, "out of memory");
	}

	for (nr = 0; nr < MANY_COROS; nr++) {
		cpu = cpumask_next(cpu, cpu_online_mask);
		if (cpu >= nr_cpu_ids)
			cpu = cpumask_first(cpu_online_mask);
		slots[nr].idx = nr;
		slots[nr].cpu = cpu;
		slots[nr].ran_on = -2;
		co[nr] = kcoro_test_spawn_on(kcoro_many_fn, &slots[nr], cpu);
		if (IS_ERR(co[nr])) {
			KUNIT_FAIL(test, "spawn %u on CPU %d: %pe", nr, cpu, co[nr]);
			break;
		}
		if (kcoro_cpu(co[nr]) != cpu)
			bad_home++;
	}
	KUNIT_EXPECT_EQ(test, nr, MANY_COROS);

	for (i = 0; i < nr; i++) {
		ret = kcoro_test_finish(test, co[i]);
		sum += ret;
		want += 3ULL * i + 1;
		if (ret != 3L * i + 1 && !bad_result++)
			KUNIT_FAIL(test, "coroutine %u returned %ld", i, ret);
		if (slots[i].ran_on != slots[i].cpu && !bad_cpu++)
			KUNIT_FAIL(test, "coroutine %u pinned to CPU %d ran on %d",
				   i, slots[i].cpu, slots[i].ran_on);
	}
	KUNIT_EXPECT_EQ(test, bad_result, 0U);
	KUNIT_EXPECT_EQ(test, bad_cpu, 0U);
	KUNIT_EXPECT_EQ_MSG(test, bad_home, 0U, "kcoro_cpu() is not the CPU asked for");
	KUNIT_EXPECT_EQ(test, sum, want);
	KUNIT_EXPECT_EQ(test, sum, 3ULL * MANY_COROS * (MANY_COROS - 1) / 2 + MANY_COROS);

	kvfree(co);
	kvfree(slots);
}

/*
 * Case: park/unpark stress across CPUs and from a kthread.
 */

#define PARK_PAIRS_PER_CPU	2
/* Token passes, shared out among the pairs. */
#define PARK_PASSES		240000
#define PARK_ROUNDS		5000

struct kcoro_park_ctx;
struct kcoro_park_pair;

struct kcoro_park_player {
	struct kcoro_park_ctx *ctx;
	struct kcoro_park_pair *pair;
	int me;
};

/* Two coroutines passing a token; each field [i] is written by player i. */
struct kcoro_park_pair {
	struct kcoro *co[2];
	struct kcoro_park_player player[2];
	int cpu[2];
	atomic_t turn;
	unsigned int hits[2];
	unsigned int parks[2];
	unsigned int errors[2];
};

/* A coroutine serving numbered requests from the producer kthread. */
struct kcoro_park_consumer {
	struct kcoro_park_ctx *ctx;
	struct kcoro *co;
	int cpu;
	atomic_t req;		/* last request, -1 to stop */
	atomic_t ack;		/* last request served */
	unsigned int handled;
	unsigned long sum;
	unsigned int errors;
};

struct kcoro_park_ctx {
	atomic_t go;		/* 1: start, -1: abort */
	unsigned int iters;	/* passes per pair */
	unsigned int nr_pairs;
	unsigned int nr_consumers;
	struct kcoro_park_pair *pairs;
	struct kcoro_park_consumer *consumers;
	wait_queue_head_t ack_wq;
	unsigned int producer_timeouts;
	unsigned long spurious;
	long abandoned;		/* kcoro_kunit_abandoned at the start */
};

/* Park until the test starts (true) or aborts (false) the game. */
static bool kcoro_park_gate(struct kcoro_park_ctx *ctx)
{
	int go;

	while (!(go = atomic_read_acquire(&ctx->go)))
		kcoro_park();
	return go > 0;
}

static long kcoro_park_player_fn(void *arg)
{
	struct kcoro_park_player *p = arg;
	struct kcoro_park_pair *pair = p->pair;
	int me = p->me;
	unsigned int i;

	if (!kcoro_park_gate(p->ctx))
		return -ECANCELED;
	for (i = 0; i < p->ctx->iters; i++) {
		/* Wake-ups may be spurious (the spammer): loop on the token. */
		while (atomic_read_acquire(&pair->turn) != me) {
			kcoro_park();
			pair->parks[me]++;
		}
		/* Strict alternation: player 0 serves, so it leads by one. */
		if (READ_ONCE(pair->hits[!me]) != i + me)
			pair->errors[me]++;
		if (raw_smp_processor_id() != pair->cpu[me])
			pair->errors[me]++;
		WRITE_ONCE(pair->hits[me], i + 1);
		atomic_set_release(&pair->turn, !me);
		kcoro_unpark(pair->co[!me]);
	}
	return i;
}

static long kcoro_park_consumer_fn(void *arg)
{
	struct kcoro_park_consumer *c = arg;
	int seen = 0, req;

	for (;;) {
		while ((req = atomic_read_acquire(&c->req)) == seen)
			kcoro_park();
		if (req < 0)
			break;
		if (req != seen + 1)
			c->errors++;
		if (raw_smp_processor_id() != c->cpu)
			c->errors++;
		c->handled++;
		c->sum += req;
		seen = req;
		atomic_set_release(&c->ack, req);
		wake_up(&c->ctx->ack_wq);
	}
	return c->handled;
}

static void kcoro_park_stop_consumers(struct kcoro_park_ctx *ctx)
{
	struct kcoro_park_consumer *c;
	unsigned int i;

	for (i = 0; i < ctx->nr_consumers; i++) {
		c = &ctx->consumers[i];
		atomic_set_release(&c->req, -1);
		if (!IS_ERR_OR_NULL(c->co))
			kcoro_unpark(c->co);
	}
}

/*
 * What the case has done: passes of the players and requests served.  The
 * spammer's wake-ups make switches without progress, so the watchdogs
 * watch this instead of the switch count.
 */
static u64 kcoro_park_progress(void *arg)
{
	struct kcoro_park_ctx *ctx = arg;
	u64 sum = 0;
	unsigned int i;

	for (i = 0; i < ctx->nr_pairs; i++)
		sum += READ_ONCE(ctx->pairs[i].hits[0]) +
		       READ_ONCE(ctx->pairs[i].hits[1]);
	for (i = 0; i < ctx->nr_consumers; i++)
		sum += atomic_read(&ctx->consumers[i].ack);
	return sum;
}

/* Kthread: round after round, one request to every consumer, await acks. */
static int kcoro_park_producer_fn(void *arg)
{
	struct kcoro_park_ctx *ctx = arg;
	struct kcoro_park_consumer *c;
	unsigned int i;
	int round;

	for (round = 1; round <= PARK_ROUNDS; round++) {
		for (i = 0; i < ctx->nr_consumers; i++) {
			c = &ctx->consumers[i];
			atomic_set_release(&c->req, round);
			kcoro_unpark(c->co);
		}
		for (i = 0; i < ctx->nr_consumers; i++) {
			struct kcoro_kunit_watch w;

			c = &ctx->consumers[i];
			kcoro_kunit_watch_start(&w, kcoro_park_progress, ctx);
			while (!wait_event_timeout(ctx->ack_wq,
						   atomic_read_acquire(&c->ack) == round,
						   1)) {
				if (kcoro_kunit_watch_stalled(&w)) {
					ctx->producer_timeouts++;
					goto out;
				}
			}
		}
	}
out:
	kcoro_park_stop_consumers(ctx);
	return 0;
}

/*
 * Kthread: unpark the players for no reason, until stopped, or until the
 * case gives up (it is aborted then, and stops nobody).
 */
static int kcoro_park_spammer_fn(void *arg)
{
	struct kcoro_park_ctx *ctx = arg;
	unsigned int i;

	while (!kthread_should_stop() && !kcoro_kunit_gave_up(ctx->abandoned)) {
		for (i = 0; i < ctx->nr_pairs; i++) {
			kcoro_unpark(ctx->pairs[i].co[0]);
			kcoro_unpark(ctx->pairs[i].co[1]);
		}
		ctx->spurious++;
		usleep_range(20, 50);
	}
	return 0;
}

/**
 * kcoro_test_park_stress() - park/unpark across CPUs under stress
 * @test: the test
 *
 * Pairs of coroutines on different CPUs (when there are several) pass a
 * token back and forth with kcoro_park()/kcoro_unpark(), checking strict
 * alternation on every pass.  Meanwhile a producer kthread hands numbered
 * requests to a consumer coroutine on every CPU and waits for each to be
 * acknowledged, and a spammer kthread unparks the players spuriously.
 * Nothing may be lost, duplicated or reordered: all counters are exact.
 */
static void kcoro_test_park_stress(struct kunit *test)
{
	struct task_struct *producer = NULL, *spammer = NULL;
	unsigned int i, ncpu = num_online_cpus();
	unsigned long parks = 0;
	struct kcoro_park_ctx *ctx;
	bool ok = true;
	int s;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->nr_pairs = PARK_PAIRS_PER_CPU * ncpu;
	ctx->iters = PARK_PASSES / ctx->nr_pairs;
	ctx->nr_consumers = ncpu;
	ctx->pairs = kunit_kcalloc(test, ctx->nr_pairs, sizeof(*ctx->pairs),
				   GFP_KERNEL);
	ctx->consumers = kunit_kcalloc(test, ctx->nr_consumers,
				       sizeof(*ctx->consumers), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx->pairs);
	KUNIT_ASSERT_NOT_NULL(test, ctx->consumers);
	init_waitqueue_head(&ctx->ack_wq);
	ctx->abandoned = atomic_long_read(&kcoro_kunit_abandoned);

	for (i = 0; i < ctx->nr_pairs && ok; i++) {
		struct kcoro_park_pair *pair = &ctx->pairs[i];

		atomic_set(&pair->turn, 0);
		for (s = 0; s < 2 && ok; s++) {
			pair->player[s].ctx = ctx;
			pair->player[s].pair = pair;
			pair->player[s].me = s;
			pair->cpu[s] = kcoro_test_cpu(i + s);
			pair->co[s] = kcoro_test_spawn_on(kcoro_park_player_fn,
							  &pair->player[s],
							  pair->cpu[s]);
			if (IS_ERR(pair->co[s])) {
				KUNIT_FAIL(test, "spawn player: %pe", pair->co[s]);
				ok = false;
			}
		}
	}
	for (i = 0; i < ctx->nr_consumers && ok; i++) {
		struct kcoro_park_consumer *c = &ctx->consumers[i];

		c->ctx = ctx;
		c->cpu = kcoro_test_cpu(i);
		c->co = kcoro_test_spawn_on(kcoro_park_consumer_fn, c, c->cpu);
		if (IS_ERR(c->co)) {
			KUNIT_FAIL(test, "spawn consumer: %pe", c->co);
			ok = false;
		}
	}

	/* The players learn each other's handle from the gate's release. */
	atomic_set_release(&ctx->go, ok ? 1 : -1);
	for (i = 0; i < ctx->nr_pairs; i++)
		for (s = 0; s < 2; s++)
			if (!IS_ERR_OR_NULL(ctx->pairs[i].co[s]))
				kcoro_unpark(ctx->pairs[i].co[s]);

	if (ok) {
		producer = kcoro_test_kthread(kcoro_park_producer_fn, ctx,
					      "kcoro_test_prod");
		spammer = kcoro_test_kthread(kcoro_park_spammer_fn, ctx,
					     "kcoro_test_spam");
		if (IS_ERR(producer)) {
			KUNIT_FAIL(test, "producer kthread: %pe", producer);
			ok = false;
		}
		if (IS_ERR(spammer)) {
			KUNIT_FAIL(test, "spammer kthread: %pe", spammer);
			ok = false;
		}
	}
	if (!ok || IS_ERR(producer))
		kcoro_park_stop_consumers(ctx);

	/* The spammer unparks players: they must stay alive until it stops. */
	for (i = 0; i < ctx->nr_pairs; i++) {
		struct kcoro_park_pair *pair = &ctx->pairs[i];

		for (s = 0; s < 2; s++) {
			long ret;

			if (IS_ERR_OR_NULL(pair->co[s]))
				continue;
			ret = kcoro_test_join_watch(test, pair->co[s],
						    kcoro_park_progress, ctx);
			if (ok)
				KUNIT_EXPECT_EQ(test, ret, (long)ctx->iters);
		}
	}
	if (!IS_ERR_OR_NULL(spammer))
		kthread_stop_put(spammer);
	/* The consumers finish when the producer is done with them. */
	for (i = 0; i < ctx->nr_consumers; i++) {
		long ret = kcoro_test_finish(test, ctx->consumers[i].co);

		if (ok)
			KUNIT_EXPECT_EQ(test, ret, (long)PARK_ROUNDS);
	}
	if (!IS_ERR_OR_NULL(producer))
		kthread_stop_put(producer);
	for (i = 0; i < ctx->nr_pairs; i++)
		for (s = 0; s < 2; s++)
			if (!IS_ERR_OR_NULL(ctx->pairs[i].co[s]))
				kcoro_put(ctx->pairs[i].co[s]);
	if (!ok)
		return;

	for (i = 0; i < ctx->nr_pairs; i++) {
		struct kcoro_park_pair *pair = &ctx->pairs[i];

		for (s = 0; s < 2; s++) {
			KUNIT_EXPECT_EQ_MSG(test, pair->hits[s], ctx->iters,
					    "pair %u player %d", i, s);
			KUNIT_EXPECT_EQ_MSG(test, pair->errors[s], 0U,
					    "pair %u player %d", i, s);
			parks += pair->parks[s];
		}
	}
	for (i = 0; i < ctx->nr_consumers; i++) {
		struct kcoro_park_consumer *c = &ctx->consumers[i];

		KUNIT_EXPECT_EQ_MSG(test, c->handled, PARK_ROUNDS, "consumer %u", i);
		KUNIT_EXPECT_EQ_MSG(test, c->sum,
				    (unsigned long)PARK_ROUNDS * (PARK_ROUNDS + 1) / 2,
				    "consumer %u", i);
		KUNIT_EXPECT_EQ_MSG(test, c->errors, 0U, "consumer %u", i);
		KUNIT_EXPECT_EQ_MSG(test, atomic_read(&c->ack), PARK_ROUNDS,
				    "consumer %u", i);
	}
	KUNIT_EXPECT_EQ(test, ctx->producer_timeouts, 0U);
	/* The park path itself was exercised, and so were spurious wake-ups. */
	KUNIT_EXPECT_GT(test, parks, 0UL);
	KUNIT_EXPECT_GT(test, ctx->spurious, 0UL);
	kunit_info(test, "%u pairs x %u passes, %lu parks, %lu spurious unpark sweeps\n",
		   ctx->nr_pairs, ctx->iters, parks, ctx->spurious);
}

/*
 * Case: kcoro_sleep_ns() and kcoro_msleep() never wake early.
 */

static const u64 kcoro_sleep_ns_table[] = {
	0, 1000, 50 * NSEC_PER_USEC, NSEC_PER_MSEC, 3 * NSEC_PER_MSEC,
};

static const unsigned int kcoro_sleep_ms_table[] = { 1, 10, 20 };

struct kcoro_sleep_ctx {
	s64 ns_elapsed[ARRAY_SIZE(kcoro_sleep_ns_table)];
	int ns_ret[ARRAY_SIZE(kcoro_sleep_ns_table)];
	s64 ms_elapsed[ARRAY_SIZE(kcoro_sleep_ms_table)];
	int ms_ret[ARRAY_SIZE(kcoro_sleep_ms_table)];
};

static long kcoro_sleep_fn(void *arg)
{
	struct kcoro_sleep_ctx *ctx = arg;
	unsigned int i;
	ktime_t t0;

	for (i = 0; i < ARRAY_SIZE(kcoro_sleep_ns_table); i++) {
		t0 = ktime_get();
		ctx->ns_ret[i] = kcoro_sleep_ns(kcoro_sleep_ns_table[i]);
		ctx->ns_elapsed[i] = ktime_to_ns(ktime_sub(ktime_get(), t0));
	}
	for (i = 0; i < ARRAY_SIZE(kcoro_sleep_ms_table); i++) {
		t0 = ktime_get();
		ctx->ms_ret[i] = kcoro_msleep(kcoro_sleep_ms_table[i]);
		ctx->ms_elapsed[i] = ktime_to_ns(ktime_sub(ktime_get(), t0));
	}
	return 0;
}

/**
 * kcoro_test_sleep() - sleeps last at least as long as asked
 * @test: the test
 *
 * One coroutine per CPU, all at once, sleeps for a list of durations with
 * kcoro_sleep_ns() and kcoro_msleep() and measures each with ktime_get():
 * no sleep may be shorter than requested, and every call returns 0.
 */
static void kcoro_test_sleep(struct kunit *test)
{
	unsigned int i, n, nr, ncpu = num_online_cpus();
	struct kcoro_sleep_ctx *ctx;
	struct kcoro **co;

	ctx = kunit_kcalloc(test, ncpu, sizeof(*ctx), GFP_KERNEL);
	co = kunit_kcalloc(test, ncpu, sizeof(*co), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	KUNIT_ASSERT_NOT_NULL(test, co);

	for (nr = 0; nr < ncpu; nr++) {
		co[nr] = kcoro_test_spawn_on(kcoro_sleep_fn, &ctx[nr],
					     kcoro_test_cpu(nr));
		if (IS_ERR(co[nr])) {
			KUNIT_FAIL(test, "spawn: %pe", co[nr]);
			break;
		}
	}
	for (n = 0; n < nr; n++)
		KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, co[n]), 0L);

	for (n = 0; n < nr; n++) {
		for (i = 0; i < ARRAY_SIZE(kcoro_sleep_ns_table); i++) {
			KUNIT_EXPECT_EQ(test, ctx[n].ns_ret[i], 0);
			KUNIT_EXPECT_GE_MSG(test, ctx[n].ns_elapsed[i],
					    (s64)kcoro_sleep_ns_table[i],
					    "kcoro_sleep_ns(%llu) woke early",
					    kcoro_sleep_ns_table[i]);
		}
		for (i = 0; i < ARRAY_SIZE(kcoro_sleep_ms_table); i++) {
			KUNIT_EXPECT_EQ(test, ctx[n].ms_ret[i], 0);
			KUNIT_EXPECT_GE_MSG(test, ctx[n].ms_elapsed[i],
					    (s64)kcoro_sleep_ms_table[i] * NSEC_PER_MSEC,
					    "kcoro_msleep(%u) woke early",
					    kcoro_sleep_ms_table[i]);
		}
	}
}

/*
 * Case: short sleeps on an otherwise idle scheduler are never lost.
 */

#define SLEEP_STRESS_ITERS	500
#define SLEEP_STRESS_STEP_NS	250
#define SLEEP_STRESS_MAX_NS	(100 * NSEC_PER_USEC)
#define SLEEP_STRESS_STALL_MS	KCORO_KUNIT_STALL_MS

struct kcoro_sleep_stress {
	atomic_t progress;
	unsigned int early;
};

static long kcoro_sleep_stress_fn(void *arg)
{
	struct kcoro_sleep_stress *s = arg;
	unsigned int i;
	s64 elapsed;
	ktime_t t0;
	u64 ns;

	for (i = 0; i < SLEEP_STRESS_ITERS; i++) {
		ns = (u64)i * SLEEP_STRESS_STEP_NS % SLEEP_STRESS_MAX_NS;
		t0 = ktime_get();
		kcoro_sleep_ns(ns);
		elapsed = ktime_to_ns(ktime_sub(ktime_get(), t0));
		if (elapsed < (s64)ns)
			s->early++;
		atomic_set_release(&s->progress, i + 1);
	}
	return i;
}

/**
 * kcoro_test_sleep_wakeups() - no timer wake-up of a scheduler is lost
 * @test: the test
 *
 * A single coroutine per CPU, alone on its scheduler, sleeps hundreds of
 * times for durations swept from 0 to 100 us, so the timer interrupt lands
 * at varying points of the scheduler's way to sleep, including the window
 * between finding its queue empty and calling schedule().  If the scheduler
 * misses a wake-up the coroutine stops progressing: that is counted as a
 * stall (and the scheduler kicked so the test can go on).  There must be
 * none, and no sleep may be cut short.
 */
static void kcoro_test_sleep_wakeups(struct kunit *test)
{
	unsigned int i, n, ncpu = num_online_cpus(), stalls = 0;
	struct kcoro_sleep_stress *s;
	struct kcoro **co;

	s = kunit_kcalloc(test, ncpu, sizeof(*s), GFP_KERNEL);
	co = kunit_kcalloc(test, ncpu, sizeof(*co), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	KUNIT_ASSERT_NOT_NULL(test, co);

	for (n = 0; n < ncpu; n++) {
		co[n] = kcoro_test_spawn_on(kcoro_sleep_stress_fn, &s[n],
					    kcoro_test_cpu(n));
		if (IS_ERR(co[n])) {
			KUNIT_FAIL(test, "spawn: %pe", co[n]);
			break;
		}
	}

	for (i = 0; i < n; i++) {
		unsigned long last_change = jiffies;
		int last = -1, now, kicks = 0;

		/* After two fruitless kicks, kcoro_test_finish() gives up. */
		while (!kcoro_done(co[i]) && kicks < 2) {
			now = atomic_read(&s[i].progress);
			if (now != last) {
				last = now;
				last_change = jiffies;
				kicks = 0;
			} else if (time_after(jiffies, last_change +
					      msecs_to_jiffies(SLEEP_STRESS_STALL_MS))) {
				if (!stalls++)
					KUNIT_FAIL(test, "CPU %d: sleeper stuck after %d sleeps",
						   kcoro_cpu(co[i]), now);
				kcoro_kunit_kick();
				kicks++;
				last_change = jiffies;
			}
			msleep(20);
		}
		KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, co[i]),
				(long)SLEEP_STRESS_ITERS);
		KUNIT_EXPECT_EQ(test, s[i].early, 0U);
	}
	KUNIT_EXPECT_EQ_MSG(test, stalls, 0U, "lost scheduler wake-ups");
}

/*
 * Case: kcoro_unpark() from hard interrupts racing with the scheduler.
 */

#define IRQ_PINGS	40000
#define IRQ_STALL_MS	KCORO_KUNIT_STALL_MS

struct kcoro_irq_ctx {
	struct kcoro *co;
	int cpu;
	atomic_t req;		/* last ping, -1 to stop */
	atomic_t ack;		/* last ping seen by the coroutine */
	atomic_t hardirq;	/* unparks done in hard interrupt context */
	unsigned int handled;
	unsigned int errors;
	unsigned int stalls;
	unsigned int sent;
	struct completion done;
};

static long kcoro_irq_pingee_fn(void *arg)
{
	struct kcoro_irq_ctx *ctx = arg;
	int seen = 0, req;

	for (;;) {
		while ((req = atomic_read_acquire(&ctx->req)) == seen)
			kcoro_park();
		if (req < 0)
			break;
		if (req != seen + 1)
			ctx->errors++;
		seen = req;
		ctx->handled++;
		atomic_set_release(&ctx->ack, req);
	}
	return ctx->handled;
}

/* IPI handler on the coroutine's CPU. */
static void kcoro_irq_unpark(void *arg)
{
	struct kcoro_irq_ctx *ctx = arg;

	if (in_hardirq())
		atomic_inc(&ctx->hardirq);
	kcoro_unpark(ctx->co);
}

/* Wait for @req to be acknowledged, kicking the schedulers once if stuck. */
static bool kcoro_irq_wait_ack(struct kcoro_irq_ctx *ctx, int req)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(IRQ_STALL_MS);
	bool kicked = false;

	while (atomic_read_acquire(&ctx->ack) != req) {
		if (time_after(jiffies, deadline)) {
			if (kicked)
				return false;
			ctx->stalls++;
			kcoro_kunit_kick();
			kicked = true;
			deadline = jiffies + msecs_to_jiffies(IRQ_STALL_MS);
		}
		cond_resched();
		cpu_relax();
	}
	return true;
}

/* Kthread on another CPU: every ping is an IPI that unparks the coroutine. */
static int kcoro_irq_pinger_fn(void *arg)
{
	struct kcoro_irq_ctx *ctx = arg;
	int i;

	for (i = 1; i <= IRQ_PINGS; i++) {
		atomic_set_release(&ctx->req, i);
		/* Sweep the IPI across the target's way from ack to idle. */
		ndelay(i * 97 % 20000);
		smp_call_function_single(ctx->cpu, kcoro_irq_unpark, ctx, 1);
		ctx->sent = i;
		if (!kcoro_irq_wait_ack(ctx, i))
			break;
	}
	atomic_set_release(&ctx->req, -1);
	kcoro_unpark(ctx->co);
	complete(&ctx->done);
	return 0;
}

/**
 * kcoro_test_irq_unpark() - unparks from hard interrupts are never lost
 * @test: the test
 *
 * A kthread on one CPU pings a coroutine on another many times, each ping
 * an IPI whose handler calls kcoro_unpark(), and waits for the coroutine to
 * acknowledge it.  The delay before each IPI is swept, so the interrupt
 * hits the target scheduler at every point between the coroutine's
 * acknowledgment and the scheduler going idle.  Every ping must be
 * acknowledged, in order, without kicking the scheduler.
 */
static void kcoro_test_irq_unpark(struct kunit *test)
{
	struct kcoro_irq_ctx *ctx;
	struct task_struct *t;
	struct kcoro *co;
	long ret;

	if (num_online_cpus() < 2)
		kunit_skip(test, "needs two CPUs");
	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	init_completion(&ctx->done);
	ctx->cpu = kcoro_test_cpu(1);
	co = kcoro_test_spawn_on(kcoro_irq_pingee_fn, ctx, ctx->cpu);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
	ctx->co = co;

	t = kcoro_test_kthread_on(kcoro_irq_pinger_fn, ctx, "kcoro_test_ping",
				  kcoro_test_cpu(0));
	if (IS_ERR(t)) {
		KUNIT_FAIL(test, "pinger kthread: %pe", t);
		atomic_set_release(&ctx->req, -1);
		kcoro_unpark(co);
	}
	/* The pinger ends by itself, when done or after giving up. */
	if (!IS_ERR(t)) {
		wait_for_completion(&ctx->done);
		kthread_stop_put(t);
		KUNIT_EXPECT_EQ_MSG(test, ctx->stalls, 0U,
				    "wake-up from a hard interrupt lost at ping %u", ctx->sent);
		KUNIT_EXPECT_EQ(test, ctx->sent, IRQ_PINGS);
		KUNIT_EXPECT_GT(test, atomic_read(&ctx->hardirq), 0);
	}
	ret = kcoro_test_finish(test, co);
	if (IS_ERR(t))
		return;
	KUNIT_EXPECT_EQ(test, ret, (long)IRQ_PINGS);
	KUNIT_EXPECT_EQ(test, ctx->handled, IRQ_PINGS);
	KUNIT_EXPECT_EQ(test, ctx->errors, 0U);
}

/*
 * Case: stack traces, the stack and STACK_END_MAGIC inside a coroutine.
 */

#define TRACE_MAX	32

struct kcoro_trace_ctx {
	unsigned long entries[2][TRACE_MAX];
	unsigned int nr[2];
	bool on_stack;
	bool magic;
	bool end_magic;
	void *stack;
	struct task_struct *task;
	struct kcoro *self;
	int *rendezvous;
};

static noinline __noclone unsigned int
kcoro_trace_leaf(struct kcoro_trace_ctx *ctx)
{
	unsigned long local = 0;

	ctx->on_stack = object_is_on_stack(&local);
	ctx->magic = *(unsigned long *)task_stack_page(current) == STACK_END_MAGIC;
	ctx->end_magic = *end_of_stack(current) == STACK_END_MAGIC;
	ctx->stack = task_stack_page(current);
	ctx->task = current;
	ctx->self = kcoro_current();
	ctx->nr[0] = stack_trace_save(ctx->entries[0], TRACE_MAX, 0);
	/* Let the sibling record its stack while this one is still alive. */
	WRITE_ONCE(*ctx->rendezvous, READ_ONCE(*ctx->rendezvous) + 1);
	while (READ_ONCE(*ctx->rendezvous) < 2)
		kcoro_yield();
	kcoro_yield();
	ctx->nr[1] = stack_trace_save(ctx->entries[1], TRACE_MAX, 0);
	barrier_data(&local);
	return ctx->nr[0] + ctx->nr[1];
}

/* Called through a pointer by kcoro_entry(), so never inlined or cloned. */
static noinline long kcoro_trace_body(void *arg)
{
	struct kcoro_trace_ctx *ctx = arg;
	unsigned int n;

	n = kcoro_trace_leaf(ctx);
	/* Not a tail call: this frame is live while the leaf takes traces. */
	return n + 1;
}

/* Does %ps output @sym ("name" or "name [module]") name function @name? */
static bool kcoro_test_sym_is(const char *sym, const char *name)
{
	size_t len = strlen(name);

	return !strncmp(sym, name, len) && (!sym[len] || sym[len] == ' ');
}

static bool kcoro_test_trace_has(const unsigned long *entries, unsigned int nr,
				 const char *name)
{
	char sym[KSYM_SYMBOL_LEN];
	unsigned int i;

	for (i = 0; i < nr; i++) {
		snprintf(sym, sizeof(sym), "%ps", (void *)entries[i]);
		if (kcoro_test_sym_is(sym, name))
			return true;
	}
	return false;
}

/**
 * kcoro_test_stack() - a coroutine's stack looks like a task stack
 * @test: the test
 *
 * Inside two coroutines on one CPU, alive at the same time: a local is on
 * current's stack, that stack starts with STACK_END_MAGIC, and
 * stack_trace_save() (before and after a yield) unwinds through the leaf,
 * the coroutine body and on to kcoro_entry().  Both run on the same
 * scheduler task but on different stacks.
 */
static void kcoro_test_stack(struct kunit *test)
{
	struct kcoro_trace_ctx *ctx;
	int rendezvous = 0;
	struct kcoro *co[2];
	unsigned int i, t;
	int cpu;

	ctx = kunit_kcalloc(test, 2, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	cpu = kcoro_test_cpu(0);
	for (i = 0; i < 2; i++) {
		ctx[i].rendezvous = &rendezvous;
		co[i] = kcoro_test_spawn_on(kcoro_trace_body, &ctx[i], cpu);
		if (IS_ERR(co[i])) {
			KUNIT_FAIL(test, "spawn: %pe", co[i]);
			/* Release the other one from the rendezvous. */
			WRITE_ONCE(rendezvous, 2);
		}
	}
	for (i = 0; i < 2; i++) {
		long ret;

		if (IS_ERR(co[i]))
			continue;
		ret = kcoro_test_join(test, co[i]);
		KUNIT_EXPECT_EQ(test, ret, (long)(ctx[i].nr[0] + ctx[i].nr[1] + 1));
		KUNIT_EXPECT_PTR_EQ(test, ctx[i].self, co[i]);
		kcoro_put(co[i]);
	}
	KUNIT_ASSERT_FALSE(test, IS_ERR(co[0]) || IS_ERR(co[1]));

	for (i = 0; i < 2; i++) {
		KUNIT_EXPECT_TRUE(test, ctx[i].on_stack);
		KUNIT_EXPECT_TRUE(test, ctx[i].magic);
		KUNIT_EXPECT_TRUE(test, ctx[i].end_magic);
		for (t = 0; t < 2; t++) {
			const unsigned long *e = ctx[i].entries[t];
			unsigned int nr = ctx[i].nr[t];

			KUNIT_EXPECT_GT(test, nr, 0U);
			KUNIT_EXPECT_TRUE_MSG(test, kcoro_test_trace_has(e, nr, "kcoro_trace_leaf"),
					      "coroutine %u trace %u", i, t);
			KUNIT_EXPECT_TRUE_MSG(test, kcoro_test_trace_has(e, nr, "kcoro_trace_body"),
					      "coroutine %u trace %u", i, t);
			KUNIT_EXPECT_TRUE_MSG(test, kcoro_test_trace_has(e, nr, "kcoro_entry"),
					      "coroutine %u trace %u", i, t);
		}
	}
	/* Same scheduler kthread, distinct stacks, neither the test's. */
	KUNIT_EXPECT_PTR_EQ(test, ctx[0].task, ctx[1].task);
	KUNIT_EXPECT_PTR_NE(test, ctx[0].stack, ctx[1].stack);
	KUNIT_EXPECT_PTR_NE(test, ctx[0].task, current);
	KUNIT_EXPECT_FALSE(test, object_is_on_stack(ctx[0].stack));
}

/*
 * Case: a coroutine blocking its scheduler kthread in msleep().
 */

#define BLOCK_MS	100
/* The last sleep runs with the hand-off turned off. */
#define BLOCK_TIMES	3
#define BLOCK_HANDOFFS	(BLOCK_TIMES - 1)

struct kcoro_block_ctx;

struct kcoro_block_player {
	struct kcoro_block_ctx *ctx;
	int me;
};

struct kcoro_block_ctx {
	struct kcoro_block_player player[2];
	int turn;
	unsigned int hits[2];
	unsigned int errors;
	atomic_t ticks;
	unsigned long slept_jiffies[BLOCK_TIMES];
	unsigned int ping_during[BLOCK_TIMES];
	int ticks_during[BLOCK_TIMES];
	int other_during[BLOCK_TIMES];
	bool self_ok[BLOCK_TIMES];
	int cpu_after[BLOCK_TIMES];
	atomic_t other_progress;
	atomic_t stop;
	atomic_t stop_other;
	bool abort;
};

static bool kcoro_block_stop(struct kcoro_block_ctx *ctx)
{
	return atomic_read(&ctx->stop) || READ_ONCE(ctx->abort);
}

/*
 * Yield ping-pong with exact alternation, until the sleeper is done.  The
 * players share a CPU with the sleeper, but not always a kthread: while
 * it blocks, a standby kthread runs them.
 */
static long kcoro_block_player_fn(void *arg)
{
	struct kcoro_block_player *p = arg;
	struct kcoro_block_ctx *ctx = p->ctx;
	int me = p->me;
	unsigned int mine;

	for (;;) {
		while (READ_ONCE(ctx->turn) != me) {
			if (kcoro_block_stop(ctx))
				return READ_ONCE(ctx->hits[me]);
			kcoro_yield();
		}
		mine = READ_ONCE(ctx->hits[me]);
		if (READ_ONCE(ctx->hits[!me]) != mine + me)
			ctx->errors++;
		WRITE_ONCE(ctx->hits[me], mine + 1);
		WRITE_ONCE(ctx->turn, !me);
	}
}

/* Same CPU as the sleeper: counts its steps. */
static long kcoro_block_ticker_fn(void *arg)
{
	struct kcoro_block_ctx *ctx = arg;

	while (!kcoro_block_stop(ctx)) {
		atomic_inc(&ctx->ticks);
		kcoro_yield();
	}
	return 0;
}

static long kcoro_block_sleeper_fn(void *arg)
{
	struct kcoro_block_ctx *ctx = arg;
	struct kcoro *self = kcoro_current();
	int k, ticks, other, t0;
	unsigned int ping;
	unsigned long j0;
	bool was = true;

	for (k = 0; k < BLOCK_TIMES; k++) {
		/* Let the others get going (and come back from a hand-off). */
		t0 = atomic_read(&ctx->ticks);
		while (atomic_read(&ctx->ticks) - t0 < 10) {
			if (READ_ONCE(ctx->abort))
				return -ECANCELED;
			kcoro_yield();
		}
		if (k == BLOCK_HANDOFFS)
			was = kcoro_set_handoff(false);
		ping = READ_ONCE(ctx->hits[0]);
		ticks = atomic_read(&ctx->ticks);
		other = atomic_read(&ctx->other_progress);
		/*
		 * msleep() promises jiffies, not clock time: under QEMU TCG a
		 * late tick leaves jiffies behind the clock, and the sleep can
		 * take less clock time than asked.
		 */
		j0 = jiffies;
		msleep(BLOCK_MS);
		ctx->slept_jiffies[k] = jiffies - j0;
		ctx->ping_during[k] = READ_ONCE(ctx->hits[0]) - ping;
		ctx->ticks_during[k] = atomic_read(&ctx->ticks) - ticks;
		ctx->other_during[k] = atomic_read(&ctx->other_progress) - other;
		ctx->self_ok[k] = kcoro_current() == self;
		ctx->cpu_after[k] = raw_smp_processor_id();
		if (k == BLOCK_HANDOFFS)
			kcoro_set_handoff(was);
	}
	atomic_set(&ctx->stop, 1);
	return 1;
}

/* On another CPU: counts its steps until told to stop. */
static long kcoro_block_other_fn(void *arg)
{
	struct kcoro_block_ctx *ctx = arg;

	while (!atomic_read(&ctx->stop_other)) {
		atomic_inc(&ctx->other_progress);
		kcoro_yield();
	}
	return 0;
}

/**
 * kcoro_test_blocking_sibling() - msleep() in a coroutine blocks only itself
 * @test: the test
 *
 * On one CPU two coroutines play yield ping-pong and a third counts its
 * steps, while a fourth blocks its scheduler kthread in a plain msleep()
 * of 100 ms, three times.  The first two times the hand-off gives the run
 * queue to a standby kthread: the siblings keep running during the sleep
 * (their progress is measured), and the sleeper comes back on its CPU as
 * the same coroutine.  The third time the hand-off is off: the siblings
 * make no progress at all, which shows what the first two measure.  The
 * ping-pong keeps exact alternation throughout, and a coroutine on
 * another CPU (if any) keeps running.
 */
static void kcoro_test_blocking_sibling(struct kunit *test)
{
	struct kcoro *co[4], *other = NULL;
	struct kcoro_stats before, after;
	struct kcoro_block_ctx *ctx;
	int cpu, i, k, other_during = 0;
	long ret;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	cpu = kcoro_test_cpu(0);
	kcoro_get_stats(&before);

	if (num_online_cpus() > 1) {
		other = kcoro_test_spawn_on(kcoro_block_other_fn, ctx,
					    kcoro_test_cpu(1));
		KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(other), "spawn: %pe", other);
	}
	for (i = 0; i < 2; i++) {
		ctx->player[i].ctx = ctx;
		ctx->player[i].me = i;
		co[i] = kcoro_test_spawn_on(kcoro_block_player_fn,
					    &ctx->player[i], cpu);
	}
	co[2] = kcoro_test_spawn_on(kcoro_block_ticker_fn, ctx, cpu);
	co[3] = kcoro_test_spawn_on(kcoro_block_sleeper_fn, ctx, cpu);
	for (i = 0; i < 4; i++) {
		if (IS_ERR(co[i])) {
			KUNIT_FAIL(test, "spawn %d: %pe", i, co[i]);
			WRITE_ONCE(ctx->abort, true);
		}
	}
	for (i = 0; i < 4; i++) {
		ret = kcoro_test_finish(test, co[i]);
		if (!ctx->abort && i == 3)
			KUNIT_EXPECT_EQ(test, ret, 1L);
		else if (!ctx->abort && i < 2)
			KUNIT_EXPECT_EQ(test, ret, (long)ctx->hits[i]);
	}
	atomic_set(&ctx->stop_other, 1);
	KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, other), 0L);
	for (i = 0; i < 4; i++)
		KUNIT_ASSERT_FALSE(test, IS_ERR(co[i]));
	kcoro_get_stats(&after);

	KUNIT_EXPECT_EQ(test, ctx->errors, 0U);
	KUNIT_EXPECT_LE(test, ctx->hits[0] - ctx->hits[1], 1U);
	for (k = 0; k < BLOCK_TIMES; k++) {
		KUNIT_EXPECT_GE(test, ctx->slept_jiffies[k], msecs_to_jiffies(BLOCK_MS));
		KUNIT_EXPECT_TRUE_MSG(test, ctx->self_ok[k],
				      "kcoro_current() changed across msleep() %d", k);
		KUNIT_EXPECT_EQ(test, ctx->cpu_after[k], cpu);
		other_during += ctx->other_during[k];
		kunit_info(test, "sleep %d (hand-off %s): siblings made %d steps and %u ping-pong rounds in %lu jiffies",
			   k, k < BLOCK_HANDOFFS ? "on" : "off", ctx->ticks_during[k],
			   ctx->ping_during[k], ctx->slept_jiffies[k]);
		if (k == BLOCK_HANDOFFS) {
			/* Nobody runs this CPU's coroutines: exactly none. */
			KUNIT_EXPECT_EQ(test, ctx->ticks_during[k], 0);
			KUNIT_EXPECT_EQ(test, ctx->ping_during[k], 0U);
		} else if (IS_ENABLED(CONFIG_PREEMPT_NOTIFIERS)) {
			KUNIT_EXPECT_GT(test, ctx->ticks_during[k], 0);
			KUNIT_EXPECT_GT(test, ctx->ping_during[k], 0U);
		}
	}
	if (IS_ENABLED(CONFIG_PREEMPT_NOTIFIERS))
		KUNIT_EXPECT_GE(test, after.handoffs - before.handoffs,
				(u64)BLOCK_HANDOFFS);
	if (other)
		KUNIT_EXPECT_GT_MSG(test, other_during, 0,
				    "the other CPU's coroutine stalled while this CPU was blocked");
}

/*
 * Case: a stress of blocking coroutines: many coroutines of one CPU block
 * in msleep() and mutex_lock() at once, so that hand-offs happen back to
 * back, run out of standby kthreads and grow the pool, while others yield
 * and park on the same CPU.
 */

#define HSTRESS_BLOCKERS	12
#define HSTRESS_YIELDERS	4

static unsigned int handoff_rounds = 25;
module_param(handoff_rounds, uint, 0444);
MODULE_PARM_DESC(handoff_rounds, "blocking rounds of each coroutine in handoff_stress (default 25)");

struct kcoro_hstress_ctx {
	struct mutex lock;	/* contended by the blockers */
	atomic_t in_lock;
	atomic_t errors;
	atomic_t steps;
	atomic_t stop;
};

static long kcoro_hstress_blocker_fn(void *arg)
{
	struct kcoro_hstress_ctx *ctx = arg;
	struct kcoro *self = kcoro_current();
	int cpu = raw_smp_processor_id();
	int i;

	for (i = 0; i < handoff_rounds; i++) {
		if (i & 1) {
			msleep(1 + i % 3);
		} else {
			mutex_lock(&ctx->lock);
			if (atomic_inc_return(&ctx->in_lock) != 1)
				atomic_inc(&ctx->errors);
			usleep_range(200, 400);
			atomic_dec(&ctx->in_lock);
			mutex_unlock(&ctx->lock);
		}
		if (kcoro_current() != self || raw_smp_processor_id() != cpu)
			atomic_inc(&ctx->errors);
		if (i % 4 == 3)
			kcoro_sleep_ns(50 * NSEC_PER_USEC);
		else
			kcoro_yield();
	}
	return i;
}

static long kcoro_hstress_yielder_fn(void *arg)
{
	struct kcoro_hstress_ctx *ctx = arg;

	while (!atomic_read(&ctx->stop)) {
		atomic_inc(&ctx->steps);
		kcoro_yield();
	}
	return 0;
}

/**
 * kcoro_test_handoff_stress() - many blocking coroutines on one CPU
 * @test: the test
 *
 * Twelve coroutines of one CPU block handoff_rounds times each (msleep(),
 * and a contended mutex around usleep_range()) between yields and kcoro
 * sleeps;
 * four more yield all along.  Every blocker finishes all its rounds on its
 * CPU as itself, the mutex is never held twice, the yielders make
 * progress, and hand-offs happened.
 */
static void kcoro_test_handoff_stress(struct kunit *test)
{
	struct kcoro *co[HSTRESS_BLOCKERS + HSTRESS_YIELDERS];
	struct kcoro_hstress_ctx *ctx;
	struct kcoro_stats before, after;
	int cpu = kcoro_test_cpu(0), i;
	long ret;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	mutex_init(&ctx->lock);
	kcoro_get_stats(&before);
	for (i = 0; i < ARRAY_SIZE(co); i++)
		co[i] = kcoro_test_spawn_on(i < HSTRESS_BLOCKERS ?
					    kcoro_hstress_blocker_fn :
					    kcoro_hstress_yielder_fn, ctx, cpu);
	for (i = 0; i < HSTRESS_BLOCKERS; i++) {
		KUNIT_EXPECT_FALSE(test, IS_ERR(co[i]));
		ret = kcoro_test_finish(test, co[i]);
		if (!IS_ERR(co[i]))
			KUNIT_EXPECT_EQ(test, ret, (long)handoff_rounds);
	}
	atomic_set(&ctx->stop, 1);
	for (; i < ARRAY_SIZE(co); i++) {
		KUNIT_EXPECT_FALSE(test, IS_ERR(co[i]));
		kcoro_test_finish(test, co[i]);
	}
	kcoro_get_stats(&after);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->errors), 0);
	KUNIT_EXPECT_GT(test, atomic_read(&ctx->steps), 0);
	kunit_info(test, "%llu hand-offs, %llu with the pool empty, %d yielder steps",
		   after.handoffs - before.handoffs,
		   after.handoff_missed - before.handoff_missed,
		   atomic_read(&ctx->steps));
	if (IS_ENABLED(CONFIG_PREEMPT_NOTIFIERS))
		KUNIT_EXPECT_GT(test, after.handoffs - before.handoffs, 0ULL);
}

/*
 * Case: blocked coroutines waiting for each other, deeper than the pool.
 */

#define CHAIN_LEN	6

struct kcoro_chain_ctx;

struct kcoro_chain_link {
	struct kcoro_chain_ctx *ctx;
	int i;
};

struct kcoro_chain_ctx {
	struct kcoro_chain_link link[CHAIN_LEN];
	struct completion done[CHAIN_LEN];
	int order[CHAIN_LEN];
	atomic_t n;
};

/* Block until the next one is done, then release the previous one. */
static long kcoro_chain_fn(void *arg)
{
	struct kcoro_chain_link *l = arg;
	struct kcoro_chain_ctx *ctx = l->ctx;

	if (l->i < CHAIN_LEN - 1)
		wait_for_completion(&ctx->done[l->i]);
	ctx->order[atomic_inc_return(&ctx->n) - 1] = l->i;
	if (l->i > 0)
		complete(&ctx->done[l->i - 1]);
	return l->i;
}

/**
 * kcoro_test_handoff_chain() - blocked coroutines released by later ones
 * @test: the test
 *
 * Six coroutines of one CPU: each blocks in wait_for_completion() until the
 * one spawned after it has run, so five kthreads are blocked at once before
 * the last one can run.  A CPU starts with one standby kthread: every
 * further hand-off finds the pool empty, the pool grows, and the hand-off
 * must be retried by the new standby.  They finish last to first.
 */
static void kcoro_test_handoff_chain(struct kunit *test)
{
	struct kcoro *co[CHAIN_LEN];
	struct kcoro_stats before, after;
	struct kcoro_chain_ctx *ctx;
	int cpu = kcoro_test_cpu(0), i;

	if (!IS_ENABLED(CONFIG_PREEMPT_NOTIFIERS))
		kunit_skip(test, "no preempt notifiers: no hand-off");
	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	kcoro_get_stats(&before);
	for (i = 0; i < CHAIN_LEN; i++) {
		init_completion(&ctx->done[i]);
		ctx->link[i].ctx = ctx;
		ctx->link[i].i = i;
	}
	for (i = 0; i < CHAIN_LEN; i++) {
		co[i] = kcoro_test_spawn_on(kcoro_chain_fn, &ctx->link[i], cpu);
		if (IS_ERR(co[i])) {
			KUNIT_FAIL(test, "spawn %d: %pe", i, co[i]);
			/* Release the ones waiting for it. */
			while (i--)
				complete(&ctx->done[i]);
			return;
		}
	}
	for (i = CHAIN_LEN - 1; i >= 0; i--)
		KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, co[i]), (long)i);
	kcoro_get_stats(&after);
	for (i = 0; i < CHAIN_LEN; i++)
		KUNIT_EXPECT_EQ(test, ctx->order[i], CHAIN_LEN - 1 - i);
	kunit_info(test, "%llu hand-offs, %llu with the pool empty",
		   after.handoffs - before.handoffs,
		   after.handoff_missed - before.handoff_missed);
	KUNIT_EXPECT_GE(test, after.handoffs - before.handoffs,
			(u64)CHAIN_LEN - 1);
}

/*
 * Case: the guards at suspension points.
 */

struct kcoro_guard_ctx {
	spinlock_t spin;	/* held across a suspension attempt */
	struct mutex mutex;	/* likewise */
	long seen[7];
	int sleep_ret;
	int sleep_ok;
};

/* Suspension attempts that must be refused, one per slot of seen[]. */
static long kcoro_guard_fn(void *arg)
{
	struct kcoro_guard_ctx *ctx = arg;
	long base = kcoro_guard_violations();
	int n = 0;

	spin_lock(&ctx->spin);
	kcoro_yield();
	spin_unlock(&ctx->spin);
	ctx->seen[n++] = kcoro_guard_violations() - base;

	/* A token first: if the park were not refused it returns anyway. */
	kcoro_unpark(kcoro_current());
	rcu_read_lock();
	kcoro_park();
	rcu_read_unlock();
	ctx->seen[n++] = kcoro_guard_violations() - base;

	preempt_disable();
	ctx->sleep_ret = kcoro_sleep_ns(1000);
	preempt_enable();
	ctx->seen[n++] = kcoro_guard_violations() - base;

	pagefault_disable();
	kcoro_yield();
	pagefault_enable();
	ctx->seen[n++] = kcoro_guard_violations() - base;

	set_current_state(TASK_INTERRUPTIBLE);
	kcoro_yield();
	__set_current_state(TASK_RUNNING);
	ctx->seen[n++] = kcoro_guard_violations() - base;

	mutex_lock(&ctx->mutex);
	kcoro_yield();
	mutex_unlock(&ctx->mutex);
	ctx->seen[n++] = kcoro_guard_violations() - base;

	/* Nothing held: suspending works again, and is not counted. */
	kcoro_yield();
	ctx->sleep_ok = kcoro_sleep_ns(1000);
	ctx->seen[n++] = kcoro_guard_violations() - base;
	return n;
}

/**
 * kcoro_test_guard() - suspending with per-task state held is refused
 * @test: the test
 *
 * A coroutine tries to suspend holding a spinlock, in an RCU read-side
 * section, with preemption disabled, with page faults disabled, with a
 * task state set, and holding a mutex.  Each attempt that the kernel's
 * configuration lets kcoro see (a spinlock needs CONFIG_PREEMPT_COUNT, RCU
 * and page faults CONFIG_DEBUG_ATOMIC_SLEEP, a mutex lockdep) is counted
 * and refused (the task state is reset instead, and the yield goes on);
 * the coroutine goes on running, nothing crashes, and afterwards it
 * suspends normally.
 */
static void kcoro_test_guard(struct kunit *test)
{
	bool debug = IS_ENABLED(CONFIG_DEBUG_ATOMIC_SLEEP);
	bool count = IS_ENABLED(CONFIG_PREEMPT_COUNT);
	struct kcoro_guard_ctx *ctx;
	long expect = 0;
	struct kcoro *co;
	int n = 0;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	spin_lock_init(&ctx->spin);
	mutex_init(&ctx->mutex);
	co = kcoro_test_spawn_on(kcoro_guard_fn, ctx, kcoro_test_cpu(0));
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
	KUNIT_ASSERT_EQ(test, kcoro_test_finish(test, co), 7L);

	expect += count;					/* spinlock */
	KUNIT_EXPECT_EQ(test, ctx->seen[n++], expect);
	expect += IS_ENABLED(CONFIG_PREEMPT_RCU) ? debug : count; /* RCU */
	KUNIT_EXPECT_EQ(test, ctx->seen[n++], expect);
	expect += count;					/* preempt_disable() */
	KUNIT_EXPECT_EQ(test, ctx->seen[n++], expect);
	KUNIT_EXPECT_EQ(test, ctx->sleep_ret, count ? -EPERM : 0);
	expect += debug;					/* pagefault_disable() */
	KUNIT_EXPECT_EQ(test, ctx->seen[n++], expect);
	expect += 1;						/* task state */
	KUNIT_EXPECT_EQ(test, ctx->seen[n++], expect);
	expect += IS_ENABLED(CONFIG_LOCKDEP);			/* mutex */
	KUNIT_EXPECT_EQ(test, ctx->seen[n++], expect);
	KUNIT_EXPECT_EQ(test, ctx->seen[n++], expect);		/* nothing held */
	KUNIT_EXPECT_EQ(test, ctx->sleep_ok, 0);
}

/*
 * Case: the run-next slot.
 */

#define NEXT_ROUNDS	3000

struct kcoro_next_ctx {
	struct kcoro *player[2];
	bool ready;
	int turn;
	unsigned int rounds[2];
	unsigned int counter;
	unsigned int counter_at_end;
	bool done;
};

/*
 * Park ping-pong: each player hands the turn over with kcoro_unpark(),
 * which puts the other into the run-next slot of their shared CPU.
 */
static long kcoro_next_player_fn(void *arg)
{
	struct kcoro_next_ctx *ctx = arg;
	int me = READ_ONCE(ctx->player[1]) == kcoro_current();
	unsigned int i;

	for (i = 0; i < NEXT_ROUNDS; i++) {
		while (READ_ONCE(ctx->turn) != me)
			kcoro_park();
		WRITE_ONCE(ctx->rounds[me], i + 1);
		WRITE_ONCE(ctx->turn, !me);
		kcoro_unpark(ctx->player[!me]);
	}
	if (me == 0)
		WRITE_ONCE(ctx->counter_at_end, READ_ONCE(ctx->counter));
	WRITE_ONCE(ctx->done, true);
	return i;
}

static long kcoro_next_counter_fn(void *arg)
{
	struct kcoro_next_ctx *ctx = arg;

	while (!READ_ONCE(ctx->done)) {
		WRITE_ONCE(ctx->counter, ctx->counter + 1);
		kcoro_yield();
	}
	return 0;
}

static long kcoro_next_start_fn(void *arg)
{
	struct kcoro_next_ctx *ctx = arg;

	while (!READ_ONCE(ctx->ready))
		kcoro_yield();
	return kcoro_next_player_fn(arg);
}

/**
 * kcoro_test_run_next() - the run-next slot is used and cannot starve
 * @test: the test
 *
 * Two coroutines of one CPU wake each other 3000 times each, always into
 * the run-next slot, while a third yields in a loop on the same CPU.
 * Without a cap the pair would own the CPU and the third would not run
 * once until they finish; a plain FIFO would run it after every wake-up.
 * The third must have run at least a quarter as often as the pair handed
 * over (the cap), and at most 1.5 times (the slot was used).
 */
static void kcoro_test_run_next(struct kunit *test)
{
	struct kcoro_next_ctx *ctx;
	int cpu = kcoro_test_cpu(0), i;
	struct kcoro *counter;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	for (i = 0; i < 2; i++)
		ctx->player[i] = kcoro_test_spawn_on(kcoro_next_start_fn, ctx, cpu);
	counter = kcoro_test_spawn_on(kcoro_next_counter_fn, ctx, cpu);
	if (IS_ERR(ctx->player[0]) || IS_ERR(ctx->player[1]) || IS_ERR(counter)) {
		KUNIT_FAIL(test, "spawn: %pe %pe %pe", ctx->player[0],
			   ctx->player[1], counter);
		WRITE_ONCE(ctx->done, true);
		WRITE_ONCE(ctx->turn, -1);
	}
	WRITE_ONCE(ctx->ready, true);
	/* Join both before putting either: each player unparks the other. */
	for (i = 0; i < 2; i++)
		if (!IS_ERR(ctx->player[i]))
			KUNIT_EXPECT_EQ(test, kcoro_test_join(test, ctx->player[i]),
					(long)NEXT_ROUNDS);
	for (i = 0; i < 2; i++)
		if (!IS_ERR(ctx->player[i]))
			kcoro_put(ctx->player[i]);
	KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, counter), 0L);
	kunit_info(test, "the third coroutine ran %u times during %u hand-overs",
		   ctx->counter_at_end, 2 * NEXT_ROUNDS);
	KUNIT_EXPECT_GE(test, ctx->counter_at_end, NEXT_ROUNDS / 4U);
	KUNIT_EXPECT_LE(test, ctx->counter_at_end, 3U * NEXT_ROUNDS / 2);
}

/*
 * Case: kcoro_join() and kcoro_wait_event() from coroutines and threads.
 */

#define JOIN_RESULT	4242L
#define JOIN_EVENTS	5

struct kcoro_join_ctx {
	struct kcoro *target;
	atomic_t release;
	atomic_t joining;
	wait_queue_head_t wq;
	atomic_t events;
};

static long kcoro_join_target_fn(void *arg)
{
	struct kcoro_join_ctx *ctx = arg;

	while (!atomic_read_acquire(&ctx->release))
		kcoro_park();
	return JOIN_RESULT;
}

static long kcoro_join_joiner_fn(void *arg)
{
	struct kcoro_join_ctx *ctx = arg;

	atomic_inc(&ctx->joining);
	return kcoro_join(ctx->target) + 1;
}

static long kcoro_join_waiter_fn(void *arg)
{
	struct kcoro_join_ctx *ctx = arg;

	/* Already true: must not park. */
	kcoro_wait_event(ctx->wq, atomic_read(&ctx->events) >= 0);
	kcoro_wait_event(ctx->wq, atomic_read(&ctx->events) >= JOIN_EVENTS);
	return atomic_read(&ctx->events);
}

/* Kthread: release the target a while after the joiners block on it. */
static int kcoro_join_releaser_fn(void *arg)
{
	struct kcoro_join_ctx *ctx = arg;

	msleep(30);
	atomic_set_release(&ctx->release, 1);
	kcoro_unpark(ctx->target);
	return 0;
}

/**
 * kcoro_test_join_wait() - joins and waits, from coroutines and the test
 * @test: the test
 *
 * Two coroutines (one on the target's CPU, one elsewhere if possible) join
 * a target that parks until a kthread releases it; the test thread blocks
 * in kcoro_join() on one of the joiners.  Each joiner returns the target's
 * result plus one.  A third coroutine kcoro_wait_event()s on a wait queue
 * until the test has posted enough events.
 */
static void kcoro_test_join_wait(struct kunit *test)
{
	struct kcoro *j[2], *waiter, *target;
	struct task_struct *releaser;
	struct kcoro_join_ctx *ctx;
	int i;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	init_waitqueue_head(&ctx->wq);

	waiter = kcoro_test_spawn_on(kcoro_join_waiter_fn, ctx, kcoro_test_cpu(1));
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(waiter), "spawn: %pe", waiter);
	target = kcoro_test_spawn_on(kcoro_join_target_fn, ctx, kcoro_test_cpu(0));
	if (IS_ERR(target)) {
		atomic_set(&ctx->events, JOIN_EVENTS);
		wake_up(&ctx->wq);
		kcoro_test_finish(test, waiter);
		KUNIT_FAIL_AND_ABORT(test, "spawn: %pe", target);
	}
	ctx->target = target;
	/* Joiners get the target through ctx: spawn publishes it to them. */
	for (i = 0; i < 2; i++)
		j[i] = kcoro_test_spawn_on(kcoro_join_joiner_fn, ctx,
					   kcoro_test_cpu(i + 1));

	/* Wait for the joiners to be inside kcoro_join(), then check them. */
	KUNIT_EXPECT_TRUE(test, kcoro_test_wait_for(atomic_read(&ctx->joining) ==
						    !IS_ERR(j[0]) + !IS_ERR(j[1])));
	msleep(20);
	KUNIT_EXPECT_FALSE(test, kcoro_done(target));
	for (i = 0; i < 2; i++)
		if (!IS_ERR(j[i]))
			KUNIT_EXPECT_FALSE(test, kcoro_done(j[i]));

	releaser = kcoro_test_kthread(kcoro_join_releaser_fn, ctx, "kcoro_test_rel");
	if (IS_ERR(releaser)) {
		KUNIT_FAIL(test, "releaser kthread: %pe", releaser);
		atomic_set_release(&ctx->release, 1);
		kcoro_unpark(target);
	}

	/* A real, blocking kcoro_join() from the test thread. */
	for (i = 0; i < 2; i++) {
		if (IS_ERR(j[i])) {
			KUNIT_FAIL(test, "spawn joiner: %pe", j[i]);
			continue;
		}
		KUNIT_EXPECT_EQ(test, kcoro_join(j[i]), JOIN_RESULT + 1);
		KUNIT_EXPECT_TRUE(test, kcoro_done(j[i]));
		kcoro_put(j[i]);
	}
	KUNIT_EXPECT_TRUE(test, kcoro_done(target));
	KUNIT_EXPECT_EQ(test, kcoro_join(target), JOIN_RESULT);
	KUNIT_EXPECT_EQ(test, kcoro_join(target), JOIN_RESULT);
	kcoro_put(target);
	if (!IS_ERR(releaser))
		KUNIT_EXPECT_EQ(test, kthread_stop_put(releaser), 0);

	/* kcoro_wait_event(): only the last event satisfies the waiter. */
	for (i = 0; i < JOIN_EVENTS - 1; i++) {
		atomic_inc(&ctx->events);
		wake_up(&ctx->wq);
		usleep_range(1000, 2000);
	}
	msleep(20);
	KUNIT_EXPECT_FALSE(test, kcoro_done(waiter));
	atomic_inc(&ctx->events);
	wake_up(&ctx->wq);
	KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, waiter), (long)JOIN_EVENTS);
}

/*
 * Case: many joiners racing with the end of the coroutine they join.
 */

#define JRACE_ROUNDS	2000
#define JRACE_JOINERS	3

struct kcoro_jrace_ctx {
	struct kcoro *target;
	long result[JRACE_JOINERS];
};

struct kcoro_jrace_joiner {
	struct kcoro_jrace_ctx *ctx;
	int n;
};

static long kcoro_jrace_target_fn(void *arg)
{
	kcoro_yield();
	return (long)arg;
}

static long kcoro_jrace_joiner_fn(void *arg)
{
	struct kcoro_jrace_joiner *j = arg;

	j->ctx->result[j->n] = kcoro_join(j->ctx->target);
	return j->ctx->result[j->n];
}

/**
 * kcoro_test_join_race() - every joiner of a finishing coroutine wakes up
 * @test: the test
 *
 * Round after round, a short-lived coroutine is joined by several
 * coroutines, on its own CPU and on another, spawned right after it so that
 * they reach kcoro_join() while it is finishing, and by the test thread.
 * This goes through every way a join can find its target: running, in
 * the middle of finishing, and done.  Every joiner must return the target's
 * result, and none may be left waiting.
 */
static void kcoro_test_join_race(struct kunit *test)
{
	struct kcoro_jrace_joiner jn[JRACE_JOINERS];
	struct kcoro *target, *co[JRACE_JOINERS];
	unsigned int round, bad = 0;
	struct kcoro_jrace_ctx ctx;
	int i, cpu;
	long ret;

	for (round = 0; round < JRACE_ROUNDS; round++) {
		memset(&ctx, 0, sizeof(ctx));
		cpu = kcoro_test_cpu(round);
		target = kcoro_test_spawn_on(kcoro_jrace_target_fn,
					     (void *)(unsigned long)round, cpu);
		KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(target), "spawn: %pe", target);
		ctx.target = target;
		for (i = 0; i < JRACE_JOINERS; i++) {
			jn[i].ctx = &ctx;
			jn[i].n = i;
			co[i] = kcoro_test_spawn_on(kcoro_jrace_joiner_fn, &jn[i],
						    i ? kcoro_test_cpu(round + 1) : cpu);
			if (IS_ERR(co[i]))
				KUNIT_FAIL(test, "spawn joiner: %pe", co[i]);
		}
		ret = kcoro_join(target);
		if (ret != round && !bad++)
			KUNIT_FAIL(test, "round %u: the test joined %ld", round, ret);
		for (i = 0; i < JRACE_JOINERS; i++) {
			if (IS_ERR(co[i]))
				continue;
			ret = kcoro_test_finish(test, co[i]);
			if ((ret != round || ctx.result[i] != round) && !bad++)
				KUNIT_FAIL(test, "round %u: joiner %d got %ld", round, i, ret);
		}
		kcoro_put(target);
	}
	KUNIT_EXPECT_EQ(test, bad, 0U);
}

/*
 * Case: kcoro_exit() from deep frames; fresh stacks carry no KASAN poison.
 */

#define EXIT_DEPTH	6
#define EXIT_RESULT	0x5eedL
#define EXIT_USERS	64
#define EXIT_USER_DEPTH	6
#define EXIT_USER_BUF	1024

static noinline __noclone long kcoro_exit_deep(long result, int depth)
{
	char buf[384];

	if (depth < 0)
		return -EINVAL;
	memset(buf, 0x5a ^ depth, sizeof(buf));
	barrier_data(buf);
	if (!depth) {
		/* Suspended with every frame's redzones live, then abandoned. */
		kcoro_yield();
		kcoro_exit(result);
	}
	/* buf stays live across the call: no tail call, redzones stay. */
	return kcoro_exit_deep(result, depth - 1) + buf[depth];
}

static long kcoro_exit_fn(void *arg)
{
	return kcoro_exit_deep((long)arg, EXIT_DEPTH) - 1;
}

static noinline __noclone unsigned long kcoro_stack_user(unsigned int depth, u8 seed)
{
	u8 buf[EXIT_USER_BUF];
	unsigned long sum = 0;
	unsigned int i;

	memset(buf, seed, sizeof(buf));
	barrier_data(buf);
	for (i = 0; i < sizeof(buf); i += 64)
		sum += buf[i];
	if (depth)
		sum += kcoro_stack_user(depth - 1, seed + 1);
	return sum;
}

static unsigned long kcoro_stack_user_sum(u8 seed)
{
	unsigned long sum = 0;
	unsigned int d;

	for (d = 0; d <= EXIT_USER_DEPTH; d++)
		sum += (EXIT_USER_BUF / 64) * (u8)(seed + d);
	return sum;
}

static long kcoro_stack_user_fn(void *arg)
{
	return kcoro_stack_user(EXIT_USER_DEPTH, (unsigned long)arg);
}

struct kcoro_exit_ctx {
	struct kcoro *victim;
	int cpu;
	long joined[2];
	unsigned int users;
	unsigned int bad;
	int spawn_err;
};

static long kcoro_exit_far_joiner_fn(void *arg)
{
	struct kcoro_exit_ctx *ctx = arg;

	ctx->joined[1] = kcoro_join(ctx->victim);
	return ctx->joined[1];
}

/*
 * On the victim's CPU: once it has exited, spawn stack users one at a time
 * from this CPU, so that the first of them gets the victim's stack if it
 * went back to the (per-CPU, LIFO) stack cache.
 */
static long kcoro_exit_near_joiner_fn(void *arg)
{
	struct kcoro_exit_ctx *ctx = arg;
	struct kcoro *co;
	unsigned int i;
	long ret;

	ctx->joined[0] = kcoro_join(ctx->victim);
	for (i = 0; i < EXIT_USERS; i++) {
		co = kcoro_test_spawn_on(kcoro_stack_user_fn,
					 (void *)(unsigned long)i, ctx->cpu);
		if (IS_ERR(co)) {
			ctx->spawn_err = PTR_ERR(co);
			break;
		}
		ret = kcoro_join(co);
		kcoro_put(co);
		if ((unsigned long)ret != kcoro_stack_user_sum(i))
			ctx->bad++;
		ctx->users++;
	}
	return ctx->joined[0];
}

/**
 * kcoro_test_exit_poison() - kcoro_exit() leaves no KASAN poison behind
 * @test: the test
 *
 * A coroutine calls kcoro_exit() from a deep recursion with a stack array
 * in every frame, so KASAN redzones are live on its stack when it is
 * abandoned.  Its result reaches coroutine joiners on its own and on
 * another CPU, and the test.  Then fresh coroutines on the same CPU, spawned
 * from that CPU and from the test, memset large stack arrays in deep
 * frames: a reused stack that kept stale poison would make KASAN report.
 */
static void kcoro_test_exit_poison(struct kunit *test)
{
	struct kcoro *co, *joiner[2], *users[EXIT_USERS / 4];
	struct kcoro_exit_ctx *ctx;
	unsigned int i, round;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->cpu = kcoro_test_cpu(0);
	co = kcoro_test_spawn_on(kcoro_exit_fn, (void *)EXIT_RESULT, ctx->cpu);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
	ctx->victim = co;
	joiner[0] = kcoro_test_spawn_on(kcoro_exit_near_joiner_fn, ctx, ctx->cpu);
	joiner[1] = kcoro_test_spawn_on(kcoro_exit_far_joiner_fn, ctx,
					kcoro_test_cpu(1));
	KUNIT_EXPECT_EQ(test, kcoro_test_join(test, co), EXIT_RESULT);
	for (i = 0; i < 2; i++) {
		if (IS_ERR(joiner[i])) {
			KUNIT_FAIL(test, "spawn joiner: %pe", joiner[i]);
			continue;
		}
		KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, joiner[i]), EXIT_RESULT);
		KUNIT_EXPECT_EQ(test, ctx->joined[i], EXIT_RESULT);
	}
	KUNIT_EXPECT_TRUE(test, kcoro_done(co));
	KUNIT_EXPECT_EQ(test, kcoro_join(co), EXIT_RESULT);
	kcoro_put(co);
	if (!IS_ERR(joiner[0])) {
		KUNIT_EXPECT_EQ(test, ctx->spawn_err, 0);
		KUNIT_EXPECT_EQ(test, ctx->users, EXIT_USERS);
		KUNIT_EXPECT_EQ(test, ctx->bad, 0U);
	}

	for (round = 0; round < 4; round++) {
		for (i = 0; i < ARRAY_SIZE(users); i++)
			users[i] = kcoro_test_spawn_on(kcoro_stack_user_fn,
						       (void *)(unsigned long)(round * 16 + i),
						       ctx->cpu);
		for (i = 0; i < ARRAY_SIZE(users); i++) {
			if (IS_ERR(users[i])) {
				KUNIT_FAIL(test, "spawn: %pe", users[i]);
				continue;
			}
			KUNIT_EXPECT_EQ(test, (unsigned long)kcoro_test_finish(test, users[i]),
					kcoro_stack_user_sum(round * 16 + i));
		}
	}
}

/*
 * Case: CPU hotplug moves coroutines off a dying CPU.
 */

#define HP_YIELDERS	3
#define HP_PARKERS	3
#define HP_SLEEPERS	2
#define HP_PAIRS	2
#define HP_COROS	(HP_YIELDERS + HP_PARKERS + HP_SLEEPERS + 2 * HP_PAIRS)
#define HP_CPU		1
#define HP_CYCLES	4

enum { HP_YIELD, HP_PARK, HP_SLEEP, HP_PINGPONG };

struct kcoro_hp_ctx;

/* Two coroutines, one on the dying CPU, passing a token with park/unpark. */
struct kcoro_hp_pair {
	struct kcoro *co[2];
	atomic_t turn;		/* -1 until both exist */
	unsigned int hits[2];
	unsigned int errors[2];
};

struct kcoro_hp_slot {
	struct kcoro_hp_ctx *ctx;
	struct kcoro *co;
	int kind;
	bool block;		/* HP_SLEEP in msleep(): blocks, hands off */
	int cpu;		/* spawned on */
	struct kcoro_hp_pair *pair;
	int me;
	int start_cpu;
	int end_cpu;
	int end_home;
	int lost_cpu;		/* where kcoro_current() stopped knowing us */
	unsigned long steps;
};

struct kcoro_hp_ctx {
	atomic_t started;
	atomic_t stop;
	struct kcoro_hp_slot slot[HP_COROS];
	struct kcoro_hp_pair pair[HP_PAIRS];
};

/* One pass of ping-pong; the caller loops (wake-ups may be spurious). */
static void kcoro_hp_pingpong(struct kcoro_hp_slot *s)
{
	struct kcoro_hp_pair *p = s->pair;
	int me = s->me;

	if (atomic_read_acquire(&p->turn) != me) {
		kcoro_park();
		return;
	}
	/* Strict alternation: player 0 serves, so it leads by one. */
	if (READ_ONCE(p->hits[!me]) != p->hits[me] + me)
		p->errors[me]++;
	WRITE_ONCE(p->hits[me], p->hits[me] + 1);
	WRITE_ONCE(s->steps, s->steps + 1);
	atomic_set_release(&p->turn, !me);
	kcoro_unpark(p->co[!me]);
}

static long kcoro_hp_fn(void *arg)
{
	struct kcoro_hp_slot *s = arg;
	struct kcoro *self = kcoro_current();

	s->start_cpu = raw_smp_processor_id();
	atomic_inc(&s->ctx->started);
	while (!atomic_read_acquire(&s->ctx->stop)) {
		/*
		 * Suspension points called where kcoro_current() is NULL
		 * only warn and return, so a coroutine that its scheduler
		 * no longer recognises would spin: record it and finish.
		 */
		if (kcoro_current() != self) {
			s->lost_cpu = raw_smp_processor_id();
			return -ESRCH;
		}
		switch (s->kind) {
		case HP_YIELD:
			kcoro_yield();
			break;
		case HP_PARK:
			kcoro_park();
			break;
		case HP_SLEEP:
			/*
			 * A blocking step must still end in a kcoro
			 * suspension: until it does, the coroutine keeps its
			 * kthread, and taking the CPU offline waits for it.
			 */
			if (s->block) {
				usleep_range(5000, 6000);
				kcoro_yield();
			} else {
				kcoro_msleep(5);
			}
			break;
		default:
			kcoro_hp_pingpong(s);
			continue;
		}
		WRITE_ONCE(s->steps, s->steps + 1);
	}
	s->end_cpu = raw_smp_processor_id();
	s->end_home = kcoro_cpu(self);
	return 0;
}

/*
 * Has every coroutine that is not simply parked made progress since @steps
 * was sampled?  Also true once one has finished: then it never will.
 */
static bool kcoro_hp_all_stepped(struct kcoro_hp_ctx *ctx,
				 const unsigned long *steps)
{
	bool all = true;
	int i;

	for (i = 0; i < HP_COROS; i++) {
		if (ctx->slot[i].kind == HP_PARK)
			continue;
		if (kcoro_done(ctx->slot[i].co))
			return true;
		if (READ_ONCE(ctx->slot[i].steps) <= steps[i])
			all = false;
	}
	return all;
}

static void kcoro_hp_online(void *cpu)
{
	if (!cpu_online((unsigned long)cpu))
		add_cpu((unsigned long)cpu);
}

/*
 * One offline/online cycle of CPU HP_CPU with coroutines of every kind on
 * it; see kcoro_test_hotplug().  Returns false if anything went wrong.
 */
static bool kcoro_hp_cycle(struct kunit *test, struct kcoro_hp_ctx *ctx,
			   int other)
{
	unsigned long steps[HP_COROS];
	int where[2] = { -1, -1 };
	bool clean = false;
	struct kcoro *co;
	int i, ret;

	for (i = 0; i < HP_PAIRS; i++)
		atomic_set(&ctx->pair[i].turn, -1);
	for (i = 0; i < HP_COROS; i++) {
		struct kcoro_hp_slot *s = &ctx->slot[i];
		int n = i - (HP_YIELDERS + HP_PARKERS + HP_SLEEPERS);

		s->ctx = ctx;
		s->kind = i < HP_YIELDERS ? HP_YIELD :
			  i < HP_YIELDERS + HP_PARKERS ? HP_PARK :
			  n < 0 ? HP_SLEEP : HP_PINGPONG;
		s->block = s->kind == HP_SLEEP && (i & 1);
		s->cpu = HP_CPU;
		if (s->kind == HP_PINGPONG) {
			s->pair = &ctx->pair[n / 2];
			s->me = n % 2;
			if (s->me)
				s->cpu = other;
		}
		s->start_cpu = -1;
		s->end_cpu = -1;
		s->end_home = -1;
		s->lost_cpu = -1;
		s->co = kcoro_test_spawn_on(kcoro_hp_fn, s, s->cpu);
		if (IS_ERR(s->co)) {
			KUNIT_FAIL(test, "spawn: %pe", s->co);
			goto out;
		}
		if (s->pair)
			s->pair->co[s->me] = s->co;
	}
	/* Serve: the players see each other's handles before their turn. */
	for (i = 0; i < HP_PAIRS; i++) {
		atomic_set_release(&ctx->pair[i].turn, 0);
		kcoro_unpark(ctx->pair[i].co[0]);
	}
	KUNIT_EXPECT_TRUE(test, kcoro_test_wait_for(atomic_read(&ctx->started) == HP_COROS));
	for (i = 0; i < HP_COROS; i++)
		KUNIT_EXPECT_EQ_MSG(test, ctx->slot[i].start_cpu, ctx->slot[i].cpu,
				    "coroutine %d", i);

	ret = remove_cpu(HP_CPU);
	KUNIT_EXPECT_EQ_MSG(test, ret, 0, "remove_cpu(%d)", HP_CPU);
	if (ret)
		goto out;
	clean = true;
	KUNIT_EXPECT_FALSE(test, cpu_online(HP_CPU));

	co = kcoro_test_spawn_on(kcoro_kunit_nop_fn, NULL, HP_CPU);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(co), -ENODEV);
	kcoro_test_finish(test, co);

	/* All but the parked ones moved to another CPU and keep going. */
	for (i = 0; i < HP_COROS; i++) {
		if (ctx->slot[i].kind == HP_YIELD && !kcoro_done(ctx->slot[i].co))
			KUNIT_EXPECT_NE_MSG(test, kcoro_cpu(ctx->slot[i].co), HP_CPU,
					    "yielder %d", i);
		steps[i] = READ_ONCE(ctx->slot[i].steps);
	}
	KUNIT_EXPECT_TRUE(test, kcoro_test_wait_for(kcoro_hp_all_stepped(ctx, steps)));

out:
	atomic_set_release(&ctx->stop, 1);
	for (i = 0; i < HP_COROS; i++)
		if (!IS_ERR_OR_NULL(ctx->slot[i].co))
			kcoro_unpark(ctx->slot[i].co);
	/* Join everything before putting anything: players unpark partners. */
	for (i = 0; i < HP_COROS; i++) {
		struct kcoro_hp_slot *s = &ctx->slot[i];

		if (IS_ERR_OR_NULL(s->co))
			continue;
		ret = kcoro_test_join(test, s->co);
		KUNIT_EXPECT_EQ_MSG(test, ret, 0, "coroutine %d", i);
		KUNIT_EXPECT_EQ_MSG(test, s->lost_cpu, -1,
				    "coroutine %d (kind %d) homed on CPU %d: kcoro_current() is not itself on CPU %d; was its scheduler kthread migrated?",
				    i, s->kind, kcoro_cpu(s->co), s->lost_cpu);
		if (ret || s->lost_cpu >= 0) {
			clean = false;
			continue;
		}
		/* A coroutine runs on its home CPU's scheduler. */
		KUNIT_EXPECT_EQ_MSG(test, s->end_cpu, s->end_home, "coroutine %d", i);
		if (!cpu_online(HP_CPU))
			KUNIT_EXPECT_NE_MSG(test, s->end_cpu, HP_CPU, "coroutine %d", i);
	}
	for (i = 0; i < HP_PAIRS; i++) {
		struct kcoro_hp_pair *p = &ctx->pair[i];

		KUNIT_EXPECT_EQ_MSG(test, p->errors[0] + p->errors[1], 0U, "pair %d", i);
		KUNIT_EXPECT_TRUE_MSG(test, p->hits[0] == p->hits[1] ||
				      p->hits[0] == p->hits[1] + 1,
				      "pair %d hits %u %u", i, p->hits[0], p->hits[1]);
		KUNIT_EXPECT_GT_MSG(test, p->hits[1], 0U, "pair %d", i);
	}
	for (i = 0; i < HP_COROS; i++)
		if (!IS_ERR_OR_NULL(ctx->slot[i].co))
			kcoro_put(ctx->slot[i].co);
	if (cpu_online(HP_CPU))
		return false;

	ret = add_cpu(HP_CPU);
	KUNIT_ASSERT_EQ_MSG(test, ret, 0, "add_cpu(%d)", HP_CPU);
	KUNIT_EXPECT_TRUE(test, cpu_online(HP_CPU));
	co = kcoro_test_spawn_on(kcoro_test_where_fn, where, HP_CPU);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(co), "spawn on CPU %d back online: %pe",
			       HP_CPU, co);
	KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, co), 0L);
	KUNIT_EXPECT_EQ(test, where[0], HP_CPU);
	KUNIT_EXPECT_EQ(test, where[1], HP_CPU);
	return clean && where[0] == HP_CPU && where[1] == HP_CPU;
}

/**
 * kcoro_test_hotplug() - coroutines survive their CPU going offline
 * @test: the test
 *
 * Coroutines yielding, parked, sleeping (one in kcoro_msleep(), one in a
 * blocking msleep() that hands its CPU to a standby kthread each time) and
 * playing park/unpark ping-pong with a partner on another CPU are running
 * on CPU 1 when it is taken offline with remove_cpu().  They must all keep working, move to another
 * CPU and say so through kcoro_cpu(), and the ping-pong must stay strictly
 * alternating.  Spawning on the offline CPU fails with -ENODEV; after
 * add_cpu() a new coroutine runs on CPU 1 again.  A few cycles, as long as
 * they go well.
 */
static void kcoro_test_hotplug(struct kunit *test)
{
	struct kcoro_hp_ctx *ctx;
	int cycle, other;

	if (num_online_cpus() < 2 || !cpu_online(HP_CPU))
		kunit_skip(test, "needs CPU %d online and another CPU", HP_CPU);
	if (!cpu_is_hotpluggable(HP_CPU))
		kunit_skip(test, "CPU %d is not hotpluggable", HP_CPU);
	other = cpumask_any_but(cpu_online_mask, HP_CPU);

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, kcoro_hp_online,
							(void *)(unsigned long)HP_CPU), 0);
	for (cycle = 0; cycle < HP_CYCLES; cycle++) {
		memset(ctx, 0, sizeof(*ctx));
		if (!kcoro_hp_cycle(test, ctx, other))
			break;
	}
	KUNIT_EXPECT_EQ(test, cycle, HP_CYCLES);
}

/*
 * Case: a canary-checked frame resumed by another scheduler kthread.
 */

struct kcoro_canary_ctx {
	atomic_t started;
	atomic_t go;
	int start_cpu;
	int end_cpu;
};

/* A local array gives this frame a stack-protector canary. */
static noinline long kcoro_canary_fn(void *arg)
{
	struct kcoro_canary_ctx *ctx = arg;
	char buf[64];

	memset(buf, 0x5a, sizeof(buf));
	barrier_data(buf);
	ctx->start_cpu = raw_smp_processor_id();
	atomic_set_release(&ctx->started, 1);
	while (!atomic_read_acquire(&ctx->go))
		kcoro_park();
	ctx->end_cpu = raw_smp_processor_id();
	barrier_data(buf);
	return buf[13];
}

/**
 * kcoro_test_migrate_canary() - frames survive a move to another kthread
 * @test: the test
 *
 * A coroutine whose frame is checked by the stack protector is parked on
 * CPU 1 when CPU 1 goes offline; it then resumes on another CPU's
 * scheduler kthread and returns through that frame.  Each kthread used to
 * have its own canary, which made this a "stack-protector: Kernel stack
 * is corrupted" panic.
 */
static void kcoro_test_migrate_canary(struct kunit *test)
{
	struct kcoro_canary_ctx ctx = { };
	struct kcoro *co;

	if (num_online_cpus() < 2 || !cpu_online(HP_CPU) ||
	    !cpu_is_hotpluggable(HP_CPU))
		kunit_skip(test, "needs a hotpluggable CPU %d and another CPU",
			   HP_CPU);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, kcoro_hp_online,
							(void *)(unsigned long)HP_CPU), 0);
	co = kcoro_test_spawn_on(kcoro_canary_fn, &ctx, HP_CPU);
	KUNIT_ASSERT_FALSE(test, IS_ERR(co));
	KUNIT_EXPECT_TRUE(test, kcoro_test_wait_for(atomic_read_acquire(&ctx.started)));
	KUNIT_EXPECT_EQ(test, remove_cpu(HP_CPU), 0);
	atomic_set_release(&ctx.go, 1);
	kcoro_unpark(co);
	KUNIT_EXPECT_EQ(test, kcoro_test_finish(test, co), 0x5aL);
	KUNIT_EXPECT_EQ(test, ctx.start_cpu, HP_CPU);
	KUNIT_EXPECT_NE(test, ctx.end_cpu, HP_CPU);
	KUNIT_EXPECT_EQ(test, add_cpu(HP_CPU), 0);
}

/*
 * Case: references and counters.
 */

#define REF_DETACHED	64

struct kcoro_ref_ctx {
	atomic_t release;
	atomic_t ran;
};

static long kcoro_ref_gate_fn(void *arg)
{
	struct kcoro_ref_ctx *ctx = arg;

	while (!atomic_read_acquire(&ctx->release))
		kcoro_park();
	return 7;
}

static long kcoro_ref_detached_fn(void *arg)
{
	struct kcoro_ref_ctx *ctx = arg;

	kcoro_yield();
	atomic_inc(&ctx->ran);
	return 0;
}

/**
 * kcoro_test_refs() - references keep objects alive exactly as long as held
 * @test: the test
 *
 * A live coroutine counts one object and one stack in use.  Once it has
 * finished, its stack is released at once but the object stays while an
 * extra kcoro_get() reference is held, and goes with the last kcoro_put().
 * Coroutines whose only external reference is dropped right after spawn
 * still run to completion and are freed.  Finally nothing is left of the
 * whole suite: the counters are back where they were when it started.
 */
static void kcoro_test_refs(struct kunit *test)
{
	struct kcoro_stats base, now;
	struct kcoro_ref_ctx *ctx;
	struct kcoro *co;
	unsigned int i;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	kcoro_get_stats(&base);

	co = kcoro_spawn(kcoro_ref_gate_fn, ctx, NULL);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(co), "spawn: %pe", co);
	kcoro_get(co);
	kcoro_get_stats(&now);
	KUNIT_EXPECT_EQ(test, now.live, base.live + 1);
	KUNIT_EXPECT_EQ(test, kcoro_test_stacks_in_use(&now),
			kcoro_test_stacks_in_use(&base) + 1);
	KUNIT_EXPECT_EQ(test, now.spawned, base.spawned + 1);

	atomic_set_release(&ctx->release, 1);
	kcoro_unpark(co);
	KUNIT_EXPECT_EQ(test, kcoro_test_join(test, co), 7L);
	kcoro_put(co);
	/*
	 * Finished: its stack goes, the object is held by our extra ref.  The
	 * stack is released only after the coroutine's last switch, which
	 * comes after it woke its joiner (on another CPU the joiner may look
	 * first: the arm64 leg did), so wait for it as long as coroutines
	 * switch.
	 */
	KUNIT_EXPECT_TRUE(test, kcoro_test_wait_for(({
		kcoro_get_stats(&now);
		kcoro_test_stacks_in_use(&now) ==
			kcoro_test_stacks_in_use(&base); })));
	KUNIT_EXPECT_EQ(test, now.live, base.live + 1);
	KUNIT_EXPECT_EQ(test, kcoro_join(co), 7L);
	kcoro_put(co);
	kcoro_test_expect_no_leaks(test, &base);

	/* Fire and forget. */
	for (i = 0; i < REF_DETACHED; i++) {
		co = kcoro_test_spawn_on(kcoro_ref_detached_fn, ctx, kcoro_test_cpu(i));
		if (IS_ERR(co)) {
			KUNIT_FAIL(test, "spawn: %pe", co);
			break;
		}
		kcoro_put(co);
	}
	KUNIT_EXPECT_TRUE(test, kcoro_test_wait_for(atomic_read(&ctx->ran) == i));
	KUNIT_EXPECT_EQ(test, i, REF_DETACHED);
	kcoro_test_expect_no_leaks(test, &base);
	kcoro_get_stats(&now);
	KUNIT_EXPECT_EQ(test, now.spawned, base.spawned + 1 + REF_DETACHED);

	/* Nothing left over from the whole suite. */
	__kcoro_test_expect_no_leaks(test, &kcoro_test_suite_base, 0);
}

struct kcoro_test_priv {
	struct kcoro_stats base;
	long abandoned;
	ktime_t start;
};

static int kcoro_test_init(struct kunit *test)
{
	struct kcoro_test_priv *priv;

	priv = kunit_kzalloc(test, sizeof(*priv), GFP_KERNEL);
	if (!priv)
		return -ENOMEM;
	kcoro_get_stats(&priv->base);
	priv->abandoned = atomic_long_read(&kcoro_kunit_abandoned);
	priv->start = ktime_get();
	test->priv = priv;
	return 0;
}

/* Every case must leave no coroutine object or stack behind. */
static void kcoro_test_exit(struct kunit *test)
{
	struct kcoro_test_priv *priv = test->priv;

	if (!priv)
		return;
	__kcoro_test_expect_no_leaks(test, &priv->base, priv->abandoned);
	kunit_info(test, "took %lld ms\n",
		   ktime_ms_delta(ktime_get(), priv->start));
}

static int kcoro_test_suite_init(struct kunit_suite *suite)
{
	kcoro_get_stats(&kcoro_test_suite_base);
	return 0;
}

/*
 * The long-run watchdog (long_run_ms, default 2000 ms) reports a
 * coroutine that runs without suspending, once per run; one that yields
 * as often as it should is never reported.
 */
static long kcoro_test_spin_fn(void *arg)
{
	unsigned long end = jiffies + msecs_to_jiffies(2600);
	bool yield = arg;

	while (time_before(jiffies, end)) {
		mdelay(5);
		if (yield)
			kcoro_yield();
	}
	return 0;
}

static void kcoro_test_long_run(struct kunit *test)
{
	struct kcoro *co;
	long before;

	before = kcoro_long_runs();
	co = kcoro_spawn(kcoro_test_spin_fn, (void *)true, NULL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(co));
	kcoro_join(co);
	kcoro_put(co);
	KUNIT_EXPECT_EQ(test, kcoro_long_runs(), before);

	co = kcoro_spawn(kcoro_test_spin_fn, NULL, NULL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(co));
	kcoro_join(co);
	kcoro_put(co);
	/* The watchdog looks every 500 ms: once, however long past the limit. */
	KUNIT_EXPECT_EQ(test, kcoro_long_runs(), before + 1);
}

/*
 * Work stealing: 1,000 CPU-bound coroutines spawned on one CPU without a
 * CPU preference start there and spread to every online CPU; 100 pinned
 * to that CPU never leave it.
 */
#define KCORO_STEAL_N		1000
#define KCORO_STEAL_PINNED	100

struct kcoro_steal {
	int home;
	atomic_t ran_on[NR_CPUS];
	atomic_t pinned_moved;
	atomic_t started_elsewhere;
};

/* CPU-bound work: a busy loop, never a sleep. */
static void kcoro_steal_spin(void)
{
	u64 end = ktime_get_ns() + 200 * NSEC_PER_USEC;

	while (ktime_get_ns() < end)
		cpu_relax();
}

static long kcoro_steal_work_fn(void *arg)
{
	struct kcoro_steal *st = arg;
	int cpu = raw_smp_processor_id();

	if (cpu != st->home)
		atomic_inc(&st->started_elsewhere);
	kcoro_steal_spin();
	atomic_inc(&st->ran_on[raw_smp_processor_id()]);
	return 0;
}

static long kcoro_steal_pinned_fn(void *arg)
{
	struct kcoro_steal *st = arg;

	kcoro_steal_spin();
	if (raw_smp_processor_id() != st->home)
		atomic_inc(&st->pinned_moved);
	kcoro_yield();
	if (raw_smp_processor_id() != st->home)
		atomic_inc(&st->pinned_moved);
	return 0;
}

static long kcoro_steal_spawner_fn(void *arg)
{
	struct kcoro_attr pin = { .cpu = ((struct kcoro_steal *)arg)->home };
	struct kcoro **co;
	long bad = 0;
	int i;

	co = kcalloc(KCORO_STEAL_N + KCORO_STEAL_PINNED, sizeof(*co), GFP_KERNEL);
	if (!co)
		return -ENOMEM;
	for (i = 0; i < KCORO_STEAL_N + KCORO_STEAL_PINNED; i++) {
		if (i < KCORO_STEAL_N)
			co[i] = kcoro_spawn(kcoro_steal_work_fn, arg, NULL);
		else
			co[i] = kcoro_spawn(kcoro_steal_pinned_fn, arg, &pin);
		if (IS_ERR(co[i])) {
			co[i] = NULL;
			bad++;
		}
	}
	for (i = 0; i < KCORO_STEAL_N + KCORO_STEAL_PINNED; i++) {
		if (!co[i])
			continue;
		kcoro_join(co[i]);
		kcoro_put(co[i]);
	}
	kfree(co);
	return bad;
}

static void kcoro_test_steal(struct kunit *test)
{
	struct kcoro_steal *st;
	struct kcoro_attr attr;
	struct kcoro *co;
	int cpu, cpus = 0, total = 0;

	if (num_online_cpus() < 2)
		kunit_skip(test, "needs two online CPUs");
	st = kunit_kzalloc(test, sizeof(*st), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st);
	st->home = cpumask_first(cpu_online_mask);
	attr = (struct kcoro_attr){ .cpu = st->home };
	co = kcoro_spawn(kcoro_steal_spawner_fn, st, &attr);
	KUNIT_ASSERT_FALSE(test, IS_ERR(co));
	KUNIT_EXPECT_EQ(test, kcoro_join(co), 0);
	kcoro_put(co);
	for_each_online_cpu(cpu) {
		int n = atomic_read(&st->ran_on[cpu]);

		kunit_info(test, "cpu%d ran %d coroutines\n", cpu, n);
		cpus += n > 0;
		total += n;
	}
	KUNIT_EXPECT_EQ(test, total, KCORO_STEAL_N);
	KUNIT_EXPECT_EQ(test, cpus, (int)num_online_cpus());
	/* They started on their spawner's CPU: stealing moved them. */
	KUNIT_EXPECT_GT(test, atomic_read(&st->started_elsewhere), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&st->pinned_moved), 0);
}

static struct kunit_case kcoro_test_cases[] = {
	KUNIT_CASE(kcoro_test_spawn_validation),
	KUNIT_CASE(kcoro_test_yield_order),
	KUNIT_CASE(kcoro_test_stack),
	KUNIT_CASE(kcoro_test_sleep),
	KUNIT_CASE(kcoro_test_join_wait),
	KUNIT_CASE_SLOW(kcoro_test_join_race),
	KUNIT_CASE(kcoro_test_exit_poison),
	/* First: the CPU's pool has not grown yet. */
	KUNIT_CASE(kcoro_test_handoff_chain),
	KUNIT_CASE(kcoro_test_blocking_sibling),
	KUNIT_CASE_SLOW(kcoro_test_handoff_stress),
	KUNIT_CASE(kcoro_test_guard),
	KUNIT_CASE(kcoro_test_run_next),
	KUNIT_CASE_SLOW(kcoro_test_many),
	KUNIT_CASE_SLOW(kcoro_test_park_stress),
	KUNIT_CASE_SLOW(kcoro_test_sleep_wakeups),
	KUNIT_CASE_SLOW(kcoro_test_irq_unpark),
	KUNIT_CASE_SLOW(kcoro_test_hotplug),
	KUNIT_CASE(kcoro_test_migrate_canary),
	KUNIT_CASE(kcoro_test_refs),
	KUNIT_CASE_SLOW(kcoro_test_long_run),
	KUNIT_CASE_SLOW(kcoro_test_steal),
	{}
};

static struct kunit_suite kcoro_test_suite = {
	.name = "kcoro_core",
	.suite_init = kcoro_test_suite_init,
	.init = kcoro_test_init,
	.exit = kcoro_test_exit,
	.test_cases = kcoro_test_cases,
};

kunit_test_suites(&kcoro_test_suite);

MODULE_DESCRIPTION("KUnit tests for the kcoro core");
MODULE_LICENSE("GPL");
