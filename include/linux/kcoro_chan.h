/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcoro channels - in-kernel API.
 *
 * A channel carries pointer-sized elements (void *) from senders to
 * receivers, each element exactly once.  The algorithm is Kotlin's
 * BufferedChannel (Koval, Alistarh, Elizarov, PPoPP 2023): an infinite
 * array of cells in linked segments, send/receive positions taken by
 * fetch-and-add, and expandBuffer for buffered channels.  See
 * Documentation/kcoro/channels.rst.
 *
 * Every operation works from a kcoro coroutine (it parks) and from a thread
 * in process context (it sleeps interruptibly).  Operations must not be
 * called from interrupt context or with a spinlock held.
 */
#ifndef _LINUX_KCORO_CHAN_H
#define _LINUX_KCORO_CHAN_H

#include <linux/bits.h>
#include <linux/types.h>
#include <linux/ktime.h>
#include <linux/poll.h>

struct kcoro_chan;

/* kcoro_chan_attr.capacity */
#define KCORO_CHAN_RENDEZVOUS	0	/* a send waits for its receiver */
#define KCORO_CHAN_UNLIMITED	(-1)	/* sends never wait */
#define KCORO_CHAN_CONFLATED	(-2)	/* one slot, a send replaces it */

/**
 * enum kcoro_chan_overflow - what a send does when the buffer is full
 * @KCORO_CHAN_SUSPEND: wait for room (the only policy for rendezvous
 *	channels without dropping)
 * @KCORO_CHAN_DROP_OLDEST: drop the oldest buffered element (it goes to
 *	the undelivered hook) and buffer the new one; never waits
 * @KCORO_CHAN_DROP_LATEST: drop the element being sent (it goes to the
 *	undelivered hook: send, try-send and select alike); never waits
 */
enum kcoro_chan_overflow {
	KCORO_CHAN_SUSPEND,
	KCORO_CHAN_DROP_OLDEST,
	KCORO_CHAN_DROP_LATEST,
};

/**
 * typedef kcoro_chan_undelivered_fn - the undelivered-element hook
 * @ch: the channel
 * @elem: an element that will never be received
 * @ctx: kcoro_chan_attr.undelivered_ctx
 *
 * Called exactly once for every element that was handed to a blocking
 * send but will never be received: the send failed because the channel
 * was closed or cancelled, the sending coroutine or thread was cancelled
 * (timeout, signal, kcoro_cancel()), the channel was cancelled with the
 * element buffered, or a drop policy dropped it.  Never called for a
 * failed try-send (the element stays with the caller).  Runs in the
 * context of whoever discards the element, in process context, and must
 * not sleep or call back into the channel.
 */
typedef void (*kcoro_chan_undelivered_fn)(struct kcoro_chan *ch, void *elem,
					  void *ctx);

/**
 * typedef kcoro_chan_release_fn - called when a channel is freed
 * @ch: the channel, after its last reference was dropped and every
 *	remaining element went to the undelivered hook; only its address
 *	is meaningful now
 * @ctx: kcoro_chan_attr.undelivered_ctx
 *
 * Lets the owner of @ctx free it once no hook can run any more.  May
 * sleep if the kcoro_chan_put() that freed the channel may.
 */
typedef void (*kcoro_chan_release_fn)(struct kcoro_chan *ch, void *ctx);

/*
 * kcoro_chan_attr.flags: charge every segment (and the channel) to the
 * memory cgroup of the task whose operation allocates it, as for memory
 * allocated on a user's behalf.
 */
#define KCORO_CHAN_ACCOUNT	BIT(0)

/**
 * struct kcoro_chan_attr - channel parameters
 * @capacity: %KCORO_CHAN_RENDEZVOUS, a buffer size > 0,
 *	%KCORO_CHAN_UNLIMITED or %KCORO_CHAN_CONFLATED
 * @overflow: the &enum kcoro_chan_overflow policy (conflated channels are
 *	DROP_OLDEST by definition)
 * @undelivered: optional undelivered-element hook
 * @undelivered_ctx: passed to @undelivered and @release
 * @release: optional, called once the channel is freed
 * @flags: 0 or %KCORO_CHAN_ACCOUNT
 * @segment_size: cells per segment, 0 for the default (32); a test knob:
 *	Kotlin's stress tests shrink segments to 1 or 2 cells to hit races
 */
struct kcoro_chan_attr {
	long capacity;
	enum kcoro_chan_overflow overflow;
	kcoro_chan_undelivered_fn undelivered;
	void *undelivered_ctx;
	kcoro_chan_release_fn release;
	unsigned int flags;
	unsigned int segment_size;
};

struct kcoro_chan *kcoro_chan_create(const struct kcoro_chan_attr *attr);
void kcoro_chan_get(struct kcoro_chan *ch);
void kcoro_chan_put(struct kcoro_chan *ch);

int kcoro_chan_send(struct kcoro_chan *ch, void *elem);
int kcoro_chan_send_timeout(struct kcoro_chan *ch, void *elem, s64 timeout_ns);
int kcoro_chan_try_send(struct kcoro_chan *ch, void *elem);
int kcoro_chan_recv(struct kcoro_chan *ch, void **elem);
int kcoro_chan_recv_timeout(struct kcoro_chan *ch, void **elem, s64 timeout_ns);
int kcoro_chan_try_recv(struct kcoro_chan *ch, void **elem);
int kcoro_chan_send_deadline(struct kcoro_chan *ch, void *elem,
			     ktime_t deadline);
int kcoro_chan_recv_deadline(struct kcoro_chan *ch, void **elem,
			     ktime_t deadline);
__poll_t kcoro_chan_poll(struct kcoro_chan *ch, struct file *file,
			 poll_table *pt);

struct kcoro_chan_async;

/**
 * typedef kcoro_chan_notify_fn - completion callback of an async request
 * @a: the request
 *
 * Runs in the context that completed the request, atomic, inside the
 * channel: must not sleep or call into the channel.
 */
typedef void (*kcoro_chan_notify_fn)(struct kcoro_chan_async *a);

/**
 * struct kcoro_chan_async - a send or receive that completes in the
 *	background (the callback waiter, e.g. for poll)
 * @notify: called once when another party completes the request
 * @priv: kcoro's
 */
struct kcoro_chan_async {
	kcoro_chan_notify_fn notify;
	unsigned long priv[12];
};

int kcoro_chan_send_async(struct kcoro_chan *ch, void *elem,
			  struct kcoro_chan_async *a);
int kcoro_chan_recv_async(struct kcoro_chan *ch, struct kcoro_chan_async *a,
			  void **elem);
int kcoro_chan_async_complete(struct kcoro_chan *ch,
			      struct kcoro_chan_async *a, void **elem);

/* kcoro_select_clause.op */
#define KCORO_SELECT_SEND	1
#define KCORO_SELECT_RECV	2

/* kcoro_select() flags */
#define KCORO_SELECT_BIASED	0x1	/* prefer clauses in array order */
#define KCORO_SELECT_DEFAULT	0x2	/* never wait: -EAGAIN if none is ready */

#define KCORO_SELECT_MAX	64

/**
 * struct kcoro_select_clause - one operation of a select
 * @ch: the channel
 * @op: %KCORO_SELECT_SEND or %KCORO_SELECT_RECV
 * @elem: send: the element; receive: where the element is stored
 * @result: set for the clause that completed: 0, or -EPIPE when its
 *	channel was closed (a receive: closed and drained, or cancelled)
 */
struct kcoro_select_clause {
	struct kcoro_chan *ch;
	int op;
	void *elem;
	int result;
};

int kcoro_select(struct kcoro_select_clause *c, unsigned int n,
		 unsigned int flags, ktime_t deadline);

bool kcoro_chan_close(struct kcoro_chan *ch);
bool kcoro_chan_cancel(struct kcoro_chan *ch);
bool kcoro_chan_is_closed_for_send(struct kcoro_chan *ch);
bool kcoro_chan_is_closed_for_recv(struct kcoro_chan *ch);

/**
 * struct kcoro_chan_stats - module-wide channel counters (tests, debugging)
 * @channels: channels not yet freed
 * @segments: segments allocated and not yet freed
 * @waiters: suspended send/receive requests
 * @eb_stalls: cancelled receivers that waited 10 s for an expandBuffer
 *	that never came (a bug: each is reported with a WARN)
 * @segment_waits: receivers that reserved a cell whose segment they could
 *	not allocate in their atomic section and waited for memory
 */
struct kcoro_chan_stats {
	long channels;
	long segments;
	long waiters;
	long eb_stalls;
	long segment_waits;
};

void kcoro_chan_get_stats(struct kcoro_chan_stats *stats);

/* kcoro_chan_snapshot.state */
enum {
	KCORO_CHAN_STATE_OPEN,
	KCORO_CHAN_STATE_CLOSED,	/* closed for send; receivers drain */
	KCORO_CHAN_STATE_CANCELLED,	/* cancelled: nothing left to receive */
};

/**
 * struct kcoro_chan_snapshot - one channel's state
 * @state: KCORO_CHAN_STATE_*
 * @pending: elements a receive could still get (buffered elements and
 *	suspended senders; not the cells of failed sends): a hint
 * @ctx: kcoro_chan_attr.undelivered_ctx
 * @waiting_senders: send requests suspended in the channel now (blocking
 *	sends, asynchronous sends, select send clauses)
 * @waiting_receivers: the same for receive requests
 *
 * A request counts as waiting from the moment it stores itself in its
 * cell until a peer, close, cancel or its own cancellation takes it out
 * again; a blocking call no longer counts once it has returned.
 */
struct kcoro_chan_snapshot {
	int state;
	u64 pending;
	void *ctx;
	u64 waiting_senders;
	u64 waiting_receivers;
};

void kcoro_chan_get_snapshot(struct kcoro_chan *ch,
			     struct kcoro_chan_snapshot *info);

/*
 * Channels of /dev/kcoro file descriptors carry messages: each element is
 * a struct kcoro_mbuf, allocated with kcoro_mbuf_alloc() for that channel
 * and freed by whoever receives it.
 */

/**
 * struct kcoro_mbuf - a message of a channel created through /dev/kcoro
 * @len: bytes in @data
 * @data: the message
 */
struct kcoro_mbuf {
	u32 len;
	/* private: */
	u32 size_class;
	void *user;
	/* public: */
	u8 data[] __aligned(8);
};

struct kcoro_chan *kcoro_chan_fdget(int fd);
struct kcoro_mbuf *kcoro_mbuf_alloc(struct kcoro_chan *ch, size_t len);
void kcoro_mbuf_free(struct kcoro_mbuf *m);

#endif /* _LINUX_KCORO_CHAN_H */
