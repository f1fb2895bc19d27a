/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcoro: stackful coroutines for the Linux kernel - in-kernel API.
 *
 * A coroutine runs on its own THREAD_SIZE stack on one of kcoro's per-CPU
 * scheduler kthreads.  It gives up its CPU only at the suspension points
 * below (kcoro_yield(), kcoro_park(), kcoro_sleep_ns(), kcoro_join(),
 * kcoro_wait_event(), kcoro_exit()).  See Documentation/kcoro/scheduler.rst
 * for the rules a coroutine body must follow.
 */
#ifndef _LINUX_KCORO_H
#define _LINUX_KCORO_H

#include <linux/bits.h>
#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/module.h>
#include <linux/wait.h>
#include <linux/ktime.h>

struct kcoro;

/**
 * typedef kcoro_fn_t - body of a coroutine
 * @arg: the argument given to kcoro_spawn()
 *
 * Return: the coroutine's result, handed to kcoro_join().
 */
typedef long (*kcoro_fn_t)(void *arg);

/* Run on any online CPU (the spawning CPU when it has a scheduler). */
#define KCORO_CPU_ANY		(-1)

/*
 * kcoro_attr.flags: charge the coroutine's memory (its object and its
 * stack) to the memory cgroup of the task that spawns it, as for any
 * allocation made on a user's behalf (__GFP_ACCOUNT).  At the cgroup's
 * limit the spawn fails with -ENOMEM rather than invoke the cgroup's OOM
 * killer.  Such a coroutine bypasses kcoro's reuse caches, so the charge
 * goes when it finishes.
 */
#define KCORO_SPAWN_ACCOUNT	BIT(0)

/**
 * struct kcoro_attr - optional spawn attributes
 * @stack_size: minimum stack size in bytes; 0 selects the default.  Every
 *	coroutine stack is THREAD_SIZE bytes (the kernel treats it as the task
 *	stack while the coroutine runs), so larger requests fail with -EINVAL.
 * @cpu: CPU whose scheduler runs the coroutine, or %KCORO_CPU_ANY.  The
 *	coroutine moves only when that CPU goes offline.
 * @flags: 0 or %KCORO_SPAWN_ACCOUNT; other bits fail with -EINVAL.
 */
struct kcoro_attr {
	size_t stack_size;
	int cpu;
	unsigned int flags;
};

struct kcoro *__kcoro_spawn(kcoro_fn_t fn, void *arg,
			    const struct kcoro_attr *attr,
			    struct module *owner);

/**
 * kcoro_spawn() - create a coroutine and make it runnable
 * @fn: body of the coroutine
 * @arg: argument passed to @fn
 * @attr: attributes, or NULL for the defaults
 *
 * The calling module is pinned until the coroutine has finished, so its
 * code cannot be unloaded under a running coroutine.  May sleep.
 *
 * Return: a reference to the new coroutine, to be dropped with kcoro_put(),
 * or an ERR_PTR(): -EINVAL for bad attributes, -ENOMEM, -ENODEV when the
 * CPU has no scheduler, -ENOENT when the owning module is going away.
 */
#define kcoro_spawn(fn, arg, attr) __kcoro_spawn(fn, arg, attr, THIS_MODULE)

void kcoro_get(struct kcoro *co);
void kcoro_put(struct kcoro *co);
long kcoro_join(struct kcoro *co);
bool kcoro_done(const struct kcoro *co);
struct kcoro *kcoro_current(void);
void kcoro_yield(void);
void __noreturn kcoro_exit(long result);
void kcoro_park(void);
void kcoro_park_until(ktime_t deadline);
void kcoro_unpark(struct kcoro *co);
int kcoro_sleep_ns(u64 ns);
void kcoro_cancel(struct kcoro *co);
bool kcoro_cancelled(void);
u64 kcoro_id(const struct kcoro *co);
int kcoro_cpu(const struct kcoro *co);

/**
 * kcoro_msleep() - suspend the current coroutine for at least @ms ms
 * @ms: time to sleep in milliseconds
 *
 * Return: 0, or -ECANCELED if the coroutine is cancelled.
 */
static inline int kcoro_msleep(unsigned int ms)
{
	return kcoro_sleep_ns((u64)ms * NSEC_PER_MSEC);
}

/* Wait-queue entries that unpark a coroutine; used by kcoro_wait_event(). */
void kcoro_init_wait_entry(struct wait_queue_entry *wq_entry);
void kcoro_prepare_wait(struct wait_queue_head *wq_head,
			struct wait_queue_entry *wq_entry);

/**
 * kcoro_wait_event() - suspend the current coroutine until @cond is true
 * @wq_head: wait queue that is woken when @cond may have changed
 * @cond: C expression evaluated after every wake-up
 *
 * The coroutine counterpart of wait_event(): the coroutine parks instead of
 * putting its scheduler kthread to sleep, so siblings keep running.  Must be
 * called from a coroutine.
 */
#define kcoro_wait_event(wq_head, cond)					\
do {									\
	struct wait_queue_head *__kwq = &(wq_head);			\
	struct wait_queue_entry __kw;					\
									\
	kcoro_init_wait_entry(&__kw);					\
	for (;;) {							\
		kcoro_prepare_wait(__kwq, &__kw);			\
		if (cond)						\
			break;						\
		kcoro_park();						\
	}								\
	finish_wait(__kwq, &__kw);					\
} while (0)

/**
 * struct kcoro_stats - module-wide counters (for tests and debugging)
 * @live: coroutine objects not yet freed
 * @stacks: coroutine stacks allocated, cached ones included
 * @cached_stacks: stacks sitting in the reuse cache
 * @spawned: coroutines ever spawned
 * @switches: context switches into coroutines
 * @handoffs: times a scheduler kthread blocked inside a coroutine and a
 *	standby kthread took over its CPU's coroutines
 * @handoff_missed: times that was needed but the standby pool was empty
 */
struct kcoro_stats {
	long live;
	long stacks;
	long cached_stacks;
	u64 spawned;
	u64 switches;
	u64 handoffs;
	u64 handoff_missed;
};

void kcoro_get_stats(struct kcoro_stats *stats);
long kcoro_long_runs(void);
long kcoro_guard_violations(void);
bool kcoro_set_handoff(bool on);
size_t kcoro_object_size(void);

#endif /* _LINUX_KCORO_H */
