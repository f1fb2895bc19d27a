// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: one process and its threads on channel fds.
 * KCORO_IOC_SEND/RECV and their batch forms with every errno, timeouts,
 * close and cancel with blocked callers, read()/write(), poll and epoll,
 * and signals during blocking calls.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

/* A channel call run by a thread, so that the test can watch it block. */
enum { OP_SEND, OP_RECV, OP_SEND_BATCH, OP_RECV_BATCH, OP_POLL, OP_READ };

struct op {
	int fd;
	int kind;
	unsigned int flags;
	int64_t timeout_ns;
	char buf[256];
	size_t len;
	struct kcoro_iov iov[16];
	char bufs[16][16];
	unsigned int count;
	short events;
	pthread_t thread;
	pid_t tid;
	long ret;
};

static void *op_thread(void *arg)
{
	struct op *op = arg;
	struct pollfd pfd;

	__atomic_store_n(&op->tid, kst_gettid(), __ATOMIC_RELEASE);
	switch (op->kind) {
	case OP_SEND:
		op->ret = op->flags & KCORO_MSG_TIMEOUT ?
			kcoro_send_timeout(op->fd, op->buf, op->len,
					   op->flags & ~KCORO_MSG_TIMEOUT,
					   op->timeout_ns) :
			kcoro_send(op->fd, op->buf, op->len, op->flags);
		break;
	case OP_RECV:
		op->ret = op->flags & KCORO_MSG_TIMEOUT ?
			kcoro_recv_timeout(op->fd, op->buf, sizeof(op->buf),
					   op->flags & ~KCORO_MSG_TIMEOUT,
					   op->timeout_ns) :
			kcoro_recv(op->fd, op->buf, sizeof(op->buf), op->flags);
		break;
	case OP_SEND_BATCH:
		op->ret = kcoro_send_batch(op->fd, op->iov, op->count,
					   op->flags, op->timeout_ns);
		break;
	case OP_RECV_BATCH:
		op->ret = kcoro_recv_batch(op->fd, op->iov, op->count,
					   op->flags, op->timeout_ns);
		break;
	case OP_POLL:
		pfd.fd = op->fd;
		pfd.events = op->events;
		pfd.revents = 0;
		op->ret = poll(&pfd, 1, 10000);
		if (op->ret == 1)
			op->ret = pfd.revents;
		else if (op->ret < 0)
			op->ret = -errno;
		else
			op->ret = -ETIMEDOUT;
		break;
	case OP_READ:
		op->ret = kst_read(op->fd, op->buf, sizeof(op->buf));
		break;
	}
	return NULL;
}

static struct op *op_new(int fd, int kind, unsigned int flags)
{
	struct op *op = calloc(1, sizeof(*op));
	unsigned int i;

	op->fd = fd;
	op->kind = kind;
	op->flags = flags;
	op->count = 16;
	for (i = 0; i < 16; i++)
		kcoro_iov_set(&op->iov[i], op->bufs[i], sizeof(op->bufs[i]));
	return op;
}

/*
 * Start it and wait until it blocks: a channel call until the channel
 * counts one more blocked call of its kind (it is then queued in the
 * channel, where the test's next operation meets it), a poll until the
 * thread sleeps in the kernel.  True if it does.
 */
static bool op_start_blocked(struct op *op)
{
	bool send = op->kind == OP_SEND || op->kind == OP_SEND_BATCH;
	struct kcoro_chan_info info;

	if (op->kind != OP_POLL && kcoro_chan_info(op->fd, &info))
		return false;
	pthread_create(&op->thread, NULL, op_thread, op);
	while (!__atomic_load_n(&op->tid, __ATOMIC_ACQUIRE))
		sched_yield();
	if (op->kind == OP_POLL)
		return kst_wait_sleeping(getpid(), op->tid, 5000);
	return kst_wait_waiting(op->fd, info.waiting_senders + send,
				info.waiting_receivers + !send, 5000);
}

static long op_join(struct op *op)
{
	long ret;

	pthread_join(op->thread, NULL);
	ret = op->ret;
	return ret;
}

FIXTURE(chan) {
	int devfd;
	char *guard;	/* a PROT_NONE page, a page after a writable one */
};

FIXTURE_SETUP(chan)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p;

	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, mprotect(p + pg, pg, PROT_NONE));
	self->guard = p + pg;
}

FIXTURE_TEARDOWN(chan)
{
	close(self->devfd);
}

static int mkchan(struct __test_metadata *_metadata, int devfd,
		  int64_t capacity, uint32_t overflow, uint32_t max_msg_size,
		  uint32_t flags)
{
	int fd = kcoro_chan_create(devfd, capacity, overflow, max_msg_size,
				   flags);

	ASSERT_LE(0, fd) TH_LOG("kcoro_chan_create: %s", strerror(-fd));
	return fd;
}

#define MKCHAN(cap, ovf, max, flags) \
	mkchan(_metadata, self->devfd, cap, ovf, max, flags)

/* Check a channel's counters and that they add up. */
#define EXPECT_COUNTS(fd, s, r, u, b) do { \
	struct kcoro_chan_info __i; \
	ASSERT_EQ(0, kcoro_chan_info(fd, &__i)); \
	EXPECT_EQ(s, __i.sent); \
	EXPECT_EQ(r, __i.received); \
	EXPECT_EQ(u, __i.undelivered); \
	EXPECT_EQ(b, __i.buffered); \
} while (0)

static long long chan_buffered(int fd)
{
	struct kcoro_chan_info info;

	if (kcoro_chan_info(fd, &info))
		return -1;
	return info.buffered;
}

static int chan_state(int fd)
{
	struct kcoro_chan_info info;

	if (kcoro_chan_info(fd, &info))
		return -1;
	return info.state;
}

static short revents(int fd, short events)
{
	struct pollfd pfd = { fd, events, 0 };

	if (poll(&pfd, 1, 0) < 0)
		return -1;
	return pfd.revents;
}

static void sig_nop(int sig)
{
	(void)sig;
}

TEST_F(chan, buffered_fifo)
{
	static const uint32_t lens[] = { 0, 1, 100, 4096 };
	static char big[4096], in[4096 + 8];
	int64_t t0;
	int ch, i;

	for (i = 0; i < 4096; i++)
		big[i] = i * 7;
	ch = MKCHAN(4, 0, 0, 0);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, kcoro_send(ch, big + i, lens[i], KCORO_MSG_NONBLOCK))
			TH_LOG("message %d", i);
	EXPECT_EQ(-EAGAIN, kcoro_send(ch, big, 1, KCORO_MSG_NONBLOCK));
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(ch, big, 1, 0, 0));
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(ch, big, 1, 0, 20 * KST_MS));
	EXPECT_LE(20 * KST_MS, kst_now() - t0);
	EXPECT_COUNTS(ch, 4, 0, 0, 4);
	for (i = 0; i < 4; i++) {
		memset(in, 0x5a, sizeof(in));
		ASSERT_EQ(lens[i], kcoro_recv(ch, in, sizeof(in), 0));
		EXPECT_EQ(0, memcmp(in, big + i, lens[i]));
		EXPECT_EQ(0x5a, in[lens[i]]);
	}
	EXPECT_EQ(-EAGAIN, kcoro_recv(ch, in, sizeof(in), KCORO_MSG_NONBLOCK));
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_timeout(ch, in, sizeof(in), 0, 0));
	EXPECT_COUNTS(ch, 4, 4, 0, 0);
	close(ch);
}

TEST_F(chan, msg_size)
{
	struct kcoro_msg msg;
	char buf[128] = "";
	int ch = MKCHAN(8, 0, 100, 0);

	EXPECT_EQ(0, kcoro_send(ch, buf, 100, 0));
	EXPECT_EQ(-EMSGSIZE, kcoro_send(ch, buf, 101, 0));
	EXPECT_EQ(-EMSGSIZE, kst_write(ch, buf, 101));
	EXPECT_EQ(0, kcoro_send(ch, buf, 0, 0));
	/* the length is checked before the buffer is read */
	memset(&msg, 0, sizeof(msg));
	msg.buf = (uintptr_t)buf;
	msg.len = UINT32_MAX;
	EXPECT_EQ(-EMSGSIZE, kst_ioctl(ch, KCORO_IOC_SEND, &msg));
	msg.len = 1U << 31;
	EXPECT_EQ(-EMSGSIZE, kst_ioctl(ch, KCORO_IOC_SEND, &msg));
	EXPECT_COUNTS(ch, 2, 0, 0, 2);
	EXPECT_EQ(100, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(0, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(-EAGAIN, kcoro_recv(ch, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	close(ch);
}

TEST_F(chan, truncation)
{
	struct kcoro_msg msg;
	char out[100], in[100];
	int ch = MKCHAN(8, 0, 0, 0), i;

	for (i = 0; i < 100; i++)
		out[i] = i;
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, kcoro_send(ch, out, 100 - i, 0));
	memset(in, 0x77, sizeof(in));
	memset(&msg, 0, sizeof(msg));
	msg.buf = (uintptr_t)in;
	msg.len = 10;
	EXPECT_EQ(100, kst_ioctl(ch, KCORO_IOC_RECV, &msg));
	EXPECT_EQ(100, msg.len);
	EXPECT_EQ(0, memcmp(in, out, 10));
	EXPECT_EQ(0x77, in[10]);
	/* the rest of that message is gone; a 0-byte buffer takes one too */
	memset(&msg, 0, sizeof(msg));
	msg.buf = (uintptr_t)in;
	msg.len = 0;
	EXPECT_EQ(99, kst_ioctl(ch, KCORO_IOC_RECV, &msg));
	EXPECT_EQ(99, msg.len);
	EXPECT_EQ(0x77, in[10]);
	EXPECT_EQ(98, kcoro_recv(ch, in, sizeof(in), 0));
	EXPECT_EQ(0, memcmp(in, out, 98));
	EXPECT_COUNTS(ch, 3, 3, 0, 0);
	close(ch);
}

/*
 * Message buffers are reused (per user, CPU and size class): whatever
 * size comes next, a receive gets exactly the bytes sent and nothing of
 * an earlier, longer message.
 */
TEST_F(chan, reused_buffers)
{
	static const unsigned int lens[] = {
		0, 1, 48, 49, 64, 100, 112, 113, 200, 240, 241, 300, 496, 497,
		1000, 300, 64, 0, 497, 49,
	};
	unsigned char out[1024], in[1024];
	int ch = MKCHAN(32, 0, 1024, 0);
	unsigned int i, j, k;

	for (k = 0; k < 3; k++) {
		/* k: how many messages queue up before they are received */
		for (i = 0; i < ARRAY_SIZE(lens); i += k + 1) {
			for (j = i; j < i + k + 1 && j < ARRAY_SIZE(lens); j++) {
				memset(out, 'a' + j % 26, lens[j]);
				ASSERT_EQ(0, kcoro_send(ch, out, lens[j], 0));
			}
			for (j = i; j < i + k + 1 && j < ARRAY_SIZE(lens); j++) {
				memset(in, 0x5a, sizeof(in));
				memset(out, 'a' + j % 26, lens[j]);
				ASSERT_EQ((int)lens[j],
					  kcoro_recv(ch, in, sizeof(in), 0));
				EXPECT_EQ(0, memcmp(in, out, lens[j]));
				EXPECT_EQ(0x5a, in[lens[j]]) TH_LOG("len %u", lens[j]);
				EXPECT_EQ(0x5a, in[sizeof(in) - 1]);
			}
		}
	}
	close(ch);
}

TEST_F(chan, bad_flags)
{
	static const uint32_t bad_flags[] = {
		1U << 3, 1U << 4, 1U << 7, KCORO_BATCH_WAITALL, 1U << 31,
		KCORO_MSG_ABSTIME, KCORO_MSG_ABSTIME | KCORO_MSG_NONBLOCK,
	};
	struct kcoro_msg msg;
	char buf[16] = "hello";
	unsigned int i;
	int ch = MKCHAN(8, 0, 0, 0);
	unsigned long cmd;

	for (cmd = KCORO_IOC_SEND; ; cmd = KCORO_IOC_RECV) {
		for (i = 0; i < ARRAY_SIZE(bad_flags); i++) {
			memset(&msg, 0, sizeof(msg));
			msg.buf = (uintptr_t)buf;
			msg.len = 5;
			msg.flags = bad_flags[i] | KCORO_MSG_NONBLOCK;
			EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &msg))
				TH_LOG("%s flags %#x", cmd == KCORO_IOC_SEND ?
				       "send" : "recv", msg.flags);
		}
		memset(&msg, 0, sizeof(msg));
		msg.buf = (uintptr_t)buf;
		msg.len = 5;
		msg.flags = KCORO_MSG_NONBLOCK;
		msg.reserved = 1;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &msg));
		msg.reserved = 1ULL << 63;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &msg));
		msg.reserved = 0;
		msg.flags = KCORO_MSG_TIMEOUT;
		msg.timeout_ns = -1;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &msg));
		msg.timeout_ns = INT64_MIN;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &msg));
		msg.flags = KCORO_MSG_TIMEOUT | KCORO_MSG_ABSTIME;
		msg.timeout_ns = -1;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &msg));
		if (cmd == KCORO_IOC_RECV)
			break;
		/* no failed send sent anything */
		EXPECT_COUNTS(ch, 0, 0, 0, 0);
		ASSERT_EQ(0, kcoro_send(ch, "one", 3, 0));
	}
	/* and no failed receive took anything */
	EXPECT_COUNTS(ch, 1, 0, 0, 1);
	EXPECT_EQ(3, kcoro_recv(ch, buf, sizeof(buf), 0));
	close(ch);
}

TEST_F(chan, efault)
{
	struct kcoro_msg *edge;
	char buf[16];
	int ch = MKCHAN(8, 0, 0, 0);
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);

	ASSERT_NE(MAP_FAILED, ro);
	/* sends of unreadable buffers send nothing */
	EXPECT_EQ(-EFAULT, kcoro_send(ch, (void *)1, 10, 0));
	EXPECT_EQ(-EFAULT, kcoro_send(ch, NULL, 10, 0));
	EXPECT_EQ(-EFAULT, kcoro_send(ch, self->guard - 4, 10, 0));
	EXPECT_EQ(-EFAULT, kcoro_send(ch, self->guard, 1, 0));
	EXPECT_EQ(-EFAULT, kst_write(ch, self->guard - 4, 10));
	EXPECT_EQ(-EFAULT, kst_ioctl(ch, KCORO_IOC_SEND, NULL));
	EXPECT_EQ(-EFAULT, kst_ioctl(ch, KCORO_IOC_SEND, self->guard));
	edge = (void *)(self->guard - 8);
	EXPECT_EQ(-EFAULT, kst_ioctl(ch, KCORO_IOC_SEND, edge));
	EXPECT_COUNTS(ch, 0, 0, 0, 0);
	EXPECT_EQ(-EAGAIN, kcoro_recv(ch, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	/* a readable read-only buffer is fine to send from */
	EXPECT_EQ(0, kcoro_send(ch, ro, 10, 0));
	/* ... and exactly up to the guard page */
	EXPECT_EQ(0, kcoro_send(ch, self->guard - 10, 10, 0));
	EXPECT_EQ(0, kcoro_send(ch, "second", 6, 0));

	/* a receive whose msg struct faults takes nothing */
	EXPECT_EQ(-EFAULT, kst_ioctl(ch, KCORO_IOC_RECV, NULL));
	EXPECT_EQ(-EFAULT, kst_ioctl(ch, KCORO_IOC_RECV, edge));
	EXPECT_COUNTS(ch, 3, 0, 0, 3);
	/*
	 * Nor does one whose buffer is not writable: it is faulted in before
	 * a message is taken (only a buffer unmapped during the copy loses
	 * its message, which no test can time).
	 */
	EXPECT_EQ(-EFAULT, kcoro_recv(ch, ro, 10, 0));
	EXPECT_EQ(-EFAULT, kcoro_recv(ch, self->guard - 4, 10, 0));
	EXPECT_EQ(-EFAULT, kcoro_recv(ch, NULL, 10, 0));
	EXPECT_EQ(-EFAULT, kst_read(ch, self->guard, 10));
	EXPECT_COUNTS(ch, 3, 0, 0, 3);
	EXPECT_EQ(10, kcoro_recv(ch, buf, sizeof(buf), 0));
	/* a message edge-to-edge into a buffer ending at the guard */
	EXPECT_EQ(10, kcoro_recv(ch, self->guard - 10, 10, 0));
	EXPECT_EQ(6, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "second", 6));
	EXPECT_COUNTS(ch, 3, 3, 0, 0);
	munmap(ro, 4096);
	close(ch);
}

TEST_F(chan, rendezvous)
{
	int ch = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	struct op *op;
	char buf[16];

	EXPECT_EQ(-EAGAIN, kcoro_send(ch, "x", 1, KCORO_MSG_NONBLOCK));
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(ch, "x", 1, 0, 0));
	EXPECT_EQ(-EAGAIN, kcoro_recv(ch, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_COUNTS(ch, 0, 0, 0, 0);

	/* a waiting receiver takes the message of a non-blocking send */
	op = op_new(ch, OP_RECV, 0);
	ASSERT_TRUE(op_start_blocked(op));
	EXPECT_EQ(0, kcoro_send(ch, "hello", 5, KCORO_MSG_NONBLOCK));
	EXPECT_EQ(5, op_join(op));
	EXPECT_EQ(0, memcmp(op->buf, "hello", 5));
	free(op);

	/* a waiting sender hands its message to a non-blocking receive */
	op = op_new(ch, OP_SEND, 0);
	memcpy(op->buf, "world!", 6);
	op->len = 6;
	ASSERT_TRUE(op_start_blocked(op));
	EXPECT_EQ(1, chan_buffered(ch));	/* suspended senders count */
	EXPECT_EQ(6, kcoro_recv(ch, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_EQ(0, op_join(op));
	EXPECT_EQ(0, memcmp(buf, "world!", 6));
	free(op);
	EXPECT_COUNTS(ch, 2, 2, 0, 0);
	close(ch);
}

TEST_F(chan, suspend_when_full)
{
	int ch = MKCHAN(1, KCORO_OVERFLOW_SUSPEND, 0, 0);
	struct op *op;
	char buf[16];

	ASSERT_EQ(0, kcoro_send(ch, "1", 1, 0));
	op = op_new(ch, OP_SEND, 0);
	memcpy(op->buf, "2", 1);
	op->len = 1;
	ASSERT_TRUE(op_start_blocked(op));
	EXPECT_EQ(1, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ('1', buf[0]);
	EXPECT_EQ(0, op_join(op));
	EXPECT_EQ(1, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ('2', buf[0]);
	free(op);
	close(ch);
}

TEST_F(chan, conflated)
{
	int ch = MKCHAN(KCORO_CAP_CONFLATED, 0, 0, 0);
	char buf[16];

	EXPECT_EQ(POLLOUT, revents(ch, POLLIN | POLLOUT));
	EXPECT_EQ(0, kcoro_send(ch, "a", 1, KCORO_MSG_NONBLOCK));
	EXPECT_EQ(0, kcoro_send(ch, "bb", 2, KCORO_MSG_NONBLOCK));
	EXPECT_EQ(0, kcoro_send(ch, "ccc", 3, KCORO_MSG_NONBLOCK));
	EXPECT_EQ(POLLIN | POLLOUT, revents(ch, POLLIN | POLLOUT));
	EXPECT_COUNTS(ch, 3, 0, 2, 1);
	EXPECT_EQ(3, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "ccc", 3));
	EXPECT_EQ(-EAGAIN, kcoro_recv(ch, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_COUNTS(ch, 3, 1, 2, 0);
	close(ch);
}

TEST_F(chan, drop_policies)
{
	int old = MKCHAN(2, KCORO_OVERFLOW_DROP_OLDEST, 0, 0);
	int latest = MKCHAN(2, KCORO_OVERFLOW_DROP_LATEST, 0, 0);
	char buf[16];
	int i;

	for (i = 0; i < 5; i++) {
		buf[0] = '0' + i;
		/* never waits, never fails */
		EXPECT_EQ(0, kcoro_send(old, buf, 1, 0));
		EXPECT_EQ(0, kcoro_send(latest, buf, 1, 0));
		EXPECT_EQ(POLLOUT, revents(old, POLLOUT));
		EXPECT_EQ(POLLOUT, revents(latest, POLLOUT));
	}
	EXPECT_COUNTS(old, 5, 0, 3, 2);
	EXPECT_COUNTS(latest, 5, 0, 3, 2);
	EXPECT_EQ(1, kcoro_recv(old, buf, sizeof(buf), 0));
	EXPECT_EQ('3', buf[0]);
	EXPECT_EQ(1, kcoro_recv(old, buf, sizeof(buf), 0));
	EXPECT_EQ('4', buf[0]);
	EXPECT_EQ(1, kcoro_recv(latest, buf, sizeof(buf), 0));
	EXPECT_EQ('0', buf[0]);
	EXPECT_EQ(1, kcoro_recv(latest, buf, sizeof(buf), 0));
	EXPECT_EQ('1', buf[0]);
	EXPECT_COUNTS(old, 5, 2, 3, 0);
	EXPECT_COUNTS(latest, 5, 2, 3, 0);
	close(old);
	close(latest);
}

TEST_F(chan, unlimited)
{
	int ch = MKCHAN(KCORO_CAP_UNLIMITED, 0, 0, 0);
	uint32_t i, v;

	for (i = 0; i < 3000; i++)
		ASSERT_EQ(0, kcoro_send(ch, &i, sizeof(i), KCORO_MSG_NONBLOCK));
	EXPECT_EQ(POLLIN | POLLOUT, revents(ch, POLLIN | POLLOUT));
	EXPECT_COUNTS(ch, 3000, 0, 0, 3000);
	for (i = 0; i < 3000; i++) {
		ASSERT_EQ(sizeof(v), kcoro_recv(ch, &v, sizeof(v), 0));
		ASSERT_EQ(i, v);
	}
	EXPECT_EQ(POLLOUT, revents(ch, POLLIN | POLLOUT));
	close(ch);
}

TEST_F(chan, timeouts)
{
	int ch = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	int full = MKCHAN(1, 0, 0, 0);
	struct op *op;
	char buf[16];
	int64_t t0, dt;

	ASSERT_EQ(0, kcoro_send(full, "f", 1, 0));

	/* relative */
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_timeout(ch, buf, sizeof(buf), 0,
						 50 * KST_MS));
	dt = kst_now() - t0;
	EXPECT_LE(50 * KST_MS, dt);
	EXPECT_GT(10000 * KST_MS, dt);
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(full, "x", 1, 0, 50 * KST_MS));
	dt = kst_now() - t0;
	EXPECT_LE(50 * KST_MS, dt);

	/* absolute, CLOCK_MONOTONIC */
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_timeout(ch, buf, sizeof(buf),
						 KCORO_MSG_ABSTIME,
						 t0 + 50 * KST_MS));
	dt = kst_now() - t0;
	EXPECT_LE(50 * KST_MS, dt);
	EXPECT_GT(10000 * KST_MS, dt);
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(ch, "x", 1, KCORO_MSG_ABSTIME,
						 t0 + 50 * KST_MS));
	EXPECT_LE(50 * KST_MS, kst_now() - t0);

	/* deadlines already past, and a zero timeout, only try */
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_timeout(ch, buf, sizeof(buf),
						 KCORO_MSG_ABSTIME, 0));
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_timeout(ch, buf, sizeof(buf),
						 KCORO_MSG_ABSTIME,
						 t0 - 1000 * KST_MS));
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(full, "x", 1,
						 KCORO_MSG_ABSTIME, 1));
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(full, "x", 1, 0, 0));
	EXPECT_GT(2000 * KST_MS, kst_now() - t0);
	/* timed-out sends did not happen: nothing counted, nothing left */
	EXPECT_COUNTS(ch, 0, 0, 0, 0);
	EXPECT_COUNTS(full, 1, 0, 0, 1);

	/* a zero timeout still finds what is there */
	EXPECT_EQ(1, kcoro_recv_timeout(full, buf, sizeof(buf), 0, 0));

	/* the longest timeouts do not overflow: a message ends them */
	op = op_new(ch, OP_RECV, KCORO_MSG_TIMEOUT);
	op->timeout_ns = INT64_MAX;
	ASSERT_TRUE(op_start_blocked(op));
	EXPECT_EQ(0, kcoro_send(ch, "max", 3, 0));
	EXPECT_EQ(3, op_join(op));
	free(op);
	op = op_new(ch, OP_SEND, KCORO_MSG_TIMEOUT | KCORO_MSG_ABSTIME);
	op->timeout_ns = INT64_MAX;
	op->len = 2;
	ASSERT_TRUE(op_start_blocked(op));
	EXPECT_EQ(2, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(0, op_join(op));
	free(op);
	close(ch);
	close(full);
}

TEST_F(chan, batch_errors)
{
	struct kcoro_iov *iov = calloc(KCORO_BATCH_MAX + 1, sizeof(*iov));
	static const uint32_t bad_flags[] = {
		1U << 3, 1U << 9, 1U << 31, KCORO_MSG_ABSTIME,
	};
	struct kcoro_batch b;
	char buf[16] = "data";
	unsigned int i;
	unsigned long cmd;
	int ch = MKCHAN(8, 0, 8, 0);
	long ret = 0;

	ASSERT_NE(NULL, iov);
	for (i = 0; i <= KCORO_BATCH_MAX; i++)
		kcoro_iov_set(&iov[i], buf, 4);
	for (cmd = KCORO_IOC_SEND_BATCH; ; cmd = KCORO_IOC_RECV_BATCH) {
		const char *what = cmd == KCORO_IOC_SEND_BATCH ? "send" : "recv";

		memset(&b, 0, sizeof(b));
		b.iov = (uintptr_t)iov;
		b.flags = KCORO_MSG_NONBLOCK;
		b.count = 0;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &b)) TH_LOG("%s", what);
		b.count = KCORO_BATCH_MAX + 1;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &b)) TH_LOG("%s", what);
		b.count = UINT32_MAX;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &b)) TH_LOG("%s", what);
		b.count = 2;
		for (i = 0; i < ARRAY_SIZE(bad_flags); i++) {
			b.flags = bad_flags[i] | KCORO_MSG_NONBLOCK;
			EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &b))
				TH_LOG("%s flags %#x", what, b.flags);
		}
		b.flags = KCORO_MSG_TIMEOUT;
		b.timeout_ns = -5;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &b)) TH_LOG("%s", what);
		b.flags = KCORO_MSG_NONBLOCK;
		b.timeout_ns = 0;
		b.reserved = 1;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &b)) TH_LOG("%s", what);
		b.reserved = 0;
		iov[0].reserved = 1;
		EXPECT_EQ(-EINVAL, kst_ioctl(ch, cmd, &b)) TH_LOG("%s", what);
		iov[0].reserved = 0;
		b.iov = 0;
		EXPECT_EQ(-EFAULT, kst_ioctl(ch, cmd, &b)) TH_LOG("%s", what);
		b.iov = (uintptr_t)self->guard;
		EXPECT_EQ(-EFAULT, kst_ioctl(ch, cmd, &b)) TH_LOG("%s", what);
		EXPECT_EQ(-EFAULT, kst_ioctl(ch, cmd, NULL)) TH_LOG("%s", what);
		/* the second iov faults: at most the first one completes */
		b.iov = (uintptr_t)(self->guard - sizeof(*iov));
		memcpy(self->guard - sizeof(*iov), &iov[0], sizeof(*iov));
		ret = kst_ioctl(ch, cmd, &b);
		EXPECT_TRUE(ret == 1 || ret == -EFAULT)
			TH_LOG("%s: %ld", what, ret);
		if (cmd == KCORO_IOC_RECV_BATCH)
			break;
		/* nothing else was sent; leave one message for the receives */
		if (ret == 1)
			EXPECT_COUNTS(ch, 1, 0, 0, 1);
		else
			EXPECT_COUNTS(ch, 0, 0, 0, 0);
		if (ret != 1)
			ASSERT_EQ(0, kcoro_send(ch, buf, 4, 0));
	}
	/* no failed receive took it */
	if (ret == 1)
		EXPECT_COUNTS(ch, 1, 1, 0, 0);
	else
		EXPECT_COUNTS(ch, 1, 0, 0, 1);
	free(iov);
	close(ch);
}

TEST_F(chan, batch_basic)
{
	struct kcoro_iov out[8], in[8];
	char data[8][8], rbuf[8][8];
	struct kcoro_batch b;
	int ch = MKCHAN(4, 0, 8, 0), i;

	for (i = 0; i < 8; i++) {
		memset(data[i], 'a' + i, 8);
		kcoro_iov_set(&out[i], data[i], i + 1);
		kcoro_iov_set(&in[i], rbuf[i], 8);
	}
	EXPECT_EQ(4, kcoro_send_batch(ch, out, 8, KCORO_MSG_NONBLOCK, 0));
	EXPECT_EQ(-EAGAIN, kcoro_send_batch(ch, out + 4, 4, KCORO_MSG_NONBLOCK, 0));
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_batch(ch, out + 4, 4, KCORO_MSG_TIMEOUT,
					       KST_MS));
	EXPECT_COUNTS(ch, 4, 0, 0, 4);
	/* receive: each len becomes its message's full length */
	kcoro_iov_set(&in[1], rbuf[1], 1);	/* truncates message 1 */
	memset(rbuf, 0, sizeof(rbuf));
	EXPECT_EQ(4, kcoro_recv_batch(ch, in, 8, KCORO_MSG_NONBLOCK, 0));
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(i + 1, in[i].len);
		EXPECT_EQ('a' + i, rbuf[i][0]);
	}
	EXPECT_EQ(0, rbuf[1][1]);
	EXPECT_EQ(8, in[4].len);	/* untouched */
	EXPECT_EQ(-EAGAIN, kcoro_recv_batch(ch, in, 8, KCORO_MSG_NONBLOCK, 0));
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_batch(ch, in, 8, KCORO_MSG_TIMEOUT, 0));

	/* a too-long message stops a batch; alone it is -EMSGSIZE */
	kcoro_iov_set(&out[1], data[1], 9);
	EXPECT_EQ(1, kcoro_send_batch(ch, out, 3, 0, 0));
	EXPECT_EQ(-EMSGSIZE, kcoro_send_batch(ch, out + 1, 2, 0, 0));
	EXPECT_COUNTS(ch, 5, 4, 0, 1);

	/* through the raw ioctl, and with the WAITALL flag's zero wait */
	memset(&b, 0, sizeof(b));
	b.iov = (uintptr_t)in;
	b.count = 8;
	b.flags = KCORO_MSG_NONBLOCK | KCORO_BATCH_WAITALL;
	EXPECT_EQ(1, kst_ioctl(ch, KCORO_IOC_RECV_BATCH, &b));
	EXPECT_EQ(1, in[0].len);
	EXPECT_COUNTS(ch, 5, 5, 0, 0);
	close(ch);
}

TEST_F(chan, batch_max)
{
	struct kcoro_iov *iov = calloc(KCORO_BATCH_MAX, sizeof(*iov));
	uint32_t *vals = calloc(KCORO_BATCH_MAX, sizeof(*vals));
	int ch = MKCHAN(KCORO_CAP_UNLIMITED, 0, 0, 0);
	uint32_t i;

	ASSERT_NE(NULL, iov);
	ASSERT_NE(NULL, vals);
	for (i = 0; i < KCORO_BATCH_MAX; i++) {
		vals[i] = i;
		kcoro_iov_set(&iov[i], &vals[i], 4);
	}
	EXPECT_EQ(KCORO_BATCH_MAX, kcoro_send_batch(ch, iov, KCORO_BATCH_MAX,
						    0, 0));
	memset(vals, 0xff, KCORO_BATCH_MAX * sizeof(*vals));
	EXPECT_EQ(KCORO_BATCH_MAX, kcoro_recv_batch(ch, iov, KCORO_BATCH_MAX,
						    0, 0));
	for (i = 0; i < KCORO_BATCH_MAX; i++) {
		ASSERT_EQ(i, vals[i]);
		ASSERT_EQ(4, iov[i].len);
	}
	free(iov);
	free(vals);
	close(ch);
}

TEST_F(chan, batch_waitall)
{
	int ch = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	int buffered = MKCHAN(4, 0, 0, 0);
	struct kcoro_iov iov[8];
	struct op *op;
	char buf[16];
	int64_t t0;
	int i;

	/* a receiver with WAITALL waits for all 8 */
	op = op_new(ch, OP_RECV_BATCH, KCORO_BATCH_WAITALL);
	op->count = 8;
	ASSERT_TRUE(op_start_blocked(op));
	for (i = 0; i < 8; i++) {
		buf[0] = i;
		ASSERT_EQ(0, kcoro_send_timeout(ch, buf, 1, 0, 5000 * KST_MS));
	}
	EXPECT_EQ(8, op_join(op));
	for (i = 0; i < 8; i++) {
		EXPECT_EQ(1, op->iov[i].len);
		EXPECT_EQ(i, op->bufs[i][0]);
	}
	free(op);

	/* without WAITALL it returns after the first */
	op = op_new(ch, OP_RECV_BATCH, 0);
	op->count = 8;
	ASSERT_TRUE(op_start_blocked(op));
	ASSERT_EQ(0, kcoro_send(ch, "z", 1, 0));
	EXPECT_EQ(1, op_join(op));
	free(op);

	/* a sender with WAITALL hands over all 8 */
	op = op_new(ch, OP_SEND_BATCH, KCORO_BATCH_WAITALL);
	op->count = 8;
	for (i = 0; i < 8; i++) {
		op->bufs[i][0] = 'A' + i;
		op->iov[i].len = 1;
	}
	ASSERT_TRUE(op_start_blocked(op));
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(1, kcoro_recv_timeout(ch, buf, sizeof(buf), 0,
						5000 * KST_MS));
		EXPECT_EQ('A' + i, buf[0]);
	}
	EXPECT_EQ(8, op_join(op));
	free(op);

	/* WAITALL with a timeout: what went before it passed */
	for (i = 0; i < 8; i++)
		kcoro_iov_set(&iov[i], "q", 1);
	t0 = kst_now();
	EXPECT_EQ(4, kcoro_send_batch(buffered, iov, 8,
				      KCORO_BATCH_WAITALL | KCORO_MSG_TIMEOUT,
				      50 * KST_MS));
	EXPECT_LE(50 * KST_MS, kst_now() - t0);
	EXPECT_COUNTS(buffered, 4, 0, 0, 4);
	/* WAITALL with NONBLOCK does not wait */
	EXPECT_EQ(-EAGAIN, kcoro_send_batch(buffered, iov, 8,
					    KCORO_BATCH_WAITALL |
					    KCORO_MSG_NONBLOCK, 0));
	close(ch);
	close(buffered);
}

TEST_F(chan, batch_closed)
{
	int ch = MKCHAN(8, 0, 0, 0);
	struct kcoro_iov iov[4];
	char bufs[4][8];
	int i;

	for (i = 0; i < 4; i++)
		kcoro_iov_set(&iov[i], bufs[i], 8);
	ASSERT_EQ(2, kcoro_send_batch(ch, iov, 2, 0, 0));
	ASSERT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(-EPIPE, kcoro_send_batch(ch, iov, 2, 0, 0));
	EXPECT_EQ(2, kcoro_recv_batch(ch, iov, 4, 0, 0));
	EXPECT_EQ(-EPIPE, kcoro_recv_batch(ch, iov, 4, 0, 0));
	EXPECT_EQ(-EPIPE, kcoro_recv_batch(ch, iov, 4, KCORO_BATCH_WAITALL, 0));
	close(ch);
}

TEST_F(chan, close)
{
	int ch = MKCHAN(8, 0, 0, 0);
	sigset_t set, pending;
	char buf[16];

	/* EPIPE comes without SIGPIPE: block it and look for it after */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &set, NULL));
	ASSERT_EQ(0, kcoro_send(ch, "one", 3, 0));
	ASSERT_EQ(3, kst_write(ch, "two", 3));
	ASSERT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(KCORO_STATE_CLOSED, chan_state(ch));
	EXPECT_EQ(-EPIPE, kcoro_send(ch, "x", 1, 0));
	EXPECT_EQ(-EPIPE, kcoro_send(ch, "x", 1, KCORO_MSG_NONBLOCK));
	EXPECT_EQ(-EPIPE, kst_write(ch, "x", 1));
	EXPECT_EQ(-EPIPE, kst_write(ch, "", 0));
	EXPECT_EQ(3, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(3, kst_read(ch, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "two", 3));
	EXPECT_EQ(-EPIPE, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(-EPIPE, kcoro_recv(ch, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_EQ(-EPIPE, kcoro_recv_timeout(ch, buf, sizeof(buf), 0, KST_MS));
	EXPECT_EQ(0, kst_read(ch, buf, sizeof(buf)));	/* EOF */
	EXPECT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(2, kst_fdinfo_num(ch, "kcoro-sent"));
	EXPECT_EQ(2, kst_fdinfo_num(ch, "kcoro-received"));
	EXPECT_EQ(0, kst_fdinfo_num(ch, "kcoro-buffered"));
	ASSERT_EQ(0, sigpending(&pending));
	EXPECT_EQ(0, sigismember(&pending, SIGPIPE));
	close(ch);

	/* with SIGPIPE's default action it would kill us */
	ASSERT_EQ(0, sigprocmask(SIG_UNBLOCK, &set, NULL));
	signal(SIGPIPE, SIG_DFL);
	ch = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, KCORO_CHAN_NONBLOCK);
	ASSERT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(-EPIPE, kst_write(ch, "x", 1));
	EXPECT_EQ(-EPIPE, kcoro_send(ch, "x", 1, 0));
	EXPECT_EQ(0, kst_read(ch, buf, sizeof(buf)));
	close(ch);
}

TEST_F(chan, close_wakes_receivers)
{
	int ch = MKCHAN(4, 0, 0, 0);
	struct op *ops[3];
	int i;

	for (i = 0; i < 3; i++) {
		ops[i] = op_new(ch, i == 2 ? OP_READ : OP_RECV, 0);
		ASSERT_TRUE(op_start_blocked(ops[i]));
	}
	ASSERT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(-EPIPE, op_join(ops[0]));
	EXPECT_EQ(-EPIPE, op_join(ops[1]));
	EXPECT_EQ(0, op_join(ops[2]));	/* read(): EOF */
	for (i = 0; i < 3; i++)
		free(ops[i]);
	close(ch);
}

/*
 * Kotlin's close: receivers still take the elements of senders that were
 * suspended before it, on a rendezvous channel and on a full buffer.
 */
TEST_F(chan, close_keeps_suspended_senders)
{
	int64_t caps[] = { KCORO_CAP_RENDEZVOUS, 1 };
	char buf[16];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		int ch = MKCHAN(caps[i], 0, 0, 0);
		struct op *op = op_new(ch, OP_SEND, 0);

		if (caps[i] == 1)
			ASSERT_EQ(0, kcoro_send(ch, "first", 5, 0));
		memcpy(op->buf, "suspended", 9);
		op->len = 9;
		ASSERT_TRUE(op_start_blocked(op));
		ASSERT_EQ(0, kcoro_close(ch));
		EXPECT_EQ(POLLIN | POLLERR, revents(ch, POLLIN));
		if (caps[i] == 1)
			EXPECT_EQ(5, kcoro_recv(ch, buf, sizeof(buf), 0));
		EXPECT_EQ(9, kcoro_recv_timeout(ch, buf, sizeof(buf), 0,
						2000 * KST_MS))
			TH_LOG("capacity %lld", (long long)caps[i]);
		EXPECT_EQ(0, memcmp(buf, "suspended", 9));
		EXPECT_EQ(0, op_join(op));
		EXPECT_EQ(-EPIPE, kcoro_recv(ch, buf, sizeof(buf), 0));
		EXPECT_EQ(POLLIN | POLLERR | POLLHUP, revents(ch, POLLIN));
		free(op);
		close(ch);
	}
}

TEST_F(chan, cancel)
{
	int ch = MKCHAN(8, 0, 0, 0);
	char buf[16];
	int i;

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, kcoro_send(ch, "m", 1, 0));
	ASSERT_EQ(0, kcoro_cancel(ch));
	EXPECT_EQ(KCORO_STATE_CANCELLED, chan_state(ch));
	EXPECT_COUNTS(ch, 3, 0, 3, 0);
	EXPECT_EQ(-EPIPE, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(-EPIPE, kcoro_send(ch, "m", 1, 0));
	EXPECT_EQ(0, kst_read(ch, buf, sizeof(buf)));
	EXPECT_EQ(-EPIPE, kst_write(ch, "m", 1));
	EXPECT_EQ(0, kcoro_cancel(ch));
	EXPECT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(KCORO_STATE_CANCELLED, chan_state(ch));
	close(ch);

	/* cancel after close drops what close left to drain */
	ch = MKCHAN(8, 0, 0, 0);
	ASSERT_EQ(0, kcoro_send(ch, "m", 1, 0));
	ASSERT_EQ(0, kcoro_close(ch));
	ASSERT_EQ(0, kcoro_cancel(ch));
	EXPECT_EQ(KCORO_STATE_CANCELLED, chan_state(ch));
	EXPECT_COUNTS(ch, 1, 0, 1, 0);
	EXPECT_EQ(-EPIPE, kcoro_recv(ch, buf, sizeof(buf), 0));
	close(ch);
}

TEST_F(chan, cancel_wakes_everyone)
{
	int snd = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	int full = MKCHAN(1, 0, 0, 0);
	int rcv = MKCHAN(4, 0, 0, 0);
	struct op *ops[6];
	int i;

	ASSERT_EQ(0, kcoro_send(full, "f", 1, 0));
	for (i = 0; i < 6; i++) {
		int fd = i < 2 ? snd : i < 4 ? full : rcv;

		ops[i] = op_new(fd, i < 4 ? OP_SEND : OP_RECV, 0);
		ops[i]->len = 3;
		ASSERT_TRUE(op_start_blocked(ops[i]));
	}
	ASSERT_EQ(0, kcoro_cancel(snd));
	ASSERT_EQ(0, kcoro_cancel(full));
	ASSERT_EQ(0, kcoro_cancel(rcv));
	for (i = 0; i < 6; i++) {
		EXPECT_EQ(-EPIPE, op_join(ops[i])) TH_LOG("waiter %d", i);
		free(ops[i]);
	}
	/*
	 * A blocking send that fails with EPIPE hands its message over
	 * (Kotlin's rule): counted undelivered, not sent.
	 */
	EXPECT_COUNTS(snd, 0, 0, 2, 0);
	EXPECT_COUNTS(full, 1, 0, 3, 0);
	EXPECT_COUNTS(rcv, 0, 0, 0, 0);
	close(snd);
	close(full);
	close(rcv);
}

TEST_F(chan, read_write)
{
	int ch = MKCHAN(8, 0, 16, 0);
	char buf[32];

	EXPECT_EQ(5, kst_write(ch, "hello", 5));
	EXPECT_EQ(16, kst_write(ch, "0123456789abcdef", 16));
	EXPECT_EQ(-EMSGSIZE, kst_write(ch, "0123456789abcdefg", 17));
	EXPECT_EQ(0, kst_write(ch, "", 0));
	EXPECT_EQ(3, kst_write(ch, "end", 3));
	EXPECT_COUNTS(ch, 4, 0, 0, 4);
	/* a read of nothing takes nothing */
	EXPECT_EQ(0, kst_read(ch, buf, 0));
	EXPECT_COUNTS(ch, 4, 0, 0, 4);
	EXPECT_EQ(5, kst_read(ch, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	/* a short read truncates, and the rest of that message is lost */
	EXPECT_EQ(4, kst_read(ch, buf, 4));
	EXPECT_EQ(0, memcmp(buf, "0123", 4));
	EXPECT_EQ(0, kst_read(ch, buf, sizeof(buf)));	/* 0-byte message */
	EXPECT_EQ(3, kst_read(ch, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "end", 3));
	EXPECT_COUNTS(ch, 4, 4, 0, 0);
	ASSERT_EQ(0, fcntl(ch, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-EAGAIN, kst_read(ch, buf, sizeof(buf)));
	close(ch);

	/* a full non-blocking channel: write gets EAGAIN */
	ch = MKCHAN(1, 0, 0, KCORO_CHAN_NONBLOCK);
	EXPECT_EQ(1, kst_write(ch, "a", 1));
	EXPECT_EQ(-EAGAIN, kst_write(ch, "b", 1));
	close(ch);
}

TEST_F(chan, dup_shares)
{
	int ch = MKCHAN(4, 0, 0, 0), ch2;
	char buf[8];

	ch2 = dup(ch);
	ASSERT_LE(0, ch2);
	ASSERT_EQ(0, kcoro_send(ch, "d", 1, 0));
	close(ch);	/* one reference of two: still open */
	EXPECT_EQ(KCORO_STATE_OPEN, chan_state(ch2));
	EXPECT_EQ(1, kcoro_recv(ch2, buf, sizeof(buf), 0));
	EXPECT_EQ(0, kcoro_send(ch2, "e", 1, 0));
	close(ch2);
}

TEST_F(chan, poll_states)
{
	const short io = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
	int ch = MKCHAN(2, 0, 0, 0);
	int rv = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	int un = MKCHAN(KCORO_CAP_UNLIMITED, 0, 0, 0);
	struct op *op;
	char buf[8];

	/* buffered: empty, partly full, full */
	EXPECT_EQ(POLLOUT | POLLWRNORM, revents(ch, io));
	ASSERT_EQ(0, kcoro_send(ch, "1", 1, 0));
	EXPECT_EQ(io, revents(ch, io));
	ASSERT_EQ(0, kcoro_send(ch, "2", 1, 0));
	EXPECT_EQ(POLLIN | POLLRDNORM, revents(ch, io));
	/* closed with messages left: readable, not writable but EPOLLERR */
	ASSERT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLERR,
		  revents(ch, io));
	EXPECT_EQ(1, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(1, kcoro_recv(ch, buf, sizeof(buf), 0));
	/* closed and drained: also POLLHUP */
	EXPECT_EQ(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLERR | POLLHUP,
		  revents(ch, io));
	close(ch);

	/* rendezvous: nothing until someone waits on the other side */
	EXPECT_EQ(0, revents(rv, io));
	op = op_new(rv, OP_SEND, 0);
	op->len = 1;
	ASSERT_TRUE(op_start_blocked(op));
	EXPECT_EQ(POLLIN | POLLRDNORM, revents(rv, io));
	EXPECT_EQ(1, kcoro_recv(rv, buf, sizeof(buf), 0));
	EXPECT_EQ(0, op_join(op));
	free(op);
	EXPECT_EQ(0, revents(rv, io));
	op = op_new(rv, OP_RECV, 0);
	ASSERT_TRUE(op_start_blocked(op));
	EXPECT_EQ(POLLOUT | POLLWRNORM, revents(rv, io));
	EXPECT_EQ(0, kcoro_send(rv, "r", 1, 0));
	EXPECT_EQ(1, op_join(op));
	free(op);
	/* cancelled */
	ASSERT_EQ(0, kcoro_cancel(rv));
	EXPECT_EQ(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLERR | POLLHUP,
		  revents(rv, io));
	close(rv);

	/* unlimited: always writable */
	EXPECT_EQ(POLLOUT | POLLWRNORM, revents(un, io));
	ASSERT_EQ(0, kcoro_send(un, "u", 1, 0));
	EXPECT_EQ(io, revents(un, io));
	close(un);
}

TEST_F(chan, poll_wakeups)
{
	int ch = MKCHAN(1, 0, 0, 0);
	struct op *op;
	char buf[8];

	/* a message wakes a reader */
	op = op_new(ch, OP_POLL, 0);
	op->events = POLLIN;
	ASSERT_TRUE(op_start_blocked(op));
	ASSERT_EQ(0, kcoro_send(ch, "w", 1, 0));
	EXPECT_EQ(POLLIN, op_join(op));
	free(op);
	/* room wakes a writer */
	op = op_new(ch, OP_POLL, 0);
	op->events = POLLOUT;
	ASSERT_TRUE(op_start_blocked(op));
	ASSERT_EQ(1, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(POLLOUT, op_join(op));
	free(op);
	/* close wakes a reader of an empty channel, with POLLHUP */
	op = op_new(ch, OP_POLL, 0);
	op->events = POLLIN;
	ASSERT_TRUE(op_start_blocked(op));
	ASSERT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(POLLIN | POLLERR | POLLHUP, op_join(op));
	free(op);
	close(ch);

	/* cancel wakes a writer of a full channel, with POLLERR */
	ch = MKCHAN(1, 0, 0, 0);
	ASSERT_EQ(0, kcoro_send(ch, "f", 1, 0));
	op = op_new(ch, OP_POLL, 0);
	op->events = POLLOUT;
	ASSERT_TRUE(op_start_blocked(op));
	ASSERT_EQ(0, kcoro_cancel(ch));
	EXPECT_EQ(POLLOUT | POLLERR | POLLHUP, op_join(op));
	free(op);
	close(ch);

	/* a suspended sender on a rendezvous channel wakes a reader */
	ch = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	op = op_new(ch, OP_POLL, 0);
	op->events = POLLIN;
	ASSERT_TRUE(op_start_blocked(op));
	{
		struct op *snd = op_new(ch, OP_SEND, 0);

		snd->len = 1;
		pthread_create(&snd->thread, NULL, op_thread, snd);
		EXPECT_EQ(POLLIN, op_join(op));
		EXPECT_EQ(1, kcoro_recv(ch, buf, sizeof(buf), 0));
		EXPECT_EQ(0, op_join(snd));
		free(snd);
	}
	free(op);
	close(ch);
}

struct close_drain {
	int fd;
	int done;
};

static void *close_drain_thread(void *arg)
{
	struct close_drain *cd = arg;
	char buf[8];

	kcoro_close(cd->fd);
	kcoro_recv(cd->fd, buf, sizeof(buf), 0);
	__atomic_store_n(&cd->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The mask a poll returns describes the channel at one instant, even when
 * a close or cancel races with it: a channel that held a message and is
 * closed and drained meanwhile is always readable (the message, or the
 * hang-up), and a writer woken by a cancel sees the hang-up with the room.
 */
TEST_F(chan, poll_one_instant)
{
	const short io = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
	struct close_drain cd;
	unsigned int i, polls = 0;
	pthread_t t;
	struct op *op;
	short rev;
	int ch;

	for (i = 0; i < 300; i++) {
		ch = MKCHAN(1, 0, 0, 0);
		ASSERT_EQ(0, kcoro_send(ch, "m", 1, 0));
		cd.fd = ch;
		cd.done = 0;
		ASSERT_EQ(0, pthread_create(&t, NULL, close_drain_thread, &cd));
		do {
			rev = revents(ch, POLLIN);
			polls++;
			ASSERT_NE(0, rev) TH_LOG("round %u: nothing ready", i);
		} while (!__atomic_load_n(&cd.done, __ATOMIC_ACQUIRE));
		pthread_join(t, NULL);
		EXPECT_EQ(POLLIN | POLLERR | POLLHUP, revents(ch, POLLIN));
		close(ch);
	}
	for (i = 0; i < 200; i++) {
		ch = MKCHAN(1, 0, 0, 0);
		ASSERT_EQ(0, kcoro_send(ch, "f", 1, 0));
		op = op_new(ch, OP_POLL, 0);
		op->events = POLLOUT;
		ASSERT_TRUE(op_start_blocked(op));
		ASSERT_EQ(0, kcoro_cancel(ch));
		EXPECT_EQ(POLLOUT | POLLERR | POLLHUP, op_join(op))
			TH_LOG("round %u", i);
		free(op);
		EXPECT_EQ(io | POLLERR | POLLHUP, revents(ch, io));
		close(ch);
	}
	TH_LOG("%u polls raced a close and drain", polls);
}

static int ep_wait(int ep, struct epoll_event *ev, int n, int ms)
{
	int ret = epoll_wait(ep, ev, n, ms);

	return ret < 0 ? -errno : ret;
}

TEST_F(chan, epoll)
{
	struct epoll_event ev, evs[8];
	int ch = MKCHAN(4, 0, 0, 0);
	int lt = epoll_create1(0), et = epoll_create1(0);
	char buf[8];

	ASSERT_LE(0, lt);
	ASSERT_LE(0, et);
	ev.events = EPOLLIN;
	ev.data.u32 = 1;
	ASSERT_EQ(0, epoll_ctl(lt, EPOLL_CTL_ADD, ch, &ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
	ev.data.u32 = 2;
	ASSERT_EQ(0, epoll_ctl(et, EPOLL_CTL_ADD, ch, &ev));

	EXPECT_EQ(0, ep_wait(lt, evs, 8, 0));
	EXPECT_EQ(1, ep_wait(et, evs, 8, 0));
	EXPECT_EQ(EPOLLOUT, evs[0].events);
	EXPECT_EQ(0, ep_wait(et, evs, 8, 0));	/* edge: reported once */

	ASSERT_EQ(0, kcoro_send(ch, "e", 1, 0));
	ASSERT_EQ(1, ep_wait(lt, evs, 8, 1000));
	EXPECT_EQ(EPOLLIN, evs[0].events);
	EXPECT_EQ(1, evs[0].data.u32);
	EXPECT_EQ(1, ep_wait(lt, evs, 8, 0));	/* level: again */
	ASSERT_EQ(1, ep_wait(et, evs, 8, 1000));
	EXPECT_EQ(EPOLLIN | EPOLLOUT, evs[0].events);
	EXPECT_EQ(0, ep_wait(et, evs, 8, 0));
	ASSERT_EQ(0, kcoro_send(ch, "f", 1, 0));
	EXPECT_EQ(1, ep_wait(et, evs, 8, 1000));	/* a new edge */

	ASSERT_EQ(2, kst_read(ch, buf, 2) + kst_read(ch, buf, 2));
	EXPECT_EQ(0, ep_wait(lt, evs, 8, 0));

	/* closing the fd removes it from both */
	close(ch);
	EXPECT_EQ(0, ep_wait(lt, evs, 8, 0));
	EXPECT_EQ(0, ep_wait(et, evs, 8, 0));
	close(lt);
	close(et);
}

TEST_F(chan, epoll_many)
{
	struct epoll_event ev, evs[16];
	int ep = epoll_create1(0), ch[8], i, n, seen = 0;
	struct op *op;

	ASSERT_LE(0, ep);
	for (i = 0; i < 8; i++) {
		ch[i] = MKCHAN(i & 1 ? 2 : KCORO_CAP_RENDEZVOUS, 0, 0, 0);
		ev.events = EPOLLIN;
		ev.data.u32 = i;
		ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, ch[i], &ev));
	}
	EXPECT_EQ(0, ep_wait(ep, evs, 16, 0));
	/* a thread blocked in epoll_wait, woken by one message */
	ASSERT_EQ(0, kcoro_send(ch[3], "3", 1, 0));
	ASSERT_EQ(0, kcoro_send(ch[5], "5", 1, 0));
	op = op_new(ch[6], OP_SEND, 0);	/* rendezvous: a suspended sender */
	op->len = 1;
	ASSERT_TRUE(op_start_blocked(op));
	n = ep_wait(ep, evs, 16, 1000);
	ASSERT_EQ(3, n);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(EPOLLIN, evs[i].events);
		seen |= 1 << evs[i].data.u32;
	}
	EXPECT_EQ((1 << 3) | (1 << 5) | (1 << 6), seen);
	EXPECT_EQ(1, kcoro_recv(ch[6], evs, sizeof(evs), 0));
	EXPECT_EQ(0, op_join(op));
	free(op);
	for (i = 0; i < 8; i++)
		close(ch[i]);
	close(ep);
}

/*
 * Who is waiting: CHAN_INFO's waiting_senders and waiting_receivers, and
 * their fdinfo lines, count the calls blocked in a channel right now.
 */

/* The waiting counts of CHAN_INFO and of fdinfo, which must agree. */
static void expect_waiting(struct __test_metadata *_metadata, int line,
			   int fd, long long s, long long r)
{
	struct kcoro_chan_info info;

	ASSERT_EQ(0, kcoro_chan_info(fd, &info));
	ASSERT_EQ(KCORO_CHAN_INFO_SIZE_VER1, info.size);
	EXPECT_EQ(s, info.waiting_senders) TH_LOG("line %d", line);
	EXPECT_EQ(r, info.waiting_receivers) TH_LOG("line %d", line);
	EXPECT_EQ(s, kst_fdinfo_num(fd, "kcoro-waiting-senders"))
		TH_LOG("line %d", line);
	EXPECT_EQ(r, kst_fdinfo_num(fd, "kcoro-waiting-receivers"))
		TH_LOG("line %d", line);
}

#define EXPECT_WAITING(fd, s, r) \
	expect_waiting(_metadata, __LINE__, fd, s, r)

/* Start @op without waiting for it to block. */
static void op_start(struct op *op)
{
	pthread_create(&op->thread, NULL, op_thread, op);
}

TEST_F(chan, waiting_receivers)
{
	int ch = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	struct op *ops[3];
	char buf[16];
	int i;

	EXPECT_WAITING(ch, 0, 0);
	for (i = 0; i < 3; i++) {
		ops[i] = op_new(ch, OP_RECV, 0);
		op_start(ops[i]);
	}
	ASSERT_TRUE(kst_wait_waiting(ch, 0, 3, 5000));
	EXPECT_WAITING(ch, 0, 3);
	/* a non-blocking call that fails does not count */
	EXPECT_EQ(-EAGAIN, kcoro_recv(ch, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_WAITING(ch, 0, 3);
	/* each send releases one; the count drops before the send returns */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, kcoro_send(ch, "go", 2, KCORO_MSG_NONBLOCK));
		EXPECT_WAITING(ch, 0, 2 - i);
	}
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(2, op_join(ops[i]));
		free(ops[i]);
	}
	EXPECT_WAITING(ch, 0, 0);
	EXPECT_COUNTS(ch, 3, 3, 0, 0);
	close(ch);
}

TEST_F(chan, waiting_senders)
{
	int ch = MKCHAN(1, KCORO_OVERFLOW_SUSPEND, 0, 0);
	struct op *ops[3];
	char buf[16];
	int i;

	ASSERT_EQ(0, kcoro_send(ch, "0", 1, 0));
	EXPECT_WAITING(ch, 0, 0);
	for (i = 0; i < 3; i++) {
		ops[i] = op_new(ch, OP_SEND, 0);
		ops[i]->buf[0] = '1' + i;
		ops[i]->len = 1;
		/* one at a time: their order is the order of the messages */
		ASSERT_TRUE(op_start_blocked(ops[i]));
		EXPECT_WAITING(ch, i + 1, 0);
	}
	EXPECT_EQ(-EAGAIN, kcoro_send(ch, "x", 1, KCORO_MSG_NONBLOCK));
	EXPECT_WAITING(ch, 3, 0);
	/*
	 * Each receive makes room, and moves the oldest waiting sender's
	 * message into the buffer before it returns.
	 */
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(1, kcoro_recv(ch, buf, sizeof(buf), 0));
		EXPECT_EQ('0' + i, buf[0]);
		EXPECT_WAITING(ch, i < 3 ? 2 - i : 0, 0);
	}
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0, op_join(ops[i]));
		free(ops[i]);
	}
	EXPECT_WAITING(ch, 0, 0);
	EXPECT_COUNTS(ch, 4, 4, 0, 0);
	close(ch);
}

struct sel_recv2 {
	int devfd;
	struct kcoro_sel_clause c[2];
	char bufs[2][16];
	long ret;
	int status;
};

static void *sel_recv2_fn(void *arg)
{
	struct sel_recv2 *s = arg;

	s->ret = kcoro_select(s->devfd, s->c, 2, 0, 0, &s->status);
	return NULL;
}

/* A select blocked on two channels waits, and counts, in both. */
TEST_F(chan, waiting_select)
{
	int a = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	int b = MKCHAN(4, 0, 0, 0);
	struct sel_recv2 s = { .devfd = self->devfd };
	pthread_t t;

	kcoro_sel_recv(&s.c[0], a, s.bufs[0], sizeof(s.bufs[0]));
	kcoro_sel_recv(&s.c[1], b, s.bufs[1], sizeof(s.bufs[1]));
	pthread_create(&t, NULL, sel_recv2_fn, &s);
	ASSERT_TRUE(kst_wait_waiting(a, 0, 1, 5000));
	ASSERT_TRUE(kst_wait_waiting(b, 0, 1, 5000));
	EXPECT_WAITING(a, 0, 1);
	EXPECT_WAITING(b, 0, 1);
	ASSERT_EQ(0, kcoro_send(b, "sel", 3, 0));
	pthread_join(t, NULL);
	EXPECT_EQ(1, s.ret);
	EXPECT_EQ(0, s.status);
	EXPECT_EQ(3, s.c[1].len);
	/* the losing clause left its channel too */
	EXPECT_WAITING(a, 0, 0);
	EXPECT_WAITING(b, 0, 0);
	EXPECT_COUNTS(a, 0, 0, 0, 0);
	EXPECT_COUNTS(b, 1, 1, 0, 0);
	close(a);
	close(b);
}

/* Calls that time out, are interrupted, or are closed out stop counting. */
TEST_F(chan, waiting_ends)
{
	int ch = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	struct sigaction sa = { 0 };
	struct op *rcv, *snd;
	char buf[16];

	/* timed out, in this thread */
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_timeout(ch, buf, sizeof(buf), 0,
						 20 * KST_MS));
	EXPECT_WAITING(ch, 0, 0);
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(ch, "t", 1, 0, 20 * KST_MS));
	EXPECT_WAITING(ch, 0, 0);

	/* interrupted by a signal (no SA_RESTART: the call fails) */
	sa.sa_handler = sig_nop;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	rcv = op_new(ch, OP_RECV, 0);
	op_start(rcv);
	ASSERT_TRUE(kst_wait_waiting(ch, 0, 1, 5000));
	ASSERT_EQ(0, pthread_kill(rcv->thread, SIGUSR1));
	EXPECT_EQ(-EINTR, op_join(rcv));
	EXPECT_WAITING(ch, 0, 0);
	free(rcv);

	/* a blocked sender, then close and cancel */
	snd = op_new(ch, OP_SEND, 0);
	snd->len = 1;
	op_start(snd);
	ASSERT_TRUE(kst_wait_waiting(ch, 1, 0, 5000));
	/* close keeps the sender (its message stays receivable) */
	ASSERT_EQ(0, kcoro_close(ch));
	EXPECT_WAITING(ch, 1, 0);
	/* cancel fails it */
	ASSERT_EQ(0, kcoro_cancel(ch));
	EXPECT_WAITING(ch, 0, 0);
	EXPECT_EQ(-EPIPE, op_join(snd));
	free(snd);
	EXPECT_COUNTS(ch, 0, 0, 1, 0);
	close(ch);
}

/*
 * A signal while a call waits.  Without a timeout, or with an absolute
 * one, SA_RESTART restarts the call and otherwise it fails with -EINTR;
 * with a relative timeout it always fails with -EINTR.  A failed call
 * moved nothing, a restarted one moves its message exactly once.
 */
FIXTURE(sig) {
	int devfd;
	int ch;
};

FIXTURE_VARIANT(sig) {
	bool send;		/* the interrupted call sends (else receives) */
	bool restart;		/* SA_RESTART */
	int timeout;		/* 0 none, 1 relative, 2 absolute */
	bool eintr;		/* expected outcome */
};

FIXTURE_VARIANT_ADD(sig, recv_restart) { false, true, 0, false };
FIXTURE_VARIANT_ADD(sig, recv_norestart) { false, false, 0, true };
FIXTURE_VARIANT_ADD(sig, recv_rel_restart) { false, true, 1, true };
FIXTURE_VARIANT_ADD(sig, recv_rel_norestart) { false, false, 1, true };
FIXTURE_VARIANT_ADD(sig, recv_abs_restart) { false, true, 2, false };
FIXTURE_VARIANT_ADD(sig, recv_abs_norestart) { false, false, 2, true };
FIXTURE_VARIANT_ADD(sig, send_restart) { true, true, 0, false };
FIXTURE_VARIANT_ADD(sig, send_norestart) { true, false, 0, true };
FIXTURE_VARIANT_ADD(sig, send_rel_restart) { true, true, 1, true };
FIXTURE_VARIANT_ADD(sig, send_rel_norestart) { true, false, 1, true };
FIXTURE_VARIANT_ADD(sig, send_abs_restart) { true, true, 2, false };
FIXTURE_VARIANT_ADD(sig, send_abs_norestart) { true, false, 2, true };

static int sig_count;	/* __atomic: a handler and a thread */

static void sig_counter(int sig)
{
	(void)sig;
	__atomic_fetch_add(&sig_count, 1, __ATOMIC_RELAXED);
}

FIXTURE_SETUP(sig)
{
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) TH_LOG("open: %s", strerror(errno));
	self->ch = kcoro_chan_create(self->devfd, KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	ASSERT_LE(0, self->ch);
}

FIXTURE_TEARDOWN(sig)
{
	close(self->ch);
	close(self->devfd);
}

struct sig_helper {
	int ch;
	pthread_t main;
	pid_t main_tid;
	bool send;		/* the main thread sends: the helper receives */
	bool complete;		/* complete the main thread's call after the signal */
	long ret;		/* of the helper's own call */
	bool signalled;
};

static void *sig_helper_fn(void *arg)
{
	struct sig_helper *h = arg;
	char buf[16];

	if (!kst_wait_sleeping(getpid(), h->main_tid, 5000))
		return NULL;
	h->signalled = true;
	pthread_kill(h->main, SIGUSR1);
	if (!h->complete)
		return NULL;
	/* wait for the handler, then for the call to sleep again */
	while (!__atomic_load_n(&sig_count, __ATOMIC_RELAXED))
		kst_sleep_ms(1);
	kst_wait_sleeping(getpid(), h->main_tid, 2000);
	if (h->send)
		h->ret = kcoro_recv_timeout(h->ch, buf, sizeof(buf), 0,
					    5000 * KST_MS);
	else
		h->ret = kcoro_send_timeout(h->ch, "restart", 7, 0,
					    5000 * KST_MS);
	return NULL;
}

TEST_F(sig, interrupted_call)
{
	struct sigaction sa = { 0 };
	struct sig_helper h = { 0 };
	pthread_t helper;
	unsigned int flags = 0;
	int64_t timeout = 0;
	char buf[16];
	long ret;

	sa.sa_handler = sig_counter;
	sa.sa_flags = variant->restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	sig_count = 0;

	h.ch = self->ch;
	h.main = pthread_self();
	h.main_tid = kst_gettid();
	h.send = variant->send;
	h.complete = !variant->eintr;
	if (variant->timeout == 1) {
		flags = KCORO_MSG_TIMEOUT;
		timeout = 10000 * KST_MS;
	} else if (variant->timeout == 2) {
		flags = KCORO_MSG_TIMEOUT | KCORO_MSG_ABSTIME;
		timeout = kcoro_deadline(10000 * KST_MS);
	}
	ASSERT_EQ(0, pthread_create(&helper, NULL, sig_helper_fn, &h));
	if (variant->send) {
		struct kcoro_msg m = { 0 };

		m.buf = (uintptr_t)"message";
		m.len = 7;
		m.flags = flags;
		m.timeout_ns = timeout;
		ret = kst_ioctl(self->ch, KCORO_IOC_SEND, &m);
	} else {
		struct kcoro_msg m = { 0 };

		m.buf = (uintptr_t)buf;
		m.len = sizeof(buf);
		m.flags = flags;
		m.timeout_ns = timeout;
		ret = kst_ioctl(self->ch, KCORO_IOC_RECV, &m);
	}
	pthread_join(helper, NULL);
	ASSERT_TRUE(h.signalled) TH_LOG("the call never slept");
	EXPECT_EQ(1, __atomic_load_n(&sig_count, __ATOMIC_RELAXED));
	if (variant->eintr) {
		EXPECT_EQ(-EINTR, ret);
		/* nothing moved: no message left behind, none taken */
		EXPECT_EQ(-EAGAIN, kcoro_recv(self->ch, buf, sizeof(buf),
					      KCORO_MSG_NONBLOCK));
		EXPECT_COUNTS(self->ch, 0, 0, 0, 0);
	} else {
		EXPECT_EQ(variant->send ? 0 : 7, ret);
		EXPECT_EQ(variant->send ? 7 : 0, h.ret);
		if (!variant->send)
			EXPECT_EQ(0, memcmp(buf, "restart", 7));
		EXPECT_COUNTS(self->ch, 1, 1, 0, 0);
	}
}

/*
 * Exactly once under a storm of signals: a sender and a receiver thread
 * move 300 numbered messages over a rendezvous channel, retrying on
 * -EINTR, while a third thread keeps signalling both.
 */
struct storm {
	int ch;
	int timeout;		/* as the sig variants */
	bool restart;
	pid_t tids[2];
	long eintr[2];
	long errors;
	uint32_t got[300];
	uint32_t ngot;
};

#define STORM_N 300

static unsigned int storm_flags(struct storm *s, int64_t *timeout)
{
	if (s->timeout == 1) {
		*timeout = 10000 * KST_MS;
		return KCORO_MSG_TIMEOUT;
	}
	*timeout = 0;
	return 0;
}

static void *storm_sender(void *arg)
{
	struct storm *s = arg;
	int64_t timeout;
	unsigned int flags = storm_flags(s, &timeout);
	uint32_t i;
	int ret;

	s->tids[0] = kst_gettid();
	for (i = 0; i < STORM_N; i++) {
		do {
			ret = flags ? kcoro_send_timeout(s->ch, &i, sizeof(i),
							 0, timeout) :
				kcoro_send(s->ch, &i, sizeof(i), 0);
			if (ret == -EINTR)
				s->eintr[0]++;
		} while (ret == -EINTR);
		if (ret) {
			s->errors++;
			kcoro_cancel(s->ch);	/* frees the receiver */
			break;
		}
	}
	return NULL;
}

static void *storm_receiver(void *arg)
{
	struct storm *s = arg;
	int64_t timeout;
	unsigned int flags = storm_flags(s, &timeout);
	uint32_t v;
	long ret;

	s->tids[1] = kst_gettid();
	while (s->ngot < STORM_N) {
		ret = flags ? kcoro_recv_timeout(s->ch, &v, sizeof(v), 0,
						 timeout) :
			kcoro_recv(s->ch, &v, sizeof(v), 0);
		if (ret == -EINTR) {
			s->eintr[1]++;
			continue;
		}
		if (ret != sizeof(v)) {
			s->errors++;
			kcoro_cancel(s->ch);	/* frees the sender */
			break;
		}
		s->got[s->ngot++] = v;
	}
	return NULL;
}

static void storm_run(struct __test_metadata *_metadata, int devfd,
		      int timeout, bool restart)
{
	struct sigaction sa = { 0 };
	struct storm s = { 0 };
	pthread_t t[2];
	long signals = 0;
	uint32_t i;

	sa.sa_handler = sig_nop;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	s.ch = kcoro_chan_create(devfd, KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	ASSERT_LE(0, s.ch);
	s.timeout = timeout;
	s.restart = restart;
	pthread_create(&t[0], NULL, storm_sender, &s);
	pthread_create(&t[1], NULL, storm_receiver, &s);
	while (!s.tids[0] || !s.tids[1])
		sched_yield();
	while (__atomic_load_n(&s.ngot, __ATOMIC_RELAXED) < STORM_N && !s.errors &&
	       signals < 200000) {
		syscall(SYS_tgkill, getpid(), s.tids[signals & 1], SIGUSR1);
		signals++;
		if (!(signals & 7))
			usleep(200);
	}
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	TH_LOG("%ld signals, %ld + %ld EINTR", signals, s.eintr[0], s.eintr[1]);
	EXPECT_EQ(0, s.errors);
	ASSERT_EQ(STORM_N, s.ngot);
	for (i = 0; i < STORM_N; i++)
		ASSERT_EQ(i, s.got[i]) TH_LOG("message %u", i);
	if (restart && timeout != 1)
		EXPECT_EQ(0, s.eintr[0] + s.eintr[1]);
	EXPECT_COUNTS(s.ch, STORM_N, STORM_N, 0, 0);
	close(s.ch);
}

TEST_F_TIMEOUT(chan, signal_storm_norestart, 120)
{
	storm_run(_metadata, self->devfd, 0, false);
}

TEST_F_TIMEOUT(chan, signal_storm_restart, 120)
{
	storm_run(_metadata, self->devfd, 0, true);
}

TEST_F_TIMEOUT(chan, signal_storm_timeout, 120)
{
	storm_run(_metadata, self->devfd, 1, true);
}

TEST_HARNESS_MAIN
