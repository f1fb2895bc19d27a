// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: KCORO_IOC_SERVICE_CREATE, kernel coroutines serving
 * userspace over a request and a reply channel (ECHO and CHECKSUM),
 * argument errors, draining on close, cancel, and poll wake-ups caused
 * by kernel coroutines.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <sys/epoll.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

FIXTURE(svc) {
	int devfd;
	long long param_max_msg;
};

FIXTURE_SETUP(svc)
{
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
	self->param_max_msg = kst_param("max_msg_size", 65536);
}

FIXTURE_TEARDOWN(svc)
{
	close(self->devfd);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

static void sc_init(struct kcoro_service_create *sc, uint32_t op,
		    uint32_t workers, int64_t capacity, uint32_t max_msg_size)
{
	memset(sc, 0, sizeof(*sc));
	sc->size = sizeof(*sc);
	sc->op = op;
	sc->workers = workers;
	sc->capacity = capacity;
	sc->max_msg_size = max_msg_size;
}

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* A child that sends @n self-checking requests of up to @max bytes. */
static pid_t start_sender(int req, uint32_t n, uint32_t max)
{
	static char buf[65536];
	pid_t pid = fork();
	uint32_t i, room = max - sizeof(struct kst_msg_hdr);

	if (pid)
		return pid;
	for (i = 0; i < n; i++) {
		uint64_t st = i + 1;
		size_t len = kst_msg_fill(buf, 0, i, kst_rand(&st) % (room + 1));

		if (kcoro_send(req, buf, len, 0))
			_exit(1);
	}
	_exit(0);
}

TEST_F(svc, echo_in_order)
{
	static char buf[512];
	int req, rep, i;
	pid_t pid;

	ASSERT_EQ(0, kcoro_service_create(self->devfd, KCORO_SERVICE_ECHO, 1, 4,
					  512, 0, &req, &rep));
	EXPECT_EQ(4, kst_fdinfo_num(req, "kcoro-capacity"));
	EXPECT_EQ(4, kst_fdinfo_num(rep, "kcoro-capacity"));
	EXPECT_EQ(512, kst_fdinfo_num(req, "kcoro-max-msg-size"));
	EXPECT_EQ(516, kst_fdinfo_num(rep, "kcoro-max-msg-size"));
	pid = start_sender(req, 100, 512);
	ASSERT_LE(0, pid);
	/* one worker: replies in request order, equal to the requests */
	for (i = 0; i < 100; i++) {
		struct kst_msg_hdr *h = (void *)buf;
		ssize_t len = kcoro_recv(rep, buf, sizeof(buf), 0);

		ASSERT_LE(0, len) TH_LOG("reply %d: %s", i, strerror(-len));
		ASSERT_TRUE(kst_msg_check(buf, len)) TH_LOG("reply %d", i);
		ASSERT_EQ(i, h->seq);
	}
	EXPECT_EQ(0, wait_child(pid));
	/* zero-length request, zero-length reply */
	ASSERT_EQ(0, kcoro_send(req, buf, 0, 0));
	EXPECT_EQ(0, kcoro_recv(rep, buf, sizeof(buf), 0));
	ASSERT_EQ(0, kcoro_close(req));
	EXPECT_EQ(-EPIPE, kcoro_recv_timeout(rep, buf, sizeof(buf), 0,
					     10000 * KST_MS));
	EXPECT_EQ(101, kst_fdinfo_num(req, "kcoro-received"));
	EXPECT_EQ(101, kst_fdinfo_num(rep, "kcoro-sent"));
	close(req);
	close(rep);
}

static void checksum_run(struct __test_metadata *_metadata, int devfd,
			 uint32_t workers, int64_t capacity, uint32_t n,
			 uint32_t max)
{
	static unsigned char buf[65536 + 8];
	uint8_t *seen = calloc(n, 1);
	uint32_t i, bad = 0, dup = 0;
	int req, rep;
	pid_t pid;

	ASSERT_NE(NULL, seen);
	ASSERT_EQ(0, kcoro_service_create(devfd, KCORO_SERVICE_CHECKSUM,
					  workers, capacity, max, 0, &req, &rep));
	pid = start_sender(req, n, max);
	ASSERT_LE(0, pid);
	for (i = 0; i < n; i++) {
		struct kst_msg_hdr *h = (void *)buf;
		ssize_t len = kcoro_recv(rep, buf, sizeof(buf), 0);
		uint32_t want, got;

		ASSERT_LE(4, len) TH_LOG("reply %u: %zd", i, len);
		got = kst_crc_le(buf + len - 4);
		want = kcoro_crc32c(0, buf, len - 4);
		if (got != want || !kst_msg_check(buf, len - 4)) {
			if (bad++ < 3)
				TH_LOG("reply %u (%zd B): crc %#x, want %#x (~0, xor: %#x)",
				       i, len, got, want,
				       ~kcoro_crc32c(~0U, buf, len - 4));
			continue;
		}
		if (h->seq >= n || seen[h->seq]++)
			dup++;
	}
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, dup);
	for (i = 0; i < n; i++)
		EXPECT_EQ(1, seen[i]) TH_LOG("request %u", i);
	close(req);	/* the last reference: the workers drain and close */
	EXPECT_EQ(-EPIPE, kcoro_recv_timeout(rep, buf, sizeof(buf), 0,
					     10000 * KST_MS));
	close(rep);
	free(seen);
}

TEST_F(svc, checksum_crc32c)
{
	static unsigned char buf[64];
	int req, rep;

	/* a known vector: crc32c(0, "123456789") with no inversions */
	ASSERT_EQ(0x58e3fa20U, kcoro_crc32c(0, "123456789", 9));
	ASSERT_EQ(0xe3069283U, ~kcoro_crc32c(~0U, "123456789", 9));
	ASSERT_EQ(0, kcoro_service_create(self->devfd, KCORO_SERVICE_CHECKSUM,
					  1, 2, 64, 0, &req, &rep));
	ASSERT_EQ(0, kcoro_send(req, "123456789", 9, 0));
	ASSERT_EQ(13, kcoro_recv(rep, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "123456789", 9));
	EXPECT_EQ(0x58e3fa20U, kst_crc_le(buf + 9)) {
		TH_LOG("kernel crc %#x; the ~0-seeded inverted crc32c is 0xe3069283",
		       kst_crc_le(buf + 9));
	}
	ASSERT_EQ(0, kcoro_send(req, "", 0, 0));
	ASSERT_EQ(4, kcoro_recv(rep, buf, sizeof(buf), 0));
	EXPECT_EQ(0, kst_crc_le(buf));
	close(req);
	close(rep);
}

TEST_F_TIMEOUT(svc, checksum_workers4, 300)
{
	checksum_run(_metadata, self->devfd, 4, 16, 1000, 1024);
}

TEST_F_TIMEOUT(svc, checksum_rendezvous, 300)
{
	checksum_run(_metadata, self->devfd, 2, KCORO_CAP_RENDEZVOUS, 500, 256);
}

TEST_F_TIMEOUT(svc, checksum_unlimited_max_size, 300)
{
	checksum_run(_metadata, self->devfd, 3, KCORO_CAP_UNLIMITED, 64,
		     self->param_max_msg);
}

TEST_F_TIMEOUT(svc, workers_1024, 300)
{
	checksum_run(_metadata, self->devfd, 1024, 64, 2000, 64);
}

TEST_F(svc, max_size)
{
	uint32_t max = self->param_max_msg;
	unsigned char *buf = malloc(max + 8);
	int req, rep;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, kcoro_service_create(self->devfd, KCORO_SERVICE_CHECKSUM,
					  1, 1, max, 0, &req, &rep));
	EXPECT_EQ(max + 4, kst_fdinfo_num(rep, "kcoro-max-msg-size"));
	memset(buf, 0xa5, max);
	EXPECT_EQ(-EMSGSIZE, kcoro_send(req, buf, max + 1, 0));
	ASSERT_EQ(0, kcoro_send(req, buf, max, 0));
	ASSERT_EQ(max + 4, kcoro_recv(rep, buf, max + 8, 0));
	EXPECT_EQ(kcoro_crc32c(0, buf, max), kst_crc_le(buf + max));
	close(req);
	close(rep);
	free(buf);
}

TEST_F(svc, bad_args)
{
	struct kcoro_service_create sc;
	unsigned char raw[KCORO_SERVICE_CREATE_SIZE_VER0 + 16];
	int before = count_fds(), i;

	sc_init(&sc, 2, 1, 1, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc_init(&sc, UINT32_MAX, 1, 1, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc_init(&sc, KCORO_SERVICE_ECHO, 0, 1, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc_init(&sc, KCORO_SERVICE_ECHO, 1025, 1, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc_init(&sc, KCORO_SERVICE_ECHO, UINT32_MAX, 1, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc_init(&sc, KCORO_SERVICE_ECHO, 1, KCORO_CAP_CONFLATED, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc_init(&sc, KCORO_SERVICE_ECHO, 1, -3, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc_init(&sc, KCORO_SERVICE_ECHO, 1, (int64_t)INT_MAX + 1, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc_init(&sc, KCORO_SERVICE_ECHO, 1, 1, self->param_max_msg + 1);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	for (i = 2; i < 32; i++) {
		sc_init(&sc, KCORO_SERVICE_ECHO, 1, 1, 0);
		sc.flags = 1U << i;
		EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc))
			TH_LOG("flag bit %d", i);
	}
	for (i = 0; i < 3; i++) {
		sc_init(&sc, KCORO_SERVICE_ECHO, 1, 1, 0);
		sc.reserved[i] = 1;
		EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc))
			TH_LOG("reserved[%d]", i);
	}
	sc_init(&sc, KCORO_SERVICE_ECHO, 1, 1, 0);
	sc.size = KCORO_SERVICE_CREATE_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc.size = 0;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	EXPECT_EQ(-EFAULT, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, NULL));
	EXPECT_EQ(-EFAULT, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE,
				     (void *)8));
	/* a larger struct: a nonzero tail is refused, a zero one is fine */
	memset(raw, 0, sizeof(raw));
	sc_init(&sc, KCORO_SERVICE_ECHO, 1, 1, 0);
	sc.size = sizeof(raw);
	memcpy(raw, &sc, sizeof(sc));
	raw[sizeof(raw) - 1] = 1;
	EXPECT_EQ(-E2BIG, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, raw));
	EXPECT_EQ(before, count_fds()) TH_LOG("a failed create left fds open");
	raw[sizeof(raw) - 1] = 0;
	ASSERT_EQ(0, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, raw));
	memcpy(&sc, raw, sizeof(sc));
	EXPECT_LE(0, sc.req_fd);
	EXPECT_LE(0, sc.rep_fd);
	EXPECT_NE(sc.req_fd, sc.rep_fd);
	close(sc.req_fd);
	close(sc.rep_fd);

	/* req_fd and rep_fd are outputs: they must be 0 on input */
	sc_init(&sc, KCORO_SERVICE_CHECKSUM, 1024, KCORO_CAP_UNLIMITED, 1);
	sc.req_fd = 12345;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	sc.req_fd = 0;
	sc.rep_fd = -7;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	EXPECT_EQ(before, count_fds());
	sc.rep_fd = 0;
	ASSERT_EQ(0, kst_ioctl(self->devfd, KCORO_IOC_SERVICE_CREATE, &sc));
	close(sc.req_fd);
	close(sc.rep_fd);
	EXPECT_EQ(before, count_fds());
}

TEST_F(svc, fd_flags)
{
	char buf[8];
	int req, rep;

	ASSERT_EQ(0, kcoro_service_create(self->devfd, KCORO_SERVICE_ECHO, 1, 1,
					  0, KCORO_CHAN_CLOEXEC |
					  KCORO_CHAN_NONBLOCK, &req, &rep));
	EXPECT_EQ(FD_CLOEXEC, fcntl(req, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(FD_CLOEXEC, fcntl(rep, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_NONBLOCK, fcntl(req, F_GETFL) & O_NONBLOCK);
	EXPECT_EQ(O_NONBLOCK, fcntl(rep, F_GETFL) & O_NONBLOCK);
	EXPECT_EQ(-EAGAIN, kcoro_recv(rep, buf, sizeof(buf), 0));
	EXPECT_EQ(4096, kst_fdinfo_num(req, "kcoro-max-msg-size"));
	close(req);
	close(rep);

	ASSERT_EQ(0, kcoro_service_create(self->devfd, KCORO_SERVICE_ECHO, 1, 1,
					  0, 0, &req, &rep));
	EXPECT_EQ(0, fcntl(req, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, fcntl(rep, F_GETFL) & O_NONBLOCK);
	close(req);
	close(rep);
}

/* Close the request channel either way: the replies drain, then EPIPE. */
static void drain_on_close(struct __test_metadata *_metadata, int devfd,
			   bool release)
{
	char buf[16];
	int req, rep, i;

	ASSERT_EQ(0, kcoro_service_create(devfd, KCORO_SERVICE_ECHO, 2, 8, 16,
					  0, &req, &rep));
	for (i = 0; i < 8; i++) {
		buf[0] = i;
		ASSERT_EQ(0, kcoro_send(req, buf, 1, 0));
	}
	if (release)
		close(req);
	else
		ASSERT_EQ(0, kcoro_close(req));
	{
		int mask = 0;

		for (i = 0; i < 8; i++) {
			ASSERT_EQ(1, kcoro_recv_timeout(rep, buf, sizeof(buf), 0,
							10000 * KST_MS));
			mask |= 1 << buf[0];
		}
		EXPECT_EQ(0xff, mask);
	}
	EXPECT_EQ(-EPIPE, kcoro_recv_timeout(rep, buf, sizeof(buf), 0,
					     10000 * KST_MS));
	EXPECT_EQ(0, kst_read(rep, buf, sizeof(buf)));
	if (!release) {
		EXPECT_EQ(-EPIPE, kcoro_send(req, buf, 1, 0));
		close(req);
	}
	close(rep);
}

TEST_F(svc, drain_on_ioctl_close)
{
	drain_on_close(_metadata, self->devfd, false);
}

TEST_F(svc, drain_on_release)
{
	drain_on_close(_metadata, self->devfd, true);
}

TEST_F(svc, cancel_reply)
{
	struct kcoro_chan_info info;
	char buf[16];
	int req, rep, i, ret = 0;

	ASSERT_EQ(0, kcoro_service_create(self->devfd, KCORO_SERVICE_ECHO, 4, 2,
					  16, 0, &req, &rep));
	ASSERT_EQ(0, kcoro_send(req, "a", 1, 0));
	ASSERT_EQ(0, kcoro_cancel(rep));
	/* the workers see it and cancel the request channel */
	for (i = 0; i < 1000; i++) {
		ret = kcoro_send_timeout(req, "b", 1, 0, 10 * KST_MS);
		if (ret == -EPIPE)
			break;
	}
	EXPECT_EQ(-EPIPE, ret);
	ASSERT_EQ(0, kcoro_chan_info(req, &info));
	EXPECT_EQ(KCORO_STATE_CANCELLED, info.state);
	EXPECT_EQ(-EPIPE, kcoro_recv(rep, buf, sizeof(buf), 0));
	close(req);
	close(rep);
}

TEST_F(svc, release_in_flight)
{
	char buf[16];
	int req, rep, i, n;

	/* workers blocked sending replies nobody will take, fds closed */
	for (n = 0; n < 4; n++) {
		ASSERT_EQ(0, kcoro_service_create(self->devfd,
						  KCORO_SERVICE_CHECKSUM, 3, 2,
						  16, 0, &req, &rep));
		for (i = 0; i < 6; i++)
			if (kcoro_send_timeout(req, "xyz", 3, 0, 100 * KST_MS))
				break;
		if (n & 1) {
			close(rep);
			close(req);
		} else {
			close(req);
			EXPECT_EQ(7, kcoro_recv(rep, buf, sizeof(buf), 0));
			close(rep);
		}
	}
	/* kcoro.ko must still unload after this (checked by selftests.sh) */
}

static short revents_of(int fd)
{
	struct pollfd pfd = { fd, POLLIN | POLLOUT, 0 };

	return poll(&pfd, 1, 0) < 0 ? -1 : pfd.revents;
}

struct poller {
	int fd;
	short events;
	short revents;
	pid_t tid;
};

static void *poll_thread(void *arg)
{
	struct poller *p = arg;
	struct pollfd pfd = { p->fd, p->events, 0 };

	__atomic_store_n(&p->tid, kst_gettid(), __ATOMIC_RELEASE);
	if (poll(&pfd, 1, 10000) == 1)
		p->revents = pfd.revents;
	return NULL;
}

/* Wake-ups made by kernel coroutines reach poll and epoll. */
TEST_F(svc, kernel_wakeups)
{
	struct epoll_event ev;
	struct poller p = { 0 };
	pthread_t t;
	char buf[16];
	int req, rep, ep, i;

	ASSERT_EQ(0, kcoro_service_create(self->devfd, KCORO_SERVICE_ECHO, 1, 1,
					  16, 0, &req, &rep));
	ep = epoll_create1(0);
	ASSERT_LE(0, ep);
	ev.events = EPOLLIN;
	ev.data.u32 = 7;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, rep, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	ASSERT_EQ(0, kcoro_send(req, "1", 1, 0));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 10000));
	EXPECT_EQ(EPOLLIN, ev.events);
	EXPECT_EQ(7, ev.data.u32);
	ASSERT_EQ(1, kcoro_recv(rep, buf, sizeof(buf), 0));

	/* fill everything: reply buffer, the worker, request buffer */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, kcoro_send_timeout(req, "2", 1, 0, 5000 * KST_MS));
	for (i = 0; i < 500 && (kst_fdinfo_num(req, "kcoro-buffered") != 1 ||
				(revents_of(req) & POLLOUT)); i++)
		kst_sleep_ms(10);
	ASSERT_EQ(0, revents_of(req) & POLLOUT);
	/* a poller waits for room; taking a reply lets the worker make it */
	p.fd = req;
	p.events = POLLOUT;
	pthread_create(&t, NULL, poll_thread, &p);
	while (!__atomic_load_n(&p.tid, __ATOMIC_ACQUIRE))
		sched_yield();
	ASSERT_TRUE(kst_wait_sleeping(getpid(), p.tid, 5000));
	ASSERT_EQ(1, kcoro_recv(rep, buf, sizeof(buf), 0));
	pthread_join(t, NULL);
	EXPECT_EQ(POLLOUT, p.revents);
	close(req);
	/* the workers close the reply channel after the last reply: HUP */
	for (i = 0; i < 2; i++)
		EXPECT_EQ(1, kcoro_recv(rep, buf, sizeof(buf), 0));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 10000));
	EXPECT_EQ(EPOLLIN | EPOLLHUP, ev.events & (EPOLLIN | EPOLLHUP));
	close(rep);
	close(ep);
}

TEST_F(svc, many_services)
{
	int req[16], rep[16], i;
	char buf[16];

	for (i = 0; i < 16; i++)
		ASSERT_EQ(0, kcoro_service_create(self->devfd, i & 1,
						  1 + i % 3, i % 4, 16, 0,
						  &req[i], &rep[i]));
	for (i = 0; i < 16; i++) {
		buf[0] = i;
		ASSERT_EQ(0, kcoro_send_timeout(req[i], buf, 1, 0,
						5000 * KST_MS));
	}
	for (i = 0; i < 16; i++) {
		EXPECT_EQ(1 + 4 * (i & 1),
			  kcoro_recv(rep[i], buf, sizeof(buf), 0));
		EXPECT_EQ(i, buf[0]);
		close(req[i]);
		close(rep[i]);
	}
}

TEST_HARNESS_MAIN
