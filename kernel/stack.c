// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro stacks.
 *
 * Every coroutine stack is a THREAD_SIZE vmalloc area from the arch code
 * (kcoro_arch_stack_alloc(), aligned as the arch's overflow check needs):
 * vmalloc leaves an unmapped guard page between areas, so an overflow
 * faults instead of corrupting a neighbour.  While a coroutine runs
 * its stack is the task stack of its scheduler kthread (current->stack), so
 * the lowest word holds STACK_END_MAGIC like every task stack.
 *
 * Freed stacks are kept in a small cache, as kernel/fork.c does for task
 * stacks, because vmalloc dominates the cost of a spawn.  A stack abandoned
 * without unwinding (kcoro_exit()) may carry KASAN poison of the frames it
 * never returned from; modules cannot unpoison it, so under KASAN such a
 * stack is freed and a fresh (unpoisoned) one allocated instead.
 */
#include <linux/atomic.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/sched/task_stack.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <uapi/linux/magic.h>

#include "internal.h"

static unsigned int stack_cache_max = 256;
module_param(stack_cache_max, uint, 0644);
MODULE_PARM_DESC(stack_cache_max, "freed coroutine stacks kept for reuse");

struct kcoro_free_stack {
	unsigned long magic;	/* keeps STACK_END_MAGIC in place */
	struct kcoro_free_stack *next;
};

static DEFINE_SPINLOCK(stack_cache_lock);
static struct kcoro_free_stack *stack_cache;
static atomic_long_t nr_stacks;
static atomic_long_t nr_cached;

/*
 * A few stacks per CPU are kept without any lock (preemption off is
 * enough); the rest of the cache is a global list.
 */
#define KCORO_PCPU_STACKS	8

struct kcoro_pcpu_stacks {
	unsigned int nr;
	void *stack[KCORO_PCPU_STACKS];
};

static DEFINE_PER_CPU(struct kcoro_pcpu_stacks, kcoro_pcpu_stacks);

/* A stack from the per-CPU or the shared cache, or NULL. */
static unsigned long *kcoro_stack_cache_get(void)
{
	struct kcoro_pcpu_stacks *pc;
	struct kcoro_free_stack *fs;
	unsigned long *stack = NULL;

	pc = get_cpu_ptr(&kcoro_pcpu_stacks);
	if (pc->nr)
		stack = pc->stack[--pc->nr];
	put_cpu_ptr(&kcoro_pcpu_stacks);
	if (stack) {
		atomic_long_dec(&nr_cached);
		return stack;
	}

	spin_lock(&stack_cache_lock);
	fs = stack_cache;
	if (fs) {
		stack_cache = fs->next;
		atomic_long_dec(&nr_cached);
	}
	spin_unlock(&stack_cache_lock);
	return (unsigned long *)fs;
}

void *kcoro_stack_alloc(bool account)
{
	unsigned long *stack;

	/*
	 * A charged stack comes fresh from the allocator (a cached one is
	 * charged to whoever allocated it first) and never goes back to
	 * the caches, so its charge goes with it (KCORO_GFP_CHARGED).
	 */
	stack = account ? NULL : kcoro_stack_cache_get();
	if (!stack) {
		/* Zeroed once: the pt_regs area at the top stays zero. */
		stack = kcoro_arch_stack_alloc(account ? KCORO_GFP_CHARGED :
					       GFP_KERNEL);
		if (!stack)
			return NULL;
		atomic_long_inc(&nr_stacks);
	}
	memset(stack, 0, sizeof(struct kcoro_free_stack));
	*stack = STACK_END_MAGIC;
	return stack;
}

void kcoro_stack_free(void *stack, bool dirty, bool account)
{
	struct kcoro_free_stack *fs = stack;
	struct kcoro_pcpu_stacks *pc;
	bool cached = false;

	if (account || (dirty && IS_ENABLED(CONFIG_KASAN)))
		goto free;
	pc = get_cpu_ptr(&kcoro_pcpu_stacks);
	if (pc->nr < KCORO_PCPU_STACKS) {
		pc->stack[pc->nr++] = stack;
		cached = true;
	}
	put_cpu_ptr(&kcoro_pcpu_stacks);
	if (cached) {
		atomic_long_inc(&nr_cached);
		return;
	}
	if (atomic_long_read(&nr_cached) < READ_ONCE(stack_cache_max)) {
		spin_lock(&stack_cache_lock);
		fs->next = stack_cache;
		stack_cache = fs;
		atomic_long_inc(&nr_cached);
		spin_unlock(&stack_cache_lock);
		return;
	}
free:
	kcoro_arch_stack_free(stack);
	atomic_long_dec(&nr_stacks);
}

void kcoro_stack_cache_drain(void)
{
	struct kcoro_free_stack *fs, *next;
	int cpu;

	/* Module exit: the schedulers are gone, nothing allocates. */
	for_each_possible_cpu(cpu) {
		struct kcoro_pcpu_stacks *pc = per_cpu_ptr(&kcoro_pcpu_stacks, cpu);

		while (pc->nr) {
			kcoro_arch_stack_free(pc->stack[--pc->nr]);
			atomic_long_dec(&nr_stacks);
		}
	}

	spin_lock(&stack_cache_lock);
	fs = stack_cache;
	stack_cache = NULL;
	atomic_long_set(&nr_cached, 0);
	spin_unlock(&stack_cache_lock);

	for (; fs; fs = next) {
		next = fs->next;
		kcoro_arch_stack_free(fs);
		atomic_long_dec(&nr_stacks);
	}
}

long kcoro_stack_count(void)
{
	return atomic_long_read(&nr_stacks);
}

long kcoro_stack_cached(void)
{
	return atomic_long_read(&nr_cached);
}
