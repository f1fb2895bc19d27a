// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: KCORO_IOC_CALL, a request sent on one channel and its
 * reply received from another in one call.  Every path says whether the
 * request was sent (kcoro_call.sent) and sends it at most once: failures
 * of the send half, of the receive half (timeout, closed reply channel,
 * a signal while waiting for the reply, with and without restart, a stop
 * and continue), truncated replies, bad arguments, the ECHO service as
 * the server and a server answering with KCORO_IOC_CALL itself.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

#define MSG	64

FIXTURE(call) {
	int devfd;
	int req;
	int rep;
};

FIXTURE_SETUP(call)
{
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
	self->req = kcoro_chan_create(self->devfd, 1, KCORO_OVERFLOW_SUSPEND,
				      MSG, 0);
	ASSERT_LE(0, self->req);
	self->rep = kcoro_chan_create(self->devfd, 1, KCORO_OVERFLOW_SUSPEND,
				      MSG, 0);
	ASSERT_LE(0, self->rep);
}

FIXTURE_TEARDOWN(call)
{
	close(self->req);
	close(self->rep);
	close(self->devfd);
}

static void call_init(struct kcoro_call *c, const void *req, uint32_t len,
		      int rep_fd, void *rep, uint32_t size, uint32_t flags,
		      int64_t timeout_ns)
{
	memset(c, 0, sizeof(*c));
	c->req_buf = (uintptr_t)req;
	c->req_len = len;
	c->rep_buf = (uintptr_t)rep;
	c->rep_len = size;
	c->rep_fd = rep_fd;
	c->flags = flags;
	c->timeout_ns = timeout_ns;
}

static uint64_t chan_sent(int fd)
{
	struct kcoro_chan_info info;

	return kcoro_chan_info(fd, &info) ? UINT64_MAX : info.sent;
}

static uint64_t chan_buffered(int fd)
{
	struct kcoro_chan_info info;

	return kcoro_chan_info(fd, &info) ? UINT64_MAX : info.buffered;
}

static uint64_t chan_undelivered(int fd)
{
	struct kcoro_chan_info info;

	return kcoro_chan_info(fd, &info) ? UINT64_MAX : info.undelivered;
}

/*
 * The request channel holds exactly one message, @want: the request was
 * sent once.
 */
static bool got_once(int req, const char *want)
{
	char buf[MSG];
	ssize_t n;

	n = kcoro_recv(req, buf, sizeof(buf), KCORO_MSG_NONBLOCK);
	if (n != (ssize_t)strlen(want) || memcmp(buf, want, n))
		return false;
	return kcoro_recv(req, buf, sizeof(buf), KCORO_MSG_NONBLOCK) == -EAGAIN &&
	       chan_sent(req) == 1;
}

/*
 * A server thread: answers @n requests with "re:" + the request, with
 * RECV + SEND, or (@use_call) with KCORO_IOC_CALL made on the reply
 * channel, which sends one reply and waits for the next request.
 */
struct server {
	int req;
	int rep;
	int n;
	bool use_call;
	int err;
	pthread_t thread;
};

static void *server_fn(void *arg)
{
	struct server *s = arg;
	char in[MSG], out[MSG];
	ssize_t n;
	int i;

	n = kcoro_recv(s->req, in, sizeof(in), 0);
	for (i = 0; i < s->n; i++) {
		if (n < 0 || n > MSG - 3) {
			s->err = n < 0 ? (int)-n : EPROTO;
			return NULL;
		}
		memcpy(out, "re:", 3);
		memcpy(out + 3, in, n);
		if (s->use_call && i + 1 < s->n) {
			n = kcoro_call(s->rep, out, n + 3, s->req, in,
				       sizeof(in), 0, 0, NULL);
			continue;
		}
		n = kcoro_send(s->rep, out, n + 3, 0);
		if (n) {
			s->err = -n;
			return NULL;
		}
		if (i + 1 < s->n)
			n = kcoro_recv(s->req, in, sizeof(in), 0);
	}
	return NULL;
}

static void run_calls(struct __test_metadata *_metadata, int req, int rep,
		      bool server_calls)
{
	struct server s = { .req = req, .rep = rep, .n = 50,
			    .use_call = server_calls };
	char msg[MSG - 8], buf[MSG], want[MSG];
	struct kcoro_call c;
	int i, len;
	long ret;

	ASSERT_EQ(0, pthread_create(&s.thread, NULL, server_fn, &s));
	for (i = 0; i < s.n; i++) {
		len = snprintf(msg, sizeof(msg), "request %d", i);
		call_init(&c, msg, len, rep, buf, sizeof(buf), 0, 0);
		ret = kst_ioctl(req, KCORO_IOC_CALL, &c);
		snprintf(want, sizeof(want), "re:%s", msg);
		ASSERT_EQ((long)strlen(want), ret)
			TH_LOG("call %d: %s", i,
			       ret < 0 ? strerror(-ret) : "short");
		EXPECT_EQ(ret, c.rep_len);
		EXPECT_EQ(0, c.sent);
		EXPECT_EQ(0, memcmp(buf, want, ret));
	}
	pthread_join(s.thread, NULL);
	EXPECT_EQ(0, s.err);
	EXPECT_EQ(s.n, chan_sent(req));
	EXPECT_EQ(s.n, chan_sent(rep));
	EXPECT_EQ(0, chan_buffered(req));
	EXPECT_EQ(0, chan_buffered(rep));
}

TEST_F(call, round_trips)
{
	run_calls(_metadata, self->req, self->rep, false);
}

/* The server's reply-and-wait: KCORO_IOC_CALL on the reply channel. */
TEST_F(call, server_replies_with_call)
{
	run_calls(_metadata, self->req, self->rep, true);
}

TEST_F(call, rendezvous_round_trips)
{
	int req = kcoro_chan_create(self->devfd, KCORO_CAP_RENDEZVOUS,
				    KCORO_OVERFLOW_SUSPEND, MSG, 0);
	int rep = kcoro_chan_create(self->devfd, KCORO_CAP_RENDEZVOUS,
				    KCORO_OVERFLOW_SUSPEND, MSG, 0);

	ASSERT_LE(0, req);
	ASSERT_LE(0, rep);
	run_calls(_metadata, req, rep, true);
	close(req);
	close(rep);
}

/* The ECHO service as the server; a longer reply is truncated. */
TEST_F(call, echo_service)
{
	static unsigned char msg[4096], buf[4096];
	struct kcoro_call c;
	int req, rep, sent;
	ssize_t ret;
	uint32_t i;

	ASSERT_EQ(0, kcoro_service_create(self->devfd, KCORO_SERVICE_ECHO, 1, 1,
					  sizeof(msg), 0, &req, &rep));
	for (i = 0; i < 200; i++) {
		uint64_t st = i + 1;
		size_t len = kst_msg_fill(msg, 1, i, kst_rand(&st) %
					  (sizeof(msg) - sizeof(struct kst_msg_hdr)));

		sent = -1;
		ret = kcoro_call(req, msg, len, rep, buf, sizeof(buf),
				 KCORO_MSG_TIMEOUT, 10000 * KST_MS, &sent);
		ASSERT_EQ((ssize_t)len, ret)
			TH_LOG("call %u: %s", i,
			       ret < 0 ? strerror(-ret) : "wrong length");
		EXPECT_EQ(1, sent);
		ASSERT_TRUE(kst_msg_check(buf, ret));
		EXPECT_EQ(i, ((struct kst_msg_hdr *)buf)->seq);
	}
	/* a reply larger than the buffer: full length, buffer-size copy */
	memset(msg, 'x', 100);
	memset(buf, 'o', sizeof(buf));
	call_init(&c, msg, 100, rep, buf, 10, 0, 0);
	EXPECT_EQ(100, kst_ioctl(req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(100, c.rep_len);
	EXPECT_EQ(0, memcmp(buf, msg, 10));
	EXPECT_EQ('o', buf[10]);
	/* an empty request and reply */
	call_init(&c, msg, 0, rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(0, kst_ioctl(req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.rep_len);
	EXPECT_EQ(202, chan_sent(req));
	EXPECT_EQ(202, chan_sent(rep));
	/* the service ends: the reply channel closes, the call says sent */
	ASSERT_EQ(0, kcoro_close(req));
	EXPECT_EQ(-EPIPE, kcoro_recv_timeout(rep, buf, sizeof(buf), 0,
					     10000 * KST_MS));
	call_init(&c, msg, 1, rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EPIPE, kst_ioctl(req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.sent);	/* the request channel is closed */
	close(req);
	close(rep);
}

/* Send half fails: nothing sent, sent stays 0. */
TEST_F(call, send_fails)
{
	char msg[2 * MSG] = "hello", buf[MSG];
	struct kcoro_call c;
	int sent = -1;

	/* larger than max_msg_size */
	call_init(&c, msg, MSG + 1, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EMSGSIZE, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.sent);
	EXPECT_EQ(0, chan_sent(self->req));

	/* a bad request pointer */
	call_init(&c, NULL, 5, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EFAULT, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.sent);

	/* full request channel: non-blocking, O_NONBLOCK, timed */
	ASSERT_EQ(0, kcoro_send(self->req, "first", 5, 0));
	EXPECT_EQ(-EAGAIN, kcoro_call(self->req, msg, 5, self->rep, buf,
				      sizeof(buf), KCORO_MSG_NONBLOCK, 0,
				      &sent));
	EXPECT_EQ(0, sent);
	ASSERT_EQ(0, fcntl(self->req, F_SETFL, O_NONBLOCK));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EAGAIN, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.sent);
	ASSERT_EQ(0, fcntl(self->req, F_SETFL, 0));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), KCORO_MSG_TIMEOUT,
		  20 * KST_MS);
	EXPECT_EQ(-ETIMEDOUT, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.sent);
	EXPECT_EQ(1, chan_sent(self->req));
	EXPECT_EQ(1, chan_buffered(self->req));
	EXPECT_EQ(0, chan_undelivered(self->req));

	/*
	 * Closed: a non-blocking call keeps its request, a blocking one
	 * hands it to the undelivered count (as KCORO_IOC_SEND does).
	 */
	ASSERT_EQ(0, kcoro_close(self->req));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf),
		  KCORO_MSG_NONBLOCK, 0);
	EXPECT_EQ(-EPIPE, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.sent);
	EXPECT_EQ(0, chan_undelivered(self->req));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EPIPE, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.sent);
	EXPECT_EQ(1, chan_undelivered(self->req));
	EXPECT_EQ(1, chan_sent(self->req));
	/* the reply channel saw nothing */
	EXPECT_EQ(0, chan_sent(self->rep));
	EXPECT_EQ(0, kst_fdinfo_num(self->rep, "kcoro-received"));
}

/* Argument errors: nothing sent. */
TEST_F(call, bad_arguments)
{
	char msg[MSG] = "hello", buf[MSG], *ro;
	struct kcoro_call c, *rc;
	int p[2];

	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), 0, 0);
	c.reserved0 = 1;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), 0, 0);
	c.reserved = 1;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), 1U << 7, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), KCORO_MSG_ABSTIME, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), KCORO_MSG_TIMEOUT, -1);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), 0, 0);
	c.sent = 2;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	call_init(&c, msg, 5, -1, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EBADF, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	ASSERT_EQ(0, pipe(p));
	call_init(&c, msg, 5, p[0], buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	close(p[0]);
	close(p[1]);
	/* not on /dev/kcoro */
	call_init(&c, msg, 5, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, KCORO_IOC_CALL, &c));

	/* a read-only reply buffer or struct: EFAULT before sending */
	ro = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	rc = (struct kcoro_call *)(ro + 4096);
	call_init(rc, msg, 5, self->rep, ro, sizeof(buf), 0, 0);
	ASSERT_EQ(0, mprotect(ro, 4096, PROT_READ));
	EXPECT_EQ(-EFAULT, kst_ioctl(self->req, KCORO_IOC_CALL, rc));
	EXPECT_EQ(0, rc->sent);
	call_init(rc, msg, 5, self->rep, buf, sizeof(buf), 0, 0);
	ASSERT_EQ(0, mprotect(ro, 2 * 4096, PROT_READ));
	/* the struct can be read, not written: sent could not be reported */
	EXPECT_EQ(-EFAULT, kst_ioctl(self->req, KCORO_IOC_CALL, rc));
	munmap(ro, 2 * 4096);
	EXPECT_EQ(0, chan_sent(self->req));
}

/*
 * The receive half times out: the request was sent exactly once, the
 * call says so, and calling again with the same struct only waits for
 * the reply.
 */
TEST_F(call, reply_times_out)
{
	char buf[MSG];
	struct kcoro_call c;
	int sent = -1;

	call_init(&c, "ping", 4, self->rep, buf, sizeof(buf),
		  KCORO_MSG_TIMEOUT, 30 * KST_MS);
	EXPECT_EQ(-ETIMEDOUT, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(1, c.sent);
	EXPECT_EQ(1, chan_sent(self->req));
	EXPECT_EQ(1, chan_buffered(self->req));

	/* resume: nothing sent again; times out again, still sent */
	EXPECT_EQ(-ETIMEDOUT, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(1, c.sent);
	EXPECT_EQ(1, chan_sent(self->req));

	/* the reply comes: the resumed call takes it and clears sent */
	ASSERT_EQ(0, kcoro_send(self->rep, "pong", 4, 0));
	EXPECT_EQ(4, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(0, c.sent);
	EXPECT_EQ(4, c.rep_len);
	EXPECT_EQ(0, memcmp(buf, "pong", 4));
	EXPECT_TRUE(got_once(self->req, "ping"));

	/* an absolute deadline, and a timeout of 0 */
	EXPECT_EQ(-ETIMEDOUT, kcoro_call(self->req, "abs", 3, self->rep, buf,
					 sizeof(buf),
					 KCORO_MSG_TIMEOUT | KCORO_MSG_ABSTIME,
					 kcoro_deadline(20 * KST_MS), &sent));
	EXPECT_EQ(1, sent);
	ASSERT_EQ(3, kcoro_recv(self->req, buf, sizeof(buf), 0));
	EXPECT_EQ(-ETIMEDOUT, kcoro_call(self->req, "zero", 4, self->rep, buf,
					 sizeof(buf), KCORO_MSG_TIMEOUT, 0,
					 &sent));
	EXPECT_EQ(1, sent);
	ASSERT_EQ(4, kcoro_recv(self->req, buf, sizeof(buf), 0));
	/* a non-blocking call still waits for the reply, within the deadline */
	EXPECT_EQ(-ETIMEDOUT, kcoro_call(self->req, "nb", 2, self->rep, buf,
					 sizeof(buf),
					 KCORO_MSG_NONBLOCK | KCORO_MSG_TIMEOUT,
					 20 * KST_MS, &sent));
	EXPECT_EQ(1, sent);
	ASSERT_EQ(2, kcoro_recv(self->req, buf, sizeof(buf), 0));
}

/* The reply channel is closed (or cancelled) while the call waits. */
static void *close_later(void *arg)
{
	int fd = *(int *)arg;

	if (kst_wait_waiting(fd, 0, 1, 5000))
		kcoro_cancel(fd);
	return NULL;
}

TEST_F(call, reply_channel_closed)
{
	char buf[MSG];
	struct kcoro_call c;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, close_later, &self->rep));
	call_init(&c, "ping", 4, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EPIPE, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(1, c.sent);
	pthread_join(t, NULL);
	EXPECT_TRUE(got_once(self->req, "ping"));
	/* already closed: still sent, EPIPE at once */
	call_init(&c, "again", 5, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EPIPE, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	EXPECT_EQ(1, c.sent);
	ASSERT_EQ(5, kcoro_recv(self->req, buf, sizeof(buf), 0));
}

/*
 * A signal while the call waits for its reply: the request was sent
 * once; without SA_RESTART (or with a relative timeout) the call fails
 * with EINTR and sent = 1; with SA_RESTART it is restarted and only
 * waits, then returns the reply.
 */
/* Handler runs, read by the helper threads (atomics, not volatile). */
static unsigned int handled_count;

static void on_signal(int sig)
{
	(void)sig;
	__atomic_fetch_add(&handled_count, 1, __ATOMIC_RELAXED);
}

static unsigned int handled(void)
{
	return __atomic_load_n(&handled_count, __ATOMIC_RELAXED);
}

struct kicker {
	pthread_t target;
	int req;
	int rep;
	bool reply;
	int err;
};

static void *kick(void *arg)
{
	struct kicker *k = arg;

	/* the request is there and the caller waits for the reply */
	if (!kst_wait_waiting(k->rep, 0, 1, 5000) ||
	    chan_buffered(k->req) != 1) {
		k->err = 1;
		return NULL;
	}
	pthread_kill(k->target, SIGUSR1);
	if (!k->reply)
		return NULL;
	/* handled, then the restarted call waits again: reply */
	while (!handled())
		kst_sleep_ms(1);
	if (!kst_wait_waiting(k->rep, 0, 1, 5000)) {
		k->err = 2;
		return NULL;
	}
	if (kcoro_send(k->rep, "pong", 4, 0))
		k->err = 3;
	return NULL;
}

static void signal_case(struct __test_metadata *_metadata, int req, int rep,
			int sa_flags, uint32_t flags, int64_t timeout,
			long want)
{
	struct kicker k = { .target = pthread_self(), .req = req, .rep = rep,
			    .reply = want == 4 };
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = sa_flags };
	struct kcoro_call c;
	char buf[MSG];
	pthread_t t;

	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	__atomic_store_n(&handled_count, 0, __ATOMIC_RELAXED);
	ASSERT_EQ(0, pthread_create(&t, NULL, kick, &k));
	call_init(&c, "ping", 4, rep, buf, sizeof(buf), flags, timeout);
	EXPECT_EQ(want, kst_ioctl(req, KCORO_IOC_CALL, &c));
	pthread_join(t, NULL);
	EXPECT_EQ(0, k.err);
	EXPECT_EQ(1, handled());
	EXPECT_TRUE(got_once(req, "ping"));
	if (want == 4) {
		EXPECT_EQ(0, c.sent);
		EXPECT_EQ(0, memcmp(buf, "pong", 4));
	} else {
		EXPECT_EQ(1, c.sent);
	}
	signal(SIGUSR1, SIG_DFL);
}

TEST_F(call, signal_while_waiting_eintr)
{
	signal_case(_metadata, self->req, self->rep, 0, 0, 0, -EINTR);
}

TEST_F(call, signal_while_waiting_restarts_receive_only)
{
	signal_case(_metadata, self->req, self->rep, SA_RESTART, 0, 0, 4);
}

TEST_F(call, signal_while_waiting_abstime_restarts)
{
	signal_case(_metadata, self->req, self->rep, SA_RESTART,
		    KCORO_MSG_TIMEOUT | KCORO_MSG_ABSTIME,
		    kcoro_deadline(10000 * KST_MS), 4);
}

/* A relative timeout is never restarted (its deadline would move). */
TEST_F(call, signal_while_waiting_relative_timeout_eintr)
{
	signal_case(_metadata, self->req, self->rep, SA_RESTART,
		    KCORO_MSG_TIMEOUT, 10000 * KST_MS, -EINTR);
}

/*
 * A signal while the request is still being sent (the request channel
 * is full): nothing was sent, and a restart makes the whole call.
 */
static void *free_room(void *arg)
{
	struct kicker *k = arg;
	char buf[MSG];

	if (!kst_wait_waiting(k->req, 1, 0, 5000)) {
		k->err = 1;
		return NULL;
	}
	pthread_kill(k->target, SIGUSR1);
	while (!handled())
		kst_sleep_ms(1);
	/* the restarted send waits again: make room, then reply */
	if (!kst_wait_waiting(k->req, 1, 0, 5000) ||
	    kcoro_recv(k->req, buf, sizeof(buf), 0) != 5) {
		k->err = 2;
		return NULL;
	}
	if (!kst_wait_waiting(k->rep, 0, 1, 5000) ||
	    kcoro_send(k->rep, "pong", 4, 0))
		k->err = 3;
	return NULL;
}

static void *kick_sender(void *arg)
{
	struct kicker *k = arg;

	if (kst_wait_waiting(k->req, 1, 0, 5000))
		pthread_kill(k->target, SIGUSR1);
	else
		k->err = 1;
	return NULL;
}

TEST_F(call, signal_while_sending_restarts_call)
{
	struct kicker k = { .target = pthread_self(), .req = self->req,
			    .rep = self->rep };
	struct sigaction sa = { .sa_handler = on_signal,
				.sa_flags = SA_RESTART };
	struct kcoro_call c;
	char buf[MSG];
	pthread_t t;

	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	__atomic_store_n(&handled_count, 0, __ATOMIC_RELAXED);
	ASSERT_EQ(0, kcoro_send(self->req, "first", 5, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, free_room, &k));
	call_init(&c, "ping", 4, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(4, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	pthread_join(t, NULL);
	EXPECT_EQ(0, k.err);
	EXPECT_EQ(1, handled());
	EXPECT_EQ(0, c.sent);
	/* "first" was taken by the thread; "ping" once: 2 sends in all */
	EXPECT_EQ(4, kcoro_recv(self->req, buf, sizeof(buf),
				KCORO_MSG_NONBLOCK));
	EXPECT_EQ(0, memcmp(buf, "ping", 4));
	EXPECT_EQ(2, chan_sent(self->req));
	EXPECT_EQ(0, chan_buffered(self->req));
	signal(SIGUSR1, SIG_DFL);

	/* without SA_RESTART: EINTR, nothing sent */
	sa.sa_flags = 0;
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	__atomic_store_n(&handled_count, 0, __ATOMIC_RELAXED);
	ASSERT_EQ(0, kcoro_send(self->req, "first", 5, 0));
	k.err = 0;
	ASSERT_EQ(0, pthread_create(&t, NULL, kick_sender, &k));
	call_init(&c, "ping", 4, self->rep, buf, sizeof(buf), 0, 0);
	EXPECT_EQ(-EINTR, kst_ioctl(self->req, KCORO_IOC_CALL, &c));
	pthread_join(t, NULL);
	EXPECT_EQ(0, k.err);
	EXPECT_EQ(0, c.sent);
	EXPECT_EQ(3, chan_sent(self->req));
	EXPECT_EQ(1, chan_buffered(self->req));
	signal(SIGUSR1, SIG_DFL);
}

/*
 * A stop signal and SIGCONT while the call waits for the reply: no
 * handler runs and the call restarts transparently, waiting only.
 */
TEST_F(call, stop_and_continue_while_waiting)
{
	char buf[MSG];
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct kcoro_call c;
		long ret;

		call_init(&c, "ping", 4, self->rep, buf, sizeof(buf), 0, 0);
		ret = kst_ioctl(self->req, KCORO_IOC_CALL, &c);
		_exit(ret == 4 && !c.sent && !memcmp(buf, "pong", 4) ? 0 : 1);
	}
	ASSERT_TRUE(kst_wait_waiting(self->rep, 0, 1, 5000));
	ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(status));
	EXPECT_TRUE(kst_wait_waiting(self->rep, 0, 0, 5000));
	ASSERT_EQ(0, kill(pid, SIGCONT));
	ASSERT_TRUE(kst_wait_waiting(self->rep, 0, 1, 5000));
	ASSERT_EQ(0, kcoro_send(self->rep, "pong", 4, 0));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_TRUE(got_once(self->req, "ping"));
}

TEST_HARNESS_MAIN
