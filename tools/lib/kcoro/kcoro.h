/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * libkcoro: a thin userspace library over the /dev/kcoro ioctl ABI
 * (include/uapi/linux/kcoro.h).
 *
 * Like liburing, every call returns a negative errno value on failure
 * (whether errno is also set is unspecified); results that are never
 * negative (a file descriptor, a message length, a count) are returned
 * directly:
 *
 *	int dev = kcoro_open();
 *	int ch = kcoro_chan_create(dev, 16, KCORO_OVERFLOW_SUSPEND, 0, 0);
 *	ret = kcoro_send(ch, "hello", 5, 0);		(0 or -errno)
 *	len = kcoro_recv(ch, buf, sizeof(buf), 0);	(length or -errno)
 *	kcoro_close(ch);	(no more sends; receivers drain, then -EPIPE)
 *	close(ch);		(the fd; the last one closes the channel too)
 *
 * Channel fds are ordinary file descriptors: poll/epoll, read()/write()
 * (one message each), fork, dup and SCM_RIGHTS all work on them.
 */
#ifndef _LIBKCORO_H
#define _LIBKCORO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/kcoro.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * kcoro_open() - open the kcoro device
 *
 * Opens KCORO_DEVICE ("/dev/kcoro") read-write with O_CLOEXEC.  The device
 * fd only creates channels and services; it carries no messages.
 *
 * Return: the device fd, or -errno (-ENOENT when the module is not loaded).
 */
int kcoro_open(void);

/**
 * kcoro_chan_create() - create a channel
 * @devfd: fd from kcoro_open()
 * @capacity: KCORO_CAP_RENDEZVOUS (0), a buffer size (1 to INT_MAX),
 *	KCORO_CAP_UNLIMITED or KCORO_CAP_CONFLATED
 * @overflow: KCORO_OVERFLOW_SUSPEND, _DROP_OLDEST or _DROP_LATEST (only
 *	SUSPEND for rendezvous and conflated channels)
 * @max_msg_size: largest message in bytes; 0 selects 4096, at most the
 *	module parameter max_msg_size (default 65536)
 * @flags: KCORO_CHAN_CLOEXEC, KCORO_CHAN_NONBLOCK
 *
 * Return: the new channel fd, or -errno: -EINVAL (bad argument), -EMFILE
 * (per-user channel limit, or the process fd limit), -ENOTTY (@devfd is
 * not /dev/kcoro).
 */
int kcoro_chan_create(int devfd, int64_t capacity, unsigned int overflow,
		      unsigned int max_msg_size, unsigned int flags);

/**
 * kcoro_chan_create_dead_letter() - create a channel with a dead-letter
 *	channel
 * @devfd: fd from kcoro_open()
 * @capacity: as kcoro_chan_create()
 * @overflow: as kcoro_chan_create()
 * @max_msg_size: as kcoro_chan_create()
 * @flags: as kcoro_chan_create() (KCORO_CHAN_DEAD_LETTER is added)
 * @dead_fd: a channel fd without a dead-letter channel of its own and
 *	not KCORO_OVERFLOW_DROP_LATEST
 *
 * Every message of the new channel that will never be received (dropped
 * by the overflow policy or by cancel, carried by a send that failed with
 * EPIPE, or lost to a faulting receive copy) is sent to @dead_fd's
 * channel without waiting, or counted dead_lost when it cannot take it.
 *
 * Return: as kcoro_chan_create(), plus -EBADF for a bad @dead_fd.
 */
int kcoro_chan_create_dead_letter(int devfd, int64_t capacity,
				  unsigned int overflow,
				  unsigned int max_msg_size,
				  unsigned int flags, int dead_fd);

/**
 * kcoro_send() - send one message
 * @chfd: channel fd
 * @buf: the message
 * @len: its length, 0 to the channel's max_msg_size
 * @flags: 0 (wait as long as needed) or KCORO_MSG_NONBLOCK
 *
 * Waits until the message is handed over (rendezvous) or buffered.  The
 * fd's O_NONBLOCK makes every call non-blocking.
 *
 * Return: 0, or -errno: -EAGAIN (would wait), -EPIPE (channel closed or
 * cancelled; no SIGPIPE), -EMSGSIZE, -ENOSPC (the channel creator's
 * buffered-bytes limit), -EINTR, -EFAULT, -EINVAL.  When it fails the
 * message was not sent.
 */
int kcoro_send(int chfd, const void *buf, size_t len, unsigned int flags);

/**
 * kcoro_send_timeout() - send one message, waiting at most a time
 * @chfd: channel fd
 * @buf: the message
 * @len: its length
 * @flags: 0, or KCORO_MSG_ABSTIME to make @timeout_ns an absolute
 *	CLOCK_MONOTONIC time (see kcoro_deadline())
 * @timeout_ns: how long to wait (>= 0); 0 only tries
 *
 * Return: as kcoro_send(), plus -ETIMEDOUT when the time passed.
 */
int kcoro_send_timeout(int chfd, const void *buf, size_t len,
		       unsigned int flags, int64_t timeout_ns);

/**
 * kcoro_recv() - receive one message
 * @chfd: channel fd
 * @buf: where to copy it
 * @len: size of @buf; a longer message is truncated (the rest is lost)
 * @flags: 0 or KCORO_MSG_NONBLOCK
 *
 * Return: the message's full length (which may exceed @len), or -errno:
 * -EAGAIN, -EPIPE (closed and drained, or cancelled), -EINTR, -EINVAL,
 * -EFAULT (@buf faulted: that message is lost and counted undelivered).
 */
ssize_t kcoro_recv(int chfd, void *buf, size_t len, unsigned int flags);

/**
 * kcoro_recv_timeout() - receive one message, waiting at most a time
 * @chfd: channel fd
 * @buf: where to copy it
 * @len: size of @buf
 * @flags: 0 or KCORO_MSG_ABSTIME
 * @timeout_ns: as for kcoro_send_timeout()
 *
 * Return: as kcoro_recv(), plus -ETIMEDOUT.
 */
ssize_t kcoro_recv_timeout(int chfd, void *buf, size_t len,
			   unsigned int flags, int64_t timeout_ns);

/**
 * kcoro_call() - send a request and wait for its reply, in one call
 * @req_fd: the request channel fd
 * @req: the request
 * @req_len: its length
 * @rep_fd: the reply channel fd
 * @rep: where to copy the reply
 * @rep_size: size of @rep; a longer reply is truncated
 * @flags: 0, KCORO_MSG_NONBLOCK (send only if that does not wait; the
 *	reply is always waited for), KCORO_MSG_TIMEOUT (one deadline for
 *	both halves), KCORO_MSG_ABSTIME
 * @timeout_ns: with KCORO_MSG_TIMEOUT, as for kcoro_recv_timeout()
 * @sent: if not NULL, set to 1 when the request was sent (always, when
 *	a reply is returned) and to 0 when it was not
 *
 * KCORO_IOC_CALL: the request is sent exactly once or not at all, also
 * when a signal comes (a restarted call only waits for the reply).  To
 * keep waiting for the reply of a call that failed with *@sent = 1,
 * receive it from @rep_fd (kcoro_recv(), kcoro_recv_timeout()).
 *
 * Return: the reply's full length (which may exceed @rep_size), or
 * -errno: with *@sent = 0 those of kcoro_send_timeout(), -EBADF or
 * -EINVAL for @rep_fd; with *@sent = 1 -ETIMEDOUT, -EINTR, -EPIPE (the
 * reply channel is closed and drained, or cancelled), -EFAULT.
 */
ssize_t kcoro_call(int req_fd, const void *req, size_t req_len, int rep_fd,
		   void *rep, size_t rep_size, unsigned int flags,
		   int64_t timeout_ns, int *sent);

/**
 * kcoro_iov_set() - fill one batch element
 * @iov: the element
 * @buf: message (send) or buffer (receive)
 * @len: message length or buffer size
 */
static inline void kcoro_iov_set(struct kcoro_iov *iov, const void *buf,
				 uint32_t len)
{
	iov->buf = (uint64_t)(uintptr_t)buf;
	iov->len = len;
	iov->reserved = 0;
}

/**
 * kcoro_send_batch() - send up to @count messages with one call
 * @chfd: channel fd
 * @iov: the messages
 * @count: 1 to KCORO_BATCH_MAX
 * @flags: KCORO_MSG_* and KCORO_BATCH_WAITALL
 * @timeout_ns: with KCORO_MSG_TIMEOUT, as for kcoro_send_timeout()
 *
 * Waits (within @flags) for the first message only, unless
 * KCORO_BATCH_WAITALL; the others are sent as far as they go without
 * waiting.
 *
 * Return: how many messages were sent (the first ones of @iov), or -errno
 * when none was.
 */
int kcoro_send_batch(int chfd, const struct kcoro_iov *iov,
		     unsigned int count, unsigned int flags,
		     int64_t timeout_ns);

/**
 * kcoro_recv_batch() - receive up to @count messages with one call
 * @chfd: channel fd
 * @iov: the buffers; each len is set to the full length of its message
 * @count: 1 to KCORO_BATCH_MAX
 * @flags: KCORO_MSG_* and KCORO_BATCH_WAITALL
 * @timeout_ns: with KCORO_MSG_TIMEOUT, as for kcoro_recv_timeout()
 *
 * Return: how many messages were received into the first buffers of
 * @iov, or -errno when none was.
 */
int kcoro_recv_batch(int chfd, struct kcoro_iov *iov, unsigned int count,
		     unsigned int flags, int64_t timeout_ns);

/**
 * kcoro_close() - close a channel for sending (KCORO_IOC_CLOSE)
 * @chfd: channel fd
 *
 * Further sends fail with -EPIPE; receivers take what is buffered (and
 * the messages of senders suspended before the close), then get -EPIPE.
 * Idempotent.  This does not release @chfd: use close(2) for that.
 *
 * Return: 0 or -errno.
 */
int kcoro_close(int chfd);

/**
 * kcoro_cancel() - cancel a channel (KCORO_IOC_CANCEL)
 * @chfd: channel fd
 *
 * Closes the channel and drops what it buffers (counted undelivered);
 * every waiting sender and receiver returns -EPIPE.  Idempotent.
 *
 * Return: 0 or -errno.
 */
int kcoro_cancel(int chfd);

/**
 * kcoro_chan_info() - read a channel's state and counters
 * @chfd: channel fd
 * @info: filled in (its size field is set here)
 *
 * Return: 0 or -errno.
 */
int kcoro_chan_info(int chfd, struct kcoro_chan_info *info);

/**
 * kcoro_service_create() - start an in-kernel service
 * @devfd: fd from kcoro_open()
 * @op: KCORO_SERVICE_ECHO or KCORO_SERVICE_CHECKSUM
 * @workers: kernel coroutines serving it, 1 to 1024
 * @capacity: of both channels (CONFLATED excluded)
 * @max_msg_size: of the request channel (0: 4096); replies may be 4
 *	bytes longer
 * @flags: KCORO_CHAN_CLOEXEC, KCORO_CHAN_NONBLOCK (both fds)
 * @req_fd: out: send requests here
 * @rep_fd: out: receive replies here
 *
 * Kernel coroutines answer each request on the reply channel: ECHO with
 * the request, CHECKSUM with the request followed by its kcoro_crc32c()
 * (4 bytes, little endian).  Closing the request channel (kcoro_close()
 * or releasing its last fd) lets them drain it and then close the reply
 * channel.
 *
 * Return: 0 or -errno.
 */
int kcoro_service_create(int devfd, unsigned int op, unsigned int workers,
			 int64_t capacity, unsigned int max_msg_size,
			 unsigned int flags, int *req_fd, int *rep_fd);

/**
 * kcoro_sel_send() - fill a select clause that sends
 * @c: the clause
 * @chfd: channel fd
 * @buf: the message
 * @len: its length
 */
static inline void kcoro_sel_send(struct kcoro_sel_clause *c, int chfd,
				  const void *buf, uint32_t len)
{
	c->fd = chfd;
	c->op = KCORO_SEL_SEND;
	c->buf = (uint64_t)(uintptr_t)buf;
	c->len = len;
	c->reserved = 0;
}

/**
 * kcoro_sel_recv() - fill a select clause that receives
 * @c: the clause
 * @chfd: channel fd
 * @buf: the buffer
 * @len: its size; set to the message's full length if this clause wins
 */
static inline void kcoro_sel_recv(struct kcoro_sel_clause *c, int chfd,
				  void *buf, uint32_t len)
{
	c->fd = chfd;
	c->op = KCORO_SEL_RECV;
	c->buf = (uint64_t)(uintptr_t)buf;
	c->len = len;
	c->reserved = 0;
}

/**
 * kcoro_select() - complete exactly one of several sends and receives
 * @devfd: fd from kcoro_open()
 * @clauses: the operations (kcoro_sel_send(), kcoro_sel_recv())
 * @count: 1 to KCORO_SELECT_MAX_CLAUSES
 * @flags: KCORO_MSG_NONBLOCK (take a clause only if one is ready now),
 *	KCORO_MSG_TIMEOUT, KCORO_MSG_ABSTIME, KCORO_SEL_BIASED (the first
 *	ready clause in array order; else a ready one at random)
 * @timeout_ns: with KCORO_MSG_TIMEOUT, as for kcoro_recv_timeout()
 * @status: if not NULL, set to 0, or to EPIPE when the completed clause's
 *	channel is closed (a receive: closed and drained or cancelled; a
 *	send: nothing was sent)
 *
 * The fds' O_NONBLOCK flags play no part; only @flags decide whether to
 * wait.  The other clauses send and receive nothing.
 *
 * Return: the index of the clause that completed, or -errno: -EAGAIN,
 * -ETIMEDOUT, -EINTR, -EINVAL, -EBADF, -EMSGSIZE, -ENOSPC, -EFAULT.
 */
int kcoro_select(int devfd, struct kcoro_sel_clause *clauses,
		 unsigned int count, unsigned int flags, int64_t timeout_ns,
		 int *status);

/**
 * kcoro_deadline() - absolute CLOCK_MONOTONIC time @ns from now
 * @ns: nanoseconds from now
 *
 * Return: a value for @timeout_ns with KCORO_MSG_ABSTIME.
 */
int64_t kcoro_deadline(int64_t ns);

/**
 * kcoro_crc32c() - CRC32C as the CHECKSUM service computes it
 * @crc: initial value (the service uses 0)
 * @data: bytes
 * @len: their number
 *
 * The kernel's crc32c(): Castagnoli polynomial, bit-reflected, @crc as
 * the initial value and no final inversion.
 *
 * Return: the CRC.
 */
uint32_t kcoro_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* _LIBKCORO_H */
