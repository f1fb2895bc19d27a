// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro scheduler: per online CPU, a run queue (a FIFO and a run-next slot)
 * and scheduler kthreads, one active and a few standing by.
 *
 * The active kthread ("kcoro/N") loops in its own context, main_co: it
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
 * A coroutine that blocks inside an ordinary kernel function (msleep(), a
 * mutex, a page fault) blocks its kthread.  A preempt notifier sees the
 * kthread switched out while not runnable, and an irq_work hands the run
 * queue to a standby kthread of the same CPU (the hand-off; see struct
 * kcoro_worker and Documentation/kcoro/scheduler.rst).
 *
 * The order of the "TLS hand-off" around a switch is fixed (and documented
 * in Documentation/kcoro/scheduler.rst): with interrupts off, w->curr is
 * set, then current->stack adopts the new stack, then the stack pointer
 * moves.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/irq_work.h>
#include <linux/kthread.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/ratelimit.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/stackprotector.h>

#include "internal.h"
#include "trace.h"

/*
 * On PREEMPT_RT spinlocks sleep, so kcoro's own code could block (and be
 * handed off) in the middle of a run-queue operation.
 */
#ifdef CONFIG_PREEMPT_RT
#error "kcoro does not support PREEMPT_RT"
#endif

/* Direct switches between coroutines before main_co gets a turn. */
#define KCORO_DIRECT_BUDGET	32
/*
 * While others wait, at most every KCORO_NEXT_CAP-th pop takes the queue's
 * head instead of the run-next slot: the slot goes first twice in a row.
 */
#define KCORO_NEXT_CAP		3

/* Scheduler kthreads per CPU: one active, the others standby or blocked. */
static unsigned int max_workers = 8;
module_param(max_workers, uint, 0444);
MODULE_PARM_DESC(max_workers,
		 "scheduler kthreads per CPU, for hand-offs when coroutines block (2-64, default 8)");

static atomic_long_t kcoro_guard_count;

static bool handoff = true;
module_param(handoff, bool, 0644);
MODULE_PARM_DESC(handoff,
		 "give a CPU's coroutines to a standby kthread when one blocks the scheduler (default on)");

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
	rq->nr_movable += !test_bit(KCORO_FLAG_PINNED, &co->flags);
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
		/* Acquire: pairs with kcoro_cpu_online(), rq->active is set (P7). */
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
		/*
		 * The task stays valid: offlining waits for RCU readers.  A
		 * hand-off publishes the new active worker before waking it
		 * and it looks at the wakeups after that (llist_add() and
		 * wake_up_process() are full barriers): either it sees our
		 * coroutine or we see it (P6).  An idle scheduler publishes
		 * TASK_IDLE before its last look (P5).
		 */
		wake_up_process(READ_ONCE(rq->active)->task);
	}
	rcu_read_unlock();
}

/*
 * Move the hand-overs into the queue, keeping their order.  The llist is
 * newest first: one pass links it up oldest first through rq_next, and
 * the chain goes after the tail.  Reversing the llist and then queueing
 * each coroutine would touch every one of them twice, and when many were
 * woken at once (more than the caches hold) each touch is a miss.
 */
static __always_inline void kcoro_take_wakeups(struct kcoro_rq *rq)
{
	struct kcoro *co, *first = NULL, *last;
	struct llist_node *node;

	if (llist_empty(&rq->wakeups))
		return;
	node = llist_del_all(&rq->wakeups);
	if (!node)
		return;
	last = llist_entry(node, struct kcoro, wake_node);
	do {
		co = llist_entry(node, struct kcoro, wake_node);
		node = node->next;
		co->rq_next = first;
		first = co;
		rq->nr_movable += !test_bit(KCORO_FLAG_PINNED, &co->flags);
	} while (node);
	if (rq->tail)
		rq->tail->rq_next = first;
	else
		rq->head = first;
	rq->tail = last;
}

/*
 * Pop the next coroutine of @rq, or NULL: the run-next slot first, but
 * the KCORO_NEXT_CAP-th time in a row that it would go first while others
 * wait (two coroutines waking each other would own the CPU), the slot's
 * coroutine goes to the tail and the head runs.  Only the active worker
 * calls this.
 */
static __always_inline struct kcoro *kcoro_pop(struct kcoro_rq *rq)
{
	struct kcoro *co = rq->next;

	if (co) {
		rq->next = NULL;
		if (!rq->head) {
			rq->next_streak = 0;	/* nobody was kept waiting */
			return co;
		}
		if (likely(++rq->next_streak < KCORO_NEXT_CAP))
			return co;
		kcoro_push_tail(rq, co);
	}
	if (unlikely(rq->next_streak))
		rq->next_streak = 0;
	co = rq->head;
	if (co) {
		rq->head = co->rq_next;
		if (!rq->head)
			rq->tail = NULL;
		rq->nr_movable -= !test_bit(KCORO_FLAG_PINNED, &co->flags);
	}
	return co;
}

/*
 * Work stealing, by request.  A run queue is private to its kthread (no
 * lock on the fast path), so an idle scheduler does not take coroutines
 * itself: it asks, by setting its bit in kcoro_idle_mask before it
 * sleeps, and the first busy scheduler to reach a scheduling point with
 * more than one coroutine queued claims that bit and hands it half of its
 * queue, oldest first (the run-next slot stays: it is the hot one).
 * Never the coroutine running on the giver (it may
 * be queued already, woken while still switching away: only its own
 * kthread may run it until it has), never a pinned one.  The moved
 * coroutines get their new home CPU before they are queued there, so the
 * invariant of struct kcoro_rq holds: a runnable coroutine is run only by
 * its home CPU's scheduler.
 *
 * This runs at every scheduling point while another CPU is idle, so it
 * must not walk the queue to find out that there is nothing to give: with
 * N pinned coroutines queued and an idle CPU, that walk made running them
 * all O(N^2) (the scale table of "make bench").  rq->nr_movable says how
 * many could go; the walk that moves them stops at the last one moved.
 */
static noinline void kcoro_share(struct kcoro_rq *rq)
{
	struct kcoro *co, **link, *moved = NULL, **tail = &moved, *kept = NULL;
	struct kcoro *curr = rq->active->curr;
	unsigned int n = rq->nr_movable, give;
	int cpu;

	/*
	 * Only claim an idle CPU when there is something to give it: a
	 * claim takes its request away, and a CPU whose request was taken
	 * without work sleeps on, unasked, until something else wakes it.
	 * @curr is never given: when it is runnable it may be on the queue
	 * (or in the run-next slot, which nr_movable does not count), so
	 * leave it out; @n may then be one short, never too many.
	 */
	if (n && curr && atomic_read(&curr->state) == KCORO_RUNNABLE &&
	    !test_bit(KCORO_FLAG_PINNED, &curr->flags))
		n--;
	if (!n)
		return;
	cpu = cpumask_first(&kcoro_idle_mask);
	if (cpu == rq->cpu)
		cpu = cpumask_next(cpu, &kcoro_idle_mask);
	if (cpu >= nr_cpu_ids || !cpumask_test_and_clear_cpu(cpu, &kcoro_idle_mask))
		return;
	atomic_dec(&kcoro_nr_idle);
	give = (n + 1) / 2;	/* half of the movable ones, at least one */
	for (link = &rq->head; (co = *link) && give; ) {
		if (co == curr || test_bit(KCORO_FLAG_PINNED, &co->flags)) {
			kept = co;
			link = &co->rq_next;
			continue;
		}
		*link = co->rq_next;
		*tail = co;
		tail = &co->rq_next;
		rq->nr_movable--;
		give--;
	}
	*tail = NULL;
	/* The tail moves only if the walk went to the end of the queue. */
	if (!*link)
		rq->tail = kept;
	rq->steals++;
	for (co = moved, n = 0; co; co = moved, n++) {
		moved = co->rq_next;
		WRITE_ONCE(co->cpu, cpu);
		kcoro_enqueue_remote(co);
	}
	trace_kcoro_steal(n, rq->cpu, cpu);
}

/* Next runnable coroutine of @rq, or NULL.  Only the active worker calls this. */
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
 * The switch into @next.  Interrupts are off from the moment w->curr names
 * @next until the switch has happened, so an interrupt never sees
 * w->curr, current->stack and the stack pointer disagree.
 */
static __always_inline void kcoro_enter(struct kcoro_worker *w,
					struct kcoro *next)
{
	struct kcoro_rq *rq = w->rq;

	atomic_set(&next->state, KCORO_RUNNING);
	next->w = w;
	trace_kcoro_switch(w->curr ? w->curr->id : 0, next->id);
	rq->switches++;
	rq->curr_id = next->id;
	rq->curr_fn = next->fn;
	rq->curr_since = jiffies;
	WRITE_ONCE(w->curr, next);
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
static __always_inline void kcoro_switch_direct(struct kcoro_worker *w,
						struct kcoro *prev,
						struct kcoro *next)
{
	local_irq_disable();
	kcoro_enter(w, next);
	kcoro_ctx_switch(&prev->ctx, &next->ctx);
	local_irq_enable();
	kcoro_landed(prev->w);
}

/* kcoro_landed(): the coroutine we came from has finished; finish it. */
void kcoro_landed_finish(struct kcoro_worker *w)
{
	struct kcoro *dead = w->dead;

	w->dead = NULL;
	kcoro_finish(dead);
}

/*
 * Give the kthread back to its main_co; returns when @co is resumed (by
 * whichever worker is active on its CPU by then).
 */
void kcoro_switch_to_main(struct kcoro *co, enum kcoro_req req)
{
	co->req = req;
	trace_kcoro_switch(co->id, 0);
	local_irq_disable();
	kcoro_ctx_switch(&co->ctx, &co->w->main_co);
	local_irq_enable();
	kcoro_landed(co->w);
}

/*
 * The current coroutine @co has settled its state (parked, or runnable and
 * queued) and gives up the CPU: run the next coroutine directly if the
 * budget allows, otherwise let main_co choose.
 */
static __always_inline void kcoro_reschedule(struct kcoro *co,
					     struct kcoro_worker *w,
					     struct kcoro *next)
{
	if (unlikely(!w->budget)) {
		kcoro_switch_to_main(co, KCORO_REQ_NONE);
		return;
	}
	w->budget--;
	if (next == co)		/* woken again already, nothing else to run */
		atomic_set(&co->state, KCORO_RUNNING);
	else if (next)
		kcoro_switch_direct(w, co, next);
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
	struct kcoro_worker *w = co->w;
	struct kcoro *next;

	if (unlikely(w->detached)) {
		/* Nothing is published before we are off this stack. */
		kcoro_switch_to_main(co, KCORO_REQ_EXIT_LATE);
		panic("kcoro: coroutine %llu resumed after exit\n", co->id);
	}
	kcoro_finish_early(co, w->rq->cpu);
	next = w->budget ? kcoro_next(w->rq) : NULL;
	if (next) {
		w->budget--;
		w->dead = co;
		local_irq_disable();
		kcoro_enter(w, next);
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
	struct kcoro *co = kcoro_this();

	if (!co)
		panic("%s() called outside a coroutine\n", __func__);
	kcoro_finish_check(co, __func__, _RET_IP_);
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
	kcoro_landed(co->w);
	co->result = co->fn(co->arg);
	kcoro_finish_check(co, "return", (unsigned long)co->fn);
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
	struct kcoro_worker *w;
	struct kcoro_rq *rq;
	struct kcoro *next;

	if (unlikely(!co))
		return;
	w = co->w;
	if (unlikely(w->detached)) {
		kcoro_switch_to_main(co, KCORO_REQ_YIELD);
		return;
	}
	rq = w->rq;
	next = kcoro_next(rq);
	if (!next && w->budget) {
		/* Alone on this CPU: keep running, but be a good citizen. */
		w->budget--;
		rq->curr_since = jiffies;	/* it did suspend, for the watchdog */
		cond_resched();
		return;
	}
	atomic_set(&co->state, KCORO_RUNNABLE);
	kcoro_push_tail(rq, co);
	if (unlikely(!w->budget)) {
		/* main_co's turn; it finds @next at the head again. */
		if (next)
			kcoro_push_head(rq, next);
		kcoro_switch_to_main(co, KCORO_REQ_NONE);
		return;
	}
	w->budget--;
	kcoro_switch_direct(w, co, next);
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
	struct kcoro_worker *w;

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
	w = co->w;
	if (unlikely(w->detached)) {
		kcoro_switch_to_main(co, KCORO_REQ_PARK);
		goto out;
	}
	atomic_set(&co->state, KCORO_PARKED);
	/*
	 * Dekker with the slow path of kcoro_unpark() (P1 in
	 * Documentation/kcoro/scheduler.rst, "Memory ordering"): we publish
	 * PARKED then look for a token, it publishes the token then looks
	 * for PARKED.
	 * One of us sees the other; the cmpxchg picks who makes us runnable
	 * again.  If the waker wins, we are queued on our own CPU before we
	 * have switched away, which is fine: only this kthread runs us.
	 */
	smp_mb();
	if (!atomic_read(&co->wake_token) ||
	    atomic_cmpxchg(&co->state, KCORO_PARKED,
			   KCORO_RUNNING) != KCORO_PARKED)
		kcoro_reschedule(co, w, w->budget ? kcoro_next(w->rq) : NULL);
out:
	/*
	 * A waker that found us PARKED made us RUNNABLE with a fully ordered
	 * cmpxchg and queued us after it, and we run only once that queueing
	 * reached our scheduler: its stores are visible without a token (P2).
	 * A token is left only by the slow path of kcoro_unpark(); consume it
	 * with a full barrier, which pairs with the waker's xchg (P3).
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
	 * token (pairs with the parker's consuming xchg, P3), and the token
	 * before we look for PARKED again (pairs with kcoro_park()'s
	 * smp_mb(), P1).
	 */
	atomic_xchg(&co->wake_token, 1);
	kcoro_try_wake(co);
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

/*
 * main_co of a worker that was handed off, after the step of @co: publish
 * the state @co asked for from its stack.  Another worker runs this CPU's
 * queue now and may run @co the moment it is runnable, so a reference
 * keeps it alive for the park's second look.
 */
static void kcoro_detached_req(struct kcoro *co)
{
	switch (co->req) {
	case KCORO_REQ_PARK:
		kcoro_get(co);
		atomic_set(&co->state, KCORO_PARKED);
		/* Dekker with kcoro_unpark_slow(), as in kcoro_park() (P1). */
		smp_mb();
		if (atomic_read(&co->wake_token))
			kcoro_try_wake(co);
		kcoro_put(co);
		break;
	case KCORO_REQ_YIELD:
		atomic_set(&co->state, KCORO_RUNNABLE);
		kcoro_enqueue(co);
		break;
	case KCORO_REQ_EXIT_LATE:
		kcoro_finish_early(co, -1);
		kcoro_finish(co);
		break;
	default:
		WARN_ON_ONCE(1);
	}
}

/* main_co: run @co (and whatever it switches to) until one comes back. */
static void kcoro_run(struct kcoro_worker *w, struct kcoro *co)
{
	struct kcoro *prev;

	w->budget = KCORO_DIRECT_BUDGET;
	local_irq_disable();
	kcoro_enter(w, co);
	kcoro_ctx_switch(&w->main_co, &co->ctx);
	prev = w->curr;
	current->stack = w->main_co.stack;
	WRITE_ONCE(w->curr, NULL);
	local_irq_enable();

	if (prev->req == KCORO_REQ_EXIT)
		kcoro_finish(prev);
	else if (unlikely(prev->req != KCORO_REQ_NONE))
		kcoro_detached_req(prev);
}

/* The active worker's loop; returns when it stops or was handed off. */
static noinline void kcoro_sched_loop(struct kcoro_worker *w)
{
	struct kcoro_rq *rq = w->rq;
	struct kcoro *co;

	while (!kthread_should_stop()) {
		co = kcoro_next(rq);
		if (!co) {
			/*
			 * Publish the sleep before the last look at the
			 * wakeups: pairs with llist_add() and
			 * wake_up_process() in kcoro_enqueue_remote() (P5).
			 */
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
		kcoro_run(w, co);
		if (unlikely(w->detached))
			return;
		cond_resched();
	}
}

/* The stack-protector canary shared by every scheduler kthread. */
static unsigned long kcoro_canary;

#ifdef CONFIG_PREEMPT_NOTIFIERS
/* Blocked, as opposed to preempted: no longer on its run queue. */
static bool kcoro_task_queued(struct task_struct *p)
{
#ifdef KCORO_HAVE_TASK_IS_RUNNABLE
	return task_is_runnable(p);	/* delayed dequeue keeps on_rq */
#else
	return READ_ONCE(p->on_rq);
#endif
}

/*
 * The worker is switched out.  If it blocked (not preempted) inside a
 * coroutine's step, every other coroutine of this CPU would wait for it:
 * ask for a hand-off.  This runs under the CPU's run-queue lock, so it
 * only records and raises an irq_work (kcoro_handoff_fn()), which runs as
 * soon as interrupts are enabled again, after the switch.
 */
static void kcoro_sched_out(struct preempt_notifier *pn,
			    struct task_struct *next)
{
	struct kcoro_worker *w = container_of(pn, struct kcoro_worker, pn);

	if (!w->curr || w->detached || !READ_ONCE(handoff) ||
	    kcoro_task_queued(current))
		return;
	WRITE_ONCE(w->blocked, true);
	irq_work_queue(&w->rq->handoff_work);
}

static void kcoro_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct kcoro_worker *w = container_of(pn, struct kcoro_worker, pn);

	WRITE_ONCE(w->blocked, false);
}

static struct preempt_ops kcoro_preempt_ops = {
	.sched_in = kcoro_sched_in,
	.sched_out = kcoro_sched_out,
};
#endif

/*
 * The hand-off, in hard interrupt context on the worker's CPU: if the
 * active worker is still blocked inside a coroutine's step, make a
 * standby worker the active one and wake it.  The blocked one is marked
 * detached: once woken it finishes its coroutine's step, and the
 * coroutine's next suspension takes it back to that worker's own main_co
 * (kcoro_detached_req()), after which the worker joins the pool.
 */
static void kcoro_handoff_fn(struct irq_work *work)
{
	struct kcoro_rq *rq = container_of(work, struct kcoro_rq, handoff_work);
	struct kcoro_worker *w, *s = NULL;
	bool grow = false;
	struct kcoro *co;

	raw_spin_lock(&rq->lock);
	w = rq->active;
	if (!w || rq->stopping || w->detached || !READ_ONCE(w->blocked) ||
	    w->task == current || READ_ONCE(w->task->__state) == TASK_RUNNING)
		goto out;
	co = READ_ONCE(w->curr);
	if (!co)
		goto out;
	if (rq->pool) {
		s = &rq->workers[__ffs(rq->pool)];
		__clear_bit(s - rq->workers, &rq->pool);
		w->detached = true;
		rq->handoffs++;
		WRITE_ONCE(rq->active, s);
		trace_kcoro_handoff(co->id, rq->cpu, task_pid_nr(w->task),
				    task_pid_nr(s->task));
	} else {
		rq->handoff_missed++;
	}
	grow = !rq->pool && rq->nr_workers < max_workers;
out:
	raw_spin_unlock(&rq->lock);
	if (s)
		wake_up_process(s->task);
	if (grow)
		queue_work(system_unbound_wq, &rq->grow_work);
}

/* A worker that was handed off returns to the pool. */
static void kcoro_pool_put(struct kcoro_worker *w)
{
	struct kcoro_rq *rq = w->rq;

	raw_spin_lock_irq(&rq->lock);
	w->detached = false;
	__set_bit(w - rq->workers, &rq->pool);
	raw_spin_unlock_irq(&rq->lock);
}

/*
 * A coroutine's frames carry the canary of the kthread that built them,
 * and a coroutine may be resumed by another scheduler kthread (a hand-off,
 * or its CPU went offline), so all of them share one canary.  No frame of
 * this function, which has no canary itself, spans the change.
 */
static int kcoro_worker_fn(void *data)
{
	struct kcoro_worker *w = data;
	struct kcoro_rq *rq = w->rq;
	unsigned long own;

	/*
	 * Stay on this CPU even while it goes down: once the CPU is no
	 * longer active the scheduler pushes and wakes ordinary kthreads
	 * elsewhere, but this rq's coroutines must keep running here until
	 * kcoro_cpu_offline() has stopped us and moved them.
	 */
	migrate_disable();
	own = kcoro_arch_set_canary(kcoro_canary);
	w->main_co.stack = current->stack;
#ifdef CONFIG_PREEMPT_NOTIFIERS
	preempt_notifier_register(&w->pn);
#endif
	while (!kthread_should_stop()) {
		if (READ_ONCE(rq->active) == w) {
			kcoro_sched_loop(w);
			continue;
		}
		if (w->detached)
			kcoro_pool_put(w);
		/* Standby: a hand-off publishes rq->active, then wakes us. */
		set_current_state(TASK_IDLE);
		/*
		 * A hand-off that found the pool empty is not retried by
		 * anyone else: now that we are in it, retry.
		 */
		if (READ_ONCE(READ_ONCE(rq->active)->blocked))
			irq_work_queue(&rq->handoff_work);
		if (READ_ONCE(rq->active) != w && !kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
#ifdef CONFIG_PREEMPT_NOTIFIERS
	preempt_notifier_unregister(&w->pn);
#endif
	kcoro_arch_set_canary(own);
	migrate_enable();
	return 0;
}

/*
 * Create worker number rq->nr_workers, the active one or a standby.  Only
 * CPU hotplug (the CPU is not running coroutines yet) and the grow work
 * (which offlining cancels first) add workers, never both at once.
 */
static int kcoro_worker_add(struct kcoro_rq *rq, bool active)
{
	unsigned int idx = rq->nr_workers;
	struct kcoro_worker *w;
	struct task_struct *t;

	if (idx >= max_workers)
		return -EAGAIN;
	w = &rq->workers[idx];
	memset(w, 0, sizeof(*w));
	w->rq = rq;
#ifdef CONFIG_PREEMPT_NOTIFIERS
	preempt_notifier_init(&w->pn, &kcoro_preempt_ops);
#endif
	t = kthread_create_on_cpu(kcoro_worker_fn, w, rq->cpu, "kcoro/%u");
	if (IS_ERR(t))
		return PTR_ERR(t);
	/* Enqueuers may still wake it after it stopped: keep it valid. */
	get_task_struct(t);
	WRITE_ONCE(w->task, t);
	raw_spin_lock_irq(&rq->lock);
	WRITE_ONCE(rq->nr_workers, idx + 1);
	if (active)
		WRITE_ONCE(rq->active, w);
	else
		__set_bit(idx, &rq->pool);
	raw_spin_unlock_irq(&rq->lock);
	wake_up_process(t);
	return 0;
}

/* The pool ran dry at a hand-off: add a standby worker. */
static void kcoro_grow_fn(struct work_struct *work)
{
	struct kcoro_rq *rq = container_of(work, struct kcoro_rq, grow_work);

	if (!READ_ONCE(rq->stopping))
		kcoro_worker_add(rq, false);
}

/*
 * kcoro_this() for anything but the active worker of this CPU: a worker
 * that was handed off and is finishing its coroutine's step, or not a
 * worker at all.  Worker slots are never freed before module exit.
 */
struct kcoro *kcoro_this_slow(struct kcoro_rq *rq)
{
	unsigned int i, n;

	if (!(current->flags & PF_KTHREAD) || !rq->workers)
		return NULL;
	n = READ_ONCE(rq->nr_workers);
	for (i = 0; i < n; i++)
		if (READ_ONCE(rq->workers[i].task) == current)
			return READ_ONCE(rq->workers[i].curr);
	return NULL;
}

static void kcoro_guard_report(struct kcoro *co, const char *what,
			       unsigned int bad, unsigned long ip,
			       const char *outcome)
{
	static DEFINE_RATELIMIT_STATE(rs, 5 * HZ, 10);

	atomic_long_inc(&kcoro_guard_count);
	trace_kcoro_guard(co->id, bad);
	if (__ratelimit(&rs))
		pr_err("kcoro: coroutine %llu (%ps) may not suspend in %s() called from %pS:%s%s%s%s%s%s; %s\n",
		       co->id, co->fn, what, (void *)ip,
		       bad & KCORO_GUARD_ATOMIC ? " preempt-off" : "",
		       bad & KCORO_GUARD_IRQS ? " irqs-off" : "",
		       bad & KCORO_GUARD_RCU ? " rcu-read-side" : "",
		       bad & KCORO_GUARD_PAGEFAULT ? " pagefault-off" : "",
		       bad & KCORO_GUARD_LOCKS ? " lockdep-tracked-lock" : "",
		       bad & KCORO_GUARD_STATE ? " task-state-set" : "",
		       outcome);
}

/*
 * A suspension point found per-task state that must not cross a switch
 * (kcoro_guard()).  A task state left set is simply reset to TASK_RUNNING
 * (as schedule() itself would leave it) and the suspension goes on.
 * Anything else would be handed to whichever coroutine runs next on this
 * kthread: refuse, so the caller sees what it sees outside a coroutine
 * (kcoro_park() returns as a spurious wake-up, kcoro_yield() at once,
 * kcoro_sleep_ns() -EPERM).  Either way, say which coroutine did it and
 * count it (kcoro_guard_violations()).
 */
struct kcoro *kcoro_guard_fail(struct kcoro *co, const char *what,
			       unsigned int bad, unsigned long ip)
{
	if (bad & KCORO_GUARD_STATE)
		__set_current_state(TASK_RUNNING);
	if (bad & ~KCORO_GUARD_STATE) {
		kcoro_guard_report(co, what, bad, ip, "refused");
		return NULL;
	}
	kcoro_guard_report(co, what, bad, ip, "task state reset to TASK_RUNNING");
	return co;
}

/*
 * A coroutine finishes (kcoro_exit(), or its body returned): that cannot
 * be refused, but what it leaves held is reported, and a task state reset.
 */
void kcoro_finish_check(struct kcoro *co, const char *what, unsigned long ip)
{
	unsigned int bad = kcoro_guard();

	if (likely(!bad))
		return;
	if (bad & KCORO_GUARD_STATE)
		__set_current_state(TASK_RUNNING);
	kcoro_guard_report(co, what, bad, ip, "finishing anyway");
}

/**
 * kcoro_guard_violations() - suspension points refused so far
 *
 * A coroutine may not suspend while it holds per-task state (a spinlock,
 * an RCU read lock, preemption or page faults disabled, a lock lockdep
 * tracks) or with a task state other than TASK_RUNNING: each attempt is
 * reported in the kernel log and counted here.  The suspension is refused,
 * except that a task state is reset and the suspension goes on.
 *
 * Return: the number of refused suspensions since the module was loaded.
 */
long kcoro_guard_violations(void)
{
	return atomic_long_read(&kcoro_guard_count);
}
EXPORT_SYMBOL_GPL(kcoro_guard_violations);

static struct kcoro *kcoro_rq_stop(struct kcoro_rq *rq);

/**
 * kcoro_set_handoff() - turn the blocking hand-off on or off
 * @on: whether a scheduler kthread that blocks inside a coroutine hands its
 *	CPU's other coroutines to a standby kthread
 *
 * The same switch as the "handoff" module parameter, for benchmarks and
 * tests that compare both.  Without the hand-off (or on kernels without
 * CONFIG_PREEMPT_NOTIFIERS), a coroutine that blocks in an ordinary kernel
 * function stalls every coroutine of its CPU until it wakes.
 *
 * Return: the previous setting.
 */
bool kcoro_set_handoff(bool on)
{
	return xchg(&handoff, on);
}
EXPORT_SYMBOL_GPL(kcoro_set_handoff);

static int kcoro_cpu_online(unsigned int cpu)
{
	struct kcoro_rq *rq = kcoro_rq_of(cpu);
	int ret;

	WRITE_ONCE(rq->stopping, false);
	ret = kcoro_worker_add(rq, true);
	if (!ret)
		ret = kcoro_worker_add(rq, false);
	if (ret) {
		kcoro_rq_stop(rq);	/* nothing was queued yet */
		return ret;
	}
	/* Release: enqueuers that see online also see rq->active (P7). */
	smp_store_release(&rq->online, true);
	cpumask_set_cpu(cpu, &kcoro_online_mask);
	return 0;
}

/*
 * Stopping @rq's scheduler takes two steps around an RCU grace period
 * (kcoro_rq_stop()); the second returns its runnable coroutines, in order.
 *
 * Until the workers have stopped, the run queue keeps accepting
 * coroutines: one of them may be between publishing PARKED and switching
 * away, and only the active worker may run it (see struct kcoro_rq); a
 * worker that was handed off still finishes its coroutine's step and
 * requeues it here.  Only then do enqueues start moving coroutines
 * elsewhere.
 */
static void kcoro_rq_stop_begin(struct kcoro_rq *rq)
{
	unsigned int i;

	/* No new coroutines are placed here, no hand-offs, no new workers. */
	cpumask_clear_cpu(rq->cpu, &kcoro_online_mask);
	raw_spin_lock_irq(&rq->lock);
	WRITE_ONCE(rq->stopping, true);
	raw_spin_unlock_irq(&rq->lock);
	irq_work_sync(&rq->handoff_work);
	cancel_work_sync(&rq->grow_work);
	/*
	 * rq->active is fixed now.  It stops last: a detached worker's step
	 * may wait for a coroutine that only the active worker would run.
	 */
	for (i = 0; i < rq->nr_workers; i++)
		if (rq->workers[i].task && &rq->workers[i] != rq->active)
			kthread_stop(rq->workers[i].task);
	if (rq->active && rq->active->task)
		kthread_stop(rq->active->task);
	/* A worker that blocked since may have queued it again. */
	irq_work_sync(&rq->handoff_work);
	kcoro_idle_end(rq);
	WRITE_ONCE(rq->online, false);
}

/* After a grace period: enqueuers that still saw it online are done. */
static struct kcoro *kcoro_rq_stop_end(struct kcoro_rq *rq)
{
	struct kcoro *runnable;
	unsigned int i;

	for (i = 0; i < rq->nr_workers; i++) {
		struct kcoro_worker *w = &rq->workers[i];

		if (w->task) {
			put_task_struct(w->task);
			WRITE_ONCE(w->task, NULL);
		}
	}
	WRITE_ONCE(rq->nr_workers, 0);
	WRITE_ONCE(rq->active, NULL);
	rq->pool = 0;
	kcoro_take_wakeups(rq);
	if (rq->next)
		kcoro_push_head(rq, rq->next);
	rq->next = NULL;
	runnable = rq->head;
	rq->head = NULL;
	rq->tail = NULL;
	rq->nr_movable = 0;
	return runnable;
}

static struct kcoro *kcoro_rq_stop(struct kcoro_rq *rq)
{
	kcoro_rq_stop_begin(rq);
	synchronize_rcu();
	return kcoro_rq_stop_end(rq);
}

/*
 * A CPU is going down: place no new coroutines there, let its workers
 * finish the steps they are in and exit, then move every runnable
 * coroutine elsewhere.  Parked coroutines keep the dead CPU as home until
 * they are woken; kcoro_enqueue() then moves them.  Pinned coroutines
 * move too, as the kernel breaks the affinity of tasks on a dying CPU.
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

/* The scheduler's part of kcoro_get_stats(). */
void kcoro_sched_stats(struct kcoro_stats *stats)
{
	int cpu;

	stats->switches = 0;
	stats->handoffs = 0;
	stats->handoff_missed = 0;
	for_each_possible_cpu(cpu) {
		struct kcoro_rq *rq = kcoro_rq_of(cpu);

		stats->switches += READ_ONCE(rq->switches);
		stats->handoffs += READ_ONCE(rq->handoffs);
		stats->handoff_missed += READ_ONCE(rq->handoff_missed);
	}
}

static void kcoro_rqs_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		kfree(kcoro_rq_of(cpu)->workers);
		kcoro_rq_of(cpu)->workers = NULL;
	}
}

int kcoro_sched_init(void)
{
	int cpu, ret;

	max_workers = clamp(max_workers, 2U, (unsigned int)BITS_PER_LONG);
	kcoro_canary = get_random_canary();
	for_each_possible_cpu(cpu) {
		struct kcoro_rq *rq = kcoro_rq_of(cpu);

		init_llist_head(&rq->wakeups);
		raw_spin_lock_init(&rq->lock);
		rq->handoff_work = IRQ_WORK_INIT_HARD(kcoro_handoff_fn);
		INIT_WORK(&rq->grow_work, kcoro_grow_fn);
		rq->cpu = cpu;
		rq->workers = kcalloc_node(max_workers, sizeof(*rq->workers),
					   GFP_KERNEL, cpu_to_node(cpu));
		if (!rq->workers) {
			kcoro_rqs_free();
			return -ENOMEM;
		}
	}
#ifdef CONFIG_PREEMPT_NOTIFIERS
	preempt_notifier_inc();
#endif
	ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "kcoro:online",
				kcoro_cpu_online, kcoro_cpu_offline);
	if (ret < 0) {
#ifdef CONFIG_PREEMPT_NOTIFIERS
		preempt_notifier_dec();
#endif
		kcoro_rqs_free();
		return ret;
	}
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
#ifdef CONFIG_PREEMPT_NOTIFIERS
	preempt_notifier_dec();
#endif
	kcoro_rqs_free();
}
