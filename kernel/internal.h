/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcoro internals shared by the files of the module.
 */
#ifndef _KCORO_INTERNAL_H
#define _KCORO_INTERNAL_H

#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/percpu.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/debug_locks.h>
#include <linux/hardirq.h>
#include <linux/sched.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "trace.h"

/**
 * struct kcoro_context - a suspended execution context
 * @sp: saved stack pointer; the callee-saved registers sit on the stack
 * @stack: lowest address of the stack (what current->stack is set to)
 * @rethooks: the context's pending kretprobe returns (current->rethooks
 *	while it runs): they are per stack, not per task
 * @kretprobes: the same for kernels whose kretprobes do not use rethook
 *	(arm64 in 6.1 and 6.12: current->kretprobe_instances)
 *
 * Both a coroutine and a scheduler kthread's own context (main_co) are
 * described by one of these; kcoro_switch() moves between two of them.
 */
struct kcoro_context {
	unsigned long sp;
	void *stack;
#ifdef CONFIG_RETHOOK
	struct llist_node *rethooks;
#endif
#if defined(CONFIG_KRETPROBES) && !defined(CONFIG_KRETPROBE_ON_RETHOOK)
	struct llist_node *kretprobes;
#endif
};

/* What a coroutine asks main_co to do after switching to it. */
enum kcoro_req {
	KCORO_REQ_NONE,		/* its state is settled: just run the next one */
	KCORO_REQ_EXIT,		/* it finished: release its stack and wake joiners */
	/*
	 * From a worker that was handed off (see struct kcoro_worker): the
	 * coroutine's new state is published only once it is off its stack.
	 */
	KCORO_REQ_PARK,		/* park it (or requeue it if a token came) */
	KCORO_REQ_YIELD,	/* requeue it */
	KCORO_REQ_EXIT_LATE,	/* finish it entirely (DEAD, joiners, stack) */
};

/* co->state */
enum {
	KCORO_RUNNABLE,		/* on a run queue */
	KCORO_RUNNING,		/* its scheduler switched to it */
	KCORO_PARKED,		/* suspended until kcoro_unpark() */
	KCORO_DEAD,		/* finished; result valid */
};

/* co->flags bits */
enum {
	KCORO_FLAG_CANCELLED,
	KCORO_FLAG_PINNED,	/* spawned on a given CPU: never stolen */
	KCORO_FLAG_ACCOUNT,	/* memory charged to a memcg: no caches */
};

struct kcoro_rq;
struct kcoro_worker;

struct kcoro {
	struct kcoro_context ctx;
	atomic_t state;
	atomic_t wake_token;
	enum kcoro_req req;
	int cpu;			/* home CPU; changes only on hotplug */
	/*
	 * In one cache line with the run-queue links: queueing a coroutine
	 * reads its KCORO_FLAG_PINNED (rq->nr_movable).
	 */
	unsigned long flags;		/* KCORO_FLAG_* bits */
	struct kcoro *rq_next;		/* next on the run queue */
	struct llist_node wake_node;	/* on rq->wakeups */
	struct kcoro_worker *w;		/* kthread running it (while RUNNING) */
	refcount_t ref;
	bool stack_dirty;		/* left without unwinding (kcoro_exit) */
	bool sleep_done;
	bool timer_ready;		/* @timer initialised (on first use) */
	kcoro_fn_t fn;
	void *arg;
	long result;
	u64 id;
	struct module *owner;		/* pinned while the coroutine lives */
	struct kcoro *joiner;		/* the one coroutine joining, if any */
	void *waiting;			/* caller of the last kcoro_park() */
	struct list_head all_node;	/* on the debugfs list */
	struct wait_queue_head join_wq;	/* other joiners */
	struct hrtimer timer;
};

/* co->joiner once the coroutine has finished */
#define KCORO_JOINER_CLOSED	((struct kcoro *)1UL)

/**
 * struct kcoro_worker - a scheduler kthread
 * @main_co: the kthread's own context, entered between coroutine steps
 * @curr: coroutine running on this kthread, NULL while in main_co
 * @dead: a coroutine that finished and switched straight to the next one;
 *	whoever lands on the kthread after that switch finishes it
 * @budget: direct coroutine-to-coroutine switches left before the next
 *	pass through main_co
 * @detached: handed off: the kthread blocked inside @curr's step and
 *	another worker took over the run queue; this one finishes the step,
 *	returns to its own main_co and joins the standby pool
 * @blocked: switched out while not runnable with @curr set (preempt
 *	notifier), until switched in again
 * @task: the kthread
 * @rq: the CPU it serves
 * @pn: its preempt notifier
 *
 * Each CPU has one active worker, which alone touches the run queue, and
 * a bounded pool of standby workers.  A coroutine always returns to the
 * main_co of the worker that switched to it.
 */
struct kcoro_worker {
	struct kcoro_context main_co;
	struct kcoro *curr;
	struct kcoro *dead;
	unsigned int budget;
	bool detached;
	bool blocked;
	struct task_struct *task;
	struct kcoro_rq *rq;
#ifdef CONFIG_PREEMPT_NOTIFIERS
	struct preempt_notifier pn;
#endif
};

/**
 * struct kcoro_rq - one CPU's scheduler
 * @head: first runnable coroutine (a singly linked FIFO through
 *	kcoro.rq_next); touched only by the active worker
 * @tail: last runnable coroutine
 * @nr_movable: coroutines on the @head FIFO that are not pinned, what
 *	kcoro_share() may give away: it needs no walk of the queue to know
 * @next: the run-next slot: a coroutine woken by the running one, run
 *	before @head (see kcoro_next())
 * @next_streak: coroutines taken from @next in a row
 * @wakeups: coroutines made runnable by other tasks, other CPUs or
 *	interrupts; lock-free, drained into the queue by the active worker
 * @online: enqueues go to this run queue (read under RCU); cleared only
 *	once the workers have stopped, when enqueues start moving coroutines
 *	away
 * @stopping: the CPU is going down: no more hand-offs or new workers
 * @active: the worker that runs this CPU's coroutines
 * @lock: protects @active changes, @pool, @nr_workers and @stopping
 * @pool: bitmap of standby workers (indices into @workers)
 * @nr_workers: workers created (the first @nr_workers of @workers)
 * @workers: max_workers worker slots, allocated once
 * @handoff_work: irq_work queued by a blocking worker's preempt notifier
 * @grow_work: creates a standby worker when the pool runs dry
 * @switches: switches into coroutines (statistics)
 * @steals: times this scheduler gave half its queue to an idle one
 * @handoffs: times a blocked worker's run queue went to a standby
 * @handoff_missed: times the pool was empty when one was needed
 * @cpu: CPU number
 * @curr_id: id of the coroutine switched to last, for the watchdog
 * @curr_fn: its body function
 * @curr_since: jiffies at that switch
 * @long_run_switches: @switches when the watchdog last reported
 *
 * A runnable coroutine is only ever run by the active worker of its home
 * CPU.  That is what lets a coroutine queue itself (yield) or become
 * runnable (park racing with unpark) before it has switched away: nobody
 * else can pick it up while its stack is still in use.  The active worker
 * changes only while it is blocked (not runnable) inside a coroutine's
 * step, never while it runs kcoro's own code: inside a coroutine that
 * code runs only in TASK_RUNNING (the guards see to it), and main_co's
 * idle path, which sets TASK_IDLE, runs with no coroutine on the worker,
 * which is never handed off.  A worker that was handed off publishes its
 * coroutine's new state only from its own main_co.
 */
struct kcoro_rq {
	struct kcoro *head;
	struct kcoro *tail;
	unsigned int nr_movable;
	struct kcoro *next;
	unsigned int next_streak;
	struct llist_head wakeups;
	bool online;
	bool stopping;
	struct kcoro_worker *active;
	raw_spinlock_t lock;
	unsigned long pool;
	unsigned int nr_workers;
	struct kcoro_worker *workers;
	struct irq_work handoff_work;
	struct work_struct grow_work;
	u64 switches;
	u64 steals;
	u64 handoffs;
	u64 handoff_missed;
	int cpu;
	u64 curr_id;
	void *curr_fn;
	unsigned long curr_since;
	u64 long_run_switches;
};

DECLARE_PER_CPU(struct kcoro_rq, kcoro_rqs);

struct kcoro *kcoro_this_slow(struct kcoro_rq *rq);

/* The coroutine @rq's active worker runs, for statistics only. */
static inline struct kcoro *kcoro_rq_curr(struct kcoro_rq *rq)
{
	struct kcoro_worker *w = READ_ONCE(rq->active);

	return w ? READ_ONCE(w->curr) : NULL;
}

/*
 * The coroutine running on the current task, or NULL.  Scheduler kthreads
 * are bound to their CPU, so if current is one of this CPU's workers the
 * rq cannot change under us; any other task may migrate, but then it is
 * no worker of either CPU.  The active worker is checked first; a worker
 * that was handed off finds itself in kcoro_this_slow().  An interrupt
 * taken while a coroutine runs is not the coroutine.
 */
static __always_inline struct kcoro *kcoro_this(void)
{
	struct kcoro_rq *rq = raw_cpu_ptr(&kcoro_rqs);
	struct kcoro_worker *w;

	if (!in_task())
		return NULL;
	w = READ_ONCE(rq->active);
	if (likely(w && READ_ONCE(w->task) == current))
		return READ_ONCE(w->curr);
	return kcoro_this_slow(rq);
}

struct kcoro *kcoro_suspend_fail(const char *what);

/* What kcoro_guard() found held at a suspension point (a bitmask). */
enum {
	KCORO_GUARD_ATOMIC	= 1 << 0,	/* preempt count: spinlock, preempt_disable() */
	KCORO_GUARD_IRQS	= 1 << 1,	/* interrupts disabled */
	KCORO_GUARD_RCU		= 1 << 2,	/* rcu_read_lock() */
	KCORO_GUARD_PAGEFAULT	= 1 << 3,	/* pagefault_disable(), kmap_local */
	KCORO_GUARD_LOCKS	= 1 << 4,	/* a lock lockdep knows of */
	KCORO_GUARD_STATE	= 1 << 5,	/* task state not TASK_RUNNING */
};

/*
 * Per-task state that must not be carried across a switch: all coroutines
 * of a scheduler kthread share its task_struct.  Every kernel checks the
 * preempt count (a spinlock, where CONFIG_PREEMPT_COUNT counts it) and the
 * task state (the hand-off relies on it, see struct kcoro_rq): two plain
 * loads.  Debug kernels (CONFIG_DEBUG_ATOMIC_SLEEP) also check interrupts,
 * RCU nesting and the pagefault count, and lockdep kernels held locks.
 */
static __always_inline unsigned int kcoro_guard(void)
{
	unsigned int bad = 0;

	if (unlikely(preempt_count()))
		bad |= KCORO_GUARD_ATOMIC;
	if (unlikely(READ_ONCE(current->__state) != TASK_RUNNING))
		bad |= KCORO_GUARD_STATE;
	if (!IS_ENABLED(CONFIG_DEBUG_ATOMIC_SLEEP))
		return bad;
	if (unlikely(irqs_disabled()))
		bad |= KCORO_GUARD_IRQS;
	if (unlikely(rcu_preempt_depth()))
		bad |= KCORO_GUARD_RCU;
	if (unlikely(pagefault_disabled()))
		bad |= KCORO_GUARD_PAGEFAULT;
#ifdef CONFIG_LOCKDEP
	if (unlikely(current->lockdep_depth))
		bad |= KCORO_GUARD_LOCKS;
#endif
	return bad;
}

struct kcoro *kcoro_guard_fail(struct kcoro *co, const char *what,
			       unsigned int bad, unsigned long ip);
void kcoro_finish_check(struct kcoro *co, const char *what, unsigned long ip);

/*
 * Every suspension point starts here.  A violation of the rules above is
 * reported and counted, and the suspension is refused (see
 * kcoro_guard_fail()): the caller gets NULL, as outside a coroutine; only
 * a task state left set is reset and the suspension goes on.
 */
static __always_inline struct kcoro *kcoro_suspend_check(const char *what)
{
	struct kcoro *co = kcoro_this();
	unsigned int bad;

	if (unlikely(!co))
		return kcoro_suspend_fail(what);
	bad = kcoro_guard();
	if (unlikely(bad))
		return kcoro_guard_fail(co, what, bad, _RET_IP_);
	if (IS_ENABLED(CONFIG_DEBUG_ATOMIC_SLEEP))
		might_sleep();
	return co;
}

/* arch/<arch>/switch.S */
void kcoro_switch(unsigned long *save_sp, const unsigned long *load_sp);
void kcoro_entry_tramp(void);
/* arch/<arch>/stack.c */
unsigned long kcoro_arch_init_stack(void *stack, struct kcoro *co);
unsigned long kcoro_arch_set_canary(unsigned long canary);
void *kcoro_arch_stack_alloc(gfp_t gfp);	/* zeroed, THREAD_SIZE */
void kcoro_arch_stack_free(void *stack);

/* core.c */
void __noreturn kcoro_entry(struct kcoro *co);
void kcoro_finish_early(struct kcoro *co, int cpu);
void kcoro_finish(struct kcoro *co);
DECLARE_PER_CPU(long, kcoro_nr_live);

/* sched.c */
void kcoro_enqueue_remote(struct kcoro *co);
void kcoro_unpark_slow(struct kcoro *co);
void kcoro_switch_to_main(struct kcoro *co, enum kcoro_req req);
void kcoro_landed_finish(struct kcoro_worker *w);

/*
 * Every coroutine that resumes after a switch calls this: if the switch
 * came from a coroutine that had finished, its stack is free now and we
 * finish it, as finish_task_switch() does for a dead task.
 */
static __always_inline void kcoro_landed(struct kcoro_worker *w)
{
	if (unlikely(w->dead))
		kcoro_landed_finish(w);
}

/*
 * The run queue: a singly linked FIFO private to the scheduler kthread
 * (no list debugging calls on the hot path).
 */
static __always_inline void kcoro_push_tail(struct kcoro_rq *rq,
					    struct kcoro *co)
{
	co->rq_next = NULL;
	if (rq->tail)
		rq->tail->rq_next = co;
	else
		rq->head = co;
	rq->tail = co;
	rq->nr_movable += !test_bit(KCORO_FLAG_PINNED, &co->flags);
}

/*
 * The run-next slot (tokio's LIFO slot): a coroutine woken by the running
 * one runs as soon as that one suspends, while what it was woken for is
 * still in the cache.  The newest wake-up wins; the one it displaces goes
 * to the tail.  kcoro_next() caps how often the slot may go first.
 */
static __always_inline void kcoro_set_next(struct kcoro_rq *rq,
					   struct kcoro *co)
{
	struct kcoro *old = rq->next;

	rq->next = co;
	if (old)
		kcoro_push_tail(rq, old);
}

/*
 * Hand a runnable coroutine to its home CPU's scheduler.  Its active
 * worker (one of its coroutines, or main_co) appends to the private
 * queue, or, for a coroutine that the running one woke (@wake), puts it
 * into the run-next slot; everybody else goes through
 * kcoro_enqueue_remote().  The local path also needs TASK_RUNNING: only a
 * worker that is not runnable can be handed off (see struct kcoro_rq), so
 * one in a wait loop of its own goes the remote way.  If that CPU is going
 * offline, kcoro_rq_stop() moves the queue after the workers have stopped.
 */
static __always_inline void __kcoro_enqueue(struct kcoro *co, bool wake)
{
	struct kcoro_rq *rq = per_cpu_ptr(&kcoro_rqs, READ_ONCE(co->cpu));
	struct kcoro_worker *w = READ_ONCE(rq->active);

	if (likely(in_task() && w && current == READ_ONCE(w->task) &&
		   READ_ONCE(current->__state) == TASK_RUNNING)) {
		if (wake && w->curr)
			kcoro_set_next(rq, co);
		else
			kcoro_push_tail(rq, co);
	} else {
		kcoro_enqueue_remote(co);
	}
}

/* A coroutine woke @co. */
static __always_inline void kcoro_enqueue(struct kcoro *co)
{
	__kcoro_enqueue(co, true);
}

/*
 * If @co is parked, make it runnable (one fully ordered cmpxchg picks the
 * one caller that does) and queue it.  Returns whether this call did.
 */
static __always_inline bool kcoro_try_wake(struct kcoro *co)
{
	if (likely(atomic_read(&co->state) == KCORO_PARKED) &&
	    likely(atomic_cmpxchg(&co->state, KCORO_PARKED,
				  KCORO_RUNNABLE) == KCORO_PARKED)) {
		trace_kcoro_wake(co->id, READ_ONCE(co->cpu));
		kcoro_enqueue(co);
		return true;
	}
	return false;
}

/*
 * kcoro_unpark(), inlined into kcoro's own wakers.  The common case finds
 * @co parked: one fully ordered cmpxchg makes it RUNNABLE, and the enqueue
 * after it (program order on @co's own scheduler, llist_add() and the
 * scheduler's llist_del_all() from elsewhere) orders our earlier stores
 * before @co runs again, so no token is needed.  Otherwise (running,
 * runnable, or between publishing PARKED and switching away) leave a
 * token: kcoro_unpark_slow().
 */
static __always_inline void __kcoro_unpark(struct kcoro *co)
{
	if (!kcoro_try_wake(co))
		kcoro_unpark_slow(co);
}

int kcoro_pick_cpu(int cpu);
int kcoro_sched_init(void);
void kcoro_sched_exit(void);
void kcoro_sched_stats(struct kcoro_stats *stats);

/* chan.c */
void *kcoro_chan_ctx(struct kcoro_chan *ch);
int kc_chan_send_keep(struct kcoro_chan *ch, void *elem, ktime_t deadline);
int kc_chan_try_send_nowait(struct kcoro_chan *ch, void *elem);
void kc_seg_cache_drain(void);

/* dev.c */
int kcoro_dev_init(void);
void kcoro_dev_exit(void);

/* debug.c */
void kcoro_debug_add(struct kcoro *co);
void kcoro_debug_del(struct kcoro *co);
void kcoro_debug_init(void);
void kcoro_debug_exit(void);

/*
 * How a coroutine spawned with KCORO_SPAWN_ACCOUNT gets its object and
 * stack: charged to the spawner's memory cgroup; at the cgroup's limit the
 * spawn fails with -ENOMEM instead of waking the cgroup's OOM killer
 * (__GFP_RETRY_MAYFAIL), quietly: a request for coroutines can be refused,
 * and a user must not fill the log with allocation reports.
 */
#define KCORO_GFP_CHARGED	(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

/* stack.c */
void *kcoro_stack_alloc(bool account);
void kcoro_stack_free(void *stack, bool dirty, bool account);
void kcoro_stack_cache_drain(void);
long kcoro_stack_count(void);
long kcoro_stack_cached(void);

#endif /* _KCORO_INTERNAL_H */
