/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcoro internals shared by the files of the module.
 */
#ifndef _KCORO_INTERNAL_H
#define _KCORO_INTERNAL_H

#include <linux/kcoro.h>
#include <linux/hrtimer.h>
#include <linux/list.h>
#include <linux/percpu.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

/**
 * struct kcoro_context - a suspended execution context
 * @sp: saved stack pointer; the callee-saved registers sit on the stack
 * @stack: lowest address of the stack (what current->stack is set to)
 *
 * Both a coroutine and a scheduler kthread's own context (main_co) are
 * described by one of these; kcoro_switch() moves between two of them.
 */
struct kcoro_context {
	unsigned long sp;
	void *stack;
};

/* What a coroutine asks its scheduler to do after switching to main_co. */
enum kcoro_req {
	KCORO_REQ_YIELD,
	KCORO_REQ_PARK,
	KCORO_REQ_EXIT,
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
};

struct kcoro_rq;

struct kcoro {
	struct kcoro_context ctx;
	atomic_t state;
	atomic_t wake_token;
	enum kcoro_req req;
	int cpu;			/* home CPU; changes only on hotplug */
	struct kcoro_rq *rq;		/* scheduler running it (while RUNNING) */
	struct list_head rq_node;
	refcount_t ref;
	unsigned long flags;		/* KCORO_FLAG_* bits */
	bool stack_dirty;		/* left without unwinding (kcoro_exit) */
	bool sleep_done;
	kcoro_fn_t fn;
	void *arg;
	long result;
	u64 id;
	struct module *owner;
	struct list_head all_node;
	struct wait_queue_head join_wq;
	struct hrtimer timer;
};

/**
 * struct kcoro_rq - one CPU's scheduler
 * @lock: protects @queue, @nr_queued and @online
 * @queue: runnable coroutines, FIFO
 * @nr_queued: length of @queue
 * @online: the CPU is online and @task accepts work
 * @task: the scheduler kthread ("kcoro/N")
 * @curr: coroutine running on @task, NULL while in main_co
 * @main_co: the kthread's own context, entered between coroutine steps
 * @switches: switches into coroutines (statistics)
 * @cpu: CPU number
 */
struct kcoro_rq {
	spinlock_t lock;		/* protects queue, nr_queued, online */
	struct list_head queue;
	unsigned int nr_queued;
	bool online;
	struct task_struct *task;
	struct kcoro *curr;
	struct kcoro_context main_co;
	u64 switches;
	int cpu;
};

DECLARE_PER_CPU(struct kcoro_rq, kcoro_rqs);

/* arch/<arch>/switch.S */
void kcoro_switch(unsigned long *save_sp, const unsigned long *load_sp);
void kcoro_entry_tramp(void);
/* arch/<arch>/stack.c */
unsigned long kcoro_arch_init_stack(void *stack, struct kcoro *co);

/* core.c */
void __noreturn kcoro_entry(struct kcoro *co);
void kcoro_finish(struct kcoro *co);

/* sched.c */
void kcoro_enqueue(struct kcoro *co);
int kcoro_pick_cpu(int cpu);
int kcoro_sched_init(void);
void kcoro_sched_exit(void);
u64 kcoro_sched_switches(void);

/* stack.c */
void *kcoro_stack_alloc(void);
void kcoro_stack_free(void *stack, bool dirty);
void kcoro_stack_cache_drain(void);
long kcoro_stack_count(void);
long kcoro_stack_cached(void);

#endif /* _KCORO_INTERNAL_H */
