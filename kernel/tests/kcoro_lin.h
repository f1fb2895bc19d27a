/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A linearizability checker for histories of one kcoro channel.
 *
 * Shared by the KUnit suite kernel/tests/lin_test.c, which records short
 * concurrent histories and checks each one as it ends, and by the
 * userspace self-test tools/testing/kcoro-lin/lin_selftest.c, which feeds
 * it hand-written histories, linearizable and not.  Plain C: the includer
 * provides the types and lin_zalloc()/lin_free() (the kernel ones below,
 * or tools/testing/kcoro-lin/lin_user.h).
 *
 * A history is a set of events, each with an invocation and a response
 * tick of one global counter (taken just before the call and just after
 * it returns, so tick order is real-time order): the operations and their
 * results, one LIN_HOOK event per call of the undelivered hook (the
 * element and the tick at which the hook ran), and a LIN_DESTROY event for
 * the final kcoro_chan_put() after every operation has returned.
 *
 * The check is Wing and Gong's, with Lowe's memoization: a depth-first
 * search for an order of atomic steps, one or two per operation, that
 * respects real time (a step of an operation may be taken only once every
 * operation that responded before it was invoked has taken all of its
 * steps) and that the sequential specification below accepts with the
 * recorded results.  A state already explored is not explored again: the
 * state is the set of steps taken plus the abstract channel, so the search
 * is polynomial for the short histories it is given.
 *
 * The sequential specification (Documentation/kcoro/channels.rst,
 * Kotlin's BufferedChannel):
 *
 * - The channel holds a FIFO queue of elements, each with its sender.  The
 *   first cap of them are buffered (their sends have returned or will
 *   return 0); the others belong to senders that wait.  Or it holds a
 *   FIFO queue of waiting receivers (only when there are no elements).
 * - send: closed or cancelled: -EPIPE (a blocking send hands its element
 *   to the hook, a try-send keeps it).  A receiver waits: the element is
 *   its, both return 0 (a rendezvous: one step that must lie within both
 *   operations).  Room in the buffer: buffered, 0.  Full: drop-oldest
 *   hands the oldest to the hook and buffers the element, 0; drop-latest
 *   hands the element to the hook, 0 (try-send too: kcoro's rule); else a
 *   try-send fails with -EAGAIN and a send queues up and waits.  A
 *   try-send that succeeds may also have waited inside its own interval
 *   (it met a receive in progress).
 * - A try-receive that gets an element may likewise have waited inside its
 *   own interval: kcoro, like Kotlin, lets a send that finds its cell
 *   reserved by a receive in progress hand the element over, and two
 *   overlapping non-blocking calls on a rendezvous channel can meet.
 * - receive: an element: taken, 0; its sender, if it waited, returns 0;
 *   the first waiting sender that the receive brings into the buffer
 *   returns 0 (expandBuffer).  Else closed or cancelled: -EPIPE.  Else a
 *   try-receive fails with -EAGAIN and a receive waits.
 * - A waiting operation ends with one of those joint steps, or with close
 *   (receivers: -EPIPE) or cancel (senders and receivers: -EPIPE, the
 *   senders' elements to the hook), or aborts on its own (-ETIMEDOUT,
 *   -ECANCELED, -EINTR): it leaves the queue as if it had never been in
 *   it, and a sender's element goes to the hook.  Completion wins over a
 *   late abort, so an aborted operation must still have been waiting.
 *   One exception, a weaker rule: a blocking send that aborts while
 *   another send overlaps it may abort with room in the buffer.  kcoro,
 *   like Kotlin's BufferedChannel, decides that a send waits by counting
 *   the cells that concurrent sends reserved but have not written yet, and
 *   such a reservation can still fail (a receive poisons the unwritten
 *   cell, the send moves on), so the buffer need never have been full.
 *   The abort then takes no element and hands the send's to the hook.
 * - close returns whether the channel was open; waiting receivers fail,
 *   elements and waiting senders stay (receivers drain them, then -EPIPE).
 * - cancel returns whether the channel was open (neither closed nor
 *   cancelled); every element, buffered or of a waiting sender, goes to
 *   the hook; waiting senders and receivers fail with -EPIPE.
 * - The hook is called once per element it is handed, at or after the
 *   step that hands it over, and for no other element.
 */
#ifndef _KCORO_LIN_H
#define _KCORO_LIN_H

#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/types.h>

#define lin_zalloc(size)	kvzalloc(size, GFP_KERNEL)
#define lin_free(p)		kvfree(p)
#endif

#define LIN_MAX_EV	64	/* events of one history: a u64 mask */
#define LIN_MAX_Q	32	/* elements or waiters in the model */

/* struct lin_ev.op */
enum {
	LIN_SEND,	/* kcoro_chan_send(), _timeout(), _deadline() */
	LIN_TRY_SEND,	/* kcoro_chan_try_send() */
	LIN_RECV,	/* kcoro_chan_recv(), _timeout(), _deadline() */
	LIN_TRY_RECV,	/* kcoro_chan_try_recv() */
	LIN_CLOSE,	/* kcoro_chan_close(): res is its return value */
	LIN_CANCEL,	/* kcoro_chan_cancel(): res is its return value */
	LIN_DESTROY,	/* the last kcoro_chan_put(): a cancel, no result */
	LIN_HOOK,	/* the undelivered hook ran with val, at inv == resp */
	LIN_NR_OPS
};

/* struct lin_spec.policy */
enum {
	LIN_SUSPEND,
	LIN_DROP_OLDEST,
	LIN_DROP_LATEST,
};

#define LIN_UNLIMITED	(-1L)

/**
 * struct lin_spec - the channel a history ran on
 * @cap: 0 (rendezvous), n > 0, or %LIN_UNLIMITED; a conflated channel is
 *	capacity 1 with drop-oldest
 * @policy: LIN_SUSPEND, LIN_DROP_OLDEST or LIN_DROP_LATEST
 */
struct lin_spec {
	long cap;
	int policy;
};

/**
 * struct lin_ev - one event of a history
 * @inv: tick just before the call (hook: when it ran)
 * @resp: tick just after it returned (hook: == @inv)
 * @val: send: the element; receive with @res 0: the element received;
 *	hook: the element handed to it
 * @res: 0 or a negative errno; close and cancel: 1 (true) or 0
 * @op: LIN_SEND ... LIN_HOOK
 * @actor: who ran it (for the report only)
 */
struct lin_ev {
	u64 inv, resp;
	u64 val;
	int res;
	u8 op;
	u8 actor;
};

/* Results of lin_check(). */
enum {
	LIN_OK,		/* linearizable */
	LIN_VIOLATION,	/* no linearization exists */
	LIN_MALFORMED,	/* too many events, ticks out of order, ... */
	LIN_GAVE_UP,	/* the memo table filled up: undecided */
};

/* The abstract channel plus the steps taken: the memoized search state. */
#define LIN_OPEN	0
#define LIN_CLOSED	1
#define LIN_CANCELLED	2

struct lin_state {
	u64 done;	/* events that took their last step */
	u64 waiting;	/* operations that took their first step and wait */
	u64 hooked;	/* sends whose element the model handed to the hook,
			 * not yet matched with a LIN_HOOK event
			 */
	u8 status;	/* LIN_OPEN, LIN_CLOSED, LIN_CANCELLED */
	u8 nq;		/* entries in q */
	u8 q_recv;	/* q holds waiting receivers, not elements */
	u8 q[LIN_MAX_Q];	/* event indices; unused entries are 0 */
};

struct lin_memo {
	u32 gen;
	u32 hash;
	struct lin_state st;
};

struct lin_frame {
	struct lin_state st;
	unsigned int next;	/* next event whose step to try */
};

/**
 * struct lin_checker - a checker, reused for many histories
 * @memo: open-addressing hash set of explored states
 * @memo_size: its entries, a power of two
 * @memo_used: entries of the current generation
 * @gen: generation: bumped per history instead of clearing @memo
 * @stack: the search's frames
 * @ev: the history being checked
 * @n: its events
 * @spec: its channel
 * @pred: per event, the events that responded before it was invoked
 * @match: per receive (res 0) or hook event, the send of its element, or -1
 * @all: the mask of every event
 * @states: states explored by the last lin_check()
 * @why: for LIN_MALFORMED, what is wrong
 */
struct lin_checker {
	struct lin_memo *memo;
	unsigned int memo_size, memo_used;
	u32 gen;
	struct lin_frame *stack;
	const struct lin_ev *ev;
	unsigned int n;
	struct lin_spec spec;
	u64 pred[LIN_MAX_EV];
	s8 match[LIN_MAX_EV];
	u64 all;
	u64 send_overlap;	/* events that another send overlaps */
	unsigned long states;
	const char *why;
};

static inline int lin_checker_init(struct lin_checker *c, unsigned int order)
{
	memset(c, 0, sizeof(*c));
	c->memo_size = 1U << order;
	c->memo = lin_zalloc(sizeof(*c->memo) * c->memo_size);
	c->stack = lin_zalloc(sizeof(*c->stack) * (2 * LIN_MAX_EV + 2));
	if (!c->memo || !c->stack) {
		lin_free(c->memo);
		lin_free(c->stack);
		return -ENOMEM;
	}
	return 0;
}

static inline void lin_checker_free(struct lin_checker *c)
{
	lin_free(c->memo);
	lin_free(c->stack);
}

static inline u32 lin_hash(const struct lin_state *st)
{
	const u8 *p = (const u8 *)st;
	u32 h = 2166136261U;
	size_t i;

	for (i = 0; i < sizeof(*st); i++)
		h = (h ^ p[i]) * 16777619U;
	return h ?: 1;
}

/* Insert @st: 1 if new, 0 if already explored, -1 if the table is full. */
static inline int lin_memo_insert(struct lin_checker *c, const struct lin_state *st)
{
	u32 h = lin_hash(st), mask = c->memo_size - 1, i;
	struct lin_memo *m;

	if (c->memo_used >= c->memo_size / 4 * 3)
		return -1;
	for (i = h & mask;; i = (i + 1) & mask) {
		m = &c->memo[i];
		if (m->gen != c->gen) {
			m->gen = c->gen;
			m->hash = h;
			m->st = *st;
			c->memo_used++;
			return 1;
		}
		if (m->hash == h && !memcmp(&m->st, st, sizeof(*st)))
			return 0;
	}
}

static inline bool lin_is_abort(int res)
{
	return res == -ETIMEDOUT || res == -ECANCELED || res == -EINTR;
}

/* Results a blocking operation that starts to wait can still end with. */
static inline bool lin_can_wait(int res)
{
	return !res || res == -EPIPE || lin_is_abort(res);
}

static inline void lin_q_push(struct lin_state *st, unsigned int e)
{
	st->q[st->nq++] = e;
}

static inline unsigned int lin_q_pop(struct lin_state *st)
{
	unsigned int e = st->q[0];

	memmove(st->q, st->q + 1, --st->nq);
	st->q[st->nq] = 0;
	if (!st->nq)
		st->q_recv = 0;
	return e;
}

static inline void lin_q_remove(struct lin_state *st, unsigned int e)
{
	unsigned int i;

	for (i = 0; i < st->nq && st->q[i] != e; i++)
		;
	memmove(st->q + i, st->q + i + 1, st->nq - i - 1);
	st->q[--st->nq] = 0;
	if (!st->nq)
		st->q_recv = 0;
}

static inline void lin_q_clear(struct lin_state *st)
{
	memset(st->q, 0, sizeof(st->q));
	st->nq = 0;
	st->q_recv = 0;
}

/* The waiting operation @w completes with @res in another one's step. */
static inline bool lin_complete(struct lin_checker *c, struct lin_state *st,
				unsigned int w, int res)
{
	if (c->ev[w].res != res)
		return false;
	st->waiting &= ~(1ULL << w);
	st->done |= 1ULL << w;
	return true;
}

static inline bool lin_step_send(struct lin_checker *c, struct lin_state *st,
				 unsigned int e)
{
	const struct lin_ev *ev = &c->ev[e];
	bool try = ev->op == LIN_TRY_SEND;
	u64 bit = 1ULL << e;
	unsigned int h;

	if (st->status != LIN_OPEN) {
		if (ev->res != -EPIPE)
			return false;
		if (!try)
			st->hooked |= bit;
		st->done |= bit;
		return true;
	}
	if (st->q_recv) {
		h = lin_q_pop(st);
		if (ev->res || c->match[h] != (s8)e)
			return false;
		st->done |= bit;
		return lin_complete(c, st, h, 0);
	}
	if (c->spec.cap == LIN_UNLIMITED || st->nq < c->spec.cap) {
		/* The weaker rule for aborted sends (top of this file). */
		if (!try && lin_is_abort(ev->res) && (c->send_overlap & bit)) {
			st->hooked |= bit;
			st->done |= bit;
			return true;
		}
		if (ev->res || st->nq >= LIN_MAX_Q)
			return false;
		lin_q_push(st, e);
		st->done |= bit;
		return true;
	}
	if (c->spec.policy == LIN_DROP_OLDEST) {
		if (ev->res || !st->nq)
			return false;
		st->hooked |= 1ULL << lin_q_pop(st);
		lin_q_push(st, e);
		st->done |= bit;
		return true;
	}
	if (c->spec.policy == LIN_DROP_LATEST) {
		if (ev->res)
			return false;
		st->hooked |= bit;
		st->done |= bit;
		return true;
	}
	if (try && ev->res == -EAGAIN) {
		st->done |= bit;
		return true;
	}
	/*
	 * A try-send that succeeds here met a receive in progress: it
	 * waited inside its own interval (see lin_step_recv()).
	 */
	if ((try ? ev->res : !lin_can_wait(ev->res)) || st->nq >= LIN_MAX_Q)
		return false;
	lin_q_push(st, e);
	st->waiting |= bit;
	return true;
}

static inline bool lin_step_recv(struct lin_checker *c, struct lin_state *st,
				 unsigned int e)
{
	const struct lin_ev *ev = &c->ev[e];
	u64 bit = 1ULL << e;
	unsigned int h, s;

	if (st->nq && !st->q_recv) {
		h = lin_q_pop(st);
		if (ev->res || c->match[e] != (s8)h)
			return false;
		st->done |= bit;
		if ((st->waiting & (1ULL << h)) && !lin_complete(c, st, h, 0))
			return false;
		/* expandBuffer: the receive makes room for one waiting sender. */
		if (c->spec.cap > 0 && st->nq >= c->spec.cap) {
			s = st->q[c->spec.cap - 1];
			if ((st->waiting & (1ULL << s)) && !lin_complete(c, st, s, 0))
				return false;
		}
		return true;
	}
	if (st->status != LIN_OPEN) {
		if (ev->res != -EPIPE)
			return false;
		st->done |= bit;
		return true;
	}
	if (ev->op == LIN_TRY_RECV && ev->res == -EAGAIN) {
		st->done |= bit;
		return true;
	}
	/*
	 * A try-receive that gets an element here waits inside its own
	 * interval: as in Kotlin, a try-send (or send) that finds the cell
	 * already reserved by a receive in progress hands the element to it,
	 * and that receive may be a try-receive, so two non-blocking calls
	 * on a rendezvous channel can meet when they overlap.
	 */
	if ((ev->op == LIN_TRY_RECV ? ev->res : !lin_can_wait(ev->res)) ||
	    st->nq >= LIN_MAX_Q)
		return false;
	lin_q_push(st, e);
	st->q_recv = 1;
	st->waiting |= bit;
	return true;
}

static inline bool lin_step_cancel(struct lin_checker *c, struct lin_state *st,
				   unsigned int e)
{
	const struct lin_ev *ev = &c->ev[e];
	int was_open = st->status == LIN_OPEN;
	unsigned int i, w;

	if (ev->op == LIN_CANCEL && ev->res != was_open)
		return false;
	st->status = LIN_CANCELLED;
	for (i = 0; i < st->nq; i++) {
		w = st->q[i];
		if (!st->q_recv)
			st->hooked |= 1ULL << w;
		if ((st->waiting & (1ULL << w)) && !lin_complete(c, st, w, -EPIPE))
			return false;
	}
	lin_q_clear(st);
	st->done |= 1ULL << e;
	return true;
}

static inline bool lin_step_close(struct lin_checker *c, struct lin_state *st,
				  unsigned int e)
{
	int was_open = st->status == LIN_OPEN;
	unsigned int i;

	if (c->ev[e].res != was_open)
		return false;
	if (was_open) {
		st->status = LIN_CLOSED;
		if (st->q_recv) {
			for (i = 0; i < st->nq; i++) {
				if (!lin_complete(c, st, st->q[i], -EPIPE))
					return false;
			}
			lin_q_clear(st);
		}
	}
	st->done |= 1ULL << e;
	return true;
}

/*
 * The next step of event @e from @st into @st (a copy the caller may
 * discard): false if @e cannot take a step now with its recorded result.
 */
static inline bool lin_step(struct lin_checker *c, struct lin_state *st,
			    unsigned int e)
{
	const struct lin_ev *ev = &c->ev[e];
	u64 bit = 1ULL << e;
	int s;

	if (st->done & bit)
		return false;
	if (st->waiting & bit) {
		/* A waiting operation's own step: it gives up. */
		if (!lin_is_abort(ev->res))
			return false;
		lin_q_remove(st, e);
		if (ev->op == LIN_SEND)
			st->hooked |= bit;
		st->waiting &= ~bit;
		st->done |= bit;
		return true;
	}
	if (c->pred[e] & ~st->done)
		return false;
	switch (ev->op) {
	case LIN_SEND:
	case LIN_TRY_SEND:
		return lin_step_send(c, st, e);
	case LIN_RECV:
	case LIN_TRY_RECV:
		return lin_step_recv(c, st, e);
	case LIN_CLOSE:
		return lin_step_close(c, st, e);
	case LIN_CANCEL:
	case LIN_DESTROY:
		return lin_step_cancel(c, st, e);
	case LIN_HOOK:
		s = c->match[e];
		if (s < 0 || !(st->hooked & (1ULL << s)))
			return false;
		st->hooked &= ~(1ULL << s);
		st->done |= bit;
		return true;
	}
	return false;
}

/* Index the history: real-time predecessors, the send of each element. */
static inline int lin_prepare(struct lin_checker *c)
{
	const struct lin_ev *ev = c->ev;
	unsigned int i, j;

	if (c->n > LIN_MAX_EV) {
		c->why = "too many events";
		return LIN_MALFORMED;
	}
	if (c->spec.cap > LIN_MAX_Q ||
	    (c->spec.policy != LIN_SUSPEND && c->spec.cap < 1)) {
		c->why = "bad channel";
		return LIN_MALFORMED;
	}
	c->all = c->n == 64 ? ~0ULL : (1ULL << c->n) - 1;
	c->send_overlap = 0;
	for (i = 0; i < c->n; i++) {
		if (ev[i].op >= LIN_NR_OPS || ev[i].resp < ev[i].inv) {
			c->why = "bad event";
			return LIN_MALFORMED;
		}
		c->pred[i] = 0;
		c->match[i] = -1;
		for (j = 0; j < c->n; j++) {
			if (ev[j].resp < ev[i].inv)
				c->pred[i] |= 1ULL << j;
			if (i != j && (ev[j].op == LIN_SEND || ev[j].op == LIN_TRY_SEND) &&
			    ev[j].inv <= ev[i].resp && ev[i].inv <= ev[j].resp)
				c->send_overlap |= 1ULL << i;
			if (i != j && (ev[i].op == LIN_SEND || ev[i].op == LIN_TRY_SEND) &&
			    (ev[j].op == LIN_SEND || ev[j].op == LIN_TRY_SEND) &&
			    ev[i].val == ev[j].val) {
				c->why = "two sends of one element";
				return LIN_MALFORMED;
			}
		}
		if ((ev[i].op == LIN_RECV || ev[i].op == LIN_TRY_RECV ||
		     ev[i].op == LIN_HOOK) && !ev[i].res) {
			for (j = 0; j < c->n; j++) {
				if ((ev[j].op == LIN_SEND || ev[j].op == LIN_TRY_SEND) &&
				    ev[j].val == ev[i].val)
					c->match[i] = j;
			}
		}
	}
	return LIN_OK;
}

/**
 * lin_check() - is a channel history linearizable?
 * @c: the checker
 * @spec: the channel
 * @ev: the events, in any order
 * @n: how many
 *
 * Return: LIN_OK, LIN_VIOLATION, LIN_MALFORMED (@c->why says why) or
 * LIN_GAVE_UP (more states than the memo table holds).
 */
static inline int lin_check(struct lin_checker *c, const struct lin_spec *spec,
			    const struct lin_ev *ev, unsigned int n)
{
	struct lin_frame *f;
	struct lin_state st;
	unsigned int sp = 0;
	int ret;

	c->ev = ev;
	c->n = n;
	c->spec = *spec;
	c->why = NULL;
	c->states = 0;
	ret = lin_prepare(c);
	if (ret != LIN_OK)
		return ret;
	if (!++c->gen)
		c->gen = 1;
	c->memo_used = 0;
	memset(&c->stack[0], 0, sizeof(c->stack[0]));
	lin_memo_insert(c, &c->stack[0].st);
	sp = 1;
	while (sp) {
		f = &c->stack[sp - 1];
		if (f->st.done == c->all && !f->st.hooked)
			return LIN_OK;
		for (; f->next < n; f->next++) {
			st = f->st;
			if (!lin_step(c, &st, f->next))
				continue;
			ret = lin_memo_insert(c, &st);
			if (ret < 0)
				return LIN_GAVE_UP;
			if (!ret)
				continue;
			c->states++;
			break;
		}
		if (f->next >= n) {
			sp--;
			continue;
		}
		f->next++;
		/* Every step marks an event done or waiting: depth <= 2n. */
		c->stack[sp].st = st;
		c->stack[sp].next = 0;
		sp++;
	}
	return LIN_VIOLATION;
}

static const char * const lin_op_name[LIN_NR_OPS] = {
	[LIN_SEND] = "send", [LIN_TRY_SEND] = "try_send",
	[LIN_RECV] = "recv", [LIN_TRY_RECV] = "try_recv",
	[LIN_CLOSE] = "close", [LIN_CANCEL] = "cancel",
	[LIN_DESTROY] = "destroy", [LIN_HOOK] = "hook",
};

/* One event, for a report: "a2 recv [12,19] -> 0 #5" */
static inline int lin_format(char *buf, size_t len, const struct lin_ev *ev)
{
	const char *op = ev->op < LIN_NR_OPS ? lin_op_name[ev->op] : "?";

	switch (ev->op) {
	case LIN_SEND:
	case LIN_TRY_SEND:
		return snprintf(buf, len, "a%u %s #%llu [%llu,%llu] -> %d", ev->actor, op,
				(unsigned long long)ev->val, (unsigned long long)ev->inv,
				(unsigned long long)ev->resp, ev->res);
	case LIN_RECV:
	case LIN_TRY_RECV:
		if (!ev->res)
			return snprintf(buf, len, "a%u %s [%llu,%llu] -> 0 #%llu", ev->actor, op,
					(unsigned long long)ev->inv,
					(unsigned long long)ev->resp,
					(unsigned long long)ev->val);
		break;
	case LIN_HOOK:
		return snprintf(buf, len, "hook #%llu [%llu]", (unsigned long long)ev->val,
				(unsigned long long)ev->inv);
	}
	return snprintf(buf, len, "a%u %s [%llu,%llu] -> %d", ev->actor, op,
			(unsigned long long)ev->inv, (unsigned long long)ev->resp, ev->res);
}

#endif /* _KCORO_LIN_H */
