// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: channels between processes.  fork, SCM_RIGHTS (also
 * with the only reference in flight), exec and FD_CLOEXEC, an N x M
 * multi-process stress checked message by message, and the per-user
 * limits (max_user_channels, max_user_bytes) for an unprivileged uid.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

#define NOBODY		65534
#define EXEC_ENV	"KCORO_SELFTEST_EXEC"

/*
 * Run after exec by exec_cloexec: "<cloexec fd>,<inherited fd>".  The
 * first must be gone, the second still a channel: send on it and exit.
 */
static void __attribute__((constructor)) exec_check(void)
{
	const char *env = getenv(EXEC_ENV);
	int gone, kept;
	char val[32];

	if (!env)
		return;
	if (sscanf(env, "%d,%d", &gone, &kept) != 2)
		_exit(10);
	if (fcntl(gone, F_GETFD) != -1 || errno != EBADF)
		_exit(11);
	if (!kst_fdinfo(kept, "kcoro-state", val, sizeof(val)))
		_exit(12);
	if (kcoro_send(kept, "exec", 4, 0))
		_exit(13);
	_exit(0);
}

FIXTURE(proc) {
	int devfd;
	long long saved_channels;
	long long saved_bytes;
};

FIXTURE_SETUP(proc)
{
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
	self->saved_channels = kst_param("max_user_channels", -1);
	self->saved_bytes = kst_param("max_user_bytes", -1);
}

FIXTURE_TEARDOWN(proc)
{
	if (self->saved_channels >= 0)
		kst_param_set("max_user_channels", self->saved_channels);
	if (self->saved_bytes >= 0)
		kst_param_set("max_user_bytes", self->saved_bytes);
	close(self->devfd);
}

/* Wait for a child: its exit status, or 100 + signal. */
static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 100 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int send_msgs(int ch, uint32_t producer, uint32_t n)
{
	char buf[512];
	uint32_t i;

	for (i = 0; i < n; i++) {
		size_t len = kst_msg_fill(buf, producer, i, (i * 37) % 300);

		if (kcoro_send(ch, buf, len, 0))
			return 1;
	}
	return 0;
}

static int recv_msgs(int ch, uint32_t producer, uint32_t n)
{
	struct kst_msg_hdr *h;
	char buf[512];
	uint32_t i;

	h = (struct kst_msg_hdr *)buf;
	for (i = 0; i < n; i++) {
		ssize_t len = kcoro_recv(ch, buf, sizeof(buf), 0);

		if (len < 0 || !kst_msg_check(buf, len) ||
		    h->producer != producer || h->seq != i)
			return 1;
	}
	return 0;
}

TEST_F(proc, fork_both_ways)
{
	int up = kcoro_chan_create(self->devfd, 4, 0, 0, 0);
	int down = kcoro_chan_create(self->devfd, KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	pid_t pid;

	ASSERT_LE(0, up);
	ASSERT_LE(0, down);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (send_msgs(up, 1, 300))
			_exit(1);
		if (recv_msgs(down, 2, 300))
			_exit(2);
		_exit(0);
	}
	EXPECT_EQ(0, recv_msgs(up, 1, 300));
	EXPECT_EQ(0, send_msgs(down, 2, 300));
	EXPECT_EQ(0, wait_child(pid));
	/* the child's references went with it; ours keep both open */
	EXPECT_EQ(0, kcoro_send(up, "x", 1, 0));
	EXPECT_EQ(300, kst_fdinfo_num(down, "kcoro-received"));
	close(up);
	close(down);
}

TEST_F(proc, fork_blocked_waiters)
{
	int ch = kcoro_chan_create(self->devfd, KCORO_CAP_RENDEZVOUS, 0, 0, 0);
	pid_t pids[4];
	char buf[8];
	int i;

	ASSERT_LE(0, ch);
	/* four children wait to receive; close wakes the ones left */
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			ssize_t n = kcoro_recv(ch, buf, sizeof(buf), 0);

			_exit(n == 1 ? 0 : n == -EPIPE ? 1 : 2);
		}
	}
	for (i = 0; i < 4; i++)
		ASSERT_TRUE(kst_wait_sleeping(pids[i], pids[i], 5000));
	ASSERT_EQ(0, kcoro_send(ch, "a", 1, 0));
	ASSERT_EQ(0, kcoro_send(ch, "b", 1, 0));
	ASSERT_EQ(0, kcoro_close(ch));
	{
		int got = 0, pipe = 0;

		for (i = 0; i < 4; i++) {
			int st = wait_child(pids[i]);

			got += st == 0;
			pipe += st == 1;
		}
		EXPECT_EQ(2, got);
		EXPECT_EQ(2, pipe);
	}
	close(ch);
}

TEST_F(proc, scm_rights)
{
	int sv[2], ch, fd;
	pid_t pid;
	char buf[8];
	int i;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* a channel of the child's own, passed to the parent */
		int dev = open(KCORO_DEVICE, O_RDWR);
		int c = dev < 0 ? -1 :
			kcoro_chan_create(dev, KCORO_CAP_UNLIMITED, 0, 0, 0);

		close(dev);
		if (c < 0 || kst_send_fd(sv[1], c))
			_exit(1);
		if (send_msgs(c, 7, 50) || kcoro_close(c))
			_exit(2);
		_exit(0);
	}
	fd = kst_recv_fd(sv[0]);
	ASSERT_LE(0, fd) TH_LOG("recvmsg: %s", strerror(-fd));
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_EQ(50, kst_fdinfo_num(fd, "kcoro-sent"));
	EXPECT_EQ(0, recv_msgs(fd, 7, 50));
	EXPECT_EQ(-EPIPE, kcoro_recv(fd, buf, sizeof(buf), 0));
	close(fd);

	/* the only reference in flight in a unix socket keeps it alive */
	ch = kcoro_chan_create(self->devfd, 8, 0, 0, 0);
	ASSERT_LE(0, ch);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, kcoro_send(ch, "f", 1, 0));
	ASSERT_EQ(0, kst_send_fd(sv[0], ch));
	close(ch);
	fd = kst_recv_fd(sv[1]);
	ASSERT_LE(0, fd);
	EXPECT_EQ(3, kst_fdinfo_num(fd, "kcoro-buffered"));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(1, kcoro_recv(fd, buf, sizeof(buf), 0));
	/* and one dropped with the socket is released */
	ASSERT_EQ(0, kst_send_fd(sv[0], fd));
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

TEST_F(proc, exec_cloexec)
{
	int gone = kcoro_chan_create(self->devfd, 4, 0, 0, KCORO_CHAN_CLOEXEC);
	int kept = kcoro_chan_create(self->devfd, 4, 0, 0, 0);
	char env[64], buf[8];
	pid_t pid;

	ASSERT_LE(0, gone);
	ASSERT_LE(0, kept);
	snprintf(env, sizeof(env), "%d,%d", gone, kept);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		static char * const argv[] = { "kcoro_proc_test", NULL };

		setenv(EXEC_ENV, env, 1);
		execv("/proc/self/exe", argv);
		_exit(20);
	}
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_EQ(4, kcoro_recv(kept, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	close(gone);
	close(kept);
}

/*
 * Producers and consumers, all processes, on one channel: every message
 * carries its producer, sequence number and a crc32c of its payload.
 * Consumers mark each (producer, seq) in shared memory; at the end every
 * mark must be exactly 1 and the byte and checksum sums must match what
 * the producers sent.
 */
#define STRESS_P	4
#define STRESS_C	4

struct stress_shared {
	uint64_t bytes[STRESS_C];
	uint64_t csum[STRESS_C];
	uint64_t count[STRESS_C];
	uint64_t bad[STRESS_C];
	uint8_t seen[];		/* [STRESS_P][m] */
};

static uint32_t stress_len(uint32_t p, uint32_t seq)
{
	uint64_t st = (uint64_t)p << 32 | (seq + 1);

	return kst_rand(&st) % 400;
}

static int stress_producer(int ch, uint32_t p, uint32_t m)
{
	static char bufs[8][512];
	struct kcoro_iov iov[8];
	uint32_t seq = 0, i, n;
	int ret;

	while (seq < m) {
		switch (seq % 3) {
		case 0:		/* one message */
			ret = kcoro_send(ch, bufs[0],
					 kst_msg_fill(bufs[0], p, seq,
						      stress_len(p, seq)), 0);
			if (ret)
				return 1;
			seq++;
			break;
		case 1:		/* write() */
			n = kst_msg_fill(bufs[0], p, seq, stress_len(p, seq));
			if (kst_write(ch, bufs[0], n) != (ssize_t)n)
				return 2;
			seq++;
			break;
		default:	/* a batch of up to 8 */
			n = m - seq < 8 ? m - seq : 8;
			for (i = 0; i < n; i++)
				kcoro_iov_set(&iov[i], bufs[i],
					      kst_msg_fill(bufs[i], p, seq + i,
							   stress_len(p, seq + i)));
			ret = kcoro_send_batch(ch, iov, n, 0, 0);
			if (ret <= 0)
				return 3;
			seq += ret;
			break;
		}
	}
	return 0;
}

static void stress_account(struct stress_shared *sh, uint32_t m, int c,
			   const void *buf, ssize_t len)
{
	const struct kst_msg_hdr *h = buf;

	if (!kst_msg_check(buf, len) || h->producer >= STRESS_P ||
	    h->seq >= m) {
		sh->bad[c]++;
		return;
	}
	__atomic_fetch_add(&sh->seen[h->producer * m + h->seq], 1,
			   __ATOMIC_RELAXED);
	sh->count[c]++;
	sh->bytes[c] += len;
	sh->csum[c] += h->crc;
}

static int stress_consumer(int ch, struct stress_shared *sh, uint32_t m, int c)
{
	static char bufs[8][512];
	struct kcoro_iov iov[8];
	unsigned int round = 0;
	ssize_t len;
	int i, n;

	for (;; round++) {
		switch (round % 3) {
		case 0:
			len = kcoro_recv(ch, bufs[0], sizeof(bufs[0]), 0);
			if (len == -EPIPE)
				return 0;
			if (len < 0)
				return 1;
			stress_account(sh, m, c, bufs[0], len);
			break;
		case 1:
			len = kst_read(ch, bufs[0], sizeof(bufs[0]));
			if (len == 0)
				return 0;	/* EOF: closed and drained */
			if (len < 0)
				return 2;
			stress_account(sh, m, c, bufs[0], len);
			break;
		default:
			for (i = 0; i < 8; i++)
				kcoro_iov_set(&iov[i], bufs[i], sizeof(bufs[i]));
			n = kcoro_recv_batch(ch, iov, 8, 0, 0);
			if (n == -EPIPE)
				return 0;
			if (n <= 0)
				return 3;
			for (i = 0; i < n; i++)
				stress_account(sh, m, c, bufs[i], iov[i].len);
			break;
		}
	}
}

static void stress(struct __test_metadata *_metadata, int devfd,
		   int64_t capacity)
{
	uint32_t m;
	uint64_t want_bytes = 0, want_csum = 0, bytes = 0, csum = 0, count = 0;
	struct kcoro_chan_info info;
	struct stress_shared *sh;
	pid_t pids[STRESS_P + STRESS_C];
	const char *env = getenv("KCORO_STRESS_M");
	char buf[512];
	size_t shsize;
	uint32_t p, s;
	int ch, i, bad = 0;

	m = env ? (uint32_t)atoi(env) : 1500;
	shsize = sizeof(*sh) + STRESS_P * m;
	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	ch = kcoro_chan_create(devfd, capacity, 0, 512, 0);
	ASSERT_LE(0, ch);

	for (i = 0; i < STRESS_P + STRESS_C; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0)
			_exit(i < STRESS_P ? stress_producer(ch, i, m) :
			      stress_consumer(ch, sh, m, i - STRESS_P));
	}
	for (i = 0; i < STRESS_P; i++)
		EXPECT_EQ(0, wait_child(pids[i])) TH_LOG("producer %d", i);
	/* every producer is done: close, and the consumers drain and end */
	ASSERT_EQ(0, kcoro_close(ch));
	for (i = STRESS_P; i < STRESS_P + STRESS_C; i++)
		EXPECT_EQ(0, wait_child(pids[i])) TH_LOG("consumer %d", i - STRESS_P);

	for (p = 0; p < STRESS_P; p++) {
		for (s = 0; s < m; s++) {
			want_bytes += kst_msg_fill(buf, p, s, stress_len(p, s));
			want_csum += ((struct kst_msg_hdr *)buf)->crc;
			if (sh->seen[p * m + s] != 1 && bad++ < 5)
				TH_LOG("producer %u seq %u received %u times",
				       p, s, sh->seen[p * m + s]);
		}
	}
	for (i = 0; i < STRESS_C; i++) {
		TH_LOG("consumer %d: %llu messages, %llu bytes", i,
		       (unsigned long long)sh->count[i],
		       (unsigned long long)sh->bytes[i]);
		EXPECT_EQ(0, sh->bad[i]) TH_LOG("consumer %d: corrupt messages", i);
		count += sh->count[i];
		bytes += sh->bytes[i];
		csum += sh->csum[i];
	}
	EXPECT_EQ(0, bad);
	EXPECT_EQ((uint64_t)STRESS_P * m, count);
	EXPECT_EQ(want_bytes, bytes);
	EXPECT_EQ(want_csum, csum);
	ASSERT_EQ(0, kcoro_chan_info(ch, &info));
	EXPECT_EQ((uint64_t)STRESS_P * m, info.sent);
	EXPECT_EQ((uint64_t)STRESS_P * m, info.received);
	EXPECT_EQ(0, info.undelivered);
	EXPECT_EQ(0, info.buffered);
	EXPECT_EQ(KCORO_STATE_CLOSED, info.state);
	close(ch);
	munmap(sh, shsize);
}

TEST_F_TIMEOUT(proc, stress_buffered, 600)
{
	stress(_metadata, self->devfd, 16);
}

TEST_F_TIMEOUT(proc, stress_rendezvous, 600)
{
	stress(_metadata, self->devfd, KCORO_CAP_RENDEZVOUS);
}

TEST_F_TIMEOUT(proc, stress_unlimited, 600)
{
	stress(_metadata, self->devfd, KCORO_CAP_UNLIMITED);
}

/* Become @uid, keeping the fds: 0 or an exit code. */
static int become(uid_t uid)
{
	if (setgroups(0, NULL) && errno != EPERM)
		return 30;
	if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		return 31;
	return getuid() == uid ? 0 : 32;
}

static int become_nobody(void)
{
	return become(NOBODY);
}

/* Create a channel, retrying for a while if the limit is still reached. */
static int create_retry(int devfd)
{
	int i, fd = -EMFILE;

	for (i = 0; i < 200 && fd == -EMFILE; i++) {
		fd = kcoro_chan_create(devfd, 1, 0, 0, 0);
		if (fd == -EMFILE)
			kst_sleep_ms(10);
	}
	return fd;
}

static int user_channels_child(int devfd)
{
	int fds[3], i, fd, ret;

	ret = become_nobody();
	if (ret)
		return ret;
	for (i = 0; i < 3; i++) {
		fds[i] = kcoro_chan_create(devfd, 1, 0, 0, 0);
		if (fds[i] < 0)
			return 1;
	}
	if (kcoro_chan_create(devfd, 1, 0, 0, 0) != -EMFILE)
		return 2;
	/* the service's two channels count too: one is too many */
	if (kcoro_service_create(devfd, KCORO_SERVICE_ECHO, 1, 1, 0, 0,
				 &fd, &ret) != -EMFILE)
		return 3;
	/* a closed channel stops counting once its fd is released */
	close(fds[0]);
	fds[0] = create_retry(devfd);
	if (fds[0] < 0)
		return 4;
	/* kcoro_close() alone does not release it */
	if (kcoro_close(fds[1]) || kcoro_chan_create(devfd, 1, 0, 0, 0) != -EMFILE)
		return 5;
	return 0;
}

/* Three channels for @uid, kept until @sock says go: 0 or an exit code. */
static int three_channels(int devfd, uid_t uid, int sock)
{
	int r = become(uid), i;
	char c;

	for (i = 0; !r && i < 3; i++)
		if (create_retry(devfd) < 0)
			r = 40 + i;
	if (write(sock, "r", 1) != 1 || read(sock, &c, 1) != 1)
		return 50;
	return r;
}

TEST_F(proc, user_channel_limit)
{
	int sv[2];
	pid_t pid, other;
	char c;

	if (getuid() != 0 || kst_param_set("max_user_channels", 3))
		SKIP(return, "needs root and %smax_user_channels", KST_PARAM_DIR);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(user_channels_child(self->devfd));
	EXPECT_EQ(0, wait_child(pid));
	/*
	 * nobody's channels went with that process: it has three again,
	 * while another user has three of its own at the same time.
	 */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(three_channels(self->devfd, NOBODY, sv[1]));
	ASSERT_EQ(1, read(sv[0], &c, 1));
	other = fork();
	ASSERT_LE(0, other);
	if (other == 0)
		_exit(three_channels(self->devfd, NOBODY - 1, sv[1]));
	ASSERT_EQ(1, read(sv[0], &c, 1));
	ASSERT_EQ(2, write(sv[0], "gg", 2));
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_EQ(0, wait_child(other));
	close(sv[0]);
	close(sv[1]);
	ASSERT_EQ(0, kst_param_set("max_user_channels", self->saved_channels));
}

/* Charged to the creator: a channel of nobody's, filled by root. */
static int user_bytes_child(int devfd, int sock)
{
	static char buf[4096];
	int ch, ret;

	ret = become_nobody();
	if (ret)
		return ret;
	ch = kcoro_chan_create(devfd, KCORO_CAP_UNLIMITED, 0, 4096, 0);
	if (ch < 0)
		return 1;
	if (kcoro_send(ch, buf, 4096, 0) || kcoro_send(ch, buf, 4096, 0))
		return 2;
	if (kcoro_send(ch, buf, 4096, 0) != -ENOSPC)
		return 3;
	if (kcoro_send(ch, buf, 4096, KCORO_MSG_NONBLOCK) != -ENOSPC ||
	    kst_write(ch, buf, 4096) != -ENOSPC)
		return 4;
	/* up to the limit exactly: a message costs KCORO_MSG_COST(len) */
	if (kcoro_send(ch, buf, 10000 - 2 * KCORO_MSG_COST(4096) -
		       KCORO_MSG_OVERHEAD, 0))
		return 5;
	/* nothing more, not even an empty message */
	if (kcoro_send(ch, buf, 1, 0) != -ENOSPC ||
	    kcoro_send(ch, buf, 0, 0) != -ENOSPC)
		return 6;
	if (kst_send_fd(sock, ch))
		return 7;
	/* wait for the parent, then: receiving releases the charge */
	if (read(sock, buf, 1) != 1)
		return 8;
	if (kcoro_recv(ch, buf, sizeof(buf), 0) != 4096 ||
	    kcoro_send(ch, buf, 4096, 0))
		return 9;
	/* and so does cancel, which drops what was buffered */
	if (kcoro_cancel(ch))
		return 10;
	close(ch);
	ch = kcoro_chan_create(devfd, KCORO_CAP_UNLIMITED, 0, 4096, 0);
	if (ch < 0 || kcoro_send(ch, buf, 4096, 0) || kcoro_send(ch, buf, 4096, 0))
		return 11;
	return 0;
}

TEST_F(proc, user_bytes_limit)
{
	static char buf[4096];
	int sv[2], theirs, ours, i;
	struct kcoro_chan_info info;
	pid_t pid;

	if (getuid() != 0 || kst_param_set("max_user_bytes", 10000))
		SKIP(return, "needs root and %smax_user_bytes", KST_PARAM_DIR);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(user_bytes_child(self->devfd, sv[1]));
	theirs = kst_recv_fd(sv[0]);
	ASSERT_LE(0, theirs) {
		TH_LOG("child exit %d", wait_child(pid));
	}
	/* root sends on nobody's channel: charged to nobody, who is full */
	EXPECT_EQ(-ENOSPC, kcoro_send(theirs, buf, 1, 0));
	EXPECT_EQ(-ENOSPC, kcoro_send(theirs, buf, 0, 0));
	/* root's own channel: root's own budget */
	ours = kcoro_chan_create(self->devfd, KCORO_CAP_UNLIMITED, 0, 4096, 0);
	ASSERT_LE(0, ours);
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, kcoro_send(ours, buf, 4096, 0));
	EXPECT_EQ(-ENOSPC, kcoro_send(ours, buf, 4096, 0));
	/* no failed send was sent */
	ASSERT_EQ(0, kcoro_chan_info(ours, &info));
	EXPECT_EQ(2, info.sent);
	ASSERT_EQ(1, write(sv[0], "g", 1));
	EXPECT_EQ(0, wait_child(pid));
	close(theirs);
	close(ours);
	close(sv[0]);
	close(sv[1]);
	ASSERT_EQ(0, kst_param_set("max_user_bytes", self->saved_bytes));
}

TEST_HARNESS_MAIN
