/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kcoro userspace ABI: /dev/kcoro and channel file descriptors.
 *
 * Open /dev/kcoro and create channels with KCORO_IOC_CHAN_CREATE; each
 * channel is a file descriptor (anon inode "[kcoro-chan]") carrying
 * messages of 0 to max_msg_size bytes, each received exactly once.
 * Channel fds are shared like any fd (fork, SCM_RIGHTS) and with kernel
 * coroutines.  See Documentation/kcoro/abi.rst.
 *
 * Rules of every struct here: fixed layout with explicit padding, the same
 * on 32-bit and 64-bit userspace; pointers are __u64; reserved fields and
 * unknown flags must be zero (-EINVAL).  Structs that start with a size
 * field may grow: the kernel accepts any size from the first published one
 * (KCORO_*_SIZE_VER0) upwards, provided the bytes it does not know are
 * zero (-E2BIG otherwise).
 */
#ifndef _UAPI_LINUX_KCORO_H
#define _UAPI_LINUX_KCORO_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KCORO_DEVICE		"/dev/kcoro"

/* kcoro_chan_create.capacity */
#define KCORO_CAP_RENDEZVOUS	0	/* a send waits for its receiver */
#define KCORO_CAP_UNLIMITED	(-1)	/* sends never wait */
#define KCORO_CAP_CONFLATED	(-2)	/* one slot; a send replaces it */

/* kcoro_chan_create.overflow: what a send does when the buffer is full */
#define KCORO_OVERFLOW_SUSPEND		0	/* wait for room */
#define KCORO_OVERFLOW_DROP_OLDEST	1	/* drop the oldest buffered message */
#define KCORO_OVERFLOW_DROP_LATEST	2	/* drop the message being sent */

/*
 * What a message of len bytes costs against its user's byte limit (the
 * max_user_bytes module parameter) while it exists: the payload plus a
 * fixed overhead, so that empty messages are not free.
 */
#define KCORO_MSG_OVERHEAD	64
#define KCORO_MSG_COST(len)	((len) + KCORO_MSG_OVERHEAD)

/* kcoro_chan_create.flags */
#define KCORO_CHAN_CLOEXEC	(1U << 0)	/* O_CLOEXEC on the new fd */
#define KCORO_CHAN_NONBLOCK	(1U << 1)	/* O_NONBLOCK on the new file */
#define KCORO_CHAN_DEAD_LETTER	(1U << 2)	/* dead_letter_fd is valid */

/**
 * struct kcoro_chan_create - KCORO_IOC_CHAN_CREATE argument
 * @size: sizeof(struct kcoro_chan_create) as the caller knows it
 * @flags: KCORO_CHAN_* flags
 * @capacity: KCORO_CAP_RENDEZVOUS, a buffer size (1 to 2^31 - 1),
 *	KCORO_CAP_UNLIMITED or KCORO_CAP_CONFLATED
 * @overflow: KCORO_OVERFLOW_* (must be SUSPEND for rendezvous and
 *	conflated channels)
 * @max_msg_size: largest message in bytes, 1 to the module parameter
 *	max_msg_size (default 65536); 0 selects 4096
 * @dead_letter_fd: with KCORO_CHAN_DEAD_LETTER, a channel fd that gets
 *	every message of the new channel that will never be received
 *	(instead of dropping it); that channel must not have a dead-letter
 *	channel itself.  Must be 0 without the flag.
 * @reserved0: must be zero
 * @reserved: must be zero
 *
 * Return (ioctl): the new channel fd.
 */
struct kcoro_chan_create {
	__u32 size;
	__u32 flags;
	__s64 capacity;
	__u32 overflow;
	__u32 max_msg_size;
	__s32 dead_letter_fd;
	__u32 reserved0;
	__u64 reserved[3];
};

#define KCORO_CHAN_CREATE_SIZE_VER0	56

/* kcoro_msg.flags and kcoro_batch.flags */
#define KCORO_MSG_NONBLOCK	(1U << 0)	/* never wait (also O_NONBLOCK) */
#define KCORO_MSG_TIMEOUT	(1U << 1)	/* wait at most timeout_ns */
#define KCORO_MSG_ABSTIME	(1U << 2)	/* timeout_ns is a CLOCK_MONOTONIC time */

/**
 * struct kcoro_msg - one message, for KCORO_IOC_SEND and KCORO_IOC_RECV
 * @buf: pointer to the message (send) or to the buffer (receive)
 * @len: send: the message length; receive: the buffer size, and on
 *	return the message's full length (truncation when > buffer size)
 * @flags: KCORO_MSG_* flags
 * @timeout_ns: with KCORO_MSG_TIMEOUT, how long to wait (relative), or
 *	with KCORO_MSG_ABSTIME too, until when (CLOCK_MONOTONIC)
 * @reserved: must be zero
 *
 * Return (ioctl): 0 for a send; for a receive the message's full length
 * (also stored in @len); at most the buffer size was copied.
 */
struct kcoro_msg {
	__u64 buf;
	__u32 len;
	__u32 flags;
	__s64 timeout_ns;
	__u64 reserved;
};

/**
 * struct kcoro_iov - one message of a batch
 * @buf: pointer to the message or buffer
 * @len: as kcoro_msg.len
 * @reserved: must be zero
 */
struct kcoro_iov {
	__u64 buf;
	__u32 len;
	__u32 reserved;
};

/* kcoro_batch.flags, besides the KCORO_MSG_* ones */
#define KCORO_BATCH_WAITALL	(1U << 8)	/* wait for every message, not only the first */

/* Largest kcoro_batch.count */
#define KCORO_BATCH_MAX		1024

/**
 * struct kcoro_batch - KCORO_IOC_SEND_BATCH and KCORO_IOC_RECV_BATCH
 * @iov: pointer to an array of @count struct kcoro_iov
 * @count: messages to send or buffers to fill, 1 to KCORO_BATCH_MAX
 * @flags: KCORO_MSG_* and KCORO_BATCH_* flags
 * @timeout_ns: as kcoro_msg.timeout_ns, for the whole batch
 * @reserved: must be zero
 *
 * Waits (within @flags) for the first message; the others go only as far
 * as they can without waiting, unless KCORO_BATCH_WAITALL.
 *
 * Return (ioctl): how many messages completed, in order (receive: each
 * iov's len is updated); an error only when none did.
 */
struct kcoro_batch {
	__u64 iov;
	__u32 count;
	__u32 flags;
	__s64 timeout_ns;
	__u64 reserved;
};

/* kcoro_chan_info.state */
#define KCORO_STATE_OPEN	0
#define KCORO_STATE_CLOSED	1	/* no more sends; receivers drain */
#define KCORO_STATE_CANCELLED	2	/* closed and emptied */

/**
 * struct kcoro_chan_info - KCORO_IOC_CHAN_INFO result
 * @size: set by the caller to its sizeof; the kernel writes at most that,
 *	and sets @size to what it wrote (fields past it were not filled)
 * @state: KCORO_STATE_*
 * @capacity: as created
 * @overflow: as created
 * @max_msg_size: as created
 * @buffered: messages sent and not yet received (suspended senders
 *	included; a snapshot)
 * @sent: messages handed to the channel
 * @received: messages received
 * @undelivered: messages that will never be received (dropped by an
 *	overflow policy or by cancel, carried by a send that failed with
 *	EPIPE, or lost by a failed receive copy)
 * @dead_lettered: of those, handed to the dead-letter channel
 * @dead_lost: of those, lost because the dead-letter channel could not
 *	take them without waiting (full, closed, or out of memory)
 * @waiting_senders: sends blocked in the channel now (select send
 *	clauses included; kernel coroutines' too): a snapshot
 * @waiting_receivers: receives blocked in the channel now (select
 *	receive clauses included): a snapshot
 */
struct kcoro_chan_info {
	__u32 size;
	__u32 state;
	__s64 capacity;
	__u32 overflow;
	__u32 max_msg_size;
	__u64 buffered;
	__u64 sent;
	__u64 received;
	__u64 undelivered;
	__u64 dead_lettered;
	__u64 dead_lost;
	__u64 waiting_senders;
	__u64 waiting_receivers;
};

#define KCORO_CHAN_INFO_SIZE_VER0	72
#define KCORO_CHAN_INFO_SIZE_VER1	88	/* waiting_senders, _receivers */

/* kcoro_service_create.op: what the kernel coroutines do with a request */
#define KCORO_SERVICE_ECHO	0	/* reply with the request */
#define KCORO_SERVICE_CHECKSUM	1	/* reply with request + its 32-bit crc32c (le) */

/**
 * struct kcoro_service_create - KCORO_IOC_SERVICE_CREATE argument
 * @size: sizeof(struct kcoro_service_create) as the caller knows it
 * @flags: KCORO_CHAN_CLOEXEC, KCORO_CHAN_NONBLOCK (both fds)
 * @op: KCORO_SERVICE_*
 * @workers: kernel coroutines serving requests, 1 to 1024
 * @capacity: capacity of both channels (as kcoro_chan_create.capacity,
 *	CONFLATED excluded)
 * @max_msg_size: of the request channel (the reply channel has 4 more)
 * @req_fd: out: the request channel (send requests here)
 * @rep_fd: out: the reply channel (receive replies here)
 * @reserved: must be zero
 *
 * The kernel coroutines receive on the request channel and send a reply
 * for each request on the reply channel.  When the request channel is
 * closed and drained they close the reply channel and end; if the reply
 * channel is cancelled they cancel the request channel and end.
 *
 * Return (ioctl): 0.
 */
struct kcoro_service_create {
	__u32 size;
	__u32 flags;
	__u32 op;
	__u32 workers;
	__s64 capacity;
	__u32 max_msg_size;
	__s32 req_fd;
	__s32 rep_fd;
	__u32 reserved[3];
};

#define KCORO_SERVICE_CREATE_SIZE_VER0	48

/* kcoro_sel_clause.op */
#define KCORO_SEL_SEND		1
#define KCORO_SEL_RECV		2

/**
 * struct kcoro_sel_clause - one operation of KCORO_IOC_SELECT
 * @fd: a channel fd
 * @op: KCORO_SEL_SEND or KCORO_SEL_RECV
 * @buf: the message (send) or the buffer (receive)
 * @len: send: message length; receive: buffer size, and on return, for
 *	the receive that completed, the message's full length
 * @reserved: must be zero
 */
struct kcoro_sel_clause {
	__s32 fd;
	__u32 op;
	__u64 buf;
	__u32 len;
	__u32 reserved;
};

/* kcoro_select.flags, besides KCORO_MSG_NONBLOCK/TIMEOUT/ABSTIME */
#define KCORO_SEL_BIASED	(1U << 8)	/* first ready clause in array order */

/* Largest kcoro_select.count */
#define KCORO_SELECT_MAX_CLAUSES	64

/**
 * struct kcoro_select - KCORO_IOC_SELECT argument
 * @clauses: pointer to an array of @count struct kcoro_sel_clause
 * @count: 1 to KCORO_SELECT_MAX_CLAUSES
 * @flags: KCORO_MSG_NONBLOCK (complete a clause only if one is ready
 *	now, else EAGAIN: Go's default case), KCORO_MSG_TIMEOUT,
 *	KCORO_MSG_ABSTIME, KCORO_SEL_BIASED (else ready clauses are
 *	chosen at random)
 * @timeout_ns: as kcoro_msg.timeout_ns
 * @index: out: the clause that completed
 * @status: out: 0, or EPIPE when that clause's channel is closed (a
 *	receive: closed and drained, or cancelled; a send: nothing sent)
 * @reserved: must be zero
 *
 * Exactly one clause takes effect; the others send and receive nothing.
 *
 * Return (ioctl): the index of the clause that completed.
 */
struct kcoro_select {
	__u64 clauses;
	__u32 count;
	__u32 flags;
	__s64 timeout_ns;
	__u32 index;
	__s32 status;
	__u64 reserved;
};

/**
 * struct kcoro_call - KCORO_IOC_CALL: send a request, wait for its reply
 * @req_buf: pointer to the request
 * @rep_buf: pointer to the buffer for the reply
 * @req_len: the request's length
 * @rep_fd: the channel fd the reply is received from (the ioctl's own fd
 *	is the request channel)
 * @flags: KCORO_MSG_NONBLOCK (the request is sent only if that does not
 *	wait; the reply is always waited for, until the deadline),
 *	KCORO_MSG_TIMEOUT, KCORO_MSG_ABSTIME: one deadline for both halves
 * @reserved0: must be zero
 * @timeout_ns: as kcoro_msg.timeout_ns
 * @rep_len: the reply buffer's size, and on success the reply's full
 *	length (truncation when > buffer size)
 * @sent: in: 0 to make a call; 1 to skip the send and only wait for the
 *	reply of a call that failed after sending its request.  Out: 1
 *	when the call fails after its request was sent, 0 when it returns
 *	a reply; unchanged when it fails before sending.
 * @reserved: must be zero
 *
 * @rep_len and @sent, the fields the kernel writes, share one aligned
 * 8-byte word.
 *
 * Every request is sent at most once: a signal that interrupts the wait
 * for the reply sets @sent, so a restarted call only waits.
 *
 * Return (ioctl): the reply's full length (also stored in @rep_len); at
 * most the buffer size was copied.
 */
struct kcoro_call {
	__u64 req_buf;
	__u64 rep_buf;
	__u32 req_len;
	__s32 rep_fd;
	__u32 flags;
	__u32 reserved0;
	__s64 timeout_ns;
	__u32 rep_len;
	__u32 sent;
	__u64 reserved;
};

#define KCORO_IOC_MAGIC		0xC0

/* on /dev/kcoro */
#define KCORO_IOC_CHAN_CREATE	_IOW(KCORO_IOC_MAGIC, 0x40, struct kcoro_chan_create)
#define KCORO_IOC_SERVICE_CREATE _IOWR(KCORO_IOC_MAGIC, 0x41, struct kcoro_service_create)
#define KCORO_IOC_SELECT	_IOWR(KCORO_IOC_MAGIC, 0x42, struct kcoro_select)

/* on a channel fd */
#define KCORO_IOC_SEND		_IOWR(KCORO_IOC_MAGIC, 0x50, struct kcoro_msg)
#define KCORO_IOC_RECV		_IOWR(KCORO_IOC_MAGIC, 0x51, struct kcoro_msg)
#define KCORO_IOC_SEND_BATCH	_IOWR(KCORO_IOC_MAGIC, 0x52, struct kcoro_batch)
#define KCORO_IOC_RECV_BATCH	_IOWR(KCORO_IOC_MAGIC, 0x53, struct kcoro_batch)
#define KCORO_IOC_CLOSE		_IO(KCORO_IOC_MAGIC, 0x54)
#define KCORO_IOC_CANCEL	_IO(KCORO_IOC_MAGIC, 0x55)
#define KCORO_IOC_CHAN_INFO	_IOWR(KCORO_IOC_MAGIC, 0x56, struct kcoro_chan_info)
#define KCORO_IOC_CALL		_IOWR(KCORO_IOC_MAGIC, 0x57, struct kcoro_call)

#endif /* _UAPI_LINUX_KCORO_H */
