// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro scheduler: one kthread per online CPU, each with a FIFO run queue.
 *
 * A scheduler kthread ("kcoro/N") loops in its own context, main_co: it
 * takes the first runnable coroutine and switches to it.  A coroutine that
 * suspends (yield, park) switches directly to the next runnable coroutine
 * of its CPU when there is one, and back to main_co otherwise, or when its
 * budget of direct switches is spent, or when it finishes.  An idle
 * scheduler sleeps in schedule(); an enqueue from any CPU or context wakes
 * it.
 *
 * The run queue itself is private to its kthread; other tasks, CPUs and
 * interrupts hand runnable coroutines over through a lock-free llist.
 *
 * The order of the "TLS hand-off" around a switch is fixed (and documented
 * in Documentation/kcoro/scheduler.rst): with interrupts off, rq->curr is
 * set, then current->stack adopts the new stack, then the stack pointer
 * moves.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/kthread.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/stackprotector.h>

#include "internal.h"
#include "trace.h"

/* Direct switches between coroutines before main_co gets a turn. */
#define KCORO_DIRECT_BUDGET	32

DEFINE_PER_CPU(struct kcoro_rq, kcoro_rqs);

/* CPUs whose scheduler accepts work. */
static struct cpumask kcoro_online_mask;
/*
 * Schedulers asleep with nothing to run, asking for work (see
 * kcoro_share()); kcoro_nr_idle counts them so that busy schedulers test
 * one word on their hot path.
 */
static struct cpumask kcoro_idle_mask;
static atomic_t kcoro_nr_idle;
static enum cpuhp_state kcoro_hp_state;

static struct kcoro_rq *kcoro_rq_of(int cpu)
{
	return per_cpu_ptr(&kcoro_rqs, cpu);
}

static __always_inline void kcoro_push_head(struct kcoro_rq *rq,
					    struct kcoro *co)
{
	co->rq_next = rq->head;
	rq->head = co;
	if (!rq->tail)
		rq->tail = co;
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
 * kcoro_enqueue() from anything but @co's home scheduler: hand it over
 * through the lock-free wakeups list and wake the kthread if the list was
 * empty.  If the home CPU went offline the coroutine moves to another one
 * (see kcoro_cpu_offline()).
 */
void kcoro_enqueue_remote(struct kcoro *co)
{
	struct kcoro_rq *rq;
	int cpu, target;

	rcu_read_lock();
	for (;;) {
		cpu = READ_ONCE(co->cpu);
		rq = kcoro_rq_of(cpu);
		/* Acquire: pairs with kcoro_cpu_online(), rq->task is set. */
		if (likely(smp_load_acquire(&rq->online)))
			break;
		target = kcoro_pick_cpu(KCORO_CPU_ANY);
		/* No scheduler at all: only a broken unload gets here. */
		if (WARN_ON_ONCE(target < 0)) {
			rcu_read_unlock();
			return;
		}
		cmpxchg(&co->cpu, cpu, target);
	}
	if (llist_add(&co->wake_node, &rq->wakeups)) {
		/* rq->task stays valid: offlining waits for RCU readers. */
		wake_up_process(rq->task);
	}
	rcu_read_unlock();
}

/* Move the hand-overs into the queue, keeping their order. */
static __always_inline void kcoro_take_wakeups(struct kcoro_rq *rq)
{
	struct llist_node *list;
	struct kcoro *co, *tmp;

	if (llist_empty(&rq->wakeups))
		return;
	list = llist_reverse_order(llist_del_all(&rq->wakeups));
	llist_for_each_entry_safe(co, tmp, list, wake_node)
		kcoro_push_tail(rq, co);
}

/* Pop the head of @rq's queue, or NULL.  Only rq->task calls this. */
static __always_inline struct kcoro *kcoro_pop(struct kcoro_rq *rq)
{
	struct kcoro *co;

	co = rq->head;
	if (co) {
		rq->head = co->rq_next;
		if (!rq->head)
			rq->tail = NULL;
	}
	return co;
}

/*
 * Work stealing, by request.  A run queue is private to its kthread (no
 * lock on the fast path), so an idle scheduler does not take coroutines
 * itself: it asks, by setting its bit in kcoro_idle_mask before it
 * sleeps, and the first busy scheduler to reach a scheduling point with
 * more than one coroutine queued claims that bit and hands it half of its
 * queue, oldest first.  Never the coroutine running on the giver (it may
 * be queued already, woken while still switching away: only its own
 * kthread may run it until it has), never a pinned one.  The moved
 * coroutines get their new home CPU before they are queued there, so the
 * invariant of struct kcoro_rq holds: a runnable coroutine is run only by
 * its home CPU's scheduler.
 */
static noinline void kcoro_share(struct kcoro_rq *rq)
{
	struct kcoro *co, **link, *moved = NULL, **tail = &moved;
	unsigned int n = 0, give;
	int cpu;

	/*
	 * Only claim an idle CPU when there is something to give it: a
	 * claim takes its request away, and a CPU whose request was taken
	 * without work sleeps on, unasked, until something else wakes it.
	 */
	for (co = rq->head; co; co = co->rq_next)
		if (co != rq->curr && !test_bit(KCORO_FLAG_PINNED, &co->flags))
			n++;
	if (!n)
		return;
	cpu = cpumask_first(&kcoro_idle_mask);
	if (cpu == rq->cpu)
		cpu = cpumask_next(cpu, &kcoro_idle_mask);
	if (cpu >= nr_cpu_ids || !cpumask_test_and_clear_cpu(cpu, &kcoro_idle_mask))
		return;
	atomic_dec(&kcoro_nr_idle);
	give = (n + 1) / 2;	/* half of the movable ones, at least one */
	rq->tail = NULL;
	for (link = &rq->head; (co = *link) && give; ) {
		if (co == rq->curr || test_bit(KCORO_FLAG_PINNED, &co->flags)) {
			rq->tail = co;
			link = &co->rq_next;
			continue;
		}
		*link = co->rq_next;
		*tail = co;
		tail = &co->rq_next;
		give--;
	}
	*tail = NULL;
	/* The rest of the queue after the last moved one. */
	for (; *link; link = &(*link)->rq_next)
		rq->tail = *link;
	rq->steals++;
	for (co = moved, n = 0; co; co = moved, n++) {
		moved = co->rq_next;
		WRITE_ONCE(co->cpu, cpu);
		kcoro_enqueue_remote(co);
	}
	trace_kcoro_steal(n, rq->cpu, cpu);
}

/* Next runnable coroutine of @rq, or NULL.  Only rq->task calls this. */
static __always_inline struct kcoro *kcoro_next(struct kcoro_rq *rq)
{
	kcoro_take_wakeups(rq);
	if (unlikely(atomic_read(&kcoro_nr_idle)) && rq->head && rq->head->rq_next)
		kcoro_share(rq);
	return kcoro_pop(rq);
}

/* An idle scheduler asks for work before it sleeps. */
static void kcoro_idle_begin(struct kcoro_rq *rq)
{
	if (!cpumask_test_and_set_cpu(rq->cpu, &kcoro_idle_mask))
		atomic_inc(&kcoro_nr_idle);
}

static void kcoro_idle_end(struct kcoro_rq *rq)
{
	if (cpumask_test_and_clear_cpu(rq->cpu, &kcoro_idle_mask))
		atomic_dec(&kcoro_nr_idle);
}

/*
 * The hand-off itself.  Interrupts are off from the moment rq->curr names
 * @next until the switch has happened, so an interrupt never sees
 * rq->curr, current->stack and the stack pointer disagree.
 */
static __always_inline void kcoro_enter(struct kcoro_rq *rq, struct kcoro *next)
{
	atomic_set(&next->state, KCORO_RUNNING);
	next->rq = rq;
	trace_kcoro_switch(rq->curr ? rq->curr->id : 0, next->id);
	rq->switches++;
	rq->curr_id = next->id;
	rq->curr_fn = next->fn;
	rq->curr_since = jiffies;
	WRITE_ONCE(rq->curr, next);
	current->stack = next->ctx.stack;
}

/*
 * The stack switch.  Per-task state that really belongs to a stack moves
 * with it: the return addresses that kretprobes (rethook, or the older
 * kretprobe_instances list that arm64 still uses) keep for
 * functions live on the outgoing stack.  Interrupts are off.
 */
static __always_inline void kcoro_ctx_switch(struct kcoro_context *from,
					     struct kcoro_context *to)
{
#ifdef CONFIG_RETHOOK
	from->rethooks = current->rethooks.first;
	current->rethooks.first = to->rethooks;
#endif
#if defined(CONFIG_KRETPROBES) && !defined(CONFIG_KRETPROBE_ON_RETHOOK)
	from->kretprobes = current->kretprobe_instances.first;
	current->kretprobe_instances.first = to->kretprobes;
#endif
	kcoro_switch(&from->sp, &to->sp);
}

/*
 * Switch from the current coroutine @prev straight to @next.  Suspension
 * points run with interrupts enabled (might_sleep() checks it on debug
 * kernels), so disable/enable is enough.
 */
static __always_inline void kcoro_switch_direct(struct kcoro_rq *rq,
						struct kcoro *prev,
						struct kcoro *next)
{
	local_irq_disable();
	kcoro_enter(rq, next);
	kcoro_ctx_switch(&prev->ctx, &next->ctx);
	local_irq_enable();
	kcoro_landed(prev->rq);
}

/* kcoro_landed(): the coroutine we came from has finished; finish it. */
void kcoro_landed_finish(struct kcoro_rq *rq)
{
	struct kcoro *dead = rq->dead;

	rq->dead = NULL;
	kcoro_finish(dead);
}

/* Give the CPU back to main_co; returns when @co is resumed. */
void kcoro_switch_to_main(struct kcoro *co, enum kcoro_req req)
{
	co->req = req;
	trace_kcoro_switch(co->id, 0);
	local_irq_disable();
	kcoro_ctx_switch(&co->ctx, &co->rq->main_co);
	local_irq_enable();
	kcoro_landed(co->rq);
}

/*
 * The current coroutine @co has settled its state (parked, or runnable and
 * queued) and gives up the CPU: run the next coroutine directly if the
 * budget allows, otherwise let main_co choose.
 */
static __always_inline void kcoro_reschedule(struct kcoro *co,
					     struct kcoro_rq *rq,
					     struct kcoro *next)
{
	if (unlikely(!rq->budget)) {
		kcoro_switch_to_main(co, KCORO_REQ_NONE);
		return;
	}
	rq->budget--;
	if (next == co)		/* woken again already, nothing else to run */
		atomic_set(&co->state, KCORO_RUNNING);
	else if (next)
		kcoro_switch_direct(rq, co, next);
	else
		kcoro_switch_to_main(co, KCORO_REQ_NONE);
}

/*
 * The last switch of a finished coroutine: finish what can be finished on
 * its own stack (DEAD, joiners), then switch straight to the next runnable
 * coroutine, which completes the finish once it has landed, or to
 * main_co.
 */
static void __noreturn kcoro_switch_exit(struct kcoro *co)
{
	struct kcoro_rq *rq = co->rq;
	struct kcoro *next;

	kcoro_finish_early(co);
	next = rq->budget ? kcoro_next(rq) : NULL;
	if (next) {
		rq->budget--;
		rq->dead = co;
		local_irq_disable();
		kcoro_enter(rq, next);
		kcoro_ctx_switch(&co->ctx, &next->ctx);
	} else {
		kcoro_switch_to_main(co, KCORO_REQ_EXIT);
	}
	panic("kcoro: coroutine %llu resumed after exit\n", co->id);
}

/**
 * kcoro_exit() - finish the current coroutine with a result
 * @result: value returned by kcoro_join()
 *
 * Like returning @result from the coroutine body, from any depth.  The
 * frames below are abandoned without unwinding: locks and resources held
 * there leak.  Must be called from a coroutine with no lock held.
 */
void __noreturn kcoro_exit(long result)
{
	struct kcoro *co = kcoro_suspend_check(__func__);

	if (!co)
		panic("%s() called outside a coroutine\n", __func__);
	co->result = result;
	co->stack_dirty = true;
	kcoro_switch_exit(co);
}
EXPORT_SYMBOL_GPL(kcoro_exit);

/* Called by kcoro_entry_tramp on the coroutine's fresh stack. */
void __noreturn kcoro_entry(struct kcoro *co)
{
	/* We were switched to with interrupts off; a resume restores them. */
	local_irq_enable();
	kcoro_landed(co->rq);
	co->result = co->fn(co->arg);
	kcoro_switch_exit(co);
}

/**
 * kcoro_yield() - let the other runnable coroutines of this CPU run
 *
 * The current coroutine goes to the tail of its run queue.  Must be called
 * from a coroutine with no lock held.
 */
void kcoro_yield(void)
{
	struct kcoro *co = kcoro_suspend_check(__func__);
	struct kcoro_rq *rq;
	struct kcoro *next;

	if (unlikely(!co))
		return;
	rq = co->rq;
	next = kcoro_next(rq);
	if (!next && rq->budget) {
		/* Alone on this CPU: keep running, but be a good citizen. */
		rq->budget--;
		rq->curr_since = jiffies;	/* it did suspend, for the watchdog */
		cond_resched();
		return;
	}
	atomic_set(&co->state, KCORO_RUNNABLE);
	kcoro_push_tail(rq, co);
	if (unlikely(!rq->budget)) {
		/* main_co's turn; it finds @next at the head again. */
		if (next)
			kcoro_push_head(rq, next);
		kcoro_switch_to_main(co, KCORO_REQ_NONE);
		return;
	}
	rq->budget--;
	kcoro_switch_direct(rq, co, next);
}
EXPORT_SYMBOL_GPL(kcoro_yield);

/**
 * kcoro_park() - suspend the current coroutine until it is unparked
 *
 * Each coroutine has one wake-up token, like a binary semaphore: if
 * kcoro_unpark() was called since the last kcoro_park() returned, this
 * consumes the token and returns at once; otherwise the coroutine sleeps
 * until kcoro_unpark().  Wake-ups may be spurious, so callers re-check
 * their condition in a loop.  Must be called from a coroutine with no lock
 * held.
 */
void kcoro_park(void)
{
	struct kcoro *co = kcoro_suspend_check(__func__);
	struct kcoro_rq *rq;

	if (unlikely(!co))
		return;
	/*
	 * Only kcoro_park() clears the token, so a plain read that finds
	 * none is exact; the xchg consuming one is a full barrier that
	 * orders the waker's stores before our caller's re-check.
	 */
	if (unlikely(atomic_read(&co->wake_token)) &&
	    atomic_xchg(&co->wake_token, 0))
		return;
	co->waiting = __builtin_return_address(0);
	trace_kcoro_park(co->id);
	atomic_set(&co->state, KCORO_PARKED);
	/*
	 * Dekker with the slow path of kcoro_unpark(): we publish PARKED then
	 * look for a token, it publishes the token then looks for PARKED.
	 * One of us sees the other; the cmpxchg picks who makes us runnable
	 * again.  If the waker wins, we are queued on our own CPU before we
	 * have switched away, which is fine: only this kthread runs us.
	 */
	smp_mb();
	if (!atomic_read(&co->wake_token) ||
	    atomic_cmpxchg(&co->state, KCORO_PARKED,
			   KCORO_RUNNING) != KCORO_PARKED) {
		rq = co->rq;
		kcoro_reschedule(co, rq, rq->budget ? kcoro_next(rq) : NULL);
	}
	/*
	 * A waker that found us PARKED made us RUNNABLE with a fully ordered
	 * cmpxchg and queued us after it, and we run only once that queueing
	 * reached our scheduler: its stores are visible without a token.  A
	 * token is left only by the slow path of kcoro_unpark(); consume it
	 * with a full barrier as above.
	 */
	if (unlikely(atomic_read(&co->wake_token)))
		atomic_xchg(&co->wake_token, 0);
}
EXPORT_SYMBOL_GPL(kcoro_park);

/* kcoro_unpark() found @co not parked: leave a token (Dekker). */
void kcoro_unpark_slow(struct kcoro *co)
{
	/*
	 * Fully ordered: the waker's earlier stores are visible before the
	 * token, and the token before we look for PARKED again.
	 */
	atomic_xchg(&co->wake_token, 1);
	if (atomic_read(&co->state) == KCORO_PARKED &&
	    atomic_cmpxchg(&co->state, KCORO_PARKED,
			   KCORO_RUNNABLE) == KCORO_PARKED) {
		trace_kcoro_wake(co->id, READ_ONCE(co->cpu));
		kcoro_enqueue(co);
	}
}

/**
 * kcoro_unpark() - wake a parked coroutine
 * @co: the coroutine
 *
 * Makes @co's wake-up token available; if @co is parked it becomes runnable
 * on its CPU's scheduler (another CPU is woken as needed).  Wake-ups before
 * the park are not lost.  Callable from any context, hard interrupts
 * included.  The caller must guarantee that @co stays alive for the call
 * (hold a reference, or a lock that @co takes before it can finish).
 */
void kcoro_unpark(struct kcoro *co)
{
	__kcoro_unpark(co);
}
EXPORT_SYMBOL_GPL(kcoro_unpark);

/* main_co: run @co (and whatever it switches to) until one comes back. */
static void kcoro_run(struct kcoro_rq *rq, struct kcoro *co)
{
	struct kcoro *prev;

	rq->budget = KCORO_DIRECT_BUDGET;
	local_irq_disable();
	kcoro_enter(rq, co);
	kcoro_ctx_switch(&rq->main_co, &co->ctx);
	prev = rq->curr;
	current->stack = rq->main_co.stack;
	WRITE_ONCE(rq->curr, NULL);
	local_irq_enable();

	if (prev->req == KCORO_REQ_EXIT)
		kcoro_finish(prev);
}

static noinline void kcoro_sched_loop(struct kcoro_rq *rq)
{
	struct kcoro *co;

	rq->main_co.stack = current->stack;
	while (!kthread_should_stop()) {
		co = kcoro_next(rq);
		if (!co) {
			/* Publish the sleep before the last look (wakeups). */
			set_current_state(TASK_IDLE);
			kcoro_idle_begin(rq);
			co = kcoro_next(rq);
			if (!co) {
				if (!kthread_should_stop())
					schedule();
				__set_current_state(TASK_RUNNING);
				kcoro_idle_end(rq);
				continue;
			}
			__set_current_state(TASK_RUNNING);
			kcoro_idle_end(rq);
		}
		kcoro_run(rq, co);
		cond_resched();
	}
	__set_current_state(TASK_RUNNING);
}

/* The stack-protector canary shared by every scheduler kthread. */
static unsigned long kcoro_canary;

/*
 * A coroutine's frames carry the canary of the kthread that built them,
 * and a coroutine may be resumed by another scheduler kthread (its CPU
 * went offline), so all of them share one canary.  No frame of this
 * function, which has no canary itself, spans the change.
 */
static int kcoro_sched_fn(void *data)
{
	unsigned long own;

	/*
	 * Stay on this CPU even while it goes down: once the CPU is no
	 * longer active the scheduler pushes and wakes ordinary kthreads
	 * elsewhere, but this rq's coroutines must keep running here until
	 * kcoro_cpu_offline() has stopped us and moved them.
	 */
	migrate_disable();
	own = kcoro_arch_set_canary(kcoro_canary);
	kcoro_sched_loop(data);
	kcoro_arch_set_canary(own);
	migrate_enable();
	return 0;
}

static int kcoro_cpu_online(unsigned int cpu)
{
	struct kcoro_rq *rq = kcoro_rq_of(cpu);
	struct task_struct *t;

	t = kthread_create_on_cpu(kcoro_sched_fn, rq, cpu, "kcoro/%u");
	if (IS_ERR(t))
		return PTR_ERR(t);
	/* Enqueuers may still wake it after it stopped: keep it valid. */
	get_task_struct(t);
	rq->task = t;
	/* Release: enqueuers that see online also see rq->task. */
	smp_store_release(&rq->online, true);
	cpumask_set_cpu(cpu, &kcoro_online_mask);
	wake_up_process(t);
	return 0;
}

/*
 * Stopping @rq's scheduler takes two steps around an RCU grace period
 * (kcoro_rq_stop()); the second returns its runnable coroutines, in order.
 *
 * Until the kthread has stopped, the run queue keeps accepting coroutines:
 * one of them may be between publishing PARKED and switching away, and
 * only this kthread may run it (see struct kcoro_rq).  Only then do
 * enqueues start moving coroutines elsewhere.
 */
static void kcoro_rq_stop_begin(struct kcoro_rq *rq)
{
	/* No new coroutines are placed here. */
	cpumask_clear_cpu(rq->cpu, &kcoro_online_mask);
	if (rq->task)
		kthread_stop(rq->task);
	kcoro_idle_end(rq);
	WRITE_ONCE(rq->online, false);
}

/* After a grace period: enqueuers that still saw it online are done. */
static struct kcoro *kcoro_rq_stop_end(struct kcoro_rq *rq)
{
	struct kcoro *runnable;

	if (rq->task) {
		put_task_struct(rq->task);
		rq->task = NULL;
	}
	kcoro_take_wakeups(rq);
	runnable = rq->head;
	rq->head = NULL;
	rq->tail = NULL;
	return runnable;
}

static struct kcoro *kcoro_rq_stop(struct kcoro_rq *rq)
{
	kcoro_rq_stop_begin(rq);
	synchronize_rcu();
	return kcoro_rq_stop_end(rq);
}

/*
 * A CPU is going down: place no new coroutines there, let its scheduler
 * finish the step it is in and exit, then move every runnable coroutine
 * elsewhere.  Parked coroutines keep the dead CPU as home until they are
 * woken; kcoro_enqueue() then moves them.  Pinned coroutines move too, as
 * the kernel breaks the affinity of tasks on a dying CPU.
 */
static int kcoro_cpu_offline(unsigned int cpu)
{
	struct kcoro *co, *next;

	for (co = kcoro_rq_stop(kcoro_rq_of(cpu)); co; co = next) {
		next = co->rq_next;
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

	kcoro_canary = get_random_canary();
	for_each_possible_cpu(cpu) {
		struct kcoro_rq *rq = kcoro_rq_of(cpu);

		init_llist_head(&rq->wakeups);
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
	bool left = false;
	int cpu;

	cpus_read_lock();
	cpuhp_remove_state_nocalls_cpuslocked(kcoro_hp_state);
	for_each_possible_cpu(cpu)
		kcoro_rq_stop_begin(kcoro_rq_of(cpu));
	/* One grace period for all CPUs. */
	synchronize_rcu();
	for_each_possible_cpu(cpu)
		left |= !!kcoro_rq_stop_end(kcoro_rq_of(cpu));
	cpus_read_unlock();
	WARN_ON_ONCE(left);
}
