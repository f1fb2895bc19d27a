// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro scheduler: one kthread per online CPU, each with a FIFO run queue.
 *
 * A scheduler kthread ("kcoro/N") loops in its own context, main_co: it
 * takes the first runnable coroutine, switches to it, and when the
 * coroutine switches back it carries out what the coroutine asked for
 * (requeue, park, finish).  An idle scheduler sleeps in schedule(); an
 * enqueue from any CPU or context wakes it.
 *
 * The order of the "TLS hand-off" around a switch is fixed (and documented
 * in Documentation/kcoro/scheduler.rst): with interrupts off, rq->curr is
 * set, then current->stack adopts the coroutine's stack, then the stack
 * pointer moves; on the way back the steps are undone in reverse.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/kthread.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>

#include "internal.h"

DEFINE_PER_CPU(struct kcoro_rq, kcoro_rqs);

/* CPUs whose scheduler accepts work; changed under the rq locks. */
static struct cpumask kcoro_online_mask;
static enum cpuhp_state kcoro_hp_state;

static struct kcoro_rq *kcoro_rq_of(int cpu)
{
	return per_cpu_ptr(&kcoro_rqs, cpu);
}

/*
 * Choose the CPU for a new coroutine: @cpu itself if its scheduler is up,
 * or for KCORO_CPU_ANY the calling CPU, else any CPU that has one.
 */
int kcoro_pick_cpu(int cpu)
{
	int any;

	if (cpu != KCORO_CPU_ANY)
		return cpumask_test_cpu(cpu, &kcoro_online_mask) ? cpu : -ENODEV;
	cpu = raw_smp_processor_id();
	if (cpumask_test_cpu(cpu, &kcoro_online_mask))
		return cpu;
	any = cpumask_any(&kcoro_online_mask);
	return any < nr_cpu_ids ? any : -ENODEV;
}

/*
 * Put a runnable coroutine on its home CPU's queue and wake that
 * scheduler.  If the home CPU went offline, the coroutine moves to another
 * one (see kcoro_cpu_offline()).
 */
void kcoro_enqueue(struct kcoro *co)
{
	struct kcoro_rq *rq;
	unsigned long flags;
	bool wake;
	int cpu;

	for (;;) {
		cpu = READ_ONCE(co->cpu);
		rq = kcoro_rq_of(cpu);
		spin_lock_irqsave(&rq->lock, flags);
		if (likely(rq->online && READ_ONCE(co->cpu) == cpu))
			break;
		spin_unlock_irqrestore(&rq->lock, flags);
		if (!READ_ONCE(rq->online)) {
			int target = kcoro_pick_cpu(KCORO_CPU_ANY);

			/* No scheduler at all: only a broken unload gets here. */
			if (WARN_ON_ONCE(target < 0))
				return;
			cmpxchg(&co->cpu, cpu, target);
		}
	}
	list_add_tail(&co->rq_node, &rq->queue);
	rq->nr_queued++;
	wake = rq->task != current;
	spin_unlock_irqrestore(&rq->lock, flags);
	if (wake)
		wake_up_process(rq->task);
}

static struct kcoro *kcoro_dequeue(struct kcoro_rq *rq)
{
	struct kcoro *co;

	spin_lock_irq(&rq->lock);
	co = list_first_entry_or_null(&rq->queue, struct kcoro, rq_node);
	if (co) {
		list_del_init(&co->rq_node);
		rq->nr_queued--;
	}
	spin_unlock_irq(&rq->lock);
	return co;
}

/* Run @co until it switches back to main_co, then do what it asked. */
static void kcoro_run(struct kcoro_rq *rq, struct kcoro *co)
{
	atomic_set(&co->state, KCORO_RUNNING);
	co->rq = rq;
	rq->switches++;

	local_irq_disable();
	WRITE_ONCE(rq->curr, co);
	current->stack = co->ctx.stack;
	kcoro_switch(&rq->main_co.sp, &co->ctx.sp);
	current->stack = rq->main_co.stack;
	WRITE_ONCE(rq->curr, NULL);
	local_irq_enable();

	switch (co->req) {
	case KCORO_REQ_YIELD:
		atomic_set(&co->state, KCORO_RUNNABLE);
		kcoro_enqueue(co);
		break;
	case KCORO_REQ_PARK:
		atomic_set(&co->state, KCORO_PARKED);
		/*
		 * Dekker with kcoro_unpark(): we publish PARKED then look
		 * for a token, it publishes the token then looks for
		 * PARKED.  One of us sees the other; the cmpxchg picks one
		 * enqueuer.
		 */
		smp_mb();
		if (atomic_read(&co->wake_token) &&
		    atomic_cmpxchg(&co->state, KCORO_PARKED,
				   KCORO_RUNNABLE) == KCORO_PARKED)
			kcoro_enqueue(co);
		break;
	case KCORO_REQ_EXIT:
		kcoro_finish(co);
		break;
	}
}

static int kcoro_sched_fn(void *data)
{
	struct kcoro_rq *rq = data;
	struct kcoro *co;

	rq->main_co.stack = current->stack;
	while (!kthread_should_stop()) {
		set_current_state(TASK_IDLE);
		co = kcoro_dequeue(rq);
		if (!co) {
			if (!kthread_should_stop())
				schedule();
			continue;
		}
		__set_current_state(TASK_RUNNING);
		kcoro_run(rq, co);
		cond_resched();
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static int kcoro_cpu_online(unsigned int cpu)
{
	struct kcoro_rq *rq = kcoro_rq_of(cpu);
	struct task_struct *t;

	t = kthread_create_on_cpu(kcoro_sched_fn, rq, cpu, "kcoro/%u");
	if (IS_ERR(t))
		return PTR_ERR(t);
	rq->task = t;
	spin_lock_irq(&rq->lock);
	rq->online = true;
	cpumask_set_cpu(cpu, &kcoro_online_mask);
	spin_unlock_irq(&rq->lock);
	wake_up_process(t);
	return 0;
}

/*
 * A CPU is going down: stop taking work there, let its scheduler finish
 * the step it is in and exit, then move every queued coroutine elsewhere.
 * Parked coroutines keep the dead CPU as home until they are woken;
 * kcoro_enqueue() then moves them.  Pinned coroutines move too, as the
 * kernel breaks the affinity of tasks on a dying CPU.
 */
static int kcoro_cpu_offline(unsigned int cpu)
{
	struct kcoro_rq *rq = kcoro_rq_of(cpu);
	struct kcoro *co, *tmp;
	LIST_HEAD(moving);

	spin_lock_irq(&rq->lock);
	rq->online = false;
	cpumask_clear_cpu(cpu, &kcoro_online_mask);
	spin_unlock_irq(&rq->lock);

	kthread_stop(rq->task);
	rq->task = NULL;

	spin_lock_irq(&rq->lock);
	list_splice_init(&rq->queue, &moving);
	rq->nr_queued = 0;
	spin_unlock_irq(&rq->lock);

	list_for_each_entry_safe(co, tmp, &moving, rq_node) {
		list_del_init(&co->rq_node);
		kcoro_enqueue(co);
	}
	return 0;
}

u64 kcoro_sched_switches(void)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(kcoro_rq_of(cpu)->switches);
	return sum;
}

int kcoro_sched_init(void)
{
	int cpu, ret;

	for_each_possible_cpu(cpu) {
		struct kcoro_rq *rq = kcoro_rq_of(cpu);

		spin_lock_init(&rq->lock);
		INIT_LIST_HEAD(&rq->queue);
		rq->cpu = cpu;
	}
	ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "kcoro:online",
				kcoro_cpu_online, kcoro_cpu_offline);
	if (ret < 0)
		return ret;
	kcoro_hp_state = ret;
	return 0;
}

/*
 * Module unload: every coroutine has finished (owners join theirs before
 * they unload), so the schedulers only have to stop.
 */
void kcoro_sched_exit(void)
{
	int cpu;

	cpus_read_lock();
	cpuhp_remove_state_nocalls_cpuslocked(kcoro_hp_state);
	for_each_possible_cpu(cpu) {
		struct kcoro_rq *rq = kcoro_rq_of(cpu);

		spin_lock_irq(&rq->lock);
		rq->online = false;
		cpumask_clear_cpu(cpu, &kcoro_online_mask);
		WARN_ON_ONCE(!list_empty(&rq->queue));
		spin_unlock_irq(&rq->lock);
		if (rq->task)
			kthread_stop(rq->task);
		rq->task = NULL;
	}
	cpus_read_unlock();
}
