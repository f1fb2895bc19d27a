/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcoro internals shared by the files of the module.
 */
#ifndef _KCORO_INTERNAL_H
#define _KCORO_INTERNAL_H

#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/hrtimer.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/percpu.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/debug_locks.h>
#include <linux/hardirq.h>
#include <linux/sched.h>

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
};

struct kcoro_rq;

struct kcoro {
	struct kcoro_context ctx;
	atomic_t state;
	atomic_t wake_token;
	enum kcoro_req req;
	int cpu;			/* home CPU; changes only on hotplug */
	struct kcoro_rq *rq;		/* scheduler running it (while RUNNING) */
	struct kcoro *rq_next;		/* next on the run queue */
	struct llist_node wake_node;	/* on rq->wakeups */
	refcount_t ref;
	unsigned long flags;		/* KCORO_FLAG_* bits */
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
 * struct kcoro_rq - one CPU's scheduler
 * @head: first runnable coroutine (a singly linked FIFO through
 *	kcoro.rq_next); touched only by @task
 * @tail: last runnable coroutine
 * @wakeups: coroutines made runnable by other tasks, other CPUs or
 *	interrupts; lock-free, drained into the queue by @task
 * @online: enqueues go to this run queue (read under RCU); cleared only
 *	once @task has stopped, when enqueues start moving coroutines away
 * @budget: direct coroutine-to-coroutine switches left before the next
 *	pass through main_co
 * @task: the scheduler kthread ("kcoro/N")
 * @curr: coroutine running on @task, NULL while in main_co
 * @dead: a coroutine that finished and switched straight to the next one;
 *	whoever lands on the CPU after that switch finishes it
 * @main_co: the kthread's own context, entered between coroutine steps
 * @switches: switches into coroutines (statistics)
 * @steals: times this scheduler gave half its queue to an idle one
 * @cpu: CPU number
 * @curr_id: id of the coroutine switched to last, for the watchdog
 * @curr_fn: its body function
 * @curr_since: jiffies at that switch
 * @long_run_switches: @switches when the watchdog last reported
 *
 * A runnable coroutine is only ever run by the scheduler of its home CPU.
 * That is what lets a coroutine queue itself (yield) or become runnable
 * (park racing with unpark) before it has switched away: nobody else can
 * pick it up while its stack is still in use.
 */
struct kcoro_rq {
	struct kcoro *head;
	struct kcoro *tail;
	struct llist_head wakeups;
	bool online;
	unsigned int budget;
	struct task_struct *task;
	struct kcoro *curr;
	struct kcoro *dead;
	struct kcoro_context main_co;
	u64 switches;
	u64 steals;
	int cpu;
	u64 curr_id;
	void *curr_fn;
	unsigned long curr_since;
	u64 long_run_switches;
};

DECLARE_PER_CPU(struct kcoro_rq, kcoro_rqs);

/*
 * The coroutine running on this CPU's scheduler, or NULL.  A scheduler
 * kthread is bound to its CPU, so if current is this CPU's scheduler the
 * rq cannot change under us; any other task may migrate, but then it is
 * not rq->task either.  An interrupt taken while a coroutine runs is not
 * the coroutine.
 */
static __always_inline struct kcoro *kcoro_this(void)
{
	struct kcoro_rq *rq = raw_cpu_ptr(&kcoro_rqs);

	if (!in_task() || READ_ONCE(rq->task) != current)
		return NULL;
	return READ_ONCE(rq->curr);
}

struct kcoro *kcoro_suspend_fail(const char *what);

/*
 * Every suspension point starts here.  No per-task state may be carried
 * across a switch: all coroutines of a scheduler share its task_struct
 * (held locks, RCU nesting, preempt and pagefault counts).  The checks
 * cost nothing on kernels without the debug options.
 */
static __always_inline struct kcoro *kcoro_suspend_check(const char *what)
{
	struct kcoro *co = kcoro_this();

	if (unlikely(!co))
		return kcoro_suspend_fail(what);
	if (IS_ENABLED(CONFIG_DEBUG_ATOMIC_SLEEP))
		might_sleep();
	debug_check_no_locks_held();
	return co;
}

/* arch/<arch>/switch.S */
void kcoro_switch(unsigned long *save_sp, const unsigned long *load_sp);
void kcoro_entry_tramp(void);
/* arch/<arch>/stack.c */
unsigned long kcoro_arch_init_stack(void *stack, struct kcoro *co);
unsigned long kcoro_arch_set_canary(unsigned long canary);
void *kcoro_arch_stack_alloc(void);	/* zeroed, THREAD_SIZE */
void kcoro_arch_stack_free(void *stack);

/* core.c */
void __noreturn kcoro_entry(struct kcoro *co);
void kcoro_finish_early(struct kcoro *co);
void kcoro_finish(struct kcoro *co);
DECLARE_PER_CPU(long, kcoro_nr_live);

/* sched.c */
void kcoro_enqueue_remote(struct kcoro *co);
void kcoro_unpark_slow(struct kcoro *co);
void kcoro_switch_to_main(struct kcoro *co, enum kcoro_req req);
void kcoro_landed_finish(struct kcoro_rq *rq);

/*
 * Every coroutine that resumes after a switch calls this: if the switch
 * came from a coroutine that had finished, its stack is free now and we
 * finish it, as finish_task_switch() does for a dead task.
 */
static __always_inline void kcoro_landed(struct kcoro_rq *rq)
{
	if (unlikely(rq->dead))
		kcoro_landed_finish(rq);
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
}

/*
 * Hand a runnable coroutine to its home CPU's scheduler.  The scheduler
 * itself (one of its coroutines, or main_co) appends to its private
 * queue; everybody else goes through kcoro_enqueue_remote().  If that CPU
 * is going offline, kcoro_rq_stop() moves the queue after the kthread has
 * stopped.
 */
static __always_inline void kcoro_enqueue(struct kcoro *co)
{
	struct kcoro_rq *rq = per_cpu_ptr(&kcoro_rqs, READ_ONCE(co->cpu));

	if (likely(in_task() && current == READ_ONCE(rq->task)))
		kcoro_push_tail(rq, co);
	else
		kcoro_enqueue_remote(co);
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
	if (likely(atomic_read(&co->state) == KCORO_PARKED) &&
	    likely(atomic_cmpxchg(&co->state, KCORO_PARKED,
				  KCORO_RUNNABLE) == KCORO_PARKED)) {
		trace_kcoro_wake(co->id, READ_ONCE(co->cpu));
		kcoro_enqueue(co);
	} else {
		kcoro_unpark_slow(co);
	}
}

int kcoro_pick_cpu(int cpu);
int kcoro_sched_init(void);
void kcoro_sched_exit(void);
u64 kcoro_sched_switches(void);

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

/* stack.c */
void *kcoro_stack_alloc(void);
void kcoro_stack_free(void *stack, bool dirty);
void kcoro_stack_cache_drain(void);
long kcoro_stack_count(void);
long kcoro_stack_cached(void);

#endif /* _KCORO_INTERNAL_H */
