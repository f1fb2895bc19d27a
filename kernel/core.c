// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro core: coroutine objects, their lifetime and suspension points.
 *
 * See Documentation/kcoro/scheduler.rst for the design.
 */
#include <linux/atomic.h>
#include <linux/debug_locks.h>
#include <linux/hrtimer.h>
#include <linux/irqflags.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "internal.h"
#define CREATE_TRACE_POINTS
#include "trace.h"

static struct kmem_cache *kcoro_cachep;
static atomic64_t kcoro_next_id;
/*
 * kcoro's own coroutines (the /dev/kcoro services) hold no reference on
 * the module (they would keep it loaded for good): module exit waits for
 * them instead, once nothing can start new ones.
 */
static atomic_t kcoro_own_live = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(kcoro_own_wq);
static DEFINE_PER_CPU(u64, kcoro_nr_spawned);
DEFINE_PER_CPU(long, kcoro_nr_live);

/**
 * kcoro_current() - the coroutine running on this CPU's scheduler
 *
 * Return: the current coroutine, or NULL when called from anything but a
 * coroutine (an ordinary thread, interrupt context, a scheduler kthread
 * between two coroutine steps).
 */
struct kcoro *kcoro_current(void)
{
	return kcoro_this();
}
EXPORT_SYMBOL_GPL(kcoro_current);

/**
 * kcoro_id() - a coroutine's unique, never reused number
 * @co: the coroutine
 *
 * Return: the id, for log messages and debugging.
 */
u64 kcoro_id(const struct kcoro *co)
{
	return co->id;
}
EXPORT_SYMBOL_GPL(kcoro_id);

/**
 * kcoro_cpu() - the CPU whose scheduler runs a coroutine
 * @co: the coroutine
 *
 * Return: the home CPU; it changes only when that CPU goes offline.
 */
int kcoro_cpu(const struct kcoro *co)
{
	return READ_ONCE(co->cpu);
}
EXPORT_SYMBOL_GPL(kcoro_cpu);

/**
 * kcoro_get() - take a reference on a coroutine
 * @co: the coroutine
 *
 * The caller must already hold a reference (or otherwise know that @co is
 * alive), as with get_task_struct().
 */
void kcoro_get(struct kcoro *co)
{
	refcount_inc(&co->ref);
}
EXPORT_SYMBOL_GPL(kcoro_get);

/*
 * A few freed coroutine objects per CPU are reused without going through
 * the slab allocator, which dominates the cost of a short-lived coroutine.
 * Only task context uses the per-CPU list (with preemption off); a
 * kcoro_put() from an interrupt frees to the slab directly.
 */
#define KCORO_PCPU_OBJS	16

struct kcoro_pcpu_objs {
	unsigned int nr;
	struct kcoro *obj[KCORO_PCPU_OBJS];
};

static DEFINE_PER_CPU(struct kcoro_pcpu_objs, kcoro_pcpu_objs);

static struct kcoro *kcoro_obj_alloc(bool account)
{
	struct kcoro_pcpu_objs *pc;
	struct kcoro *co = NULL;

	/* Charged: fresh from the slab, and freed there (kcoro_obj_free()). */
	if (account)
		return kmem_cache_zalloc(kcoro_cachep, KCORO_GFP_CHARGED);
	pc = get_cpu_ptr(&kcoro_pcpu_objs);
	if (pc->nr)
		co = pc->obj[--pc->nr];
	put_cpu_ptr(&kcoro_pcpu_objs);
	if (co) {
		memset(co, 0, sizeof(*co));
		return co;
	}
	return kmem_cache_zalloc(kcoro_cachep, GFP_KERNEL);
}

static void kcoro_obj_free(struct kcoro *co)
{
	struct kcoro_pcpu_objs *pc;

	if (in_task() && !test_bit(KCORO_FLAG_ACCOUNT, &co->flags)) {
		pc = get_cpu_ptr(&kcoro_pcpu_objs);
		if (pc->nr < KCORO_PCPU_OBJS) {
			pc->obj[pc->nr++] = co;
			co = NULL;
		}
		put_cpu_ptr(&kcoro_pcpu_objs);
	}
	if (co)
		kmem_cache_free(kcoro_cachep, co);
}

static void kcoro_obj_cache_drain(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct kcoro_pcpu_objs *pc = per_cpu_ptr(&kcoro_pcpu_objs, cpu);

		while (pc->nr)
			kmem_cache_free(kcoro_cachep, pc->obj[--pc->nr]);
	}
}

static void kcoro_free(struct kcoro *co)
{
	kcoro_debug_del(co);
	kcoro_obj_free(co);
	this_cpu_dec(kcoro_nr_live);
}

/**
 * kcoro_put() - drop a reference on a coroutine
 * @co: the coroutine
 *
 * A running coroutine holds a reference on itself until it has finished, so
 * dropping the last external reference never stops it; the object is freed
 * when the last reference goes.  Callable from any context.
 */
void kcoro_put(struct kcoro *co)
{
	if (refcount_dec_and_test(&co->ref))
		kcoro_free(co);
}
EXPORT_SYMBOL_GPL(kcoro_put);

/**
 * kcoro_done() - has a coroutine finished?
 * @co: the coroutine
 *
 * Return: true once @co has returned or called kcoro_exit(); its result is
 * then stable.
 */
bool kcoro_done(const struct kcoro *co)
{
	return atomic_read_acquire(&co->state) == KCORO_DEAD;
}
EXPORT_SYMBOL_GPL(kcoro_done);

static enum hrtimer_restart kcoro_sleep_timer_fn(struct hrtimer *timer)
{
	struct kcoro *co = container_of(timer, struct kcoro, timer);

	WRITE_ONCE(co->sleep_done, true);
	kcoro_unpark(co);
	return HRTIMER_NORESTART;
}

/**
 * __kcoro_spawn() - create a coroutine; use kcoro_spawn()
 * @fn: body of the coroutine
 * @arg: argument passed to @fn
 * @attr: attributes, or NULL for the defaults
 * @owner: module that owns @fn (THIS_MODULE of the caller)
 *
 * Return: see kcoro_spawn().
 */
struct kcoro *__kcoro_spawn(kcoro_fn_t fn, void *arg,
			    const struct kcoro_attr *attr,
			    struct module *owner)
{
	int cpu = KCORO_CPU_ANY;
	bool pinned = false, account = false;
	struct kcoro *co;

	might_sleep();
	if (attr) {
		if ((attr->flags & ~KCORO_SPAWN_ACCOUNT) ||
		    attr->stack_size > THREAD_SIZE)
			return ERR_PTR(-EINVAL);
		account = attr->flags & KCORO_SPAWN_ACCOUNT;
		cpu = attr->cpu;
		pinned = cpu != KCORO_CPU_ANY;
		if (cpu != KCORO_CPU_ANY &&
		    (cpu < 0 || cpu >= nr_cpu_ids || !cpu_possible(cpu)))
			return ERR_PTR(-EINVAL);
	}
	cpu = kcoro_pick_cpu(cpu);
	if (cpu < 0)
		return ERR_PTR(cpu);
	/* kcoro's own coroutines are waited for by its exit instead. */
	if (owner == THIS_MODULE)
		atomic_inc(&kcoro_own_live);
	else if (!try_module_get(owner))
		return ERR_PTR(-ENOENT);

	co = kcoro_obj_alloc(account);
	if (!co)
		goto err_module;
	if (account)
		__set_bit(KCORO_FLAG_ACCOUNT, &co->flags);
	co->ctx.stack = kcoro_stack_alloc(account);
	if (!co->ctx.stack)
		goto err_free;
	co->ctx.sp = kcoro_arch_init_stack(co->ctx.stack, co);
	co->fn = fn;
	co->arg = arg;
	co->owner = owner;
	co->cpu = cpu;
	co->id = atomic64_inc_return(&kcoro_next_id);
	if (pinned)
		__set_bit(KCORO_FLAG_PINNED, &co->flags);
	atomic_set(&co->state, KCORO_RUNNABLE);
	init_waitqueue_head(&co->join_wq);
	/* One reference for the caller, one for the running coroutine. */
	refcount_set(&co->ref, 2);
	this_cpu_inc(kcoro_nr_live);
	this_cpu_inc(kcoro_nr_spawned);
	kcoro_debug_add(co);
	trace_kcoro_spawn(co->id, fn, cpu);

	__kcoro_enqueue(co, false);	/* new: to the tail */
	return co;

err_free:
	kcoro_obj_free(co);
err_module:
	if (owner != THIS_MODULE)
		module_put(owner);
	else if (atomic_dec_and_test(&kcoro_own_live))
		wake_up(&kcoro_own_wq);
	return ERR_PTR(-ENOMEM);
}
EXPORT_SYMBOL_GPL(__kcoro_spawn);

struct kcoro *kcoro_suspend_fail(const char *what)
{
	WARN(1, "kcoro: %s() called outside a coroutine\n", what);
	return NULL;
}

/**
 * kcoro_cancel() - ask a coroutine to stop
 * @co: the coroutine (the caller holds a reference)
 *
 * Marks @co cancelled and wakes it if it is parked.  Cancellation is
 * cooperative: kcoro's cancellable suspension points (kcoro_sleep_ns(), and
 * the channel operations) return -ECANCELED from then on, and a body can
 * poll kcoro_cancelled().  Cancelling twice, or a finished coroutine, does
 * nothing.  Callable from any context.
 */
void kcoro_cancel(struct kcoro *co)
{
	if (kcoro_done(co) || test_and_set_bit(KCORO_FLAG_CANCELLED, &co->flags))
		return;
	kcoro_unpark(co);
}
EXPORT_SYMBOL_GPL(kcoro_cancel);

/**
 * kcoro_cancelled() - has the current coroutine been cancelled?
 *
 * Return: true once kcoro_cancel() was called on the current coroutine;
 * false outside a coroutine.
 */
bool kcoro_cancelled(void)
{
	struct kcoro *co = kcoro_current();

	return co && test_bit(KCORO_FLAG_CANCELLED, &co->flags);
}
EXPORT_SYMBOL_GPL(kcoro_cancelled);

/* The sleep timer is set up on first use: most coroutines never sleep. */
static void kcoro_timer_prepare(struct kcoro *co)
{
	if (co->timer_ready)
		return;
	hrtimer_init(&co->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	co->timer.function = kcoro_sleep_timer_fn;
	co->timer_ready = true;
}

/**
 * kcoro_park_until() - park the current coroutine, at most until @deadline
 * @deadline: absolute CLOCK_MONOTONIC time, or KTIME_MAX for no limit
 *
 * Like kcoro_park(), but an hrtimer unparks the coroutine at @deadline.
 * Returns on the first wake-up of any kind; callers re-check their
 * condition and the clock.  Must be called from a coroutine with no lock
 * held.
 */
void kcoro_park_until(ktime_t deadline)
{
	struct kcoro *co = kcoro_this();

	if (deadline == KTIME_MAX || !co) {
		kcoro_park();
		return;
	}
	kcoro_timer_prepare(co);
	hrtimer_start(&co->timer, deadline, HRTIMER_MODE_ABS);
	kcoro_park();
	hrtimer_cancel(&co->timer);
}
EXPORT_SYMBOL_GPL(kcoro_park_until);

/**
 * kcoro_sleep_ns() - suspend the current coroutine for at least @ns
 * @ns: time to sleep in nanoseconds
 *
 * Uses a high-resolution timer; the coroutine never wakes early unless it
 * is cancelled.  Must be called from a coroutine with no lock held.
 *
 * Return: 0 after the full time, -ECANCELED if the coroutine was cancelled
 * (before or during the sleep), -EPERM outside a coroutine.
 */
int kcoro_sleep_ns(u64 ns)
{
	struct kcoro *co = kcoro_suspend_check(__func__);
	int ret = 0;

	if (!co)
		return -EPERM;
	if (test_bit(KCORO_FLAG_CANCELLED, &co->flags))
		return -ECANCELED;
	kcoro_timer_prepare(co);
	WRITE_ONCE(co->sleep_done, false);
	hrtimer_start(&co->timer, ns_to_ktime(ns), HRTIMER_MODE_REL);
	while (!READ_ONCE(co->sleep_done)) {
		if (test_bit(KCORO_FLAG_CANCELLED, &co->flags)) {
			ret = -ECANCELED;
			break;
		}
		kcoro_park();
	}
	/* Waits for a callback still running on another CPU. */
	hrtimer_cancel(&co->timer);
	return ret;
}
EXPORT_SYMBOL_GPL(kcoro_sleep_ns);

/*
 * The first half of finishing @co, still on its own stack just before its
 * last switch: publish DEAD and wake the joiners (a joiner of this CPU
 * becomes runnable and may be switched to next).
 */
void kcoro_finish_early(struct kcoro *co, int cpu)
{
	struct kcoro *joiner;
	bool ref = false;

	/*
	 * A coroutine joiner cannot see DEAD before we hold a reference on
	 * it, so it is alive for the unpark even if it then runs off.  A
	 * joiner whose home is @cpu, the CPU whose active worker we are,
	 * cannot run before we are done (only this kthread runs it, and its
	 * home cannot change while this CPU is online), so it needs no
	 * reference.  A worker that was handed off passes -1.
	 */
	preempt_disable();
	joiner = xchg(&co->joiner, KCORO_JOINER_CLOSED);
	if (joiner && READ_ONCE(joiner->cpu) != cpu) {
		kcoro_get(joiner);
		ref = true;
	}
	trace_kcoro_exit(co->id, co->result);
	atomic_set_release(&co->state, KCORO_DEAD);
	preempt_enable();
	if (joiner) {
		kcoro_unpark(joiner);
		if (ref)
			kcoro_put(joiner);
	}
	/*
	 * wq_has_sleeper() orders DEAD before looking at the queue: pairs
	 * with kcoro_prepare_wait()'s smp_mb() (P8 in
	 * Documentation/kcoro/scheduler.rst).
	 */
	if (wq_has_sleeper(&co->join_wq))
		wake_up_all(&co->join_wq);
}

/*
 * The second half, after the last switch away from @co, on another stack:
 * main_co, or the coroutine @co switched to directly (kcoro_landed()).
 * The running coroutine's reference keeps @co alive until here.
 */
void kcoro_finish(struct kcoro *co)
{
	kcoro_stack_free(co->ctx.stack, co->stack_dirty,
			 test_bit(KCORO_FLAG_ACCOUNT, &co->flags));
	co->ctx.stack = NULL;
	if (co->owner != THIS_MODULE)
		module_put(co->owner);
	else if (atomic_dec_and_test(&kcoro_own_live))
		wake_up(&kcoro_own_wq);
	kcoro_put(co);
}

static int kcoro_wake_function(struct wait_queue_entry *wq_entry,
			       unsigned int mode, int sync, void *key)
{
	/* The waiter removes the entry under the queue lock: co is alive. */
	kcoro_unpark(wq_entry->private);
	return 1;
}

/**
 * kcoro_init_wait_entry() - prepare a wait-queue entry for a coroutine
 * @wq_entry: entry, normally on the coroutine's stack
 *
 * A wake-up on the queue unparks the current coroutine instead of waking a
 * task.  Used by kcoro_wait_event(); must be called from a coroutine.
 */
void kcoro_init_wait_entry(struct wait_queue_entry *wq_entry)
{
	struct kcoro *co = kcoro_current();

	WARN_ON_ONCE(!co);
	wq_entry->flags = 0;
	wq_entry->private = co;
	wq_entry->func = kcoro_wake_function;
	INIT_LIST_HEAD(&wq_entry->entry);
}
EXPORT_SYMBOL_GPL(kcoro_init_wait_entry);

/**
 * kcoro_prepare_wait() - queue a coroutine's wait entry; see kcoro_wait_event()
 * @wq_head: the wait queue
 * @wq_entry: entry set up by kcoro_init_wait_entry()
 *
 * Unlike prepare_to_wait() this leaves the task state alone: the scheduler
 * kthread keeps running other coroutines.
 */
void kcoro_prepare_wait(struct wait_queue_head *wq_head,
			struct wait_queue_entry *wq_entry)
{
	unsigned long flags;

	spin_lock_irqsave(&wq_head->lock, flags);
	if (list_empty(&wq_entry->entry))
		__add_wait_queue_entry_tail(wq_head, wq_entry);
	spin_unlock_irqrestore(&wq_head->lock, flags);
	/*
	 * Order the queueing before the caller's condition check, as
	 * set_current_state() does for prepare_to_wait(): pairs with the
	 * barrier in wq_has_sleeper() of a waker that changed the condition.
	 */
	smp_mb();
}
EXPORT_SYMBOL_GPL(kcoro_prepare_wait);

/**
 * kcoro_join() - wait for a coroutine to finish
 * @co: the coroutine (the caller holds a reference)
 *
 * From a coroutine this suspends only the caller; from a thread it sleeps
 * uninterruptibly.  Does not drop the caller's reference.
 *
 * Return: the coroutine's result, or -EDEADLK when a coroutine joins itself.
 */
long kcoro_join(struct kcoro *co)
{
	struct kcoro *self = kcoro_this();

	if (self == co) {
		WARN(1, "kcoro: coroutine %llu joins itself\n", co->id);
		return -EDEADLK;
	}
	if (kcoro_done(co))
		return co->result;
	if (!self) {
		wait_event(co->join_wq, kcoro_done(co));
		return co->result;
	}
	/*
	 * The first coroutine joiner is unparked directly by the finish;
	 * the others (and a joiner that comes while the finish is under way)
	 * wait on the join queue, which the finish wakes after DEAD.
	 */
	/* Pairs with the xchg in kcoro_finish_early() (P8). */
	if (!cmpxchg(&co->joiner, NULL, self)) {
		while (!kcoro_done(co))
			kcoro_park();
		return co->result;
	}
	kcoro_wait_event(co->join_wq, kcoro_done(co));
	return co->result;
}
EXPORT_SYMBOL_GPL(kcoro_join);

/**
 * kcoro_get_stats() - read kcoro's global counters
 * @stats: filled in
 */
void kcoro_get_stats(struct kcoro_stats *stats)
{
	int cpu;

	stats->live = 0;
	stats->spawned = 0;
	for_each_possible_cpu(cpu) {
		stats->live += READ_ONCE(per_cpu(kcoro_nr_live, cpu));
		stats->spawned += READ_ONCE(per_cpu(kcoro_nr_spawned, cpu));
	}
	stats->stacks = kcoro_stack_count();
	stats->cached_stacks = kcoro_stack_cached();
	kcoro_sched_stats(stats);
}
EXPORT_SYMBOL_GPL(kcoro_get_stats);

/**
 * kcoro_object_size() - bytes of one coroutine object, stack excluded
 *
 * Return: the size of the slab object; a coroutine also owns THREAD_SIZE
 * bytes of stack while alive.
 */
size_t kcoro_object_size(void)
{
	return kmem_cache_size(kcoro_cachep);
}
EXPORT_SYMBOL_GPL(kcoro_object_size);

static int __init kcoro_init(void)
{
	int ret;

	kcoro_cachep = KMEM_CACHE(kcoro, SLAB_HWCACHE_ALIGN);
	if (!kcoro_cachep)
		return -ENOMEM;
	ret = kcoro_sched_init();
	if (ret)
		goto err_cache;
	ret = kcoro_dev_init();
	if (ret)
		goto err_sched;
	kcoro_debug_init();
	pr_info("kcoro: ready, %u scheduler(s), %lu-byte stacks\n",
		num_online_cpus(), THREAD_SIZE);
	return 0;

err_sched:
	kcoro_sched_exit();
err_cache:
	kmem_cache_destroy(kcoro_cachep);
	return ret;
}

static void __exit kcoro_exit_module(void)
{
	struct kcoro_stats stats;
	long live;

	kcoro_dev_exit();
	/*
	 * No file is open (each pins the module), so no service can start:
	 * the ones still draining their closed request channels finish in
	 * bounded time.  Wait for them before the schedulers go.
	 */
	wait_event(kcoro_own_wq, !atomic_read(&kcoro_own_live));
	kcoro_debug_exit();
	kcoro_sched_exit();
	kcoro_stack_cache_drain();
	/* Channel segments are freed by RCU callbacks in this module. */
	rcu_barrier();
	kc_seg_cache_drain();
	kcoro_get_stats(&stats);
	live = stats.live;
	if (live) {
		/* Their owners broke the rules; leaking beats a use-after-free. */
		pr_err("kcoro: %ld coroutine(s) still alive at unload, leaking them\n",
		       live);
		return;
	}
	kcoro_obj_cache_drain();
	kmem_cache_destroy(kcoro_cachep);
}

module_init(kcoro_init);
module_exit(kcoro_exit_module);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kcoro: stackful coroutines for the kernel");
MODULE_AUTHOR("The kcoro developers");
