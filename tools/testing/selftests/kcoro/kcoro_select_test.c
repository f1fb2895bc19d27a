// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: KCORO_IOC_SELECT (exactly one clause completes),
 * dead-letter channels, and the accounting rules of
 * Documentation/kcoro/uapi.rst ("Accounting").
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

FIXTURE(sel) {
	int devfd;
	int pipefd[2];
};

FIXTURE_SETUP(sel)
{
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
	ASSERT_EQ(0, pipe(self->pipefd));
}

FIXTURE_TEARDOWN(sel)
{
	close(self->devfd);
	close(self->pipefd[0]);
	close(self->pipefd[1]);
}

static int mkchan(struct __test_metadata *_metadata, int devfd,
		  int64_t capacity, uint32_t overflow, uint32_t max_msg_size)
{
	int fd = kcoro_chan_create(devfd, capacity, overflow, max_msg_size, 0);

	ASSERT_LE(0, fd) TH_LOG("kcoro_chan_create: %s", strerror(-fd));
	return fd;
}

#define MKCHAN(cap, ovf, max) mkchan(_metadata, self->devfd, cap, ovf, max)

#define EXPECT_COUNTS(fd, s, r, u, b) do { \
	struct kcoro_chan_info __i; \
	ASSERT_EQ(0, kcoro_chan_info(fd, &__i)); \
	EXPECT_EQ(s, __i.sent); \
	EXPECT_EQ(r, __i.received); \
	EXPECT_EQ(u, __i.undelivered); \
	EXPECT_EQ(b, __i.buffered); \
} while (0)

static struct kcoro_chan_info info_of(int fd)
{
	struct kcoro_chan_info info;

	memset(&info, 0xff, sizeof(info));
	kcoro_chan_info(fd, &info);
	return info;
}

/* A select run by a thread, to watch it block. */
struct sel_op {
	int devfd;
	struct kcoro_sel_clause c[4];
	unsigned int n;
	unsigned int flags;
	int64_t timeout_ns;
	char bufs[4][32];
	pthread_t thread;
	pid_t tid;
	int status;
	long ret;
};

static void *sel_thread(void *arg)
{
	struct sel_op *op = arg;

	__atomic_store_n(&op->tid, kst_gettid(), __ATOMIC_RELEASE);
	op->ret = kcoro_select(op->devfd, op->c, op->n, op->flags,
			       op->timeout_ns, &op->status);
	return NULL;
}

/*
 * Start it and wait until every clause is queued in its channel: each
 * channel counts one more blocked call per clause of that kind on it
 * (KCORO_IOC_CHAN_INFO).  True if they do.
 */
static bool sel_start_blocked(struct sel_op *op)
{
	long long want[4][2];
	struct kcoro_chan_info info;
	unsigned int i, k;

	for (i = 0; i < op->n; i++) {
		if (kcoro_chan_info(op->c[i].fd, &info))
			return false;
		want[i][0] = info.waiting_senders;
		want[i][1] = info.waiting_receivers;
		for (k = 0; k < op->n; k++)
			if (op->c[k].fd == op->c[i].fd)
				want[i][op->c[k].op == KCORO_SEL_RECV]++;
	}
	pthread_create(&op->thread, NULL, sel_thread, op);
	while (!__atomic_load_n(&op->tid, __ATOMIC_ACQUIRE))
		sched_yield();
	for (i = 0; i < op->n; i++)
		if (!kst_wait_waiting(op->c[i].fd, want[i][0], want[i][1], 5000))
			return false;
	return true;
}

static long sel_join(struct sel_op *op)
{
	pthread_join(op->thread, NULL);
	return op->ret;
}

static long raw_select(int devfd, struct kcoro_select *s)
{
	return kst_ioctl(devfd, KCORO_IOC_SELECT, s);
}

TEST_F(sel, errors)
{
	int a = MKCHAN(4, 0, 8), b = MKCHAN(4, 0, 8);
	struct kcoro_sel_clause c[KCORO_SELECT_MAX_CLAUSES + 1];
	struct kcoro_select s;
	char buf[16] = "msg", *guard;
	long pg = sysconf(_SC_PAGESIZE);
	int i, closed_fd;

	guard = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, guard);
	ASSERT_EQ(0, mprotect(guard + pg, pg, PROT_NONE));
	guard += pg;
	ASSERT_EQ(0, kcoro_send(a, "x", 1, 0));
	for (i = 0; i <= KCORO_SELECT_MAX_CLAUSES; i++)
		kcoro_sel_recv(&c[i], b, buf, sizeof(buf));

#define S_INIT(cnt, fl) do { \
	memset(&s, 0, sizeof(s)); \
	s.clauses = (uintptr_t)c; \
	s.count = cnt; \
	s.flags = (fl) | KCORO_MSG_NONBLOCK; \
} while (0)

	S_INIT(0, 0);
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(KCORO_SELECT_MAX_CLAUSES + 1, 0);
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(1, 1U << 3);
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(1, 1U << 9);
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(1, KCORO_BATCH_WAITALL << 1);
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(1, 0);
	s.flags = KCORO_MSG_ABSTIME;
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	s.flags = KCORO_MSG_TIMEOUT;
	s.timeout_ns = -1;
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(1, 0);
	s.reserved = 1;
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(1, 0);
	s.index = 1;	/* outputs must be zero */
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(1, 0);
	s.status = 1;
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	S_INIT(1, 0);
	s.clauses = 0;
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, &s));
	s.clauses = (uintptr_t)(guard - sizeof(c[0]));	/* 2nd clause faults */
	s.count = 2;
	memcpy(guard - sizeof(c[0]), &c[0], sizeof(c[0]));
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, &s));
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, NULL));

	/* bad clauses; the good clause on a is never taken */
	kcoro_sel_recv(&c[0], a, buf, sizeof(buf));
	S_INIT(2, 0);
	c[1].op = 0;
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	c[1].op = 3;
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	kcoro_sel_recv(&c[1], b, buf, sizeof(buf));
	c[1].reserved = 1;
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	kcoro_sel_recv(&c[1], -1, buf, sizeof(buf));
	EXPECT_EQ(-EBADF, raw_select(self->devfd, &s));
	closed_fd = dup(b);
	close(closed_fd);
	kcoro_sel_recv(&c[1], closed_fd, buf, sizeof(buf));
	EXPECT_EQ(-EBADF, raw_select(self->devfd, &s));
	kcoro_sel_recv(&c[1], self->pipefd[0], buf, sizeof(buf));
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	kcoro_sel_recv(&c[1], self->devfd, buf, sizeof(buf));
	EXPECT_EQ(-EINVAL, raw_select(self->devfd, &s));
	kcoro_sel_send(&c[1], b, buf, 9);	/* above max_msg_size */
	EXPECT_EQ(-EMSGSIZE, raw_select(self->devfd, &s));
	kcoro_sel_send(&c[1], b, guard - 2, 4);
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, &s));
	kcoro_sel_recv(&c[1], b, guard - 2, 4);
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, &s));
	kcoro_sel_recv(&c[1], b, NULL, 4);
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, &s));

	/* select is a device call: ENOTTY on a channel */
	kcoro_sel_recv(&c[1], b, buf, sizeof(buf));
	EXPECT_EQ(-ENOTTY, raw_select(a, &s));
	EXPECT_COUNTS(a, 1, 0, 0, 1);
	EXPECT_COUNTS(b, 0, 0, 0, 0);
	close(a);
	close(b);
#undef S_INIT
}

TEST_F(sel, ready_clauses)
{
	int a = MKCHAN(4, 0, 0), b = MKCHAN(4, 0, 0), full = MKCHAN(1, 0, 0);
	struct kcoro_sel_clause c[3];
	char ba[16], bb[16];
	int st = -1, i, hits[2] = { 0, 0 };

	ASSERT_EQ(0, kcoro_send(full, "f", 1, 0));
	/* nothing ready, non-blocking: EAGAIN, and nothing happened */
	kcoro_sel_recv(&c[0], a, ba, sizeof(ba));
	kcoro_sel_recv(&c[1], b, bb, sizeof(bb));
	kcoro_sel_send(&c[2], full, "no", 2);
	EXPECT_EQ(-EAGAIN, kcoro_select(self->devfd, c, 3, KCORO_MSG_NONBLOCK,
					0, &st));
	EXPECT_COUNTS(full, 1, 0, 0, 1);

	/* one ready receive */
	ASSERT_EQ(0, kcoro_send(b, "hello", 5, 0));
	EXPECT_EQ(1, kcoro_select(self->devfd, c, 3, KCORO_MSG_NONBLOCK, 0, &st));
	EXPECT_EQ(0, st);
	EXPECT_EQ(5, c[1].len);
	EXPECT_EQ(0, memcmp(bb, "hello", 5));
	EXPECT_EQ(sizeof(ba), c[0].len);	/* untouched */
	EXPECT_COUNTS(b, 1, 1, 0, 0);

	/* one ready send (room in a), the full channel untouched */
	kcoro_sel_send(&c[0], full, "no", 2);
	kcoro_sel_send(&c[1], a, "yes", 3);
	EXPECT_EQ(1, kcoro_select(self->devfd, c, 2, 0, 0, &st));
	EXPECT_EQ(0, st);
	EXPECT_COUNTS(a, 1, 0, 0, 1);
	EXPECT_COUNTS(full, 1, 0, 0, 1);
	EXPECT_EQ(3, kcoro_recv(a, ba, sizeof(ba), 0));

	/* both ready: BIASED takes the first, else either, at random */
	kcoro_sel_recv(&c[0], a, ba, sizeof(ba));
	kcoro_sel_recv(&c[1], b, bb, sizeof(bb));
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, kcoro_send(a, "a", 1, 0));
		ASSERT_EQ(0, kcoro_send(b, "b", 1, 0));
		EXPECT_EQ(0, kcoro_select(self->devfd, c, 2, KCORO_SEL_BIASED,
					  0, NULL));
		EXPECT_EQ(1, kcoro_recv(b, bb, sizeof(bb), 0));
	}
	ASSERT_EQ(0, kcoro_send(a, "a", 1, 0));
	ASSERT_EQ(0, kcoro_send(b, "b", 1, 0));
	for (i = 0; i < 200; i++) {
		long r = kcoro_select(self->devfd, c, 2, 0, 0, NULL);

		ASSERT_TRUE(r == 0 || r == 1) TH_LOG("select: %ld", r);
		hits[r & 1]++;
		ASSERT_EQ(0, kcoro_send(r ? b : a, "r", 1, 0));
	}
	EXPECT_LT(10, hits[0]);
	EXPECT_LT(10, hits[1]);
	close(a);
	close(b);
	close(full);
}

TEST_F(sel, timeouts)
{
	int a = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0);
	int b = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0);
	struct kcoro_sel_clause c[2];
	char buf[16];
	int64_t t0;

	kcoro_sel_recv(&c[0], a, buf, sizeof(buf));
	kcoro_sel_send(&c[1], b, "s", 1);
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_select(self->devfd, c, 2, KCORO_MSG_TIMEOUT,
					   50 * KST_MS, NULL));
	EXPECT_LE(50 * KST_MS, kst_now() - t0);
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_select(self->devfd, c, 2,
					   KCORO_MSG_TIMEOUT | KCORO_MSG_ABSTIME,
					   t0 + 50 * KST_MS, NULL));
	EXPECT_LE(50 * KST_MS, kst_now() - t0);
	EXPECT_EQ(-ETIMEDOUT, kcoro_select(self->devfd, c, 2, KCORO_MSG_TIMEOUT,
					   0, NULL));
	/* an O_NONBLOCK channel fd does not make select non-blocking */
	ASSERT_EQ(0, fcntl(a, F_SETFL, O_NONBLOCK));
	t0 = kst_now();
	EXPECT_EQ(-ETIMEDOUT, kcoro_select(self->devfd, c, 2, KCORO_MSG_TIMEOUT,
					   20 * KST_MS, NULL));
	EXPECT_LE(20 * KST_MS, kst_now() - t0);
	EXPECT_COUNTS(a, 0, 0, 0, 0);
	EXPECT_COUNTS(b, 0, 0, 0, 0);
	close(a);
	close(b);
}

TEST_F(sel, wakeup_one_clause)
{
	int a = MKCHAN(4, 0, 0), b = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0);
	int c = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0);
	struct sel_op op = { 0 };
	char buf[16];

	op.devfd = self->devfd;
	op.n = 3;
	kcoro_sel_recv(&op.c[0], a, op.bufs[0], sizeof(op.bufs[0]));
	kcoro_sel_recv(&op.c[1], b, op.bufs[1], sizeof(op.bufs[1]));
	kcoro_sel_send(&op.c[2], c, "never", 5);
	ASSERT_TRUE(sel_start_blocked(&op));
	ASSERT_EQ(0, kcoro_send(a, "wake", 4, 0));
	EXPECT_EQ(0, sel_join(&op));
	EXPECT_EQ(4, op.c[0].len);
	EXPECT_EQ(0, memcmp(op.bufs[0], "wake", 4));
	/* the other clauses did nothing: b has no sender, no receiver */
	EXPECT_EQ(-EAGAIN, kcoro_recv(b, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_EQ(-EAGAIN, kcoro_recv(c, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_COUNTS(b, 0, 0, 0, 0);
	EXPECT_COUNTS(c, 0, 0, 0, 0);

	/* a blocked select's send clause meets a receiver */
	memset(&op, 0, sizeof(op));
	op.devfd = self->devfd;
	op.n = 2;
	kcoro_sel_send(&op.c[0], b, "via b", 5);
	kcoro_sel_recv(&op.c[1], a, op.bufs[1], sizeof(op.bufs[1]));
	ASSERT_TRUE(sel_start_blocked(&op));
	EXPECT_EQ(5, kcoro_recv(b, buf, sizeof(buf), 0));
	EXPECT_EQ(0, sel_join(&op));
	EXPECT_EQ(0, memcmp(buf, "via b", 5));
	EXPECT_COUNTS(a, 1, 1, 0, 0);
	EXPECT_COUNTS(b, 1, 1, 0, 0);
	close(a);
	close(b);
	close(c);
}

/* Two selects on opposite ends of one rendezvous channel meet. */
TEST_F(sel, rendezvous_meet)
{
	int r = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0);
	int other = MKCHAN(1, 0, 0);
	struct sel_op snd = { 0 }, rcv = { 0 };
	int i;

	for (i = 0; i < 20; i++) {
		memset(&snd, 0, sizeof(snd));
		memset(&rcv, 0, sizeof(rcv));
		snd.devfd = self->devfd;
		rcv.devfd = self->devfd;
		snd.n = 2;
		kcoro_sel_send(&snd.c[0], r, "meet", 4);
		kcoro_sel_recv(&snd.c[1], other, snd.bufs[1], 32);
		rcv.n = 1;
		kcoro_sel_recv(&rcv.c[0], r, rcv.bufs[0], 32);
		snd.flags = KCORO_MSG_TIMEOUT;
		rcv.flags = KCORO_MSG_TIMEOUT;
		snd.timeout_ns = 10000 * KST_MS;
		rcv.timeout_ns = 10000 * KST_MS;
		if (i & 1) {
			ASSERT_TRUE(sel_start_blocked(&snd));
			pthread_create(&rcv.thread, NULL, sel_thread, &rcv);
		} else {
			ASSERT_TRUE(sel_start_blocked(&rcv));
			pthread_create(&snd.thread, NULL, sel_thread, &snd);
		}
		EXPECT_EQ(0, sel_join(&snd));
		EXPECT_EQ(0, sel_join(&rcv));
		EXPECT_EQ(4, rcv.c[0].len);
	}
	EXPECT_COUNTS(r, 20, 20, 0, 0);
	close(r);
	close(other);
}

TEST_F(sel, closed_status)
{
	int a = MKCHAN(4, 0, 0), b = MKCHAN(4, 0, 0);
	struct kcoro_sel_clause c[1];
	char buf[16];
	int st = -1;

	/* a receive on a closed, drained channel completes with EPIPE */
	ASSERT_EQ(0, kcoro_close(a));
	kcoro_sel_recv(&c[0], a, buf, sizeof(buf));
	EXPECT_EQ(0, kcoro_select(self->devfd, c, 1, 0, 0, &st));
	EXPECT_EQ(EPIPE, st);
	/* a send on a closed channel: EPIPE, and its message stays ours */
	ASSERT_EQ(0, kcoro_close(b));
	kcoro_sel_send(&c[0], b, "lost?", 5);
	st = -1;
	EXPECT_EQ(0, kcoro_select(self->devfd, c, 1, 0, 0, &st));
	EXPECT_EQ(EPIPE, st);
	EXPECT_COUNTS(b, 0, 0, 0, 0);
	close(a);
	close(b);
}

static int sel_sigs;	/* __atomic */

static void sel_sig(int sig)
{
	(void)sig;
	__atomic_fetch_add(&sel_sigs, 1, __ATOMIC_RELAXED);
}

TEST_F(sel, signal)
{
	int a = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0);
	int b = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0);
	struct sigaction sa = { 0 };
	struct sel_op op = { 0 };
	char buf[8];

	sa.sa_handler = sel_sig;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	op.devfd = self->devfd;
	op.n = 2;
	kcoro_sel_send(&op.c[0], a, "s", 1);
	kcoro_sel_recv(&op.c[1], b, op.bufs[1], 32);
	ASSERT_TRUE(sel_start_blocked(&op));
	pthread_kill(op.thread, SIGUSR1);
	EXPECT_EQ(-EINTR, sel_join(&op));
	EXPECT_EQ(1, __atomic_load_n(&sel_sigs, __ATOMIC_RELAXED));
	EXPECT_EQ(-EAGAIN, kcoro_recv(a, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_EQ(-EAGAIN, kcoro_send(b, "x", 1, KCORO_MSG_NONBLOCK));
	EXPECT_COUNTS(a, 0, 0, 0, 0);
	EXPECT_COUNTS(b, 0, 0, 0, 0);
	close(a);
	close(b);
}

TEST_F(sel, max_clauses)
{
	struct kcoro_sel_clause c[KCORO_SELECT_MAX_CLAUSES];
	int fds[KCORO_SELECT_MAX_CLAUSES], i;
	char buf[8];

	for (i = 0; i < KCORO_SELECT_MAX_CLAUSES; i++) {
		fds[i] = MKCHAN(1, 0, 0);
		kcoro_sel_recv(&c[i], fds[i], buf, sizeof(buf));
	}
	ASSERT_EQ(0, kcoro_send(fds[KCORO_SELECT_MAX_CLAUSES - 1], "z", 1, 0));
	EXPECT_EQ(KCORO_SELECT_MAX_CLAUSES - 1,
		  kcoro_select(self->devfd, c, KCORO_SELECT_MAX_CLAUSES, 0, 0,
			       NULL));
	for (i = 0; i < KCORO_SELECT_MAX_CLAUSES; i++)
		close(fds[i]);
}

/*
 * Accounting: a blocking send that fails with EPIPE hands its message
 * over (undelivered, not sent); sends that fail otherwise count nothing.
 */
TEST_F(sel, accounting)
{
	int ch = MKCHAN(1, 0, 0);
	struct kcoro_chan_info info;
	char buf[8];

	ASSERT_EQ(0, kcoro_send(ch, "1", 1, 0));
	EXPECT_EQ(-EAGAIN, kcoro_send(ch, "2", 1, KCORO_MSG_NONBLOCK));
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(ch, "2", 1, 0, 0));
	EXPECT_EQ(-ETIMEDOUT, kcoro_send_timeout(ch, "2", 1, 0, KST_MS));
	EXPECT_EQ(-EMSGSIZE, kcoro_send(ch, buf, 5000, 0));
	EXPECT_COUNTS(ch, 1, 0, 0, 1);
	ASSERT_EQ(0, kcoro_close(ch));
	EXPECT_EQ(-EPIPE, kcoro_send(ch, "3", 1, 0));
	EXPECT_EQ(-EPIPE, kst_write(ch, "4", 1));
	EXPECT_COUNTS(ch, 1, 0, 2, 1);
	/* non-blocking: keeps its message (Kotlin's trySend): nothing counted */
	EXPECT_EQ(-EPIPE, kcoro_send(ch, "5", 1, KCORO_MSG_NONBLOCK));
	info = info_of(ch);
	EXPECT_EQ(2, info.undelivered);
	EXPECT_EQ(1, info.sent);
	EXPECT_EQ(1, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(-EPIPE, kcoro_recv(ch, buf, sizeof(buf), 0));
	close(ch);
}

TEST_F(sel, dead_letters)
{
	int dead = MKCHAN(KCORO_CAP_UNLIMITED, 0, 0);
	struct kcoro_chan_info info;
	char buf[8];
	int ch, i;

	/* drop-oldest: the three dropped go to the dead-letter channel */
	ch = kcoro_chan_create_dead_letter(self->devfd, 2,
					   KCORO_OVERFLOW_DROP_OLDEST, 0, 0,
					   dead);
	ASSERT_LE(0, ch);
	for (i = 0; i < 5; i++) {
		buf[0] = '0' + i;
		ASSERT_EQ(0, kcoro_send(ch, buf, 1, 0));
	}
	info = info_of(ch);
	EXPECT_EQ(5, info.sent);
	EXPECT_EQ(3, info.undelivered);
	EXPECT_EQ(3, info.dead_lettered);
	EXPECT_EQ(0, info.dead_lost);
	EXPECT_EQ(3, kst_fdinfo_num(ch, "kcoro-dead-lettered"));
	EXPECT_EQ(0, kst_fdinfo_num(ch, "kcoro-dead-lost"));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(1, kcoro_recv(dead, buf, sizeof(buf), 0));
		EXPECT_EQ('0' + i, buf[0]);
	}
	/* cancel: the buffered two follow them (in no promised order) */
	ASSERT_EQ(0, kcoro_cancel(ch));
	EXPECT_EQ(5, info_of(ch).dead_lettered);
	EXPECT_EQ(1, kcoro_recv(dead, buf, sizeof(buf), 0));
	EXPECT_EQ(1, kcoro_recv(dead, buf + 1, sizeof(buf) - 1, 0));
	EXPECT_EQ('3' + '4', buf[0] + buf[1]);
	EXPECT_EQ(5, info_of(dead).sent);
	close(ch);

	/*
	 * The dead-letter channel outlives its fds, but releasing the last
	 * one closed it: what comes then is lost (counted dead_lost).
	 */
	ch = kcoro_chan_create_dead_letter(self->devfd, 4, 0, 0, 0, dead);
	ASSERT_LE(0, ch);
	close(dead);
	ASSERT_EQ(0, kcoro_send(ch, "z", 1, 0));
	ASSERT_EQ(0, kcoro_cancel(ch));
	info = info_of(ch);
	EXPECT_EQ(1, info.undelivered);
	EXPECT_EQ(0, info.dead_lettered);
	EXPECT_EQ(1, info.dead_lost);
	close(ch);
}

/*
 * A send clause on a full drop-latest channel: the select completes that
 * clause and its message is dropped into the undelivered hook (here the
 * dead-letter channel), exactly once, as a plain send's would be.  (It
 * used to be neither buffered nor hooked: leaked.)
 */
TEST_F(sel, drop_latest_send_clause)
{
	int dead = MKCHAN(KCORO_CAP_UNLIMITED, 0, 0);
	struct kcoro_sel_clause c[1];
	struct kcoro_chan_info info;
	int ch, i, st, n = 200;
	char buf[64];

	ch = kcoro_chan_create_dead_letter(self->devfd, 1,
					   KCORO_OVERFLOW_DROP_LATEST, 0, 0,
					   dead);
	ASSERT_LE(0, ch);
	ASSERT_EQ(0, kcoro_send(ch, "first", 5, 0));
	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "m%d", i);
		kcoro_sel_send(&c[0], ch, buf, strlen(buf) + 1);
		/* blocking and non-blocking alike: a drop never waits */
		EXPECT_EQ(0, kcoro_select(self->devfd, c, 1,
					  i & 1 ? KCORO_MSG_NONBLOCK : 0, 0,
					  &st));
		EXPECT_EQ(0, st);
	}
	info = info_of(ch);
	EXPECT_EQ(n + 1, info.sent);
	EXPECT_EQ(n, info.undelivered);
	EXPECT_EQ(n, info.dead_lettered);
	EXPECT_EQ(0, info.dead_lost);
	EXPECT_EQ(1, info.buffered);
	EXPECT_EQ(n, info_of(dead).buffered);
	/* each dropped message once, in order */
	for (i = 0; i < n; i++) {
		char want[64];

		snprintf(want, sizeof(want), "m%d", i);
		ASSERT_EQ((long)strlen(want) + 1,
			  kcoro_recv(dead, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
		EXPECT_STREQ(want, buf);
	}
	EXPECT_EQ(-EAGAIN, kcoro_recv(dead, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_EQ(5, kcoro_recv(ch, buf, sizeof(buf), 0));
	close(ch);
	close(dead);
}

/*
 * The result fields are checked before a clause is taken: a select whose
 * struct is read-only fails with EFAULT and the message stays queued.
 */
TEST_F(sel, results_not_writable)
{
	int a = MKCHAN(4, 0, 8);
	long pg = sysconf(_SC_PAGESIZE);
	struct kcoro_sel_clause c[1];
	struct kcoro_select *s;
	char buf[16];

	ASSERT_EQ(0, kcoro_send(a, "x", 1, 0));
	s = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_NE(MAP_FAILED, s);
	kcoro_sel_recv(&c[0], a, buf, sizeof(buf));
	memset(s, 0, sizeof(*s));
	s->clauses = (uintptr_t)c;
	s->count = 1;
	s->flags = KCORO_MSG_NONBLOCK;
	ASSERT_EQ(0, mprotect(s, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, s));
	EXPECT_EQ(1, kcoro_recv(a, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	EXPECT_EQ(1, info_of(a).received);
	EXPECT_EQ(0, info_of(a).undelivered);
	munmap(s, pg);
	close(a);
}

/*
 * A non-blocking send that finds a channel closed keeps its message on
 * every kind of channel (Kotlin's trySend); a blocking one hands it over
 * (here to the dead-letter channel), whatever its deadline.
 */
TEST_F(sel, closed_send_rule)
{
	static const struct { int64_t cap; unsigned int ovf; } kinds[] = {
		{ 1, 0 }, { KCORO_CAP_UNLIMITED, 0 }, { KCORO_CAP_CONFLATED, 0 },
		{ 2, KCORO_OVERFLOW_DROP_OLDEST }, { 2, KCORO_OVERFLOW_DROP_LATEST },
	};
	int dead = MKCHAN(KCORO_CAP_UNLIMITED, 0, 0);
	struct kcoro_chan_info info;
	unsigned int k;
	int ch;

	for (k = 0; k < ARRAY_SIZE(kinds); k++) {
		ch = kcoro_chan_create_dead_letter(self->devfd, kinds[k].cap,
						   kinds[k].ovf, 0, 0, dead);
		ASSERT_LE(0, ch);
		ASSERT_EQ(0, kcoro_close(ch));
		EXPECT_EQ(-EPIPE, kcoro_send(ch, "n", 1, KCORO_MSG_NONBLOCK));
		info = info_of(ch);
		EXPECT_EQ(0, info.undelivered) TH_LOG("kind %u", k);
		EXPECT_EQ(0, info.dead_lettered) TH_LOG("kind %u", k);
		/* blocking, with a deadline already past or not: handed over */
		EXPECT_EQ(-EPIPE, kcoro_send(ch, "b", 1, 0));
		EXPECT_EQ(-EPIPE, kcoro_send_timeout(ch, "t", 1, 0, 0));
		EXPECT_EQ(-EPIPE, kcoro_send_timeout(ch, "u", 1, 0, KST_MS));
		info = info_of(ch);
		EXPECT_EQ(3, info.undelivered) TH_LOG("kind %u", k);
		EXPECT_EQ(3, info.dead_lettered) TH_LOG("kind %u", k);
		close(ch);
	}
	close(dead);
}

TEST_F(sel, dead_letters_lost)
{
	int dead = MKCHAN(1, 0, 0);
	struct kcoro_chan_info info;
	int ch, i;

	ch = kcoro_chan_create_dead_letter(self->devfd, 1,
					   KCORO_OVERFLOW_DROP_LATEST, 0, 0,
					   dead);
	ASSERT_LE(0, ch);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, kcoro_send(ch, "d", 1, 0));
	info = info_of(ch);
	EXPECT_EQ(3, info.undelivered);
	EXPECT_EQ(1, info.dead_lettered);
	EXPECT_EQ(2, info.dead_lost);
	EXPECT_EQ(1, info_of(dead).buffered);
	close(ch);
	close(dead);
}

TEST_F(sel, dead_letter_errors)
{
	int dead = MKCHAN(KCORO_CAP_UNLIMITED, 0, 0);
	int latest = MKCHAN(2, KCORO_OVERFLOW_DROP_LATEST, 0);
	int small = MKCHAN(KCORO_CAP_UNLIMITED, 0, 8);
	int closed_fd = 1000, ch, fd;

	close(closed_fd);
	ch = kcoro_chan_create_dead_letter(self->devfd, 1, 0, 0, 0, dead);
	ASSERT_LE(0, ch);
	/* no chains, no drop-latest dead-letter channel, only channels */
	EXPECT_EQ(-EINVAL, kcoro_chan_create_dead_letter(self->devfd, 1, 0, 0,
							 0, ch));
	EXPECT_EQ(-EINVAL, kcoro_chan_create_dead_letter(self->devfd, 1, 0, 0,
							 0, latest));
	/* it must hold every message of the channel: max_msg_size */
	EXPECT_EQ(-EINVAL, kcoro_chan_create_dead_letter(self->devfd, 1, 0, 0,
							 0, small));
	EXPECT_EQ(-EINVAL, kcoro_chan_create_dead_letter(self->devfd, 1, 0, 9,
							 0, small));
	fd = kcoro_chan_create_dead_letter(self->devfd, 1, 0, 8, 0, small);
	EXPECT_LE(0, fd);
	close(fd);
	EXPECT_EQ(-EINVAL, kcoro_chan_create_dead_letter(self->devfd, 1, 0, 0,
							 0, self->pipefd[0]));
	EXPECT_EQ(-EINVAL, kcoro_chan_create_dead_letter(self->devfd, 1, 0, 0,
							 0, self->devfd));
	EXPECT_EQ(-EBADF, kcoro_chan_create_dead_letter(self->devfd, 1, 0, 0,
							0, -1));
	EXPECT_EQ(-EBADF, kcoro_chan_create_dead_letter(self->devfd, 1, 0, 0,
							0, closed_fd));
	close(ch);
	close(dead);
	close(latest);
	close(small);
}

/*
 * One select with a send and a receive clause on the same rendezvous
 * channel: it must not meet itself, and must end at its timeout (or
 * refuse the pair).  Run in a child: a kernel that spins here leaves an
 * unkillable task behind, which this test reports instead of hanging.
 */
TEST_F(sel, same_channel_send_recv)
{
	int a = MKCHAN(KCORO_CAP_RENDEZVOUS, 0, 0);
	int64_t end = kst_now() + 5000 * KST_MS;
	pid_t pid;
	int status = 0;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kcoro_sel_clause c[2];
		char buf[8];
		long r;

		kcoro_sel_send(&c[0], a, "self", 4);
		kcoro_sel_recv(&c[1], a, buf, sizeof(buf));
		r = kcoro_select(self->devfd, c, 2, KCORO_MSG_TIMEOUT,
				 50 * KST_MS, NULL);
		_exit(r == -EINVAL ? 0 : 1);
	}
	while (kst_now() < end && waitpid(pid, &status, WNOHANG) == 0)
		kst_sleep_ms(20);
	if (kst_now() >= end) {
		kill(pid, SIGKILL);
		TH_LOG("select with a 50 ms timeout still running after 5 s (task state %c)",
		       kst_task_state(pid, pid));
		ASSERT_TRUE(false);
	}
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_COUNTS(a, 0, 0, 0, 0);
	close(a);
}

/*
 * More clauses than the kernel keeps on its stack (8): the arrays are
 * allocated, and every rule holds as for a small select.  A ready clause
 * wins; nothing ready times out with every clause out of its channel; a
 * fault in the clause array, a clause array that is read-only, or a
 * read-only receive buffer of the last clause fails with EFAULT and
 * nothing taken, though an earlier clause was ready.
 */
#define SEL_MANY 12
TEST_F(sel, many_clauses)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct kcoro_sel_clause c[SEL_MANY], *gc;
	int fds[SEL_MANY], i, st = -1;
	struct kcoro_select s;
	char buf[SEL_MANY][8], *area;

	area = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	for (i = 0; i < SEL_MANY; i++) {
		fds[i] = MKCHAN(1, 0, 0);
		kcoro_sel_recv(&c[i], fds[i], buf[i], sizeof(buf[i]));
	}
	ASSERT_EQ(0, kcoro_send(fds[9], "nine", 4, 0));
	EXPECT_EQ(9, kcoro_select(self->devfd, c, SEL_MANY, 0, 0, &st));
	EXPECT_EQ(0, st);
	EXPECT_EQ(4, c[9].len);
	EXPECT_EQ(0, memcmp(buf[9], "nine", 4));
	EXPECT_EQ(sizeof(buf[8]), c[8].len);	/* untouched */
	EXPECT_COUNTS(fds[9], 1, 1, 0, 0);
	c[9].len = sizeof(buf[9]);
	EXPECT_EQ(-ETIMEDOUT, kcoro_select(self->devfd, c, SEL_MANY,
					   KCORO_MSG_TIMEOUT, KST_MS, &st));
	for (i = 0; i < SEL_MANY; i++)
		EXPECT_TRUE(kst_wait_waiting(fds[i], 0, 0, 5000));

	/* the last clause on a PROT_NONE page */
	ASSERT_EQ(0, kcoro_send(fds[0], "zero", 4, 0));
	ASSERT_EQ(0, mprotect(area + 2 * pg, pg, PROT_NONE));
	gc = (struct kcoro_sel_clause *)(area + 2 * pg) - (SEL_MANY - 1);
	memcpy(gc, c, (SEL_MANY - 1) * sizeof(c[0]));
	memset(&s, 0, sizeof(s));
	s.clauses = (uintptr_t)gc;
	s.count = SEL_MANY;
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, &s));
	/* a read-only clause array: the result length could not be stored */
	gc = (struct kcoro_sel_clause *)(area + pg);
	memcpy(gc, c, sizeof(c));
	ASSERT_EQ(0, mprotect(area + pg, pg, PROT_READ));
	memset(&s, 0, sizeof(s));
	s.clauses = (uintptr_t)gc;
	s.count = SEL_MANY;
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, &s));
	/* the last receive buffer read-only */
	kcoro_sel_recv(&c[SEL_MANY - 1], fds[SEL_MANY - 1], area + pg, 8);
	EXPECT_EQ(-EFAULT, kcoro_select(self->devfd, c, SEL_MANY, 0, 0, &st));
	EXPECT_COUNTS(fds[0], 1, 0, 0, 1);
	/* and with every pointer good, the ready clause is taken */
	kcoro_sel_recv(&c[SEL_MANY - 1], fds[SEL_MANY - 1], area, 8);
	EXPECT_EQ(0, kcoro_select(self->devfd, c, SEL_MANY,
				  KCORO_SEL_BIASED, 0, &st));
	EXPECT_EQ(0, memcmp(buf[0], "zero", 4));
	EXPECT_COUNTS(fds[0], 1, 1, 0, 0);
	for (i = 0; i < SEL_MANY; i++)
		close(fds[i]);
	munmap(area, 3 * pg);
}

/*
 * The result fields share a page with the clause array and the receive
 * buffer (the common case: all on the caller's stack), and that page
 * becomes read-only: still EFAULT with nothing taken.
 */
TEST_F(sel, one_page_read_only)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct {
		struct kcoro_select s;
		struct kcoro_sel_clause c[2];
		char buf[2][16];
	} *p;
	int a = MKCHAN(4, 0, 0), b = MKCHAN(4, 0, 0);

	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, kcoro_send(b, "b", 1, 0));
	kcoro_sel_recv(&p->c[0], a, p->buf[0], sizeof(p->buf[0]));
	kcoro_sel_recv(&p->c[1], b, p->buf[1], sizeof(p->buf[1]));
	p->s.clauses = (uintptr_t)p->c;
	p->s.count = 2;
	ASSERT_EQ(0, mprotect(p, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, &p->s));
	EXPECT_COUNTS(b, 1, 0, 0, 1);
	ASSERT_EQ(0, mprotect(p, pg, PROT_READ | PROT_WRITE));
	EXPECT_EQ(1, raw_select(self->devfd, &p->s));
	EXPECT_EQ(1, p->s.index);
	EXPECT_EQ(0, p->s.status);
	EXPECT_EQ(1, p->c[1].len);
	EXPECT_EQ('b', p->buf[1][0]);
	EXPECT_COUNTS(b, 1, 1, 0, 0);
	munmap(p, pg);
	close(a);
	close(b);
}

/*
 * A struct kcoro_select whose index ends one page and whose status
 * starts the next, read-only one: EFAULT with nothing taken.  (The struct
 * is not aligned there; it is only ever touched through memcpy().)
 */
TEST_F(sel, results_across_pages)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct kcoro_sel_clause c[1];
	struct kcoro_select s, *us;
	int a = MKCHAN(4, 0, 0);
	char buf[16], *area;
	uint32_t index;

	area = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(0, kcoro_send(a, "x", 1, 0));
	kcoro_sel_recv(&c[0], a, buf, sizeof(buf));
	memset(&s, 0, sizeof(s));
	s.clauses = (uintptr_t)c;
	s.count = 1;
	us = (struct kcoro_select *)(area + pg -
				     offsetof(struct kcoro_select, status));
	memcpy(us, &s, sizeof(s));
	ASSERT_EQ(0, mprotect(area + pg, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, raw_select(self->devfd, us));
	EXPECT_COUNTS(a, 1, 0, 0, 1);
	ASSERT_EQ(0, mprotect(area + pg, pg, PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, raw_select(self->devfd, us));
	memcpy(&index, (char *)us + offsetof(struct kcoro_select, index),
	       sizeof(index));
	EXPECT_EQ(0, index);
	EXPECT_COUNTS(a, 1, 1, 0, 0);
	munmap(area, 2 * pg);
	close(a);
}

TEST_HARNESS_MAIN
