// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro channels: Kotlin's BufferedChannel in C.
 *
 * A port of kotlinx.coroutines' BufferedChannel.kt (commit 792ac67) and the
 * paper "Fast and Scalable Channels in Kotlin Coroutines" (Koval, Alistarh,
 * Elizarov, PPoPP 2023).  Function names follow the Kotlin ones
 * (updateCellSend -> kc_update_cell_send, ...) so the two can be read side
 * by side; Documentation/kcoro/channels.rst describes the state machine and
 * every place where this port deliberately differs.
 *
 * Execution context: every operation runs its non-blocking part with
 * preemption disabled.  That bounds every spin-wait of the algorithm
 * (RESUMING_* windows, expandBuffer completion) by a window that cannot be
 * preempted, and, since a preempt-disabled region is an RCU read-side
 * critical section, it is what makes freeing segments with call_rcu()
 * safe for walkers.  A request that must wait
 * leaves the section, parks (coroutine) or sleeps (thread), and performs
 * its own cancellation (timeout, signal, kcoro_cancel()) when it wakes.
 */
#include <linux/atomic.h>
#include <linux/jiffies.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/poll.h>
#include <linux/preempt.h>
#include <linux/prandom.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "internal.h"

#include "test_hooks.h"

#if IS_ENABLED(CONFIG_KUNIT)
#include <kunit/visibility.h>
#endif

static unsigned int chan_segment_size = 32;
module_param(chan_segment_size, uint, 0644);
MODULE_PARM_DESC(chan_segment_size, "default cells per channel segment (1..64)");

static unsigned int chan_eb_wait_iterations = 10000;
module_param(chan_eb_wait_iterations, uint, 0644);
MODULE_PARM_DESC(chan_eb_wait_iterations,
		 "expandBuffer completion spins before pausing new ones");

#define KC_SEG_SIZE_MAX		64

/*
 * Cell states.  Small constants are the Kotlin symbols; anything from
 * KC_STATE_WAITER up is a pointer to a struct kc_waiter, with bit 0 set
 * when expandBuffer wrapped it (Kotlin's WaiterEB): the two waiter kinds
 * "waiter" and "waiter_eb".
 */
#define KC_EMPTY		0UL
#define KC_BUFFERED		1UL
#define KC_IN_BUFFER		2UL
#define KC_RESUMING_BY_RCV	3UL
#define KC_RESUMING_BY_EB	4UL
#define KC_POISONED		5UL
#define KC_DONE_RCV		6UL
#define KC_INTERRUPTED_SEND	7UL
#define KC_INTERRUPTED_RCV	8UL
#define KC_CHANNEL_CLOSED	9UL
/* Not in Kotlin: a sender has claimed the receiver waiting here. */
#define KC_RESUMING_BY_SND	10UL
/* Not a state: "no waiter" for dropFirstElement... (Kotlin's null). */
#define KC_NO_WAITER		15UL
#define KC_STATE_WAITER		16UL
#define KC_WAITER_EB_TAG	1UL

/* sendersAndCloseStatus */
#define KC_SENDERS_SHIFT	60
#define KC_SENDERS_MASK		((1ULL << KC_SENDERS_SHIFT) - 1)
enum {
	KC_CLOSE_ACTIVE,
	KC_CLOSE_CANCELLATION_STARTED,
	KC_CLOSE_CLOSED,
	KC_CLOSE_CANCELLED,
};

/* completedExpandBuffersAndPauseFlag */
#define KC_EB_PAUSE		BIT_ULL(62)
#define KC_EB_COUNT_MASK	(KC_EB_PAUSE - 1)

#define KC_BUFFER_END_UNLIMITED	U64_MAX

/* Segment.cleanedAndPointers: cleaned cells below, head pointers above. */
#define KC_POINTERS_SHIFT	16

/* segment->next of the last segment once the list is closed */
#define KC_SEG_CLOSED		((struct kc_segment *)1UL)

struct kc_cell {
	void *elem;
	unsigned long state;
};

struct kc_segment {
	u64 id;
	struct kc_segment *next;
	struct kc_segment *prev;
	atomic_t cleaned_and_pointers;
	refcount_t ref;		/* the list's, plus one per armed waiter */
	bool detached;		/* unlinked from the list (under ch->lock) */
	bool cacheable;		/* may go to kc_seg_cache when freed */
	struct kcoro_chan *ch;
	struct rcu_head rcu;
	struct kc_cell cells[];
};

/* Waiter states: the one CAS that decides resume vs cancel. */
enum {
	KC_W_WAITING,
	KC_W_RESUMED,
	KC_W_CANCELLED,
};

enum kc_waiter_kind {
	KC_WAITER_CORO,
	KC_WAITER_THREAD,
	KC_WAITER_CALLBACK,
};

struct kc_select;

/**
 * struct kc_waiter - a suspended send or receive request
 * @state: KC_W_WAITING until resumed or cancelled, exactly once
 * @busy: a cell (or a close/cancel list) still references the waiter;
 *	cleared with release semantics by whoever took the cell out of the
 *	waiter state, after its resume attempt.  The owner does not return
 *	before it is clear, so the waiter can live on the owner's stack.
 * @sender: a send (else a receive)
 * @kind: who waits: a coroutine, a thread, or a callback (async request)
 * @rereg: a select clause whose resume failed during the select's
 *	registration phase: the select registers it again
 * @keep: a send whose element stays with its caller if it fails (select
 *	clauses, kc_chan_send_keep()): never handed to the hook
 * @result: 0, or -EPIPE when resumed by close or cancel
 * @index: cell index in @seg
 * @clause: index of the select clause this waiter is
 * @elem: the element handed to a resumed receiver
 * @co: the waiting coroutine (KC_WAITER_CORO)
 * @task: the waiting thread (KC_WAITER_THREAD)
 * @async: the request to notify (KC_WAITER_CALLBACK)
 * @seg: segment of the cell, pinned by kc_waiter_install_cancel()
 * @sel: the select this waiter is a clause of, else NULL: then @state
 *	of the select, not the waiter's own, decides resume vs cancel
 * @next: close and cancel collect waiters here before resuming them
 */
struct kc_waiter {
	atomic_t state;
	int busy;
	bool sender;
	u8 kind;
	u8 rereg;
	u8 keep;
	int result;
	unsigned int index;
	unsigned int clause;
	void *elem;
	union {
		struct kcoro *co;
		struct task_struct *task;
		struct kcoro_chan_async *async;
	};
	struct kc_segment *seg;
	struct kc_select *sel;
	struct kc_waiter *next;
} __aligned(8);

/*
 * kc_select.state (SelectImplementation.state): REG while the owner
 * registers clauses (only the owner may select then: a resumer that finds
 * REG fails, flags its clause for registration again and turns REG into
 * REG_PENDING); WAITING once the owner sleeps; then exactly one of
 * SELECTED + clause and CANCELLED.
 */
enum {
	KC_SEL_REG,
	KC_SEL_REG_PENDING,
	KC_SEL_WAITING,
	KC_SEL_CANCELLED,
	KC_SEL_SELECTED,
};

/**
 * struct kc_select - a select in progress
 * @state: KC_SEL_*; KC_SEL_SELECTED + i once clause i won
 * @w: one waiter per clause
 * @n: clauses
 */
struct kc_select {
	atomic_t state;
	struct kc_waiter *w;
	unsigned int n;
};

struct kcoro_chan {
	atomic64_t senders;		/* sendersAndCloseStatus */
	atomic64_t receivers;
	atomic64_t buffer_end;
	atomic64_t completed_eb;	/* completedExpandBuffersAndPauseFlag */
	struct kc_segment *send_seg;
	struct kc_segment *recv_seg;
	struct kc_segment *eb_seg;	/* NULL for rendezvous and unlimited */
	u64 capacity;
	bool rendezvous_or_unlimited;
	bool drop_oldest;
	bool drop_latest;
	bool account;			/* KCORO_CHAN_ACCOUNT */
	unsigned int seg_size;
	int close_cause;		/* 0, or the status that won */
	kcoro_chan_undelivered_fn undelivered;
	void *undelivered_ctx;
	refcount_t ref;
	raw_spinlock_t lock;		/* segment unlinking: remove, reclaim */
	struct kc_segment *first;	/* oldest segment still linked */
	struct kc_segment *spare;	/* preallocated segment */
	kcoro_chan_release_fn release;
	bool polled;			/* kcoro_chan_poll() was used: wake poll_wq */
	struct wait_queue_head poll_wq;
	/*
	 * Waiters stored in cells, indexed by kc_waiter.sender: counted from
	 * kc_install() to kc_waiter_release(), see there.  Only the
	 * suspending and resuming paths touch them.
	 */
	atomic_long_t nr_waiting[2];
};

static atomic_long_t kc_nr_channels;
static atomic_long_t kc_nr_segments;
static DEFINE_PER_CPU(long, kc_nr_waiters);

/* ---------------------------------------------------------------- */
/* cells                                                             */

static inline struct kc_cell *kc_cell(struct kc_segment *seg, unsigned int i)
{
	return &seg->cells[i];
}

static inline unsigned long kc_get_state(struct kc_segment *seg, unsigned int i)
{
	/* Acquire: pairs with the release in kc_set_state() and the CASes. */
	return smp_load_acquire(&seg->cells[i].state);
}

static inline void kc_set_state(struct kc_segment *seg, unsigned int i,
				unsigned long v)
{
	/* Release: the element and waiter writes before it are visible. */
	smp_store_release(&seg->cells[i].state, v);
}

static inline bool kc_cas_state(struct kc_segment *seg, unsigned int i,
				unsigned long old, unsigned long new)
{
	return cmpxchg(&seg->cells[i].state, old, new) == old;
}

static inline unsigned long kc_xchg_state(struct kc_segment *seg,
					  unsigned int i, unsigned long v)
{
	return xchg(&seg->cells[i].state, v);
}

static inline void kc_store_element(struct kc_segment *seg, unsigned int i,
				    void *e)
{
	/* Kotlin's lazySet: ordered before the CAS that publishes the cell. */
	smp_store_release(&seg->cells[i].elem, e);
}

static inline void *kc_get_element(struct kc_segment *seg, unsigned int i)
{
	return READ_ONCE(seg->cells[i].elem);
}

static inline void kc_clean_element(struct kc_segment *seg, unsigned int i)
{
	WRITE_ONCE(seg->cells[i].elem, NULL);
}

static inline void *kc_retrieve_element(struct kc_segment *seg, unsigned int i)
{
	void *e = kc_get_element(seg, i);

	kc_clean_element(seg, i);
	return e;
}

static inline bool kc_is_waiter(unsigned long st)
{
	return st >= KC_STATE_WAITER;
}

static inline struct kc_waiter *kc_waiter_of(unsigned long st)
{
	return (struct kc_waiter *)(st & ~KC_WAITER_EB_TAG);
}

static inline u64 kc_global(struct kc_segment *seg, unsigned int i)
{
	return seg->id * seg->ch->seg_size + i;
}

static void kc_undelivered(struct kcoro_chan *ch, void *elem)
{
	if (ch->undelivered)
		ch->undelivered(ch, elem, ch->undelivered_ctx);
}

/*
 * Readiness may have changed: wake pollers.  Channels nobody ever polled
 * pay one load; the others a barrier, paired with the one in
 * kcoro_chan_poll() (the wq_has_sleeper() protocol).
 */
static void kc_poll_wake_slow(struct kcoro_chan *ch)
{
	if (wq_has_sleeper(&ch->poll_wq))
		wake_up_interruptible_poll(&ch->poll_wq, EPOLLIN | EPOLLRDNORM |
					   EPOLLOUT | EPOLLWRNORM);
}

static __always_inline void kc_poll_wake(struct kcoro_chan *ch)
{
	if (unlikely(READ_ONCE(ch->polled)))
		kc_poll_wake_slow(ch);
}

/*
 * The atomic section of an operation.  Disabled preemption is also an RCU
 * read-side critical section (call_rcu() waits for it), which is what
 * protects segment walkers.
 */
static __always_inline void kc_op_begin(void)
{
	if (IS_ENABLED(CONFIG_DEBUG_ATOMIC_SLEEP))
		might_sleep();
	preempt_disable();
}

static __always_inline void kc_op_end(void)
{
	preempt_enable();
}

/* ---------------------------------------------------------------- */
/* segments (ConcurrentLinkedList.kt)                                */

/*
 * Freed segments of the default size are kept per CPU and reused, as the
 * stack and coroutine caches do: kmalloc() and kfree() of a segment (1 KiB,
 * zeroed on allocation on kernels with init_on_alloc) cost more than the
 * 32 messages that use it.  A segment goes to the cache only when nothing
 * can reach it any more (where it would otherwise be kfree()d), so reuse
 * is as safe as a new allocation.  KASAN kernels free every segment, so
 * that a use after free is still caught.  Interrupts are disabled around
 * the cache: segments are freed from RCU callbacks too.
 */
#define KC_SEG_CACHE_CELLS	32
#define KC_SEG_CACHE_NR		4

struct kc_seg_cache {
	unsigned int nr;
	struct kc_segment *seg[KC_SEG_CACHE_NR];
};

static DEFINE_PER_CPU(struct kc_seg_cache, kc_seg_cache);

static size_t kc_seg_bytes(unsigned int cells)
{
	struct kc_segment *seg;

	return struct_size(seg, cells, cells);
}

static struct kc_segment *kc_seg_cache_get(void)
{
	struct kc_seg_cache *c;
	struct kc_segment *seg = NULL;
	unsigned long flags;

	local_irq_save(flags);
	c = this_cpu_ptr(&kc_seg_cache);
	if (c->nr)
		seg = c->seg[--c->nr];
	local_irq_restore(flags);
	return seg;
}

/* Free a segment nothing references any more. */
static void kc_seg_free(struct kc_segment *seg)
{
	struct kc_seg_cache *c;
	unsigned long flags;

	atomic_long_dec(&kc_nr_segments);
	if (seg->cacheable) {
		local_irq_save(flags);
		c = this_cpu_ptr(&kc_seg_cache);
		if (c->nr < KC_SEG_CACHE_NR) {
			c->seg[c->nr++] = seg;
			seg = NULL;
		}
		local_irq_restore(flags);
	}
	kfree(seg);
}

/* Module unload, after rcu_barrier(): no segment is freed any more. */
void kc_seg_cache_drain(void)
{
	struct kc_seg_cache *c;
	int cpu;

	for_each_possible_cpu(cpu) {
		c = per_cpu_ptr(&kc_seg_cache, cpu);
		while (c->nr)
			kfree(c->seg[--c->nr]);
	}
}

/*
 * The last reference on a segment goes only after its list reference,
 * which is dropped a grace period after the segment was unlinked (see
 * kc_seg_unlinked()): by then no operation can touch the segment without
 * a reference of its own, so it can be freed at once.
 */
static void kc_seg_put(struct kc_segment *seg)
{
	if (refcount_dec_and_test(&seg->ref))
		kc_seg_free(seg);
}

static void kc_seg_unlinked_rcu(struct rcu_head *head)
{
	kc_seg_put(container_of(head, struct kc_segment, rcu));
}

/*
 * The list's reference on an unlinked segment is dropped one grace period
 * later.  Until then an operation that reached the segment before it was
 * unlinked may still store a waiter in one of its cells and take the
 * waiter's reference (kc_waiter_install_cancel()); after it, nobody can
 * reach the segment except through such a reference.
 */
static void kc_seg_unlinked(struct kc_segment *seg)
{
	call_rcu(&seg->rcu, kc_seg_unlinked_rcu);
}

/*
 * A zeroed segment.  Only unaccounted segments of the default size go
 * through the cache: the first segment is charged to the creator's memory
 * cgroup, like the channel, and every segment of a KCORO_CHAN_ACCOUNT
 * channel to the task that allocates it (atomic allocations included:
 * GFP_ATOMIC charges past the limit rather than fail).
 */
static struct kc_segment *kc_seg_new(struct kcoro_chan *ch, gfp_t gfp)
{
	bool cacheable;
	struct kc_segment *seg = NULL;

	if (ch->account)
		gfp |= __GFP_ACCOUNT;
	cacheable = !IS_ENABLED(CONFIG_KASAN) &&
		    ch->seg_size == KC_SEG_CACHE_CELLS &&
		    !(gfp & __GFP_ACCOUNT);

	if (cacheable) {
		seg = kc_seg_cache_get();
		if (seg)
			memset(seg, 0, kc_seg_bytes(KC_SEG_CACHE_CELLS));
	}
	if (!seg)
		seg = kzalloc(kc_seg_bytes(ch->seg_size), gfp);
	if (seg) {
		seg->cacheable = cacheable;
		atomic_long_inc(&kc_nr_segments);
	}
	return seg;
}

#if IS_ENABLED(CONFIG_KUNIT)
static atomic_t kc_test_seg_failures = ATOMIC_INIT(0);

/**
 * kcoro_test_fail_segment_allocs() - fail the next atomic segment allocations
 * @n: how many of the segment allocations made inside an operation's atomic
 *	section fail, as if the spare were taken and GFP_ATOMIC failed
 *
 * For KUnit only (built when the kernel has KUnit): lets a test drive the
 * out-of-memory paths of send, receive and expandBuffer.
 *
 * Return: the number of injected failures still pending before the call.
 */
int kcoro_test_fail_segment_allocs(int n)
{
	return atomic_xchg(&kc_test_seg_failures, n);
}
EXPORT_SYMBOL_IF_KUNIT(kcoro_test_fail_segment_allocs);

static bool kc_test_seg_alloc_fails(void)
{
	return atomic_add_unless(&kc_test_seg_failures, -1, 0);
}

#define KC_TP_SLOTS	4
static struct kcoro_test_pause *kc_tp_slots[KC_TP_SLOTS];
static atomic_t kc_tp_armed = ATOMIC_INIT(0);
static DEFINE_MUTEX(kc_tp_mutex);

/**
 * kcoro_test_pause_arm() - arm a pause point
 * @p: the point; @p->ch, @p->point, @p->index, @p->pass and @p->release
 *	set by the caller, which keeps @p until kcoro_test_pause_disarm()
 *
 * The first operation that reaches the point on @p->ch for cell @p->index
 * marks @p arrived and, unless @p->pass, spins (preemptibly, in an RCU
 * read-side section) until kcoro_test_pause_release() or a chained pause
 * releases it.  For KUnit only.
 *
 * Return: 0, or -EBUSY when every slot is taken.
 */
int kcoro_test_pause_arm(struct kcoro_test_pause *p)
{
	int k, ret = -EBUSY;

	atomic_set(&p->state, KCORO_TP_ARMED);
	mutex_lock(&kc_tp_mutex);
	for (k = 0; k < KC_TP_SLOTS; k++) {
		if (!kc_tp_slots[k]) {
			/* Publishes @p's fields to kc_tp_slow(). */
			smp_store_release(&kc_tp_slots[k], p);
			atomic_inc(&kc_tp_armed);
			ret = 0;
			break;
		}
	}
	mutex_unlock(&kc_tp_mutex);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(kcoro_test_pause_arm);

/**
 * kcoro_test_pause_release() - let the operation paused at @p go on
 * @p: an armed pause point (released before it is reached: passes)
 */
void kcoro_test_pause_release(struct kcoro_test_pause *p)
{
	int old = atomic_read(&p->state);

	/* Release: the test's stores before the paused operation goes on. */
	while (old < KCORO_TP_RELEASED &&
	       !atomic_try_cmpxchg_release(&p->state, &old, KCORO_TP_RELEASED))
		;
}
EXPORT_SYMBOL_IF_KUNIT(kcoro_test_pause_release);

/**
 * kcoro_test_pause_disarm() - take a pause point out
 * @p: an armed pause point
 *
 * Releases every armed point (an operation paused at another one would
 * hold up the grace period waited for here: a case disarms its points
 * when it ends, whether it passed or failed), takes @p out and waits (RCU:
 * the operations are in atomic sections) until no operation can still be
 * looking at @p.  May sleep.
 */
void kcoro_test_pause_disarm(struct kcoro_test_pause *p)
{
	int k;

	mutex_lock(&kc_tp_mutex);
	for (k = 0; k < KC_TP_SLOTS; k++) {
		if (kc_tp_slots[k])
			kcoro_test_pause_release(kc_tp_slots[k]);
	}
	for (k = 0; k < KC_TP_SLOTS; k++) {
		if (kc_tp_slots[k] == p) {
			WRITE_ONCE(kc_tp_slots[k], NULL);
			atomic_dec(&kc_tp_armed);
		}
	}
	mutex_unlock(&kc_tp_mutex);
	synchronize_rcu();
}
EXPORT_SYMBOL_IF_KUNIT(kcoro_test_pause_disarm);

static noinline void kc_tp_slow(struct kcoro_chan *ch,
				enum kcoro_test_point point, u64 index)
{
	struct kcoro_test_pause *p;
	int k;

	for (k = 0; k < KC_TP_SLOTS; k++) {
		/* Pairs with the release in kcoro_test_pause_arm(). */
		p = smp_load_acquire(&kc_tp_slots[k]);
		if (!p || p->ch != ch || p->point != point || p->index != index)
			continue;
		if (atomic_cmpxchg(&p->state, KCORO_TP_ARMED,
				   KCORO_TP_ARRIVED) != KCORO_TP_ARMED)
			continue;
		if (p->release)
			kcoro_test_pause_release(p->release);
		if (p->pass) {
			atomic_set_release(&p->state, KCORO_TP_DONE);
			continue;
		}
		/*
		 * Wait preemptibly, as an operation whose vCPU the host stops
		 * waits, so that the test and the other operations of the
		 * interleaving may use this CPU too.  rcu_read_lock() keeps
		 * the segments this operation holds (the atomic section is
		 * its RCU read-side section; test kernels have PREEMPT_RCU).
		 */
		rcu_read_lock();
		preempt_enable();
		/* Pairs with the release in kcoro_test_pause_release(). */
		while (atomic_read_acquire(&p->state) != KCORO_TP_RELEASED)
			cpu_relax();
		preempt_disable();
		rcu_read_unlock();
		atomic_set_release(&p->state, KCORO_TP_DONE);
	}
}

/* A pause point: nothing unless a KUnit case armed one. */
static __always_inline void kc_tp(struct kcoro_chan *ch,
				  enum kcoro_test_point point, u64 index)
{
	if (unlikely(atomic_read(&kc_tp_armed)))
		kc_tp_slow(ch, point, index);
}
#else
static inline bool kc_test_seg_alloc_fails(void)
{
	return false;
}

static __always_inline void kc_tp(struct kcoro_chan *ch,
				  enum kcoro_test_point point, u64 index)
{
}
#endif

static struct kc_segment *kc_seg_alloc(struct kcoro_chan *ch, u64 id,
				       struct kc_segment *prev)
{
	struct kc_segment *seg;

	if (kc_test_seg_alloc_fails())
		return NULL;
	/*
	 * Atomic context: the spare, else the reserves.  A receiver that
	 * still fails does not give its cell up (kc_receive_segment_slow()).
	 */
	seg = xchg(&ch->spare, NULL);
	if (!seg)
		seg = kc_seg_new(ch, GFP_ATOMIC | __GFP_NOWARN);
	if (!seg)
		return NULL;
	seg->id = id;
	seg->prev = prev;
	seg->ch = ch;
	refcount_set(&seg->ref, 1);
	return seg;
}

/* Keep a spare segment so that the atomic sections rarely allocate. */
static noinline int kc_fill_spare(struct kcoro_chan *ch, gfp_t gfp)
{
	struct kc_segment *seg;

	seg = kc_seg_new(ch, gfp);
	if (!seg)
		return -ENOMEM;
	if (cmpxchg(&ch->spare, NULL, seg))
		kc_seg_free(seg);
	return 0;
}

static __always_inline int kc_refill_spare(struct kcoro_chan *ch)
{
	if (likely(READ_ONCE(ch->spare)))
		return 0;
	return kc_fill_spare(ch, GFP_KERNEL);
}

/*
 * The spare for a receiver that has reserved its cell and must create it
 * (kc_receive_segment_slow()): it cannot give up, so it waits for memory.
 * One segment per receiver waiting here may be charged past the memory
 * cgroup's limit (__GFP_NOFAIL); the number of receivers is bounded by
 * the tasks and coroutines a user may have.
 */
static atomic_long_t kc_nr_segment_waits;

static void kc_refill_spare_nofail(struct kcoro_chan *ch)
{
	kc_fill_spare(ch, GFP_KERNEL | __GFP_NOFAIL);
}

static inline struct kc_segment *kc_seg_next(struct kc_segment *seg)
{
	struct kc_segment *next = READ_ONCE(seg->next);

	return next == KC_SEG_CLOSED ? NULL : next;
}

static inline bool kc_seg_is_tail(struct kc_segment *seg)
{
	return !kc_seg_next(seg);
}

/*
 * isRemoved: the count, then next.  Kotlin's volatile reads keep that
 * order; here the acquire does.  It pairs with the fully ordered RMWs that
 * change the count (kc_on_slot_cleaned(), kc_seg_dec_pointers()): a
 * reader that sees the count a head left when it moved on also sees the
 * next pointer that head had followed (the cmpxchg that appended it is
 * fully ordered too).  Without it a weakly ordered CPU could see the final
 * count with a stale next == NULL, take the segment for the tail and pin a
 * head on a segment being unlinked.
 */
static bool kc_seg_is_removed(struct kc_segment *seg)
{
	return atomic_read_acquire(&seg->cleaned_and_pointers) ==
	       seg->ch->seg_size && !kc_seg_is_tail(seg);
}

/*
 * Segment.remove(): unlink a segment whose cells are all cleaned and that
 * no head points to.  Kotlin relinks lock-free; here the (rare) unlinking
 * is serialised by ch->lock, which makes "unreachable once unlinked" easy
 * to see: under the lock both neighbours are linked.  Walkers already
 * inside the segment keep using its next/prev (RCU keeps it allocated).
 */
static void kc_seg_remove(struct kc_segment *seg)
{
	struct kcoro_chan *ch = seg->ch;
	struct kc_segment *prev, *next;

	raw_spin_lock(&ch->lock);
	if (seg->detached || kc_seg_is_tail(seg)) {
		raw_spin_unlock(&ch->lock);
		return;
	}
	next = kc_seg_next(seg);
	prev = seg->prev;
	WRITE_ONCE(next->prev, prev);
	if (prev) {
		WRITE_ONCE(prev->next, next);
	} else {
		WARN_ON_ONCE(ch->first != seg);
		ch->first = next;
	}
	seg->detached = true;
	raw_spin_unlock(&ch->lock);
	kc_seg_unlinked(seg);
}

static void kc_on_slot_cleaned(struct kc_segment *seg)
{
	if (atomic_inc_return(&seg->cleaned_and_pointers) == seg->ch->seg_size)
		kc_seg_remove(seg);
}

/*
 * tryIncPointers: the count, then next, ordered as in kc_seg_is_removed()
 * (the same pairing).  A failed cmpxchg orders nothing, so the value it
 * returns is followed by smp_rmb() before next is read again.
 */
static bool kc_seg_try_inc_pointers(struct kc_segment *seg)
{
	int v = atomic_read_acquire(&seg->cleaned_and_pointers);

	for (;;) {
		if (v == seg->ch->seg_size && !kc_seg_is_tail(seg))
			return false;
		if (atomic_try_cmpxchg(&seg->cleaned_and_pointers, &v,
				       v + (1 << KC_POINTERS_SHIFT)))
			return true;
		smp_rmb();	/* the count in v before next, as above */
	}
}

static bool kc_seg_dec_pointers(struct kc_segment *seg)
{
	return atomic_sub_return(1 << KC_POINTERS_SHIFT,
				 &seg->cleaned_and_pointers) == seg->ch->seg_size &&
	       !kc_seg_is_tail(seg);
}

/*
 * Keep @seg in the list while its holder leaves the atomic section (an
 * RCU read-side section: without a pin the segment could be unlinked and
 * freed, and with it the holder's way to the segments after it).  A pin
 * is a pointer, as a head holds: the segment is not removed while it has
 * one, and kc_chan_reclaim() stops at it.  It fails if @seg is already
 * removed or unlinked.
 *
 * The pointer is counted before ch->lock is taken, and kc_chan_reclaim()
 * reads the count under ch->lock: either reclaim unlinked @seg first (and
 * we see ->detached) or it sees our pointer.
 */
static bool kc_seg_pin(struct kc_segment *seg)
{
	struct kcoro_chan *ch = seg->ch;
	bool linked;

	if (!kc_seg_try_inc_pointers(seg))
		return false;
	raw_spin_lock(&ch->lock);
	linked = !seg->detached;
	raw_spin_unlock(&ch->lock);
	if (!linked)
		kc_seg_dec_pointers(seg);
	return linked;
}

static void kc_seg_unpin(struct kc_segment *seg)
{
	if (kc_seg_dec_pointers(seg))
		kc_seg_remove(seg);
}

/*
 * Kotlin's garbage collector frees segments that every head has passed.
 * Here the oldest segments are unlinked once all heads are beyond them;
 * walkers that still hold one are covered by RCU, waiters by their segment
 * reference.
 */
static void kc_chan_reclaim(struct kcoro_chan *ch)
{
	struct kc_segment *seg, *next;
	u64 min_id;

	if (!raw_spin_trylock(&ch->lock))
		return;
	min_id = min(READ_ONCE(ch->send_seg)->id, READ_ONCE(ch->recv_seg)->id);
	if (!ch->rendezvous_or_unlimited)
		min_id = min(min_id, READ_ONCE(ch->eb_seg)->id);
	while ((seg = ch->first) && seg->id < min_id) {
		/* A pinned segment stays, and so do those after it. */
		if (atomic_read(&seg->cleaned_and_pointers) >> KC_POINTERS_SHIFT)
			break;
		next = kc_seg_next(seg);
		if (WARN_ON_ONCE(!next))
			break;
		WRITE_ONCE(next->prev, NULL);
		ch->first = next;
		seg->detached = true;
		kc_seg_unlinked(seg);
	}
	raw_spin_unlock(&ch->lock);
}

/* Segment.moveForward() on one of the three heads. */
static bool kc_move_forward(struct kcoro_chan *ch, struct kc_segment **head,
			    struct kc_segment *to)
{
	struct kc_segment *cur;

	for (;;) {
		cur = READ_ONCE(*head);
		if (cur->id >= to->id)
			return true;
		if (!kc_seg_try_inc_pointers(to))
			return false;
		if (cmpxchg(head, cur, to) == cur) {
			if (kc_seg_dec_pointers(cur))
				kc_seg_remove(cur);
			kc_chan_reclaim(ch);
			return true;
		}
		if (kc_seg_dec_pointers(to))
			kc_seg_remove(to);
	}
}

/*
 * findSegmentInternal(): the first non-removed segment with id >= @id,
 * appending segments as needed.  Returns KC_SEG_CLOSED when the list is
 * closed, or an ERR_PTR(-ENOMEM).
 */
static struct kc_segment *kc_find_segment(struct kcoro_chan *ch,
					  struct kc_segment *cur, u64 id,
					  struct kc_segment **tailp)
{
	struct kc_segment *next, *new;

	while (cur->id < id || kc_seg_is_removed(cur)) {
		next = READ_ONCE(cur->next);
		if (next == KC_SEG_CLOSED)
			return KC_SEG_CLOSED;
		if (next) {
			cur = next;
			continue;
		}
		new = kc_seg_alloc(ch, cur->id + 1, cur);
		if (!new) {
			if (tailp)
				*tailp = cur;
			return ERR_PTR(-ENOMEM);
		}
		if (!cmpxchg(&cur->next, NULL, new)) {
			if (kc_seg_is_removed(cur))
				kc_seg_remove(cur);
			cur = new;
		} else if (cmpxchg(&ch->spare, NULL, new)) {
			kc_seg_free(new);
		}
	}
	return cur;
}

static struct kc_segment *kc_find_and_move(struct kcoro_chan *ch,
					   struct kc_segment **head,
					   struct kc_segment *start, u64 id,
					   struct kc_segment **tailp)
{
	struct kc_segment *seg;

	for (;;) {
		seg = kc_find_segment(ch, start, id, tailp);
		if (seg == KC_SEG_CLOSED || IS_ERR(seg))
			return seg;
		if (kc_move_forward(ch, head, seg))
			return seg;
	}
}

/* ---------------------------------------------------------------- */
/* counters                                                          */

static inline u64 kc_senders_counter(struct kcoro_chan *ch)
{
	return atomic64_read(&ch->senders) & KC_SENDERS_MASK;
}

static inline u64 kc_receivers_counter(struct kcoro_chan *ch)
{
	return atomic64_read(&ch->receivers);
}

static inline u64 kc_buffer_end_counter(struct kcoro_chan *ch)
{
	return atomic64_read(&ch->buffer_end);
}

static inline int kc_close_status(u64 word)
{
	return word >> KC_SENDERS_SHIFT;
}

static void kc_inc_completed_eb(struct kcoro_chan *ch, u64 n)
{
	u64 v = atomic64_add_return(n, &ch->completed_eb);

	if (v & KC_EB_PAUSE) {
		while (atomic64_read(&ch->completed_eb) & KC_EB_PAUSE)
			cpu_relax();
	}
}

/*
 * How long bufferEnd may stand still while a cancelled receiver waits for
 * the expandBuffer of its cell to start.  Never reached when the code is
 * right (see kc_wait_eb_completion()); far above any atomic section, and
 * below the soft-lockup and RCU-stall reports.
 */
#define KC_EB_STALL		(10 * HZ)

static atomic_long_t kc_nr_eb_stalls;

static void __kc_expand_buffer(struct kcoro_chan *ch);

/* Rendezvous and unlimited channels have no expandBuffer to do. */
static __always_inline void kc_expand_buffer(struct kcoro_chan *ch)
{
	if (!ch->rendezvous_or_unlimited)
		__kc_expand_buffer(ch);
}

/*
 * bufferEnd has not moved for KC_EB_STALL while we wait for it to pass
 * @global: an operation lost an expandBuffer.  That is a bug: report it
 * (kcoro/stats counts it, every test fails on the WARN) and start the
 * missing expandBuffer so that the system goes on, one buffer cell over
 * the capacity.
 */
static noinline void kc_eb_stalled(struct kcoro_chan *ch, u64 global)
{
	atomic_long_inc(&kc_nr_eb_stalls);
	WARN_ONCE(1, "kcoro: no expandBuffer for cell %llu: bufferEnd %llu receivers %llu senders %llu capacity %lld\n",
		  global, kc_buffer_end_counter(ch), kc_receivers_counter(ch),
		  kc_senders_counter(ch), (long long)ch->capacity);
	kc_expand_buffer(ch);
}

/*
 * waitExpandBufferCompletion(): a cancelled receiver's cell must not count
 * as cleaned (which may remove its segment) while an expandBuffer that
 * covers it is still running.
 *
 * Why the first spin ends.  Every receiver makes one expandBuffer call for
 * each cell it takes (kc_receiver_eb()), except for cells that the
 * expandBuffer attempts skip themselves (INTERRUPTED_SEND, a removed
 * segment); Kotlin's Q7 (a wrapped sender cancelled) is paid for in
 * kc_waiter_cancel_cell().  So at rest bufferEnd - receivers equals the
 * capacity, and while operations run it is short by at most the number of
 * receivers between their FAA and their call.  A receiver is there only
 * inside its atomic section: one that must sleep for memory pays first
 * (kc_receive_segment_slow()).  Our own call was made when we installed,
 * so bufferEnd passes @global once the receivers below us leave their
 * atomic sections, which run with preemption off and are bounded.  The
 * spin is bounded by the longest of them (longer only if a hypervisor
 * stops a vCPU).  It is watched all the same: kc_eb_stalled().
 */
static void kc_wait_eb_completion(struct kcoro_chan *ch, u64 global)
{
	unsigned long stall = 0;
	u64 b, seen = 0;
	unsigned int n;
	u64 v;

	if (ch->rendezvous_or_unlimited)
		return;
	while ((b = kc_buffer_end_counter(ch)) <= global) {
		if (b != seen || !stall) {
			seen = b;
			stall = jiffies + KC_EB_STALL;
		} else if (time_after(jiffies, stall)) {
			kc_eb_stalled(ch, global);
			stall = 0;
			continue;
		}
		cpu_relax();
	}
	/* Acquire: bufferEnd, then completed, then bufferEnd again (G-4). */
	for (n = READ_ONCE(chan_eb_wait_iterations); n; n--) {
		b = atomic64_read_acquire(&ch->buffer_end);
		v = atomic64_read_acquire(&ch->completed_eb) & KC_EB_COUNT_MASK;
		if (b == v && b == kc_buffer_end_counter(ch))
			return;
		cpu_relax();
	}
	v = atomic64_read(&ch->completed_eb);
	while (!atomic64_try_cmpxchg(&ch->completed_eb, &v, v | KC_EB_PAUSE))
		;
	for (;;) {
		b = atomic64_read_acquire(&ch->buffer_end);
		v = atomic64_read_acquire(&ch->completed_eb);
		if (b == (v & KC_EB_COUNT_MASK) && b == kc_buffer_end_counter(ch)) {
			v = atomic64_read(&ch->completed_eb);
			while (!atomic64_try_cmpxchg(&ch->completed_eb, &v,
						     v & ~KC_EB_PAUSE))
				;
			return;
		}
		if (!(v & KC_EB_PAUSE))
			atomic64_cmpxchg(&ch->completed_eb, v, v | KC_EB_PAUSE);
		cpu_relax();
	}
}

/* Segment.onCancelledRequest() */
static void kc_on_cancelled_request(struct kc_segment *seg, unsigned int i,
				    bool receiver)
{
	if (receiver)
		kc_wait_eb_completion(seg->ch, kc_global(seg, i));
	kc_on_slot_cleaned(seg);
}

/* ---------------------------------------------------------------- */
/* waiters                                                           */

/*
 * kc_chan_schedule_wake(): make the owner of a resumed or cancelled
 * waiter runnable.  Runs inside a claim window (preemption off): it only
 * queues a coroutine or wakes a thread, never switches or sleeps.
 */
static __always_inline void kc_chan_schedule_wake(struct kc_waiter *w)
{
	switch (w->kind) {
	case KC_WAITER_CORO:
		__kcoro_unpark(w->co);
		break;
	case KC_WAITER_THREAD:
		wake_up_process(w->task);
		break;
	case KC_WAITER_CALLBACK:
		w->async->notify(w->async);
		break;
	}
}

/*
 * The cell's reference is gone; after this @w may disappear.  Every waiter
 * stored in a cell is taken out of it by exactly one successful CAS from
 * the waiter state (a sender, a receiver, expandBuffer, close or cancel,
 * or the owner cancelling), and whoever won that CAS calls this once:
 * it is where the waiter stops counting in ch->nr_waiting.
 */
static void kc_waiter_release(struct kc_waiter *w)
{
	/*
	 * This may come before the increment in kc_install() (which follows
	 * the CAS we took the cell from): readers see at worst -1 per
	 * waiter being stored, and clamp (kc_nr_waiting()).
	 */
	atomic_long_dec(&w->seg->ch->nr_waiting[w->sender]);
	/*
	 * Release: all our accesses to @w happen before the owner may go.
	 * The decrement too: it pairs with the acquire in kc_waiter_finish(),
	 * so a call no longer counts as waiting once it has returned.
	 */
	smp_store_release(&w->busy, 0);
}

/*
 * SelectInstance.trySelect(): the resumer of clause @w of a select.  While
 * the owner registers, nobody else may select (Kotlin's
 * TRY_SELECT_REREGISTER): fail, and have the owner register the clause
 * again.  The flag is set once per registration, before the state says
 * so; the owner consumes it after it has seen REG_PENDING.
 */
static bool kc_select_try_resume(struct kc_waiter *w)
{
	struct kc_select *sel = w->sel;
	int st;

	for (;;) {
		st = atomic_read(&sel->state);
		switch (st) {
		case KC_SEL_REG:
		case KC_SEL_REG_PENDING:
			WRITE_ONCE(w->rereg, 1);
			if (atomic_cmpxchg(&sel->state, st, KC_SEL_REG_PENDING) == st)
				return false;
			continue;
		case KC_SEL_WAITING:
			if (atomic_cmpxchg(&sel->state, st,
					   KC_SEL_SELECTED + w->clause) == st) {
				kc_chan_schedule_wake(w);
				return true;
			}
			continue;
		default:
			return false;
		}
	}
}

/* tryResume: exactly one of resume and cancel wins the waiter's CAS. */
static __always_inline bool kc_try_resume(struct kc_waiter *w, void *elem, int result)
{
	WRITE_ONCE(w->elem, elem);
	WRITE_ONCE(w->result, result);
	if (unlikely(w->sel))
		return kc_select_try_resume(w);
	if (atomic_cmpxchg(&w->state, KC_W_WAITING, KC_W_RESUMED) != KC_W_WAITING)
		return false;
	kc_chan_schedule_wake(w);
	return true;
}

/*
 * The element of a cancelled or closed-out sender goes to the hook,
 * except a select's: a losing or failed send clause leaves its element
 * with the caller, as a failed try-send does.
 */
static void kc_waiter_undelivered(struct kcoro_chan *ch, struct kc_waiter *w,
				  void *elem)
{
	if (!w->keep)
		kc_undelivered(ch, elem);
}

/*
 * kc_waiter_install_cancel(): Kotlin's invokeOnCancellation(segment,
 * index), done just *before* the CAS that stores the waiter in the cell
 * (undone if that fails): once the waiter is visible a resumer may notify
 * an async owner, which may complete, and cancel, at once.  We are in the
 * atomic section, so the segment's list reference is still held and ours
 * is never the last; it keeps the segment for the waiter's cancellation
 * until the waiter has finished, whatever way it ends.
 */
static void kc_waiter_install_cancel(struct kc_waiter *w,
				     struct kc_segment *seg, unsigned int i)
{
	refcount_inc(&seg->ref);
	w->seg = seg;
	w->index = i;
	this_cpu_inc(kc_nr_waiters);
}

static void kc_waiter_uninstall(struct kc_waiter *w)
{
	this_cpu_dec(kc_nr_waiters);
	refcount_dec(&w->seg->ref);
	w->seg = NULL;
}

/* Store @waiter (a waiter or a token) in a cell that holds @st. */
static __always_inline bool kc_install(struct kc_segment *seg, unsigned int i,
				       unsigned long st, unsigned long waiter)
{
	struct kc_waiter *w = NULL;
	bool sender = false;

	if (kc_is_waiter(waiter)) {
		w = (struct kc_waiter *)waiter;
		sender = w->sender;
		kc_waiter_install_cancel(w, seg, i);
	}
	if (kc_cas_state(seg, i, st, waiter)) {
		/*
		 * A waiter counts once it is in its cell, so that a count
		 * of N means N requests stored in cells.  @w may be gone
		 * already (an async owner completes as soon as it is
		 * notified): only the local @sender and the segment, which
		 * our atomic section keeps, are used.  Tokens (tryReceive's
		 * INTERRUPTED_RCV, trySend's INTERRUPTED_SEND, drop-oldest's
		 * BUFFERED) are not waiters and do not count.
		 */
		if (w)
			atomic_long_inc(&seg->ch->nr_waiting[sender]);
		return true;
	}
	if (w)
		kc_waiter_uninstall(w);
	return false;
}

static __always_inline void kc_waiter_init(struct kc_waiter *w, bool sender)
{
	struct kcoro *co = kcoro_this();

	atomic_set(&w->state, KC_W_WAITING);
	w->busy = 1;
	w->sender = sender;
	w->rereg = 0;
	w->keep = 0;
	w->elem = NULL;
	w->result = 0;
	w->index = 0;
	w->clause = 0;
	if (co) {
		w->kind = KC_WAITER_CORO;
		w->co = co;
	} else {
		w->kind = KC_WAITER_THREAD;
		w->task = current;
	}
	w->seg = NULL;
	w->sel = NULL;
	w->next = NULL;
}

/*
 * Segment.onCancellation(): the owner cancelled its waiter (it won the
 * waiter CAS) and now takes its cell out of the waiter state.
 */
static void kc_waiter_cancel_cell(struct kcoro_chan *ch, struct kc_waiter *w)
{
	struct kc_segment *seg = w->seg;
	unsigned int i = w->index;
	unsigned long st;
	void *elem;

	kc_tp(ch, KCORO_TP_CANCEL, kc_global(seg, i));
	elem = kc_get_element(seg, i);
	for (;;) {
		st = kc_get_state(seg, i);
		if (kc_is_waiter(st)) {
			WARN_ON_ONCE(kc_waiter_of(st) != w);
			if (!kc_cas_state(seg, i, st, w->sender ?
					  KC_INTERRUPTED_SEND : KC_INTERRUPTED_RCV))
				continue;
			kc_clean_element(seg, i);
			kc_on_cancelled_request(seg, i, !w->sender);
			/*
			 * Kotlin's Q7: expandBuffer wrapped this sender
			 * (b < receivers) and counted the cell as added to
			 * the buffer, leaving the rest to the cell's
			 * receiver.  That receiver will find INTERRUPTED_SEND
			 * and, as for any cancelled sender, make no
			 * expandBuffer call, and no expandBuffer attempt will
			 * skip the cell (bufferEnd is past it): bufferEnd -
			 * receivers would drop by one for good, and once it
			 * is negative, a cancelled receiver at the front
			 * waits in waitExpandBufferCompletion() for an
			 * expandBuffer that only a later receive starts.  Do
			 * what the receiver does when it finds the wrapped
			 * sender cancelled (S18): start one more.
			 */
			if (w->sender && (st & KC_WAITER_EB_TAG))
				kc_expand_buffer(ch);
			if (w->sender)
				kc_waiter_undelivered(ch, w, elem);
			/* We took the cell out of the waiter state. */
			kc_waiter_release(w);
			return;
		}
		switch (st) {
		case KC_INTERRUPTED_SEND:
		case KC_INTERRUPTED_RCV:
			/* A resumer failed on us and counted the slot. */
			kc_clean_element(seg, i);
			if (w->sender)
				kc_waiter_undelivered(ch, w, elem);
			return;
		case KC_RESUMING_BY_EB:
		case KC_RESUMING_BY_RCV:
		case KC_RESUMING_BY_SND:
			cpu_relax();
			continue;
		case KC_CHANNEL_CLOSED:
			/* close or cancel owns the cell (and ran the hook). */
			return;
		default:
			WARN_ONCE(1, "kcoro: cancelled waiter finds cell state %lu\n",
				  st);
			return;
		}
	}
}

/* ---------------------------------------------------------------- */
/* close and cancel                                                  */

static void kc_complete_close_or_cancel(struct kcoro_chan *ch);
static noinline bool kc_is_closed_slow(struct kcoro_chan *ch, u64 word,
				       bool for_receive, bool canceller);

static __always_inline bool kc_is_closed(struct kcoro_chan *ch, u64 word,
					 bool for_receive);
static void kc_drop_first_until_in_buffer(struct kcoro_chan *ch, u64 global);

/* ---------------------------------------------------------------- */
/* expandBuffer                                                      */

static bool kc_try_resume_sender(struct kc_waiter *w)
{
	return kc_try_resume(w, NULL, 0);
}

static __always_inline bool kc_update_cell_eb(struct kcoro_chan *ch,
					      struct kc_segment *seg,
					      unsigned int i, u64 b)
{
	unsigned long st;
	struct kc_waiter *w;

	for (;;) {
		st = kc_get_state(seg, i);
		if (kc_is_waiter(st)) {
			if (st & KC_WAITER_EB_TAG) {
				WARN_ONCE(1, "kcoro: cell expanded twice\n");
				return true;
			}
			w = kc_waiter_of(st);
			if (b < kc_receivers_counter(ch)) {
				/* Sender or receiver: let the receiver finish. */
				if (kc_cas_state(seg, i, st, st | KC_WAITER_EB_TAG))
					return true;
				continue;
			}
			if (!kc_cas_state(seg, i, st, KC_RESUMING_BY_EB))
				continue;
			if (kc_try_resume_sender(w)) {
				kc_set_state(seg, i, KC_BUFFERED);
				kc_waiter_release(w);
				return true;
			}
			kc_set_state(seg, i, KC_INTERRUPTED_SEND);
			kc_waiter_release(w);
			kc_on_cancelled_request(seg, i, false);
			return false;
		}
		switch (st) {
		case KC_INTERRUPTED_SEND:
			return false;
		case KC_EMPTY:
			if (kc_cas_state(seg, i, st, KC_IN_BUFFER))
				return true;
			continue;
		case KC_BUFFERED:
		case KC_POISONED:
		case KC_DONE_RCV:
		case KC_INTERRUPTED_RCV:
		case KC_CHANNEL_CLOSED:
			return true;
		case KC_RESUMING_BY_RCV:
		case KC_RESUMING_BY_SND:
			cpu_relax();
			continue;
		default:
			WARN_ONCE(1, "kcoro: expandBuffer finds cell state %lu\n", st);
			return true;
		}
	}
}

static void kc_move_eb_to_specified_or_last(struct kcoro_chan *ch, u64 id,
					    struct kc_segment *seg)
{
	struct kc_segment *next;

	while (seg->id < id) {
		next = kc_seg_next(seg);
		if (!next)
			break;
		seg = next;
	}
	for (;;) {
		while (kc_seg_is_removed(seg)) {
			next = kc_seg_next(seg);
			if (!next)
				break;
			seg = next;
		}
		if (kc_move_forward(ch, &ch->eb_seg, seg))
			return;
	}
}

static struct kc_segment *kc_find_segment_eb(struct kcoro_chan *ch, u64 id,
					     struct kc_segment *start, u64 b)
{
	struct kc_segment *seg = kc_find_and_move(ch, &ch->eb_seg, start, id,
						    NULL);
	u64 first;

	if (IS_ERR(seg)) {
		/*
		 * Out of memory: the cell's segment does not exist, so no
		 * waiter is there, and the sender that comes will buffer
		 * (s < bufferEnd): count the attempt as done and stop.
		 */
		kc_inc_completed_eb(ch, 1);
		return seg;
	}
	if (seg == KC_SEG_CLOSED) {
		kc_complete_close_or_cancel(ch);
		kc_move_eb_to_specified_or_last(ch, id, start);
		kc_inc_completed_eb(ch, 1);
		return NULL;
	}
	if (seg->id > id) {
		first = seg->id * ch->seg_size;
		if (atomic64_cmpxchg(&ch->buffer_end, b + 1, first) == b + 1)
			kc_inc_completed_eb(ch, first - b);
		else
			kc_inc_completed_eb(ch, 1);
		return NULL;
	}
	return seg;
}

static void __kc_expand_buffer(struct kcoro_chan *ch)
{
	struct kc_segment *seg;
	u64 b, id, s;

	seg = READ_ONCE(ch->eb_seg);
	for (;;) {
		b = atomic64_fetch_add(1, &ch->buffer_end);
		kc_tp(ch, KCORO_TP_EB_FAA, b);
		id = b / ch->seg_size;
		s = kc_senders_counter(ch);
		if (s <= b) {
			if (seg->id < id && kc_seg_next(seg))
				kc_move_eb_to_specified_or_last(ch, id, seg);
			kc_inc_completed_eb(ch, 1);
			return;
		}
		if (seg->id != id) {
			seg = kc_find_segment_eb(ch, id, seg, b);
			if (IS_ERR(seg))
				return;
			if (!seg) {
				seg = READ_ONCE(ch->eb_seg);
				continue;
			}
		}
		if (kc_update_cell_eb(ch, seg, b % ch->seg_size, b)) {
			kc_inc_completed_eb(ch, 1);
			return;
		}
		kc_inc_completed_eb(ch, 1);
	}
}

/* ---------------------------------------------------------------- */
/* send                                                              */

enum {
	KC_RES_RENDEZVOUS,
	KC_RES_BUFFERED,
	KC_RES_SUSPEND,
	KC_RES_CLOSED,
	KC_RES_FAILED,
};

static bool kc_buffer_or_rendezvous_send(struct kcoro_chan *ch, u64 s)
{
	return s < kc_buffer_end_counter(ch) ||
	       s < kc_receivers_counter(ch) + ch->capacity;
}

static bool kc_should_send_suspend(struct kcoro_chan *ch, u64 word)
{
	if (kc_is_closed(ch, word, false))
		return false;
	return !kc_buffer_or_rendezvous_send(ch, word & KC_SENDERS_MASK);
}

/*
 * Hand @elem to the receiver waiting in the cell.  Kotlin resumes the
 * receiver straight from the cell (S7); here the sender first claims the
 * cell (RESUMING_BY_SND), so that the receiver's waiter, which lives on
 * its owner's stack, cannot go away during the resume.
 */
static __always_inline int kc_send_to_receiver(struct kc_segment *seg,
					       unsigned int i, unsigned long st,
					       void *elem)
{
	struct kc_waiter *w = kc_waiter_of(st);

	if (!kc_cas_state(seg, i, st, KC_RESUMING_BY_SND))
		return -EAGAIN;
	kc_tp(seg->ch, KCORO_TP_RESUME, kc_global(seg, i));
	kc_clean_element(seg, i);
	if (kc_try_resume(w, elem, 0)) {
		kc_set_state(seg, i, KC_DONE_RCV);
		kc_waiter_release(w);
		return KC_RES_RENDEZVOUS;
	}
	kc_set_state(seg, i, KC_INTERRUPTED_RCV);
	kc_waiter_release(w);
	kc_on_cancelled_request(seg, i, true);
	return KC_RES_FAILED;
}

static __always_inline int kc_update_cell_send(struct kcoro_chan *ch,
					       struct kc_segment *seg,
					       unsigned int i, void *elem,
					       u64 s, unsigned long waiter,
					       bool closed)
{
	unsigned long st;
	int ret;

	kc_store_element(seg, i, elem);
	for (;;) {
		st = kc_get_state(seg, i);
		if (kc_is_waiter(st)) {
			ret = kc_send_to_receiver(seg, i, st, elem);
			if (ret >= 0)
				return ret;
			continue;
		}
		switch (st) {
		case KC_EMPTY:
			if (kc_buffer_or_rendezvous_send(ch, s) && !closed) {
				if (kc_cas_state(seg, i, st, KC_BUFFERED))
					return KC_RES_BUFFERED;
			} else if (closed) {
				if (kc_cas_state(seg, i, st, KC_INTERRUPTED_SEND)) {
					kc_on_cancelled_request(seg, i, false);
					return KC_RES_CLOSED;
				}
			} else if (kc_install(seg, i, st, waiter)) {
				return KC_RES_SUSPEND;
			}
			continue;
		case KC_IN_BUFFER:
			if (kc_cas_state(seg, i, st, KC_BUFFERED))
				return KC_RES_BUFFERED;
			continue;
		case KC_INTERRUPTED_RCV:
		case KC_POISONED:
			kc_clean_element(seg, i);
			return KC_RES_FAILED;
		case KC_CHANNEL_CLOSED:
			kc_clean_element(seg, i);
			kc_complete_close_or_cancel(ch);
			return KC_RES_CLOSED;
		default:
			WARN_ONCE(1, "kcoro: sender finds cell state %lu\n", st);
			return KC_RES_FAILED;
		}
	}
}

static struct kc_segment *kc_find_segment_send(struct kcoro_chan *ch, u64 id,
					       struct kc_segment *start)
{
	struct kc_segment *seg = kc_find_and_move(ch, &ch->send_seg, start, id,
						    NULL);

	if (IS_ERR(seg))
		return seg;
	if (seg == KC_SEG_CLOSED) {
		kc_complete_close_or_cancel(ch);
		return NULL;
	}
	/* A removed segment: retry with a fresh cell (Kotlin's Q1). */
	if (seg->id > id)
		return NULL;
	return seg;
}

enum {
	KC_SENT,
	KC_SUSPENDED,
	KC_CLOSED,
};

/*
 * sendImpl().  @waiter is a struct kc_waiter pointer, or one of the tokens
 * KC_INTERRUPTED_SEND (trySend) and KC_BUFFERED (drop-oldest).  Returns
 * KC_SENT, KC_SUSPENDED (@segp and @ip name the cell), KC_CLOSED or
 * -ENOMEM.
 */
static int kc_send_impl(struct kcoro_chan *ch, void *elem,
			unsigned long waiter, struct kc_segment **segp,
			unsigned int *ip)
{
	struct kc_segment *seg = READ_ONCE(ch->send_seg);
	unsigned int i;
	bool closed;
	u64 cur, s;

	for (;;) {
		cur = atomic64_fetch_add(1, &ch->senders);
		s = cur & KC_SENDERS_MASK;
		kc_tp(ch, KCORO_TP_SEND_FAA, s);
		closed = kc_is_closed(ch, cur, false);
		i = s % ch->seg_size;
		if (seg->id != s / ch->seg_size) {
			seg = kc_find_segment_send(ch, s / ch->seg_size, seg);
			if (IS_ERR(seg))
				return PTR_ERR(seg);
			if (!seg) {
				if (closed)
					return KC_CLOSED;
				seg = READ_ONCE(ch->send_seg);
				continue;
			}
		}
		switch (kc_update_cell_send(ch, seg, i, elem, s, waiter, closed)) {
		case KC_RES_RENDEZVOUS:
		case KC_RES_BUFFERED:
			return KC_SENT;
		case KC_RES_SUSPEND:
			if (closed) {	/* Kotlin's Q5: cannot happen */
				WARN_ON_ONCE(kc_is_waiter(waiter));
				kc_on_slot_cleaned(seg);
				return KC_CLOSED;
			}
			*segp = seg;
			*ip = i;
			return KC_SUSPENDED;
		case KC_RES_CLOSED:
			return KC_CLOSED;
		case KC_RES_FAILED:
			continue;
		}
	}
}

/* ---------------------------------------------------------------- */
/* receive                                                           */

enum {
	KC_RCV_ELEMENT,
	KC_RCV_SUSPEND,
	KC_RCV_FAILED,
};

/*
 * A receiver's expandBuffer for the cell it takes.  One that paid in
 * advance (kc_receive_segment_slow()) holds a credit in *@paid: the next
 * payment it would make is that one.
 */
static __always_inline void kc_receiver_eb(struct kcoro_chan *ch, bool *paid)
{
	if (unlikely(*paid))
		*paid = false;
	else
		kc_expand_buffer(ch);
}

static __always_inline int kc_receive_from_sender(struct kcoro_chan *ch,
						  struct kc_segment *seg,
						  unsigned int i,
						  unsigned long st, void **elem,
						  bool *paid)
{
	struct kc_waiter *w = kc_waiter_of(st);
	bool help_eb = st & KC_WAITER_EB_TAG;

	if (!kc_cas_state(seg, i, st, KC_RESUMING_BY_RCV))
		return -EAGAIN;
	kc_tp(ch, KCORO_TP_RESUME, kc_global(seg, i));
	if (kc_try_resume_sender(w)) {
		kc_set_state(seg, i, KC_DONE_RCV);
		kc_waiter_release(w);
		kc_receiver_eb(ch, paid);
		*elem = kc_retrieve_element(seg, i);
		return KC_RCV_ELEMENT;
	}
	kc_set_state(seg, i, KC_INTERRUPTED_SEND);
	kc_waiter_release(w);
	kc_on_cancelled_request(seg, i, false);
	if (help_eb)
		kc_receiver_eb(ch, paid);
	return KC_RCV_FAILED;
}

static __always_inline int kc_update_cell_receive(struct kcoro_chan *ch,
						  struct kc_segment *seg,
						  unsigned int i, u64 r,
						  unsigned long waiter,
						  void **elem, bool *paid)
{
	unsigned long st;
	int ret;

	for (;;) {
		st = kc_get_state(seg, i);
		if (kc_is_waiter(st)) {
			ret = kc_receive_from_sender(ch, seg, i, st, elem, paid);
			if (ret >= 0)
				return ret;
			continue;
		}
		switch (st) {
		case KC_EMPTY:
		case KC_IN_BUFFER:
			if (r < kc_senders_counter(ch)) {
				if (kc_cas_state(seg, i, st, KC_POISONED)) {
					kc_receiver_eb(ch, paid);
					return KC_RCV_FAILED;
				}
			} else if (waiter == KC_NO_WAITER) {
				/* dropFirst...: cannot happen, r < g < S. */
				WARN_ONCE(1, "kcoro: drop-oldest would suspend\n");
				return KC_RCV_FAILED;
			} else if (kc_install(seg, i, st, waiter)) {
				kc_receiver_eb(ch, paid);
				return KC_RCV_SUSPEND;
			}
			continue;
		case KC_BUFFERED:
			if (kc_cas_state(seg, i, st, KC_DONE_RCV)) {
				kc_receiver_eb(ch, paid);
				*elem = kc_retrieve_element(seg, i);
				return KC_RCV_ELEMENT;
			}
			continue;
		case KC_INTERRUPTED_SEND:
		case KC_POISONED:
			return KC_RCV_FAILED;
		case KC_CHANNEL_CLOSED:
			kc_receiver_eb(ch, paid);
			return KC_RCV_FAILED;
		case KC_RESUMING_BY_EB:
			cpu_relax();
			continue;
		default:
			WARN_ONCE(1, "kcoro: receiver finds cell state %lu\n", st);
			return KC_RCV_FAILED;
		}
	}
}

static void kc_update_receivers_counter_if_lower(struct kcoro_chan *ch, u64 v)
{
	s64 cur = atomic64_read(&ch->receivers);

	while ((u64)cur < v && !atomic64_try_cmpxchg(&ch->receivers, &cur, v))
		;
}

static struct kc_segment *kc_find_segment_receive(struct kcoro_chan *ch,
						  u64 id,
						  struct kc_segment *start,
						  struct kc_segment **tailp)
{
	struct kc_segment *seg = kc_find_and_move(ch, &ch->recv_seg, start, id,
						    tailp);

	if (IS_ERR(seg))
		return seg;
	if (seg == KC_SEG_CLOSED) {
		kc_complete_close_or_cancel(ch);
		return NULL;
	}
	if (!ch->rendezvous_or_unlimited &&
	    id <= kc_buffer_end_counter(ch) / ch->seg_size)
		kc_move_forward(ch, &ch->eb_seg, seg);
	if (seg->id > id) {
		kc_update_receivers_counter_if_lower(ch, seg->id * ch->seg_size);
		return NULL;
	}
	return seg;
}

/*
 * A receiver that reserved cell @id * seg_size + i finds no segment for it
 * and cannot allocate one in its atomic section (the spare is taken and
 * GFP_ATOMIC failed).  It must not give the cell up: a sender would
 * buffer an element there that nobody receives.  So it finishes the same
 * cell.  It pins the physical tail @tail (kc_seg_pin(): nothing unlinks
 * it, so its next pointer stays good across the break), leaves the atomic
 * section, fills the spare with a sleeping allocation that cannot fail,
 * comes back and walks on from @tail.  Each round either appends our
 * spare or finds that another operation appended a segment, so the loop
 * ends after at most as many rounds as segments are missing.
 *
 * Before it leaves it pays the expandBuffer its cell owes (*@paid becomes
 * a credit that kc_receiver_eb() spends on the cell's outcome).  Paying
 * early is what a receiver that had installed itself would have done, and
 * it keeps the receiver out of bufferEnd - receivers while it sleeps: a
 * cancelled receiver spinning in kc_wait_eb_completion() waits only for
 * operations inside their atomic sections, never for one that sleeps.
 * If the cell turns out to owe nothing (a sender cancelled there), the
 * credit pays for the receiver's next cell instead, which it reserves at
 * once; if the channel is closed first, the credit is left unspent, which
 * can only let a sender already past the close check buffer one more
 * element, which the drain then receives.
 *
 * Returns the segment, or NULL when it was removed or the list closed
 * (the caller takes the next cell, as after kc_find_segment_receive()).
 * Called in the atomic section of a receive that may sleep.
 */
static noinline struct kc_segment *
kc_receive_segment_slow(struct kcoro_chan *ch, u64 id, struct kc_segment *tail,
			bool *paid)
{
	struct kc_segment *seg, *pinned;

	if (!*paid) {
		kc_expand_buffer(ch);
		*paid = true;
	}
	atomic_long_inc(&kc_nr_segment_waits);
	for (;;) {
		pinned = NULL;
		/*
		 * A tail that cannot be pinned was unlinked since we found it
		 * in this same atomic section (RCU keeps it and what follows
		 * it): the list grew, walk on without sleeping.
		 */
		if (kc_seg_pin(tail)) {
			pinned = tail;
			kc_op_end();
			kc_refill_spare_nofail(ch);
			kc_op_begin();
		}
		seg = kc_find_segment_receive(ch, id, tail, &tail);
		if (pinned)
			kc_seg_unpin(pinned);
		if (!IS_ERR(seg))
			return seg;
	}
}

/*
 * receiveImpl().  @waiter is a struct kc_waiter pointer or the token
 * KC_INTERRUPTED_RCV (tryReceive).  Returns KC_RCV_ELEMENT (*elem set),
 * KC_RCV_SUSPEND (*segp, *ip, *rp name the cell) or KC_CLOSED.  May
 * leave its atomic section and sleep (kc_receive_segment_slow()).
 */
static int kc_receive_impl(struct kcoro_chan *ch, unsigned long waiter,
			   void **elem, struct kc_segment **segp,
			   unsigned int *ip, u64 *rp)
{
	struct kc_segment *seg = READ_ONCE(ch->recv_seg), *tail;
	bool paid = false;
	unsigned int i;
	u64 r;

	for (;;) {
		if (kc_is_closed(ch, atomic64_read(&ch->senders), true))
			return KC_CLOSED;
		r = atomic64_fetch_add(1, &ch->receivers);
		kc_tp(ch, KCORO_TP_RECV_FAA, r);
		i = r % ch->seg_size;
		if (seg->id != r / ch->seg_size) {
			seg = kc_find_segment_receive(ch, r / ch->seg_size, seg,
						      &tail);
			if (IS_ERR(seg))
				seg = kc_receive_segment_slow(ch, r / ch->seg_size,
							      tail, &paid);
			if (!seg) {
				seg = READ_ONCE(ch->recv_seg);
				continue;
			}
		}
		switch (kc_update_cell_receive(ch, seg, i, r, waiter, elem,
					       &paid)) {
		case KC_RCV_ELEMENT:
			return KC_RCV_ELEMENT;
		case KC_RCV_SUSPEND:
			*segp = seg;
			*ip = i;
			*rp = r;
			return KC_RCV_SUSPEND;
		case KC_RCV_FAILED:
			continue;
		}
	}
}

/* ---------------------------------------------------------------- */
/* close, cancel, hasElements                                        */

static bool kc_is_cell_non_empty(struct kcoro_chan *ch, struct kc_segment *seg,
				 unsigned int i, u64 global)
{
	unsigned long st;

	for (;;) {
		st = kc_get_state(seg, i);
		switch (st) {
		case KC_EMPTY:
		case KC_IN_BUFFER:
			if (kc_cas_state(seg, i, st, KC_POISONED)) {
				kc_expand_buffer(ch);
				return false;
			}
			continue;
		case KC_BUFFERED:
		case KC_RESUMING_BY_EB:
			return true;
		case KC_INTERRUPTED_SEND:
		case KC_CHANNEL_CLOSED:
		case KC_DONE_RCV:
		case KC_POISONED:
		case KC_RESUMING_BY_RCV:
		case KC_RESUMING_BY_SND:
			return false;
		default:	/* a waiter, or INTERRUPTED_RCV */
			return global == kc_receivers_counter(ch);
		}
	}
}

static bool kc_has_elements(struct kcoro_chan *ch)
{
	struct kc_segment *seg;
	u64 r, s, id;

	for (;;) {
		/*
		 * hasElements: the segment, then the counter (Kotlin's order).
		 * Acquire pairs with the fully ordered cmpxchg that moves
		 * recv_seg forward, which follows the FAA of the receivers
		 * counter it serves: the counter read here is at least the one
		 * that segment was reached for, never older.  A stale counter
		 * with a newer segment made a live segment look removed.
		 */
		seg = smp_load_acquire(&ch->recv_seg);
		r = kc_receivers_counter(ch);
		s = kc_senders_counter(ch);
		if (s <= r)
			return false;
		id = r / ch->seg_size;
		if (seg->id != id) {
			seg = kc_find_segment_receive(ch, id, seg, NULL);
			if (IS_ERR(seg))
				return true;	/* cannot tell: assume so */
			if (!seg) {
				if (READ_ONCE(ch->recv_seg)->id < id)
					return false;
				continue;
			}
		}
		if (kc_is_cell_non_empty(ch, seg, r % ch->seg_size, r))
			return true;
		atomic64_cmpxchg(&ch->receivers, r, r + 1);
	}
}

/* Segment.close(): mark the physical tail's next as CLOSED. */
static struct kc_segment *kc_close_linked_list(struct kcoro_chan *ch)
{
	struct kc_segment *last = READ_ONCE(ch->send_seg), *seg, *next;

	seg = READ_ONCE(ch->recv_seg);
	if (seg->id > last->id)
		last = seg;
	if (!ch->rendezvous_or_unlimited) {
		seg = READ_ONCE(ch->eb_seg);
		if (seg->id > last->id)
			last = seg;
	}
	for (;;) {
		next = READ_ONCE(last->next);
		if (next == KC_SEG_CLOSED)
			return last;
		if (next) {
			last = next;
			continue;
		}
		if (!cmpxchg(&last->next, NULL, KC_SEG_CLOSED))
			return last;
	}
}

static u64 kc_mark_all_empty_cells_as_closed(struct kcoro_chan *ch,
					     struct kc_segment *seg)
{
	unsigned long st;
	int i;

	for (; seg; seg = READ_ONCE(seg->prev)) {
		for (i = ch->seg_size - 1; i >= 0; i--) {
			u64 global = kc_global(seg, i);

			if (global < kc_receivers_counter(ch))
				return U64_MAX;
			for (;;) {
				st = kc_get_state(seg, i);
				if (st == KC_EMPTY || st == KC_IN_BUFFER) {
					if (!kc_cas_state(seg, i, st, KC_CHANNEL_CLOSED))
						continue;
					kc_on_slot_cleaned(seg);
				} else if (st == KC_BUFFERED) {
					return global;
				}
				break;
			}
		}
	}
	return U64_MAX;
}

/* Resume collected waiters oldest first (they were pushed newest first). */
static void kc_resume_closed(struct kc_waiter *list)
{
	struct kc_waiter *w, *next;

	for (w = list; w; w = next) {
		next = w->next;
		kc_try_resume(w, NULL, -EPIPE);
		kc_waiter_release(w);
	}
}

static void kc_cancel_suspended_receive_requests(struct kcoro_chan *ch,
						 struct kc_segment *seg,
						 u64 senders)
{
	struct kc_waiter *list = NULL, *w;
	unsigned long st;
	int i;

	for (; seg; seg = READ_ONCE(seg->prev)) {
		for (i = ch->seg_size - 1; i >= 0; i--) {
			if (kc_global(seg, i) < senders)
				goto done;
			for (;;) {
				st = kc_get_state(seg, i);
				if (st == KC_EMPTY || st == KC_IN_BUFFER) {
					if (!kc_cas_state(seg, i, st, KC_CHANNEL_CLOSED))
						continue;
					kc_on_slot_cleaned(seg);
				} else if (kc_is_waiter(st)) {
					if (!kc_cas_state(seg, i, st, KC_CHANNEL_CLOSED))
						continue;
					w = kc_waiter_of(st);
					w->next = list;
					list = w;
					kc_on_cancelled_request(seg, i, true);
				}
				break;
			}
		}
	}
done:
	kc_resume_closed(list);
}

/*
 * Cells a removal closes between two breaks of its atomic section.  The
 * number of buffered elements is the user's to choose (an unlimited
 * channel with millions of messages), so no atomic section may walk them
 * all: see kc_remove_unprocessed_elements().
 */
#define KC_REMOVE_BATCH		256

/*
 * removeUnprocessedElements(): a cancel hands every element still in the
 * channel to the undelivered hook and fails every suspended sender, from
 * the last segment back to where the receivers are.
 *
 * The walk is bounded.  @all is true only for the caller that cancelled
 * the channel (kc_close_or_cancel(), which holds no segment pointer of its
 * own): every KC_REMOVE_BATCH cells it closed it resumes the waiters
 * found so far, leaves the atomic section (an RCU read-side section:
 * segments may be freed meanwhile), reschedules if it may, and starts
 * again from the last segment.  That costs little: every segment behind
 * it whose cells it closed and cleaned has been unlinked (only the last
 * segment and those the heads point at stay, and their cells are skipped
 * as closed; skipped cells do not count towards a batch, so every batch
 * makes progress).  Other operations that find the channel cancelled help
 * (as Kotlin's do) with at most one batch and leave the rest to the
 * canceller, which always walks to the end: each cell is taken by one CAS,
 * so nothing is handed over twice or missed.
 */
static void kc_remove_unprocessed_elements(struct kcoro_chan *ch,
					   struct kc_segment *seg, bool all)
{
	struct kc_waiter *list = NULL, *w;
	unsigned int walked = 0;
	unsigned long st;
	int i;

	for (; seg; seg = READ_ONCE(seg->prev)) {
		if (walked >= KC_REMOVE_BATCH) {
			if (!all)
				goto done;
			kc_resume_closed(list);
			list = NULL;
			walked = 0;
			kc_op_end();
			if (preemptible())
				cond_resched();
			kc_op_begin();
			seg = kc_close_linked_list(ch);
		}
		for (i = ch->seg_size - 1; i >= 0; i--) {
			u64 global = kc_global(seg, i);

			for (;;) {
				st = kc_get_state(seg, i);
				if (st == KC_DONE_RCV || st == KC_RESUMING_BY_EB ||
				    st == KC_RESUMING_BY_RCV ||
				    st == KC_RESUMING_BY_SND)
					goto done;
				if (st == KC_BUFFERED) {
					if (global < kc_receivers_counter(ch))
						goto done;
					if (!kc_cas_state(seg, i, st, KC_CHANNEL_CLOSED))
						continue;
					kc_undelivered(ch, kc_get_element(seg, i));
					kc_clean_element(seg, i);
					kc_on_slot_cleaned(seg);
					walked++;
				} else if (st == KC_EMPTY || st == KC_IN_BUFFER) {
					if (!kc_cas_state(seg, i, st, KC_CHANNEL_CLOSED))
						continue;
					kc_on_slot_cleaned(seg);
					walked++;
				} else if (kc_is_waiter(st)) {
					if (global < kc_receivers_counter(ch))
						goto done;
					if (!kc_cas_state(seg, i, st, KC_CHANNEL_CLOSED))
						continue;
					w = kc_waiter_of(st);
					kc_waiter_undelivered(ch, w,
							      kc_get_element(seg, i));
					w->next = list;
					list = w;
					kc_clean_element(seg, i);
					kc_on_slot_cleaned(seg);
					walked++;
				}
				break;
			}
		}
	}
done:
	kc_resume_closed(list);
}

static struct kc_segment *kc_complete_close(struct kcoro_chan *ch, u64 senders)
{
	struct kc_segment *last = kc_close_linked_list(ch);
	u64 global;

	if (ch->drop_oldest) {
		global = kc_mark_all_empty_cells_as_closed(ch, last);
		if (global != U64_MAX)
			kc_drop_first_until_in_buffer(ch, global);
	}
	kc_cancel_suspended_receive_requests(ch, last, senders);
	return last;
}

/* @canceller: the caller of kc_close_or_cancel(), see the removal above. */
static noinline bool kc_is_closed_slow(struct kcoro_chan *ch, u64 word,
				       bool for_receive, bool canceller)
{
	struct kc_segment *last;

	switch (kc_close_status(word)) {
	case KC_CLOSE_CLOSED:
		kc_complete_close(ch, word & KC_SENDERS_MASK);
		return for_receive ? !kc_has_elements(ch) : true;
	case KC_CLOSE_CANCELLED:
		last = kc_complete_close(ch, word & KC_SENDERS_MASK);
		kc_remove_unprocessed_elements(ch, last, canceller);
		return true;
	default:
		return false;
	}
}

/* isClosed(): helps finish a close or cancel it finds under way. */
static __always_inline bool kc_is_closed(struct kcoro_chan *ch, u64 word,
					 bool for_receive)
{
	if (likely(kc_close_status(word) < KC_CLOSE_CLOSED))
		return false;
	return kc_is_closed_slow(ch, word, for_receive, false);
}

/* The closer or canceller finishes what it started, to the end. */
static void kc_complete_close_or_cancel(struct kcoro_chan *ch)
{
	u64 word = atomic64_read(&ch->senders);

	if (kc_close_status(word) >= KC_CLOSE_CLOSED)
		kc_is_closed_slow(ch, word, false, true);
}

static void kc_set_close_status(struct kcoro_chan *ch, int from_mask, int to)
{
	s64 cur = atomic64_read(&ch->senders);
	u64 counter;

	do {
		if (!(from_mask & (1 << kc_close_status(cur))))
			return;
		counter = cur & KC_SENDERS_MASK;
	} while (!atomic64_try_cmpxchg(&ch->senders, &cur,
				       ((u64)to << KC_SENDERS_SHIFT) | counter));
}

static bool kc_close_or_cancel(struct kcoro_chan *ch, bool cancel)
{
	bool by_us;

	kc_op_begin();
	if (cancel)
		kc_set_close_status(ch, 1 << KC_CLOSE_ACTIVE,
				    KC_CLOSE_CANCELLATION_STARTED);
	by_us = !cmpxchg(&ch->close_cause, 0, cancel ? -ECANCELED : -EPIPE);
	if (cancel) {
		kc_set_close_status(ch, ~0, KC_CLOSE_CANCELLED);
	} else {
		kc_set_close_status(ch, 1 << KC_CLOSE_ACTIVE, KC_CLOSE_CLOSED);
		kc_set_close_status(ch, 1 << KC_CLOSE_CANCELLATION_STARTED,
				    KC_CLOSE_CANCELLED);
	}
	kc_complete_close_or_cancel(ch);
	kc_op_end();
	kc_poll_wake(ch);
	return by_us;
}

/* dropFirstElementUntilTheSpecifiedCellIsInTheBuffer() (DROP_OLDEST) */
static void kc_drop_first_until_in_buffer(struct kcoro_chan *ch, u64 global)
{
	struct kc_segment *seg = READ_ONCE(ch->recv_seg), *found;
	bool paid = false;
	void *elem;
	u64 r;

	for (;;) {
		/*
		 * receivers, then bufferEnd, as Kotlin's volatile reads: a
		 * bufferEnd older than r could make a cell already in the
		 * buffer look outside it and drop one element too many.  The
		 * acquire pairs with the fully ordered FAAs that move the two
		 * counters (a receiver's FAA comes before its expandBuffer).
		 */
		r = atomic64_read_acquire(&ch->receivers);
		if (global < max(r + ch->capacity, kc_buffer_end_counter(ch)))
			return;
		if (atomic64_cmpxchg(&ch->receivers, r, r + 1) != r)
			continue;
		if (seg->id != r / ch->seg_size) {
			found = kc_find_segment_receive(ch, r / ch->seg_size,
							seg, NULL);
			if (IS_ERR_OR_NULL(found)) {
				/*
				 * -ENOMEM abandons cell r: pay its expandBuffer
				 * as a receiver would (bufferEnd - receivers
				 * must not drop; see kc_wait_eb_completion()).
				 */
				if (IS_ERR(found))
					kc_expand_buffer(ch);
				seg = READ_ONCE(ch->recv_seg);
				continue;
			}
			seg = found;
		}
		if (kc_update_cell_receive(ch, seg, r % ch->seg_size, r,
					   KC_NO_WAITER, &elem, &paid) ==
		    KC_RCV_ELEMENT)
			kc_undelivered(ch, elem);
	}
}

/* ---------------------------------------------------------------- */
/* waiting                                                           */

static __always_inline int kc_should_cancel(struct kc_waiter *w,
					    ktime_t deadline)
{
	if (w->kind == KC_WAITER_CORO) {
		if (test_bit(KCORO_FLAG_CANCELLED, &w->co->flags))
			return -ECANCELED;
	} else if (signal_pending(current)) {
		return -EINTR;
	}
	if (deadline != KTIME_MAX && ktime_compare(ktime_get(), deadline) >= 0)
		return -ETIMEDOUT;
	return 0;
}

/*
 * The owner's last steps for a waiter that was resumed (@state RESUMED) or
 * that it cancelled itself (@err).
 */
static int kc_waiter_finish(struct kc_waiter *w, int state, int err)
{
	/* Whoever holds the cell's reference is in a short atomic window. */
	while (smp_load_acquire(&w->busy))
		cpu_relax();
	kc_seg_put(w->seg);
	this_cpu_dec(kc_nr_waiters);
	return state == KC_W_RESUMED ? READ_ONCE(w->result) : err;
}

/* The owner cancels @w if nobody resumed it yet; returns the winner. */
static int kc_waiter_try_cancel(struct kcoro_chan *ch, struct kc_waiter *w,
				int err)
{
	if (atomic_cmpxchg(&w->state, KC_W_WAITING, KC_W_CANCELLED) !=
	    KC_W_WAITING)
		return KC_W_RESUMED;
	kc_op_begin();
	kc_waiter_cancel_cell(ch, w);
	kc_op_end();
	kc_poll_wake(ch);
	return KC_W_CANCELLED;
}

/*
 * One sleep of the owner of @w (a waiter, or a select's first clause)
 * while *@state is @waiting: a coroutine parks, a thread sleeps
 * interruptibly.  Wake-ups may be spurious; the caller loops.
 */
static __always_inline void kc_waiter_sleep(struct kc_waiter *w,
					    atomic_t *state, int waiting,
					    ktime_t deadline)
{
	if (w->kind == KC_WAITER_CORO) {
		if (deadline == KTIME_MAX)
			kcoro_park();
		else
			kcoro_park_until(deadline);
		return;
	}
	set_current_state(TASK_INTERRUPTIBLE);
	if (atomic_read(state) == waiting)
		schedule_hrtimeout(deadline == KTIME_MAX ? NULL : &deadline,
				   HRTIMER_MODE_ABS);
	__set_current_state(TASK_RUNNING);
}

/*
 * Wait until @w is resumed, or cancel it (timeout, signal, kcoro_cancel())
 * and take its cell out of the waiter state ourselves.  Returns the
 * resume result, or the cancellation error.
 */
static int kc_waiter_wait(struct kcoro_chan *ch, struct kc_waiter *w,
			  ktime_t deadline)
{
	int state, err = 0;

	for (;;) {
		state = atomic_read_acquire(&w->state);
		if (state != KC_W_WAITING)
			break;
		err = kc_should_cancel(w, deadline);
		if (err) {
			if (kc_waiter_try_cancel(ch, w, err) != KC_W_CANCELLED)
				continue;
			state = KC_W_CANCELLED;
			break;
		}
		kc_waiter_sleep(w, &w->state, KC_W_WAITING, deadline);
	}
	return kc_waiter_finish(w, state, err);
}

static ktime_t kc_deadline(s64 timeout_ns)
{
	if (timeout_ns < 0)
		return KTIME_MAX;
	return ktime_add_safe(ktime_get(), ns_to_ktime(timeout_ns));
}

/* ---------------------------------------------------------------- */
/* public API                                                        */

static int kc_try_send(struct kcoro_chan *ch, void *elem, bool nowait);

/*
 * The non-blocking part of a send: deliver or buffer @elem, or store @w in
 * its cell.  Returns KC_SENT, KC_SUSPENDED (@w armed), KC_CLOSED or
 * -ENOMEM.
 */
static int kc_send_submit(struct kcoro_chan *ch, void *elem,
			  struct kc_waiter *w)
{
	struct kc_segment *seg;
	unsigned int i;
	int ret;

	if (kc_refill_spare(ch))
		return -ENOMEM;
	kc_op_begin();
	if (ch->drop_latest &&
	    kc_should_send_suspend(ch, atomic64_read_acquire(&ch->senders))) {
		/* Kotlin's DROP_LATEST send: a trySend, then the hook. */
		kc_op_end();
		kc_undelivered(ch, elem);
		return KC_SENT;
	}
	if (ch->drop_latest || ch->drop_oldest) {
		ret = kc_send_impl(ch, elem, ch->drop_oldest ? KC_BUFFERED :
				   KC_INTERRUPTED_SEND, &seg, &i);
		if (ret == KC_SUSPENDED) {
			if (ch->drop_oldest) {
				kc_drop_first_until_in_buffer(ch, kc_global(seg, i));
			} else {
				kc_on_slot_cleaned(seg);
				kc_undelivered(ch, elem);
			}
			ret = KC_SENT;
		}
	} else {
		ret = kc_send_impl(ch, elem, (unsigned long)w, &seg, &i);
	}
	kc_op_end();
	return ret;
}

static int kc_send(struct kcoro_chan *ch, void *elem, ktime_t deadline,
		   bool keep)
{
	struct kc_waiter w __uninitialized;	/* kc_waiter_init() */
	int ret;

	kc_waiter_init(&w, true);
	w.keep = keep;
	ret = kc_send_submit(ch, elem, &w);
	kc_poll_wake(ch);
	switch (ret) {
	case KC_SENT:
		return 0;
	case KC_SUSPENDED:
		return kc_waiter_wait(ch, &w, deadline);
	case KC_CLOSED:
		ret = -EPIPE;
		fallthrough;
	default:
		if (!keep)
			kc_undelivered(ch, elem);
		return ret;
	}
}

/*
 * A send whose element stays with the caller when it fails (the /dev/kcoro
 * layer decides itself what a failed message becomes).  The hook still
 * sees elements that were accepted and dropped later.
 */
int kc_chan_send_keep(struct kcoro_chan *ch, void *elem, ktime_t deadline)
{
	return kc_send(ch, elem, deadline, true);
}

/**
 * kcoro_chan_send() - send an element, waiting for room or a receiver
 * @ch: the channel
 * @elem: the element
 *
 * From a coroutine the coroutine parks; from a thread it sleeps
 * interruptibly.  Whenever this fails, @elem went to the undelivered hook.
 *
 * Return: 0 once the element is buffered or taken by a receiver; -EPIPE if
 * the channel is closed or cancelled; -ECANCELED if the calling coroutine
 * was cancelled; -EINTR if the calling thread got a signal; -ENOMEM.
 */
int kcoro_chan_send(struct kcoro_chan *ch, void *elem)
{
	return kc_send(ch, elem, KTIME_MAX, false);
}
EXPORT_SYMBOL_GPL(kcoro_chan_send);

/**
 * kcoro_chan_send_timeout() - kcoro_chan_send() with a time limit
 * @ch: the channel
 * @elem: the element
 * @timeout_ns: relative limit in nanoseconds; negative waits for ever
 *
 * Return: as kcoro_chan_send(), or -ETIMEDOUT when the limit passed (the
 * element then went to the undelivered hook).
 */
int kcoro_chan_send_timeout(struct kcoro_chan *ch, void *elem, s64 timeout_ns)
{
	return kc_send(ch, elem, kc_deadline(timeout_ns), false);
}
EXPORT_SYMBOL_GPL(kcoro_chan_send_timeout);

/**
 * kcoro_chan_try_send() - send an element only if that needs no waiting
 * @ch: the channel
 * @elem: the element
 *
 * A failed try-send leaves @elem with the caller: the undelivered hook is
 * not called.  Drop policies apply as for kcoro_chan_send(): on a full
 * drop-latest channel the send succeeds and @elem goes to the undelivered
 * hook (Kotlin's trySend drops it without the hook; in C nobody would
 * free it), so every element either is received or reaches the hook,
 * exactly once.
 *
 * Return: 0, -EAGAIN if the send would have to wait, -EPIPE if the channel
 * is closed or cancelled, -ENOMEM.
 */
int kcoro_chan_try_send(struct kcoro_chan *ch, void *elem)
{
	return kc_try_send(ch, elem, false);
}
EXPORT_SYMBOL_GPL(kcoro_chan_try_send);

/*
 * kcoro_chan_try_send() for atomic context (an undelivered hook handing
 * its element to a dead-letter channel): no sleeping allocation, no
 * might_sleep().  Not from hard interrupts.
 */
int kc_chan_try_send_nowait(struct kcoro_chan *ch, void *elem)
{
	return kc_try_send(ch, elem, true);
}

static int kc_try_send(struct kcoro_chan *ch, void *elem, bool nowait)
{
	struct kc_segment *seg;
	unsigned int i;
	int ret;

	if (!nowait && kc_refill_spare(ch))
		return -ENOMEM;
	if (nowait)
		preempt_disable();
	else
		kc_op_begin();
	/* Acquire: the buffer-end and receivers reads are not older. */
	if (!ch->drop_oldest &&
	    kc_should_send_suspend(ch, atomic64_read_acquire(&ch->senders))) {
		kc_op_end();
		if (!ch->drop_latest)
			return -EAGAIN;
		/* Dropped: the hook owns it (see kcoro_chan_try_send()). */
		kc_undelivered(ch, elem);
		return 0;
	}
	ret = kc_send_impl(ch, elem, ch->drop_oldest ? KC_BUFFERED :
			   KC_INTERRUPTED_SEND, &seg, &i);
	if (ret == KC_SUSPENDED) {
		if (ch->drop_oldest) {
			kc_drop_first_until_in_buffer(ch, kc_global(seg, i));
			ret = KC_SENT;
		} else {
			kc_on_slot_cleaned(seg);
		}
	}
	kc_op_end();
	kc_poll_wake(ch);
	switch (ret) {
	case KC_SENT:
		return 0;
	case KC_SUSPENDED:
		if (!ch->drop_latest)
			return -EAGAIN;
		kc_undelivered(ch, elem);
		return 0;
	case KC_CLOSED:
		return -EPIPE;
	default:
		return ret;
	}
}

/* The non-blocking part of a receive; see kc_send_submit(). */
static int kc_recv_submit(struct kcoro_chan *ch, void **elem,
			  struct kc_waiter *w)
{
	struct kc_segment *seg;
	unsigned int i;
	int ret;
	u64 r;

	if (kc_refill_spare(ch))
		return -ENOMEM;
	kc_op_begin();
	ret = kc_receive_impl(ch, (unsigned long)w, elem, &seg, &i, &r);
	kc_op_end();
	return ret;
}

static int kc_recv(struct kcoro_chan *ch, void **elem, ktime_t deadline)
{
	struct kc_waiter w __uninitialized;	/* kc_waiter_init() */
	int ret;

	kc_waiter_init(&w, false);
	ret = kc_recv_submit(ch, elem, &w);
	kc_poll_wake(ch);
	switch (ret) {
	case KC_RCV_ELEMENT:
		return 0;
	case KC_RCV_SUSPEND:
		ret = kc_waiter_wait(ch, &w, deadline);
		if (!ret)
			*elem = READ_ONCE(w.elem);
		return ret;
	case KC_CLOSED:
		return -EPIPE;
	default:
		return ret;
	}
}

/**
 * kcoro_chan_recv() - receive an element, waiting for one
 * @ch: the channel
 * @elem: where the element is stored
 *
 * Return: 0 with *@elem set; -EPIPE once the channel is closed and drained,
 * or cancelled; -ECANCELED if the calling coroutine was cancelled; -EINTR
 * if the calling thread got a signal; -ENOMEM.
 */
int kcoro_chan_recv(struct kcoro_chan *ch, void **elem)
{
	return kc_recv(ch, elem, KTIME_MAX);
}
EXPORT_SYMBOL_GPL(kcoro_chan_recv);

/**
 * kcoro_chan_recv_timeout() - kcoro_chan_recv() with a time limit
 * @ch: the channel
 * @elem: where the element is stored
 * @timeout_ns: relative limit in nanoseconds; negative waits for ever
 *
 * Return: as kcoro_chan_recv(), or -ETIMEDOUT.
 */
int kcoro_chan_recv_timeout(struct kcoro_chan *ch, void **elem, s64 timeout_ns)
{
	return kc_recv(ch, elem, kc_deadline(timeout_ns));
}
EXPORT_SYMBOL_GPL(kcoro_chan_recv_timeout);

/**
 * kcoro_chan_try_recv() - receive an element only if one is ready
 * @ch: the channel
 * @elem: where the element is stored
 *
 * Return: 0 with *@elem set, -EAGAIN if none is ready, -EPIPE once the
 * channel is closed and drained or cancelled, -ENOMEM.
 */
int kcoro_chan_try_recv(struct kcoro_chan *ch, void **elem)
{
	struct kc_segment *seg;
	unsigned int i;
	int ret;
	u64 r, word;

	if (kc_refill_spare(ch))
		return -ENOMEM;
	kc_op_begin();
	/* Receivers, then senders, in this order (Kotlin's tryReceive). */
	r = atomic64_read_acquire(&ch->receivers);
	word = atomic64_read(&ch->senders);
	if (kc_is_closed(ch, word, true)) {
		ret = -EPIPE;
	} else if (r >= (word & KC_SENDERS_MASK)) {
		ret = -EAGAIN;
	} else {
		ret = kc_receive_impl(ch, KC_INTERRUPTED_RCV, elem, &seg, &i, &r);
		if (ret == KC_RCV_SUSPEND) {
			kc_wait_eb_completion(ch, r);
			kc_on_slot_cleaned(seg);
			ret = -EAGAIN;
		} else if (ret == KC_RCV_ELEMENT) {
			ret = 0;
		} else if (ret == KC_CLOSED) {
			ret = -EPIPE;
		}
	}
	kc_op_end();
	if (!ret)
		kc_poll_wake(ch);
	return ret;
}
EXPORT_SYMBOL_GPL(kcoro_chan_try_recv);

static struct kc_waiter *kc_async_waiter(struct kcoro_chan_async *a)
{
	BUILD_BUG_ON(sizeof(struct kc_waiter) > sizeof(a->priv));
	BUILD_BUG_ON(__alignof__(struct kc_waiter) >
		     __alignof__(struct kcoro_chan_async));
	return (struct kc_waiter *)a->priv;
}

static void kc_async_init(struct kcoro_chan_async *a, bool sender)
{
	struct kc_waiter *w = kc_async_waiter(a);

	kc_waiter_init(w, sender);
	w->kind = KC_WAITER_CALLBACK;
	w->async = a;
}

/**
 * kcoro_chan_send_async() - send without waiting for room or a receiver
 * @ch: the channel
 * @elem: the element
 * @a: the request; @a->notify must be set, the rest is kcoro's
 *
 * The callback waiter: if the send cannot complete at once, @a takes a
 * cell like a suspended sender and @a->notify(@a) is called once a
 * receiver (or expandBuffer) has taken the element, or cancel dropped it.
 * The notification runs in the completing context, atomic, inside the
 * channel: it must not sleep or use the channel (wake a wait queue, queue
 * work).  Every -EINPROGRESS must be followed by exactly one
 * kcoro_chan_async_complete(), which must not be called with a lock held
 * that @a->notify takes (it may wait for a notify in progress).
 *
 * Return: 0 when delivered or buffered at once; -EINPROGRESS when queued;
 * -EPIPE if the channel is closed (the element went to the undelivered
 * hook); -ENOMEM (the hook too).
 */
int kcoro_chan_send_async(struct kcoro_chan *ch, void *elem,
			  struct kcoro_chan_async *a)
{
	int ret;

	kc_async_init(a, true);
	ret = kc_send_submit(ch, elem, kc_async_waiter(a));
	kc_poll_wake(ch);
	switch (ret) {
	case KC_SENT:
		return 0;
	case KC_SUSPENDED:
		return -EINPROGRESS;
	case KC_CLOSED:
		kc_undelivered(ch, elem);
		return -EPIPE;
	default:
		kc_undelivered(ch, elem);
		return ret;
	}
}
EXPORT_SYMBOL_GPL(kcoro_chan_send_async);

/**
 * kcoro_chan_recv_async() - receive without waiting for an element
 * @ch: the channel
 * @a: the request; @a->notify must be set, the rest is kcoro's
 * @elem: where an element available at once is stored
 *
 * As kcoro_chan_send_async(): if no element is ready, @a takes a cell like
 * a suspended receiver and @a->notify(@a) is called once an element was
 * handed to it or the channel was closed; kcoro_chan_async_complete()
 * then returns the element.
 *
 * Return: 0 with *@elem set; -EINPROGRESS when queued; -EPIPE once the
 * channel is closed and drained, or cancelled; -ENOMEM.
 */
int kcoro_chan_recv_async(struct kcoro_chan *ch, struct kcoro_chan_async *a,
			  void **elem)
{
	int ret;

	kc_async_init(a, false);
	ret = kc_recv_submit(ch, elem, kc_async_waiter(a));
	kc_poll_wake(ch);
	switch (ret) {
	case KC_RCV_ELEMENT:
		return 0;
	case KC_RCV_SUSPEND:
		return -EINPROGRESS;
	case KC_CLOSED:
		return -EPIPE;
	default:
		return ret;
	}
}
EXPORT_SYMBOL_GPL(kcoro_chan_recv_async);

/**
 * kcoro_chan_async_complete() - finish a queued asynchronous request
 * @ch: the channel of the request
 * @a: a request that returned -EINPROGRESS
 * @elem: for a receive, where the element is stored
 *
 * If @a->notify has not been called yet, the request is cancelled as a
 * cancelled coroutine's would be (its cell becomes INTERRUPTED_*, a send's
 * element goes to the undelivered hook) and the notification never comes.
 * Otherwise this collects the result.  Either way @a is kcoro's no more.
 * May spin for a few instructions; process context.
 *
 * Return: 0 (a receive stored its element in *@elem), -EPIPE when the
 * channel was closed or cancelled first, -ECANCELED when this call
 * cancelled the request.
 */
int kcoro_chan_async_complete(struct kcoro_chan *ch,
			      struct kcoro_chan_async *a, void **elem)
{
	struct kc_waiter *w = kc_async_waiter(a);
	int state, ret;

	state = kc_waiter_try_cancel(ch, w, -ECANCELED);
	ret = kc_waiter_finish(w, state, -ECANCELED);
	if (!ret && !w->sender && elem)
		*elem = READ_ONCE(w->elem);
	return ret;
}
EXPORT_SYMBOL_GPL(kcoro_chan_async_complete);

/* ---------------------------------------------------------------- */
/* select                                                            */

/*
 * Register clause @k of @sel in its channel, as its own send or receive
 * would be.  Returns 1 if it completed at once (only the owner can select
 * while registering, so it is the winner), 0 if its waiter now sits in a
 * cell, or -ENOMEM.
 */
static int kc_select_register(struct kc_select *sel,
			      struct kcoro_select_clause *c, unsigned int k)
{
	struct kc_waiter *w = &sel->w[k];
	bool send = c[k].op == KCORO_SELECT_SEND;
	int ret;

	kc_waiter_init(w, send);
	w->sel = sel;
	w->keep = 1;
	w->clause = k;
	if (send)
		ret = kc_send_submit(c[k].ch, c[k].elem, w);
	else
		ret = kc_recv_submit(c[k].ch, &c[k].elem, w);
	kc_poll_wake(c[k].ch);
	switch (ret) {
	case KC_SENT:		/* == KC_RCV_ELEMENT */
		c[k].result = 0;
		return 1;
	case KC_SUSPENDED:	/* == KC_RCV_SUSPEND */
		return 0;
	case KC_CLOSED:
		c[k].result = -EPIPE;
		return 1;
	default:
		return ret;
	}
}

/* Take a clause's waiter out of its cell (a loser, or one to register again). */
static void kc_select_unregister(struct kc_select *sel,
				 struct kcoro_select_clause *c, unsigned int k)
{
	struct kc_waiter *w = &sel->w[k];

	kc_op_begin();
	kc_waiter_cancel_cell(c[k].ch, w);
	kc_op_end();
	kc_poll_wake(c[k].ch);
	kc_waiter_finish(w, KC_W_CANCELLED, 0);
}

/* The owner decides the select during registration: @to is final. */
static void kc_select_decide(struct kc_select *sel, int to)
{
	int st;

	do {
		st = atomic_read(&sel->state);
	} while (atomic_cmpxchg(&sel->state, st, to) != st);
}

/*
 * The random order of an unbiased select: a per-CPU prandom state,
 * seeded from get_random_bytes() on first use.  Fairness needs uniform
 * choices, not secret ones (Go's select uses its cheap generator too),
 * and get_random_u32() with its local lock cost as much as the rest of
 * a select that finds a clause ready.
 */
static DEFINE_PER_CPU(struct rnd_state, kc_sel_rnd);

/* A uniform number below @bound (up to KCORO_SELECT_MAX). */
static unsigned int kc_random_below(unsigned int bound)
{
	u32 r;

	prandom_init_once(&kc_sel_rnd);
	r = prandom_u32_state(get_cpu_ptr(&kc_sel_rnd));
	put_cpu_ptr(&kc_sel_rnd);
	return ((u64)r * bound) >> 32;
}

static void kc_select_order(u8 *order, unsigned int n, bool biased)
{
	unsigned int i, j;
	u8 t;

	for (i = 0; i < n; i++)
		order[i] = i;
	if (biased)
		return;
	/* Fisher-Yates: every ready clause equally likely, as Go does. */
	for (i = n - 1; i > 0; i--) {
		j = kc_random_below(i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

static int kc_select_try(struct kcoro_select_clause *c, unsigned int n,
			 const u8 *order)
{
	unsigned int i, k;
	int ret;

	for (i = 0; i < n; i++) {
		k = order[i];
		if (c[k].op == KCORO_SELECT_SEND)
			ret = kcoro_chan_try_send(c[k].ch, c[k].elem);
		else
			ret = kcoro_chan_try_recv(c[k].ch, &c[k].elem);
		if (ret == -EAGAIN)
			continue;
		if (ret && ret != -EPIPE)
			return ret;
		c[k].result = ret;
		return k;
	}
	return -EAGAIN;
}

/* Sleep until the select is decided, or cancel it. */
static int kc_select_wait(struct kc_select *sel, ktime_t deadline)
{
	struct kc_waiter *w0 = &sel->w[0];
	int st, err;

	for (;;) {
		st = atomic_read_acquire(&sel->state);
		if (st >= KC_SEL_SELECTED)
			return st - KC_SEL_SELECTED;
		err = kc_should_cancel(w0, deadline);
		if (err) {
			if (atomic_cmpxchg(&sel->state, KC_SEL_WAITING,
					   KC_SEL_CANCELLED) == KC_SEL_WAITING)
				return err;
			continue;
		}
		kc_waiter_sleep(w0, &sel->state, KC_SEL_WAITING, deadline);
	}
}

/**
 * kcoro_select() - complete exactly one of several channel operations
 * @c: the clauses: for each, the channel, %KCORO_SELECT_SEND with the
 *	element in @elem, or %KCORO_SELECT_RECV (the element is stored in
 *	@elem); @result is set for the clause that completes
 * @n: number of clauses, 1 to %KCORO_SELECT_MAX
 * @flags: %KCORO_SELECT_BIASED: prefer clauses in array order (Kotlin's
 *	select); without it ready clauses are taken in random order
 *	(Kotlin's selectUnbiased, Go's select).  %KCORO_SELECT_DEFAULT: if
 *	no clause can complete at once, complete none and return -EAGAIN
 * @deadline: CLOCK_MONOTONIC time to give up at, or KTIME_MAX
 *
 * Kotlin's SelectImplementation on kcoro's channels.  The clauses are
 * first tried in the chosen order, as kcoro_chan_try_send() and
 * kcoro_chan_try_recv() would: the first that can complete at once wins
 * and nothing registers.  Otherwise every clause
 * registers in its channel's cell like a send or receive would, the first
 * resumer to win the select's state completes its clause, and the others
 * are taken out of their cells through the same cancellation path as a
 * cancelled waiter (Segment.onCancellation).  A clause that loses sends
 * nothing and receives nothing; the element of a send clause that did not
 * complete stays with the caller (the undelivered hook is not called for
 * it).  A receive clause on a channel that is closed and drained, or a
 * send clause on a closed channel, completes with @result -EPIPE.  Works
 * from a coroutine (parks) and from a thread (sleeps interruptibly).
 *
 * A select may not have both a send and a receive clause on the same
 * rendezvous channel: they could only meet each other, and a select never
 * meets itself.
 *
 * Return: the index of the clause that completed; -EAGAIN (with
 * %KCORO_SELECT_DEFAULT); -ETIMEDOUT; -EINTR (thread, signal);
 * -ECANCELED (coroutine cancelled); -EINVAL (bad clauses or flags, or a
 * send and a receive clause on one rendezvous channel); -ENOMEM.  On an
 * error no clause took effect.
 */
int kcoro_select(struct kcoro_select_clause *c, unsigned int n,
		 unsigned int flags, ktime_t deadline)
{
	struct kc_waiter stack_w[4], *w = stack_w;
	DECLARE_BITMAP(reg, KCORO_SELECT_MAX);
	struct kc_select sel;
	u8 order[KCORO_SELECT_MAX];
	unsigned int i, k;
	int ret = 0, won = -1, st;

	if (!n || n > KCORO_SELECT_MAX ||
	    flags & ~(KCORO_SELECT_BIASED | KCORO_SELECT_DEFAULT))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!c[i].ch || (c[i].op != KCORO_SELECT_SEND &&
				 c[i].op != KCORO_SELECT_RECV))
			return -EINVAL;
		/*
		 * A send and a receive on one rendezvous channel could only
		 * meet each other; a select never meets itself, and each
		 * registration would knock the other out of its cell for
		 * ever.  (Go blocks such a select; kcoro refuses it.)
		 */
		for (k = 0; k < i; k++)
			if (c[k].ch == c[i].ch && c[k].op != c[i].op &&
			    !c[i].ch->capacity)
				return -EINVAL;
	}
	kc_select_order(order, n, flags & KCORO_SELECT_BIASED);
	/*
	 * One pass of tries in the chosen order before anything registers:
	 * a select with a ready clause completes it without a waiter or a
	 * state CAS, and the clauses tried before it did what a failing
	 * try does.  It is the same decision registration would make (a
	 * registration that finds its clause ready completes at once, and
	 * stops the others), so biased and random order keep their
	 * meaning.
	 */
	ret = kc_select_try(c, n, order);
	if (ret != -EAGAIN || (flags & KCORO_SELECT_DEFAULT))
		return ret;
	ret = 0;
	if (n > ARRAY_SIZE(stack_w)) {
		/* KCORO_IOC_SELECT lets a user ask for this: charge it. */
		w = kmalloc_array(n, sizeof(*w), GFP_KERNEL_ACCOUNT);
		if (!w)
			return -ENOMEM;
	}
	atomic_set(&sel.state, KC_SEL_REG);
	sel.w = w;
	sel.n = n;
	bitmap_zero(reg, KCORO_SELECT_MAX);

	for (i = 0; i < n && won < 0; i++) {
		k = order[i];
		ret = kc_select_register(&sel, c, k);
		if (ret < 0)
			break;
		if (ret)
			won = k;
		else
			__set_bit(k, reg);
	}
	while (won < 0 && ret >= 0) {
		st = atomic_read(&sel.state);
		if (st == KC_SEL_REG) {
			if (atomic_cmpxchg(&sel.state, st, KC_SEL_WAITING) == st)
				break;
			continue;
		}
		/* Never trap the caller here, whatever the channels do. */
		ret = kc_should_cancel(&w[0], deadline);
		if (ret)
			break;
		cond_resched();
		/* REG_PENDING: resumers found clauses while we registered. */
		if (atomic_cmpxchg(&sel.state, st, KC_SEL_REG) != st)
			continue;
		for (i = 0; i < n && won < 0; i++) {
			k = order[i];
			if (!test_bit(k, reg) || !READ_ONCE(w[k].rereg))
				continue;
			kc_select_unregister(&sel, c, k);
			__clear_bit(k, reg);
			ret = kc_select_register(&sel, c, k);
			if (ret < 0)
				break;
			if (ret)
				won = k;
			else
				__set_bit(k, reg);
		}
	}
	if (won >= 0 || ret < 0) {
		kc_select_decide(&sel, ret < 0 ? KC_SEL_CANCELLED :
				 KC_SEL_SELECTED + won);
	} else {
		ret = kc_select_wait(&sel, deadline);
		if (ret >= 0) {
			won = ret;
			/* A resumer completed it: collect as a waiter would. */
			__clear_bit(won, reg);
			c[won].result = kc_waiter_finish(&w[won], KC_W_RESUMED, 0);
			if (c[won].op == KCORO_SELECT_RECV && !c[won].result)
				c[won].elem = READ_ONCE(w[won].elem);
		}
	}
	for_each_set_bit(k, reg, n)
		kc_select_unregister(&sel, c, k);
	if (w != stack_w)
		kfree(w);
	return won >= 0 ? won : ret;
}
EXPORT_SYMBOL_GPL(kcoro_select);

/**
 * kcoro_chan_close() - close a channel for sending
 * @ch: the channel
 *
 * Later sends fail with -EPIPE.  Buffered elements and those of senders
 * already suspended stay receivable; receivers then get -EPIPE.
 *
 * Return: true if this call closed the channel.
 */
bool kcoro_chan_close(struct kcoro_chan *ch)
{
	return kc_close_or_cancel(ch, false);
}
EXPORT_SYMBOL_GPL(kcoro_chan_close);

/**
 * kcoro_chan_cancel() - close a channel and drop everything in it
 * @ch: the channel
 *
 * Every buffered element and the element of every suspended sender go to
 * the undelivered hook; suspended senders and receivers return -EPIPE.
 *
 * Return: true if this call was the first to close or cancel the channel.
 */
bool kcoro_chan_cancel(struct kcoro_chan *ch)
{
	return kc_close_or_cancel(ch, true);
}
EXPORT_SYMBOL_GPL(kcoro_chan_cancel);

static bool kc_is_closed_now(struct kcoro_chan *ch, bool for_receive)
{
	bool ret;

	kc_op_begin();
	ret = kc_is_closed(ch, atomic64_read(&ch->senders), for_receive);
	kc_op_end();
	return ret;
}

/**
 * kcoro_chan_is_closed_for_send() - would a send fail with -EPIPE?
 * @ch: the channel
 *
 * Return: true once the channel is closed or cancelled.
 */
bool kcoro_chan_is_closed_for_send(struct kcoro_chan *ch)
{
	return kc_is_closed_now(ch, false);
}
EXPORT_SYMBOL_GPL(kcoro_chan_is_closed_for_send);

/**
 * kcoro_chan_is_closed_for_recv() - would a receive fail with -EPIPE?
 * @ch: the channel
 *
 * Return: true once the channel is closed and drained, or cancelled.
 */
bool kcoro_chan_is_closed_for_recv(struct kcoro_chan *ch)
{
	return kc_is_closed_now(ch, true);
}
EXPORT_SYMBOL_GPL(kcoro_chan_is_closed_for_recv);

/**
 * kcoro_chan_poll() - poll readiness of a channel, for a file's ->poll
 * @ch: the channel
 * @file: the file being polled
 * @pt: the poll table, as passed to ->poll
 *
 * Readable (EPOLLIN | EPOLLRDNORM) when a receive would not wait: an
 * element is buffered or a sender is suspended, or the channel is closed
 * (with EPOLLHUP once it is closed and drained, or cancelled).  Writable
 * (EPOLLOUT | EPOLLWRNORM) when a send would not wait: there is room in
 * the buffer or a receiver is suspended; with EPOLLERR once the channel is
 * closed for sending.  Every operation that can change this wakes the
 * pollers, whoever performs it.  Readiness is a hint, as for sockets: a
 * non-blocking operation after it may still find -EAGAIN.
 *
 * Return: the event mask.
 */
__poll_t kcoro_chan_poll(struct kcoro_chan *ch, struct file *file,
			 poll_table *pt)
{
	__poll_t mask = 0;
	u64 word;

	if (!READ_ONCE(ch->polled))
		WRITE_ONCE(ch->polled, true);
	poll_wait(file, &ch->poll_wq, pt);
	/* Pairs with wq_has_sleeper() in kc_poll_wake_slow(). */
	smp_mb();
	kc_op_begin();
	/*
	 * The mask must describe the channel at one instant.  Elements and
	 * room are read while the close status stays what @word says: if a
	 * close or cancel came in between (a poller could otherwise see the
	 * channel open, then find the last message drained after the close
	 * and report nothing; or report room, read after a cancel, without
	 * the hang-up), compute again.  The status changes at most three
	 * times, so this loops at most four.
	 */
	do {
		mask = 0;
		word = atomic64_read(&ch->senders);
		if (kc_is_closed(ch, word, false)) {
			mask |= EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM |
				EPOLLERR;
			if (kc_is_closed(ch, atomic64_read(&ch->senders), true))
				mask |= EPOLLHUP;
		} else {
			if (kc_has_elements(ch))
				mask |= EPOLLIN | EPOLLRDNORM;
			if (ch->drop_oldest || ch->drop_latest ||
			    !kc_should_send_suspend(ch, atomic64_read(&ch->senders)))
				mask |= EPOLLOUT | EPOLLWRNORM;
		}
		/*
		 * The counters above, then the status again.  Pairs with the
		 * fully ordered RMWs of close (kc_set_close_status()) and of
		 * the receive that drained after it: seeing the drain implies
		 * seeing the close.
		 */
		smp_rmb();
	} while (kc_close_status(atomic64_read(&ch->senders)) !=
		 kc_close_status(word));
	kc_op_end();
	return mask;
}
EXPORT_SYMBOL_GPL(kcoro_chan_poll);

/**
 * kcoro_chan_send_deadline() - kcoro_chan_send() until an absolute time
 * @ch: the channel
 * @elem: the element
 * @deadline: CLOCK_MONOTONIC time (ktime_get()) to give up at, or KTIME_MAX
 *
 * Return: as kcoro_chan_send_timeout().
 */
int kcoro_chan_send_deadline(struct kcoro_chan *ch, void *elem,
			     ktime_t deadline)
{
	return kc_send(ch, elem, deadline, false);
}
EXPORT_SYMBOL_GPL(kcoro_chan_send_deadline);

/**
 * kcoro_chan_recv_deadline() - kcoro_chan_recv() until an absolute time
 * @ch: the channel
 * @elem: where the element is stored
 * @deadline: CLOCK_MONOTONIC time (ktime_get()) to give up at, or KTIME_MAX
 *
 * Return: as kcoro_chan_recv_timeout().
 */
int kcoro_chan_recv_deadline(struct kcoro_chan *ch, void **elem,
			     ktime_t deadline)
{
	return kc_recv(ch, elem, deadline);
}
EXPORT_SYMBOL_GPL(kcoro_chan_recv_deadline);

/* The undelivered hook's context, for the /dev/kcoro layer. */
void *kcoro_chan_ctx(struct kcoro_chan *ch)
{
	return ch->undelivered_ctx;
}

/*
 * Elements a receive could still get: buffered cells and suspended (or
 * still arriving) senders between the receive and send positions.  Cells
 * of failed sends (INTERRUPTED_SEND) and removed segments do not count.
 * A read-only walk, bounded: a hint for fdinfo and the ABI's info call.
 */
static u64 kc_count_pending(struct kcoro_chan *ch, u64 r, u64 s)
{
	struct kc_segment *seg = READ_ONCE(ch->recv_seg);
	unsigned int budget = 1U << 20, i;
	unsigned long st;
	u64 n = 0, g;

	while (seg && seg != KC_SEG_CLOSED && budget) {
		for (i = 0; i < ch->seg_size && budget; i++, budget--) {
			g = kc_global(seg, i);
			if (g < r)
				continue;
			if (g >= s)
				return n;
			st = kc_get_state(seg, i);
			if (st == KC_BUFFERED || st == KC_EMPTY ||
			    st == KC_IN_BUFFER || kc_is_waiter(st))
				n++;
		}
		seg = READ_ONCE(seg->next);
	}
	return n;
}

/*
 * Waiters of one direction in the channel's cells: a snapshot, ordered
 * with nothing else.  A waiter counts from just after the CAS that stored
 * it (kc_install()) until its cell's reference is released, which is
 * before its blocking call returns (kc_waiter_release()).  The count can
 * be one low per waiter whose release overtook its increment.
 */
static u64 kc_nr_waiting(struct kcoro_chan *ch, bool sender)
{
	return max(atomic_long_read(&ch->nr_waiting[sender]), 0L);
}

/**
 * kcoro_chan_get_snapshot() - a snapshot of one channel's state
 * @ch: the channel
 * @info: filled in
 *
 * Each field is read at its own instant: a hint for fdinfo, the ABI's
 * info call and tests, not a consistent picture.
 */
void kcoro_chan_get_snapshot(struct kcoro_chan *ch,
			     struct kcoro_chan_snapshot *info)
{
	u64 word, s, r;
	int status;

	kc_op_begin();
	word = atomic64_read(&ch->senders);
	status = kc_close_status(word);
	r = kc_receivers_counter(ch);
	s = word & KC_SENDERS_MASK;
	if (status == KC_CLOSE_ACTIVE)
		info->state = KCORO_CHAN_STATE_OPEN;
	else if (status == KC_CLOSE_CLOSED)
		info->state = KCORO_CHAN_STATE_CLOSED;
	else
		info->state = KCORO_CHAN_STATE_CANCELLED;
	info->pending = 0;
	if (info->state != KCORO_CHAN_STATE_CANCELLED && s > r)
		info->pending = kc_count_pending(ch, r, s);
	kc_op_end();
	info->waiting_senders = kc_nr_waiting(ch, true);
	info->waiting_receivers = kc_nr_waiting(ch, false);
	info->ctx = ch->undelivered_ctx;
}
EXPORT_SYMBOL_GPL(kcoro_chan_get_snapshot);

/**
 * kcoro_chan_create() - create a channel
 * @attr: parameters, or NULL for a rendezvous channel
 *
 * May sleep.
 *
 * Return: the channel with one reference, or ERR_PTR(-EINVAL) for bad
 * attributes, ERR_PTR(-ENOMEM).
 */
struct kcoro_chan *kcoro_chan_create(const struct kcoro_chan_attr *attr)
{
	static const struct kcoro_chan_attr defaults;
	struct kcoro_chan *ch;
	struct kc_segment *seg;
	unsigned int seg_size;
	long cap;

	if (!attr)
		attr = &defaults;
	cap = attr->capacity;
	seg_size = attr->segment_size ?: READ_ONCE(chan_segment_size);
	if ((attr->flags & ~KCORO_CHAN_ACCOUNT) || cap < KCORO_CHAN_CONFLATED ||
	    (unsigned int)attr->overflow > KCORO_CHAN_DROP_LATEST ||
	    (cap == KCORO_CHAN_CONFLATED && attr->overflow == KCORO_CHAN_DROP_LATEST) ||
	    !seg_size || seg_size > KC_SEG_SIZE_MAX)
		return ERR_PTR(-EINVAL);

	ch = kzalloc(sizeof(*ch), GFP_KERNEL_ACCOUNT);
	if (!ch)
		return ERR_PTR(-ENOMEM);
	ch->seg_size = seg_size;
	ch->account = attr->flags & KCORO_CHAN_ACCOUNT;
	ch->undelivered = attr->undelivered;
	ch->undelivered_ctx = attr->undelivered_ctx;
	ch->release = attr->release;
	init_waitqueue_head(&ch->poll_wq);
	refcount_set(&ch->ref, 1);
	raw_spin_lock_init(&ch->lock);

	/* Kotlin's factory: drop policies make a ConflatedBufferedChannel. */
	if (cap == KCORO_CHAN_CONFLATED) {
		cap = 1;
		ch->drop_oldest = true;
	} else if (cap != KCORO_CHAN_UNLIMITED &&
		   attr->overflow != KCORO_CHAN_SUSPEND) {
		cap = max(cap, 1L);
		ch->drop_oldest = attr->overflow == KCORO_CHAN_DROP_OLDEST;
		ch->drop_latest = attr->overflow == KCORO_CHAN_DROP_LATEST;
	}
	if (cap == KCORO_CHAN_UNLIMITED) {
		ch->capacity = KC_BUFFER_END_UNLIMITED;
		ch->rendezvous_or_unlimited = true;
		atomic64_set(&ch->buffer_end, KC_BUFFER_END_UNLIMITED);
	} else {
		ch->capacity = cap;
		ch->rendezvous_or_unlimited = cap == 0;
		atomic64_set(&ch->buffer_end, cap);
		atomic64_set(&ch->completed_eb, cap);
	}

	seg = kc_seg_new(ch, GFP_KERNEL_ACCOUNT);
	if (!seg) {
		kfree(ch);
		return ERR_PTR(-ENOMEM);
	}
	seg->ch = ch;
	refcount_set(&seg->ref, 1);
	atomic_set(&seg->cleaned_and_pointers,
		   (ch->rendezvous_or_unlimited ? 2 : 3) << KC_POINTERS_SHIFT);
	ch->first = seg;
	ch->send_seg = seg;
	ch->recv_seg = seg;
	ch->eb_seg = ch->rendezvous_or_unlimited ? NULL : seg;
	atomic_long_inc(&kc_nr_channels);
	return ch;
}
EXPORT_SYMBOL_GPL(kcoro_chan_create);

/**
 * kcoro_chan_get() - take a reference on a channel
 * @ch: the channel (the caller already holds a reference)
 */
void kcoro_chan_get(struct kcoro_chan *ch)
{
	refcount_inc(&ch->ref);
}
EXPORT_SYMBOL_GPL(kcoro_chan_get);

/**
 * kcoro_chan_put() - drop a reference on a channel
 * @ch: the channel
 *
 * The last reference cancels the channel (remaining elements go to the
 * undelivered hook) and frees it.  May sleep.
 */
void kcoro_chan_put(struct kcoro_chan *ch)
{
	struct kc_segment *seg, *next;

	if (!refcount_dec_and_test(&ch->ref))
		return;
	kc_close_or_cancel(ch, true);
	for (seg = ch->first; seg; seg = next) {
		next = kc_seg_next(seg);
		kc_seg_put(seg);
	}
	if (ch->spare)
		kc_seg_free(ch->spare);
	if (ch->release)
		ch->release(ch, ch->undelivered_ctx);
	kfree(ch);
	atomic_long_dec(&kc_nr_channels);
}
EXPORT_SYMBOL_GPL(kcoro_chan_put);

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * kcoro_test_chan_check() - check the invariants of a quiescent channel
 * @ch: a channel on which no operation runs (every waiter gone)
 * @buf: where a broken invariant is described
 * @len: size of @buf
 *
 * For KUnit only.  Checks what must hold whenever no operation is in
 * flight: every expandBuffer started has completed and the pause flag is
 * clear; bufferEnd - receivers equals the capacity of an open buffered
 * channel (below it, cancelled receivers wait for an expandBuffer that
 * never comes, kc_wait_eb_completion()); the segment list holds no
 * removed segment, no segment every
 * head has passed, and each segment's pointer count is the number of
 * heads on it (no pin left behind, kc_seg_pin()).
 *
 * Return: 0, or -EINVAL with @buf saying what is wrong.
 */
int kcoro_test_chan_check(struct kcoro_chan *ch, char *buf, size_t len)
{
	struct kc_segment *heads[3], *seg, *min_head;
	u64 word, r, b, c, min_id;
	int ret = 0, nheads, k;
	unsigned int ptrs, want;

	word = atomic64_read(&ch->senders);
	r = kc_receivers_counter(ch);
	if (!ch->rendezvous_or_unlimited) {
		b = kc_buffer_end_counter(ch);
		c = atomic64_read(&ch->completed_eb);
		if (c & KC_EB_PAUSE) {
			snprintf(buf, len, "expandBuffer pause flag left set");
			return -EINVAL;
		}
		if (c != b) {
			snprintf(buf, len, "completed expandBuffers %llu, bufferEnd %llu",
				 c, b);
			return -EINVAL;
		}
		/*
		 * Only while the channel is open: after a close, a receiver
		 * that reserves a cell past the closed list's end pays no
		 * expandBuffer (Kotlin's findSegmentReceive() returns null),
		 * and no send can buffer any more, so the capacity no longer
		 * binds.
		 */
		if (kc_close_status(word) == KC_CLOSE_ACTIVE &&
		    b - r != ch->capacity) {
			snprintf(buf, len,
				 "bufferEnd %llu - receivers %llu != capacity %llu (close %d)",
				 b, r, ch->capacity, kc_close_status(word));
			return -EINVAL;
		}
	}

	nheads = 0;
	heads[nheads++] = READ_ONCE(ch->send_seg);
	heads[nheads++] = READ_ONCE(ch->recv_seg);
	if (!ch->rendezvous_or_unlimited)
		heads[nheads++] = READ_ONCE(ch->eb_seg);
	min_head = heads[0];
	for (k = 0; k < nheads; k++) {
		if (heads[k]->id < min_head->id)
			min_head = heads[k];
	}
	min_id = min_head->id;

	kc_chan_reclaim(ch);
	raw_spin_lock(&ch->lock);
	for (k = 0; k < nheads; k++) {
		if (heads[k]->detached) {
			snprintf(buf, len, "head %d on detached segment %llu",
				 k, heads[k]->id);
			ret = -EINVAL;
			goto out;
		}
	}
	for (seg = ch->first; seg; seg = kc_seg_next(seg)) {
		want = 0;
		for (k = 0; k < nheads; k++)
			want += heads[k] == seg;
		ptrs = atomic_read(&seg->cleaned_and_pointers) >> KC_POINTERS_SHIFT;
		if (ptrs != want) {
			snprintf(buf, len, "segment %llu has %u pointers, %u heads",
				 seg->id, ptrs, want);
			ret = -EINVAL;
			break;
		}
		if (seg->id < min_id) {
			snprintf(buf, len, "segment %llu linked behind every head (lowest %llu)",
				 seg->id, min_id);
			ret = -EINVAL;
			break;
		}
		if (kc_seg_is_removed(seg)) {
			snprintf(buf, len, "removed segment %llu still linked",
				 seg->id);
			ret = -EINVAL;
			break;
		}
	}
out:
	raw_spin_unlock(&ch->lock);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(kcoro_test_chan_check);
#endif

/**
 * kcoro_chan_get_stats() - read the module-wide channel counters
 * @stats: filled in
 *
 * Segments are freed after an RCU grace period, so a test that wants the
 * count to settle calls rcu_barrier() first.
 */
void kcoro_chan_get_stats(struct kcoro_chan_stats *stats)
{
	int cpu;

	stats->channels = atomic_long_read(&kc_nr_channels);
	stats->segments = atomic_long_read(&kc_nr_segments);
	stats->eb_stalls = atomic_long_read(&kc_nr_eb_stalls);
	stats->segment_waits = atomic_long_read(&kc_nr_segment_waits);
	stats->waiters = 0;
	for_each_possible_cpu(cpu)
		stats->waiters += READ_ONCE(per_cpu(kc_nr_waiters, cpu));
}
EXPORT_SYMBOL_GPL(kcoro_chan_get_stats);
