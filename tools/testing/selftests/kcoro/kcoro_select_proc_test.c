// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: KCORO_IOC_SELECT between processes.  Both ends of a
 * channel in select, a prime sieve of processes, fairness of the random
 * choice, select against close and signals, and a stress of selects whose
 * every message is accounted for exactly once through a dead-letter
 * channel.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

#define SP_WAIT_MS	20000		/* longest wait for a child */
#define SP_SEL_NS	(10000 * KST_MS)	/* select timeout in children */

FIXTURE(sp) {
	int devfd;
};

FIXTURE_SETUP(sp)
{
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
}

FIXTURE_TEARDOWN(sp)
{
	close(self->devfd);
}

static int mkchan(struct __test_metadata *_metadata, int devfd,
		  int64_t capacity, int dead_fd)
{
	int fd;

	if (dead_fd >= 0)
		fd = kcoro_chan_create_dead_letter(devfd, capacity, 0, 0, 0,
						   dead_fd);
	else
		fd = kcoro_chan_create(devfd, capacity, 0, 0, 0);
	ASSERT_LE(0, fd) TH_LOG("kcoro_chan_create: %s", strerror(-fd));
	return fd;
}

#define MKCHAN(cap) mkchan(_metadata, self->devfd, cap, -1)
#define MKCHAN_DL(cap, dead) mkchan(_metadata, self->devfd, cap, dead)

static struct kcoro_chan_info info_of(int fd)
{
	struct kcoro_chan_info info;

	memset(&info, 0xff, sizeof(info));
	kcoro_chan_info(fd, &info);
	return info;
}

#define EXPECT_COUNTS(fd, s, r, u, b) do { \
	struct kcoro_chan_info __i = info_of(fd); \
	EXPECT_EQ(s, __i.sent); \
	EXPECT_EQ(r, __i.received); \
	EXPECT_EQ(u, __i.undelivered); \
	EXPECT_EQ(b, __i.buffered); \
} while (0)

/* Memory shared with the children (zeroed). */
static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* A child reports a failure on stderr and exits with status 1. */
static void __noreturn __printf(2, 3) child_fail(int line, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "# child %d, line %d: %s\n", getpid(), line, buf);
	_exit(1);
}

#define CHILD_CHECK(cond, ...) do { \
	if (!(cond)) \
		child_fail(__LINE__, __VA_ARGS__); \
} while (0)

static pid_t sp_fork(void)
{
	fflush(stdout);
	fflush(stderr);
	return fork();
}

/*
 * The exit status of child @pid, 128 + signal if it was killed, or -1 if
 * it did not end within @ms milliseconds (it is killed then).
 */
static int wait_child(pid_t pid, long ms)
{
	int64_t end = kst_now() + ms * KST_MS;
	int status = 0;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0)
			return -2;
		if (kst_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		kst_sleep_ms(2);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/*
 * Both sides in select: process A selects {send(x), recv(y)}, process B
 * {recv(x), send(y)}, each until it has sent and received BS_ROUNDS
 * messages (a clause is left out once its side is done).  Every select
 * completes exactly one clause, so each side sees the other's sequence
 * numbers in order, with none lost or repeated.
 */
#define BS_ROUNDS	300

struct bs_side {
	unsigned int sent;
	unsigned int recvd;
	unsigned int selects;
	unsigned int both;	/* selects that had both clauses */
	unsigned int send_won;	/* ... and completed the send */
};

static void bs_run(int devfd, int out, int in, uint32_t tag_out,
		   uint32_t tag_in, bool send_first, struct bs_side *res)
{
	struct kcoro_sel_clause c[2];
	uint32_t msg[2], buf[4];
	int n, r, st, si;

	while (res->sent < BS_ROUNDS || res->recvd < BS_ROUNDS) {
		n = 0;
		si = -1;
		msg[0] = tag_out;
		msg[1] = res->sent;
		if (send_first && res->sent < BS_ROUNDS) {
			si = n;
			kcoro_sel_send(&c[n++], out, msg, sizeof(msg));
		}
		if (res->recvd < BS_ROUNDS)
			kcoro_sel_recv(&c[n++], in, buf, sizeof(buf));
		if (!send_first && res->sent < BS_ROUNDS) {
			si = n;
			kcoro_sel_send(&c[n++], out, msg, sizeof(msg));
		}
		st = -1;
		r = kcoro_select(devfd, c, n, KCORO_MSG_TIMEOUT, SP_SEL_NS,
				 &st);
		CHILD_CHECK(r >= 0 && r < n && st == 0,
			    "select: %d, status %d (sent %u, received %u)",
			    r, st, res->sent, res->recvd);
		res->selects++;
		if (n == 2)
			res->both++;
		if (r == si) {
			res->sent++;
			if (n == 2)
				res->send_won++;
			continue;
		}
		CHILD_CHECK(c[r].len == sizeof(msg) && buf[0] == tag_in &&
			    buf[1] == res->recvd,
			    "received len %u tag %x seq %u, expected seq %u",
			    c[r].len, buf[0], buf[1], res->recvd);
		res->recvd++;
	}
}

TEST_F(sp, both_sides_select)
{
	struct bs_side *res = shared_alloc(2 * sizeof(*res));
	int64_t cap;

	ASSERT_NE(NULL, res);
	for (cap = 0; cap <= 3; cap++) {
		int x = MKCHAN(cap), y = MKCHAN(cap);
		pid_t a, b;

		memset(res, 0, 2 * sizeof(*res));
		a = sp_fork();
		ASSERT_LE(0, a);
		if (a == 0) {
			bs_run(self->devfd, x, y, 0xa, 0xb, cap & 1, &res[0]);
			_exit(0);
		}
		b = sp_fork();
		ASSERT_LE(0, b);
		if (b == 0) {
			bs_run(self->devfd, y, x, 0xb, 0xa, !(cap & 1), &res[1]);
			_exit(0);
		}
		EXPECT_EQ(0, wait_child(a, SP_WAIT_MS));
		EXPECT_EQ(0, wait_child(b, SP_WAIT_MS));
		/* A's sends are B's receives and the other way round */
		EXPECT_EQ(BS_ROUNDS, res[0].sent);
		EXPECT_EQ(res[0].sent, res[1].recvd);
		EXPECT_EQ(BS_ROUNDS, res[1].sent);
		EXPECT_EQ(res[1].sent, res[0].recvd);
		EXPECT_EQ(2 * BS_ROUNDS, res[0].selects);
		EXPECT_EQ(2 * BS_ROUNDS, res[1].selects);
		EXPECT_COUNTS(x, BS_ROUNDS, BS_ROUNDS, 0, 0);
		EXPECT_COUNTS(y, BS_ROUNDS, BS_ROUNDS, 0, 0);
		TH_LOG("capacity %lld: selects of two clauses A %u (send won %u), B %u (%u)",
		       (long long)cap, res[0].both, res[0].send_won,
		       res[1].both, res[1].send_won);
		close(x);
		close(y);
	}
	munmap(res, 2 * sizeof(*res));
}

/*
 * Go's concurrent prime sieve with processes: a generator sends 2, 3, ...
 * on a channel; the main process takes the first number of a channel as
 * a prime, creates the next channel and starts a filter process that
 * forwards the non-multiples of that prime.  Every child selects between
 * its channel operation and a "done" channel; closing "done" stops them
 * all, and closing the generator's channel ends the pipeline stage by
 * stage (each filter closes its output once its input is drained).
 */
#define SIEVE_N		500
#define SIEVE_MAX	128		/* > primes below SIEVE_N (95) */

/* select {@op on @ch, recv(@done)}: the index; exits when done closes */
static int sieve_op(int devfd, int ch, int op, uint32_t *val, int done,
		    int *st)
{
	struct kcoro_sel_clause c[2];
	char dummy[4];
	int r;

	if (op == KCORO_SEL_SEND)
		kcoro_sel_send(&c[0], ch, val, sizeof(*val));
	else
		kcoro_sel_recv(&c[0], ch, val, sizeof(*val));
	kcoro_sel_recv(&c[1], done, dummy, sizeof(dummy));
	*st = -1;
	r = kcoro_select(devfd, c, 2, KCORO_MSG_TIMEOUT, SP_SEL_NS, st);
	CHILD_CHECK(r == 0 || r == 1, "select: %d", r);
	if (r == 1) {
		CHILD_CHECK(*st == EPIPE, "done: status %d", *st);
		_exit(0);
	}
	return r;
}

static void sieve_generator(int devfd, int out, int done, uint32_t n)
{
	uint32_t v;
	int st;

	for (v = 2; v < n; v++) {
		sieve_op(devfd, out, KCORO_SEL_SEND, &v, done, &st);
		CHILD_CHECK(st == 0, "generator: send status %d", st);
	}
	CHILD_CHECK(kcoro_close(out) == 0, "close");
	_exit(0);
}

static void sieve_filter(int devfd, int in, int out, int done, uint32_t p)
{
	uint32_t v;
	int st;

	for (;;) {
		sieve_op(devfd, in, KCORO_SEL_RECV, &v, done, &st);
		if (st == EPIPE)
			break;
		CHILD_CHECK(st == 0, "filter %u: receive status %d", p, st);
		if (v % p == 0)
			continue;
		sieve_op(devfd, out, KCORO_SEL_SEND, &v, done, &st);
		CHILD_CHECK(st == 0, "filter %u: send status %d", p, st);
	}
	CHILD_CHECK(kcoro_close(out) == 0, "close");
	_exit(0);
}

/*
 * Run the sieve below @n on channels of @cap; stop after @limit primes
 * (then close "done") or at the end of the pipeline.  Fills @primes.
 */
static void sieve_run(struct __test_metadata *_metadata, int devfd,
		      int64_t cap, uint32_t n, int limit, uint32_t *primes,
		      int *found)
{
	pid_t pids[SIEVE_MAX + 1];
	int npids = 0, done, ch, next, i;
	uint32_t p;
	long r;

	*found = 0;
	done = mkchan(_metadata, devfd, KCORO_CAP_RENDEZVOUS, -1);
	ch = mkchan(_metadata, devfd, cap, -1);
	pids[npids] = sp_fork();
	ASSERT_LE(0, pids[npids]);
	if (pids[npids] == 0)
		sieve_generator(devfd, ch, done, n);
	npids++;
	for (;;) {
		r = kcoro_recv_timeout(ch, &p, sizeof(p), 0, SP_SEL_NS);
		if (r == -EPIPE)
			break;
		ASSERT_EQ(sizeof(p), r);
		ASSERT_GT(SIEVE_MAX, *found);
		primes[(*found)++] = p;
		if (*found == limit)
			break;
		next = mkchan(_metadata, devfd, cap, -1);
		pids[npids] = sp_fork();
		ASSERT_LE(0, pids[npids]);
		if (pids[npids] == 0)
			sieve_filter(devfd, ch, next, done, p);
		npids++;
		close(ch);
		ch = next;
	}
	ASSERT_EQ(0, kcoro_close(done));
	for (i = 0; i < npids; i++)
		EXPECT_EQ(0, wait_child(pids[i], SP_WAIT_MS));
	close(ch);
	close(done);
}

TEST_F_TIMEOUT(sp, prime_sieve, 120)
{
	uint32_t expect[SIEVE_MAX], primes[SIEVE_MAX], v, d;
	int nexpect = 0, found, i;

	for (v = 2; v < SIEVE_N; v++) {
		for (d = 2; d * d <= v && v % d; d++)
			;
		if (d * d > v)
			expect[nexpect++] = v;
	}
	ASSERT_EQ(95, nexpect);

	/* the whole pipeline on rendezvous channels, ended by close */
	sieve_run(_metadata, self->devfd, KCORO_CAP_RENDEZVOUS, SIEVE_N, -1,
		  primes, &found);
	ASSERT_EQ(nexpect, found);
	for (i = 0; i < found; i++)
		EXPECT_EQ(expect[i], primes[i]);

	/* buffered channels, stopped after 20 primes by closing "done" */
	sieve_run(_metadata, self->devfd, 3, SIEVE_N, 20, primes, &found);
	ASSERT_EQ(20, found);
	for (i = 0; i < found; i++)
		EXPECT_EQ(expect[i], primes[i]);
}

/*
 * Fairness: two clauses that are always ready (the test refills or
 * empties the chosen channel after every select) are chosen in even
 * proportion: the count of clause 0 within 5 sigma of n/2, and the
 * number of runs (maximal stretches of one clause) within 5 sigma of
 * its expectation, which rules out a fixed alternation.  KCORO_SEL_BIASED
 * always takes the first.
 */
#define FAIR_N		4000

static void fair_check(struct __test_metadata *_metadata, const char *what,
		       const unsigned char *seq, int n)
{
	double k = 0, runs = 1, e, var;
	int i;

	for (i = 0; i < n; i++) {
		k += !seq[i];
		if (i && seq[i] != seq[i - 1])
			runs++;
	}
	/* binomial: |k - n/2| <= 5 * sqrt(n) / 2 */
	EXPECT_TRUE((2 * k - n) * (2 * k - n) <= 25.0 * n) {
		TH_LOG("%s: clause 0 chosen %.0f times of %d", what, k, n);
	}
	/* Wald-Wolfowitz runs test */
	e = 1 + 2 * k * (n - k) / n;
	var = 2 * k * (n - k) * (2 * k * (n - k) - n) /
	      ((double)n * n * (n - 1));
	EXPECT_TRUE((runs - e) * (runs - e) <= 25 * var) {
		TH_LOG("%s: %.0f runs, expected %.1f (variance %.1f)", what,
		       runs, e, var);
	}
	TH_LOG("%s: clause 0 chosen %.0f of %d times, %.0f runs (expected %.1f)",
	       what, k, n, runs, e);
}

TEST_F(sp, fairness)
{
	int a = MKCHAN(4), b = MKCHAN(4), fds[2], i, r;
	unsigned char *seq = malloc(FAIR_N);
	struct kcoro_sel_clause c[2];
	char ba[8], bb[8], m = 'm';

	ASSERT_NE(NULL, seq);
	fds[0] = a;
	fds[1] = b;
	/* receive clauses on two full channels */
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, kcoro_send(a, &m, 1, 0));
		ASSERT_EQ(0, kcoro_send(b, &m, 1, 0));
	}
	kcoro_sel_recv(&c[0], a, ba, sizeof(ba));
	kcoro_sel_recv(&c[1], b, bb, sizeof(bb));
	for (i = 0; i < FAIR_N; i++) {
		r = kcoro_select(self->devfd, c, 2, 0, 0, NULL);
		ASSERT_TRUE(r == 0 || r == 1) TH_LOG("select: %d", r);
		seq[i] = r;
		ASSERT_EQ(0, kcoro_send(fds[r], &m, 1, KCORO_MSG_NONBLOCK));
	}
	fair_check(_metadata, "receive", seq, FAIR_N);
	for (i = 0; i < FAIR_N / 4; i++) {
		r = kcoro_select(self->devfd, c, 2, KCORO_SEL_BIASED, 0, NULL);
		ASSERT_EQ(0, r);
		ASSERT_EQ(0, kcoro_send(a, &m, 1, KCORO_MSG_NONBLOCK));
	}
	EXPECT_EQ(4, info_of(a).buffered);
	EXPECT_EQ(4, info_of(b).buffered);
	EXPECT_EQ(FAIR_N + 8 + FAIR_N / 4,
		  info_of(a).sent + info_of(b).sent);

	/* send clauses on two empty channels */
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(1, kcoro_recv(a, ba, sizeof(ba), 0));
		ASSERT_EQ(1, kcoro_recv(b, bb, sizeof(bb), 0));
	}
	kcoro_sel_send(&c[0], a, &m, 1);
	kcoro_sel_send(&c[1], b, &m, 1);
	for (i = 0; i < FAIR_N; i++) {
		r = kcoro_select(self->devfd, c, 2, 0, 0, NULL);
		ASSERT_TRUE(r == 0 || r == 1) TH_LOG("select: %d", r);
		seq[i] = r;
		ASSERT_EQ(1, kcoro_recv(fds[r], ba, sizeof(ba),
					KCORO_MSG_NONBLOCK));
	}
	fair_check(_metadata, "send", seq, FAIR_N);
	for (i = 0; i < FAIR_N / 4; i++) {
		r = kcoro_select(self->devfd, c, 2, KCORO_SEL_BIASED, 0, NULL);
		ASSERT_EQ(0, r);
		ASSERT_EQ(1, kcoro_recv(a, ba, sizeof(ba), KCORO_MSG_NONBLOCK));
	}
	EXPECT_EQ(0, info_of(a).buffered);
	EXPECT_EQ(0, info_of(b).buffered);
	free(seq);
	close(a);
	close(b);
}

/* A select in a child, whose result the parent reads. */
struct sel_child {
	int ret;
	int status;
	unsigned int len;
	unsigned int sigs;
	unsigned int count;
	unsigned int eintr;
	char buf[32];
};

static pid_t sel_child_start(int devfd, struct kcoro_sel_clause *c, int n,
			     unsigned int flags, struct sel_child *res)
{
	pid_t pid = sp_fork();

	if (pid)
		return pid;
	res->ret = kcoro_select(devfd, c, n, flags, SP_SEL_NS, &res->status);
	if (res->ret >= 0 && res->ret < n)
		res->len = c[res->ret].len;
	_exit(0);
}

/*
 * Select vs close: a select blocked in another process on a receive
 * clause completes with status EPIPE when the channel is closed or
 * cancelled, on a send clause when it is cancelled (its message is not
 * sent, not counted undelivered and not dead-lettered); the other clause
 * does nothing.  Close leaves a waiting send clause waiting, as it does a
 * suspended sender (Kotlin): a receiver still takes its message.  A
 * select on a closed channel first drains it, then completes at once
 * with EPIPE.
 */
TEST_F(sp, select_vs_close)
{
	struct sel_child *res = shared_alloc(sizeof(*res));
	int dead = MKCHAN(KCORO_CAP_UNLIMITED), mode, i;
	struct kcoro_sel_clause c[2];
	char buf[32];
	int64_t t0;
	pid_t pid;

	ASSERT_NE(NULL, res);
	for (mode = 0; mode < 8; mode++) {
		int64_t cap = mode & 1 ? 1 : KCORO_CAP_RENDEZVOUS;
		bool cancel = mode & 2, send = mode & 4;
		int a = MKCHAN_DL(cap, dead), b = MKCHAN(KCORO_CAP_RENDEZVOUS);
		unsigned int pre = send && cap ? 1 : 0;

		/* a full buffer: the send clause waits */
		ASSERT_EQ(0, pre ? kcoro_send(a, "f", 1, 0) : 0);
		memset(res, 0, sizeof(*res));
		if (send)
			kcoro_sel_send(&c[0], a, "never", 5);
		else
			kcoro_sel_recv(&c[0], a, res->buf, sizeof(res->buf));
		kcoro_sel_recv(&c[1], b, buf, sizeof(buf));
		pid = sel_child_start(self->devfd, c, 2, KCORO_MSG_TIMEOUT,
				      res);
		ASSERT_LE(0, pid);
		ASSERT_TRUE(kst_wait_sleeping(pid, pid, 5000));
		ASSERT_EQ(0, cancel ? kcoro_cancel(a) : kcoro_close(a));
		if (send && !cancel) {
			/* still waiting; a receiver takes what it sends */
			kst_sleep_ms(50);
			EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG));
			EXPECT_EQ(pre ? 1 : 5, kcoro_recv(a, buf, sizeof(buf),
							  0));
			ASSERT_EQ(0, wait_child(pid, SP_WAIT_MS));
			EXPECT_EQ(0, res->ret);
			EXPECT_EQ(0, res->status);
			if (pre)
				EXPECT_EQ(5, kcoro_recv(a, buf, sizeof(buf),
							0));
			EXPECT_EQ(0, memcmp(buf, "never", 5));
			EXPECT_EQ(-EPIPE, kcoro_recv(a, buf, sizeof(buf), 0));
			EXPECT_COUNTS(a, pre + 1, pre + 1, 0, 0);
			EXPECT_EQ(0, info_of(a).dead_lettered);
			EXPECT_COUNTS(b, 0, 0, 0, 0);
			close(a);
			close(b);
			continue;
		}
		ASSERT_EQ(0, wait_child(pid, SP_WAIT_MS));
		EXPECT_EQ(0, res->ret) TH_LOG("mode %d", mode);
		EXPECT_EQ(EPIPE, res->status) TH_LOG("mode %d", mode);
		/* nothing sent; cancel drops the buffered message */
		EXPECT_COUNTS(a, pre, 0, pre, 0);
		EXPECT_EQ(pre, info_of(a).dead_lettered);
		EXPECT_EQ(0, info_of(a).dead_lost);
		EXPECT_COUNTS(b, 0, 0, 0, 0);
		EXPECT_EQ(-EAGAIN, kcoro_send(b, "x", 1, KCORO_MSG_NONBLOCK));
		close(a);
		close(b);
	}
	/* the only dead letter: the buffered one of the cancelled channel */
	EXPECT_EQ(1, info_of(dead).sent);

	/* closed with messages: drained first, then EPIPE at once */
	{
		int a = MKCHAN(3), b = MKCHAN(KCORO_CAP_RENDEZVOUS);

		for (i = 0; i < 3; i++) {
			buf[0] = '0' + i;
			ASSERT_EQ(0, kcoro_send(a, buf, 1, 0));
		}
		ASSERT_EQ(0, kcoro_close(a));
		kcoro_sel_recv(&c[0], b, res->buf, sizeof(res->buf));
		for (i = 0; i < 4; i++) {
			int st = -1;

			kcoro_sel_recv(&c[1], a, buf, sizeof(buf));
			t0 = kst_now();
			EXPECT_EQ(1, kcoro_select(self->devfd, c, 2,
						  KCORO_MSG_TIMEOUT, SP_SEL_NS,
						  &st));
			EXPECT_GT(1000 * KST_MS, kst_now() - t0);
			if (i < 3) {
				EXPECT_EQ(0, st);
				EXPECT_EQ(1, c[1].len);
				EXPECT_EQ('0' + i, buf[0]);
			} else {
				EXPECT_EQ(EPIPE, st);
			}
		}
		EXPECT_COUNTS(a, 3, 3, 0, 0);
		EXPECT_COUNTS(b, 0, 0, 0, 0);
		close(a);
		close(b);
	}

	/* another process sends 200 messages and closes: all, then EPIPE */
	{
		int a = MKCHAN(3), b = MKCHAN(KCORO_CAP_RENDEZVOUS);
		uint32_t v;

		memset(res, 0, sizeof(*res));
		pid = sp_fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			for (v = 0; v < 200; v++)
				CHILD_CHECK(!kcoro_send(a, &v, sizeof(v), 0),
					    "send");
			CHILD_CHECK(!kcoro_close(a), "close");
			_exit(0);
		}
		kcoro_sel_recv(&c[0], b, buf, sizeof(buf));
		for (;;) {
			int st = -1, r;

			kcoro_sel_recv(&c[1], a, &v, sizeof(v));
			r = kcoro_select(self->devfd, c, 2, KCORO_MSG_TIMEOUT,
					 SP_SEL_NS, &st);
			ASSERT_EQ(1, r);
			if (st == EPIPE)
				break;
			ASSERT_EQ(0, st);
			ASSERT_EQ(res->count, v);
			res->count++;
		}
		EXPECT_EQ(200, res->count);
		EXPECT_EQ(0, wait_child(pid, SP_WAIT_MS));
		EXPECT_COUNTS(a, 200, 200, 0, 0);
		close(a);
		close(b);
	}
	close(dead);
	munmap(res, sizeof(*res));
}

static unsigned int *sp_sigs;

static void sp_on_sig(int sig)
{
	(void)sig;
	__atomic_fetch_add(sp_sigs, 1, __ATOMIC_RELAXED);
}

static void sp_handler(bool restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sp_on_sig;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	CHILD_CHECK(!sigaction(SIGUSR1, &sa, NULL), "sigaction");
}

/*
 * Select vs signal: without SA_RESTART a blocked select returns -EINTR
 * and no clause took effect; with SA_RESTART it goes on waiting and
 * completes later.  Then a signal storm against a select loop: every
 * message arrives once and in order, and the send clause never sends.
 */
#define SIG_MSGS	300

TEST_F(sp, select_vs_signal)
{
	struct sel_child *res = shared_alloc(sizeof(*res));
	int a = MKCHAN(2), b = MKCHAN(KCORO_CAP_RENDEZVOUS);
	struct kcoro_sel_clause c[2];
	int64_t end;
	uint32_t v;
	char buf[8];
	pid_t pid;

	ASSERT_NE(NULL, res);
	sp_sigs = &res->sigs;

	/* no SA_RESTART: -EINTR, nothing received, nothing sent */
	kcoro_sel_recv(&c[0], a, res->buf, sizeof(res->buf));
	kcoro_sel_send(&c[1], b, "s", 1);
	pid = sp_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		sp_handler(false);
		res->ret = kcoro_select(self->devfd, c, 2, 0, 0, &res->status);
		_exit(0);
	}
	ASSERT_TRUE(kst_wait_sleeping(pid, pid, 5000));
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	ASSERT_EQ(0, wait_child(pid, SP_WAIT_MS));
	EXPECT_EQ(-EINTR, res->ret);
	EXPECT_EQ(1, res->sigs);
	EXPECT_COUNTS(a, 0, 0, 0, 0);
	EXPECT_COUNTS(b, 0, 0, 0, 0);
	EXPECT_EQ(-EAGAIN, kcoro_recv(b, buf, sizeof(buf), KCORO_MSG_NONBLOCK));
	/* a message sent now stays for the next receiver */
	ASSERT_EQ(0, kcoro_send(a, "k", 1, 0));
	EXPECT_EQ(1, kcoro_recv(a, buf, sizeof(buf), KCORO_MSG_NONBLOCK));

	/* SA_RESTART: the select survives the signal and completes */
	memset(res, 0, sizeof(*res));
	pid = sp_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		sp_handler(true);
		res->ret = kcoro_select(self->devfd, c, 2, 0, 0, &res->status);
		res->len = res->ret == 0 ? c[0].len : 0;
		_exit(0);
	}
	ASSERT_TRUE(kst_wait_sleeping(pid, pid, 5000));
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	end = kst_now() + 5000 * KST_MS;
	while (!__atomic_load_n(&res->sigs, __ATOMIC_RELAXED) &&
	       kst_now() < end)
		kst_sleep_ms(1);
	ASSERT_EQ(1, res->sigs);
	ASSERT_TRUE(kst_wait_sleeping(pid, pid, 5000));
	ASSERT_EQ(0, kcoro_send(a, "late", 4, 0));
	ASSERT_EQ(0, wait_child(pid, SP_WAIT_MS));
	EXPECT_EQ(0, res->ret);
	EXPECT_EQ(0, res->status);
	EXPECT_EQ(4, res->len);
	EXPECT_EQ(0, memcmp(res->buf, "late", 4));
	EXPECT_COUNTS(a, 2, 2, 0, 0);
	EXPECT_COUNTS(b, 0, 0, 0, 0);

	/* a storm of signals against a select loop (handler inherited) */
	memset(res, 0, sizeof(*res));
	sp_handler(false);
	pid = sp_fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint32_t got;
		int r, st;

		kcoro_sel_recv(&c[0], a, &got, sizeof(got));
		while (res->count < SIG_MSGS) {
			st = -1;
			r = kcoro_select(self->devfd, c, 2, KCORO_MSG_TIMEOUT,
					 SP_SEL_NS, &st);
			if (r == -EINTR) {
				res->eintr++;
				continue;
			}
			CHILD_CHECK(r == 0 && st == 0, "select %d status %d",
				    r, st);
			CHILD_CHECK(c[0].len == sizeof(got) &&
				    got == res->count,
				    "got %u, expected %u", got, res->count);
			c[0].len = sizeof(got);
			res->count++;
		}
		_exit(0);
	}
	for (v = 0; v < SIG_MSGS; v++) {
		ASSERT_EQ(0, kcoro_send_timeout(a, &v, sizeof(v), 0,
						SP_SEL_NS));
		kill(pid, SIGUSR1);
	}
	ASSERT_EQ(0, wait_child(pid, SP_WAIT_MS));
	EXPECT_EQ(SIG_MSGS, res->count);
	TH_LOG("signal storm: %u signals handled, %u selects interrupted",
	       res->sigs, res->eintr);
	EXPECT_COUNTS(a, 2 + SIG_MSGS, 2 + SIG_MSGS, 0, 0);
	EXPECT_COUNTS(b, 0, 0, 0, 0);
	close(a);
	close(b);
	munmap(res, sizeof(*res));
}

/*
 * Stress: ST_P producer processes select-send ST_M numbered messages each
 * over ST_K channels (with random short timeouts; a clause that failed,
 * timed out or lost keeps its message, which is retried), ST_C consumers
 * select-receive over the same channels.  Midway, with the consumers
 * paused, channel ST_CANCEL is cancelled: its buffered messages go to the
 * dead-letter channel.  At the end every message was received or
 * dead-lettered exactly once, and the channels' counters agree.
 */
#define ST_P		3
#define ST_C		2
#define ST_K		3
#define ST_M		400
#define ST_CANCEL	1
#define ST_PAYLOAD	40

static const int64_t st_caps[ST_K] = { KCORO_CAP_RENDEZVOUS, 8, 2 };

struct st_shared {
	unsigned int sent[ST_P][ST_K];
	unsigned int recvd[ST_C][ST_K];
	unsigned int send_epipe[ST_P];
	unsigned int timeouts[ST_P + ST_C];
	unsigned int produced;
	unsigned int pause;
	unsigned int paused;
	unsigned char got[ST_P][ST_M];
};

static void st_producer(int devfd, const int *chans, int p,
			struct st_shared *sh)
{
	unsigned char msg[sizeof(struct kst_msg_hdr) + ST_PAYLOAD];
	struct kcoro_sel_clause c[ST_K];
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (p + 1);
	bool open[ST_K];
	int map[ST_K], n, k, r, st;
	uint32_t seq = 0;
	size_t len;

	for (k = 0; k < ST_K; k++)
		open[k] = true;
	while (seq < ST_M) {
		len = kst_msg_fill(msg, p, seq, seq % (ST_PAYLOAD + 1));
		n = 0;
		for (k = 0; k < ST_K; k++) {
			if (!open[k])
				continue;
			map[n] = k;
			kcoro_sel_send(&c[n++], chans[k], msg, len);
		}
		CHILD_CHECK(n > 0, "producer %d: every channel closed", p);
		st = -1;
		r = kcoro_select(devfd, c, n, KCORO_MSG_TIMEOUT,
				 kst_rand(&rng) % (2 * KST_MS), &st);
		if (r == -ETIMEDOUT) {
			sh->timeouts[p]++;
			continue;
		}
		CHILD_CHECK(r >= 0 && r < n, "producer %d: select %d", p, r);
		k = map[r];
		if (st == EPIPE) {	/* cancelled: the message is still ours */
			CHILD_CHECK(k == ST_CANCEL, "producer %d: EPIPE on %d",
				    p, k);
			open[k] = false;
			sh->send_epipe[p]++;
			continue;
		}
		CHILD_CHECK(st == 0, "producer %d: status %d", p, st);
		sh->sent[p][k]++;
		__atomic_fetch_add(&sh->produced, 1, __ATOMIC_RELAXED);
		seq++;
	}
	_exit(0);
}

static bool st_record(struct st_shared *sh, const void *buf, size_t len)
{
	const struct kst_msg_hdr *h = buf;

	if (!kst_msg_check(buf, len) || h->producer >= ST_P ||
	    h->seq >= ST_M)
		return false;
	__atomic_fetch_add(&sh->got[h->producer][h->seq], 1, __ATOMIC_RELAXED);
	return true;
}

static void st_consumer(int devfd, const int *chans, int ci,
			struct st_shared *sh)
{
	unsigned char bufs[ST_K][sizeof(struct kst_msg_hdr) + ST_PAYLOAD + 8];
	struct kcoro_sel_clause c[ST_K];
	uint64_t rng = 0xc0ffee123ULL * (ci + 7);
	int map[ST_K], n, k, r, st;
	bool open[ST_K];

	for (k = 0; k < ST_K; k++)
		open[k] = true;
	for (;;) {
		if (__atomic_load_n(&sh->pause, __ATOMIC_ACQUIRE)) {
			__atomic_fetch_add(&sh->paused, 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&sh->pause, __ATOMIC_ACQUIRE))
				kst_sleep_ms(1);
			__atomic_fetch_sub(&sh->paused, 1, __ATOMIC_RELEASE);
		}
		n = 0;
		for (k = 0; k < ST_K; k++) {
			if (!open[k])
				continue;
			map[n] = k;
			kcoro_sel_recv(&c[n++], chans[k], bufs[k],
				       sizeof(bufs[k]));
		}
		if (!n)
			break;
		st = -1;
		r = kcoro_select(devfd, c, n, KCORO_MSG_TIMEOUT,
				 kst_rand(&rng) % (2 * KST_MS), &st);
		if (r == -ETIMEDOUT) {
			sh->timeouts[ST_P + ci]++;
			continue;
		}
		CHILD_CHECK(r >= 0 && r < n, "consumer %d: select %d", ci, r);
		k = map[r];
		if (st == EPIPE) {
			open[k] = false;
			continue;
		}
		CHILD_CHECK(st == 0, "consumer %d: status %d", ci, st);
		CHILD_CHECK(st_record(sh, bufs[k], c[r].len),
			    "consumer %d: bad message of %u bytes on %d", ci,
			    c[r].len, k);
		sh->recvd[ci][k]++;
	}
	_exit(0);
}

/* Wait until *@p >= @val; false after @ms. */
static bool st_wait(unsigned int *p, unsigned int val, long ms)
{
	int64_t end = kst_now() + ms * KST_MS;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < val) {
		if (kst_now() > end)
			return false;
		kst_sleep_ms(1);
	}
	return true;
}

TEST_F_TIMEOUT(sp, stress_dead_letter, 120)
{
	struct st_shared *sh = shared_alloc(sizeof(*sh));
	unsigned char buf[sizeof(struct kst_msg_hdr) + ST_PAYLOAD + 8];
	unsigned long long sent = 0, recvd = 0, dead = 0, once = 0;
	unsigned int epipes = 0, timeouts = 0;
	pid_t pids[ST_P + ST_C];
	int dl = MKCHAN(KCORO_CAP_UNLIMITED), chans[ST_K], i, j, k;
	struct kcoro_chan_info info;
	long r;

	ASSERT_NE(NULL, sh);
	for (k = 0; k < ST_K; k++)
		chans[k] = MKCHAN_DL(st_caps[k], dl);
	for (i = 0; i < ST_P + ST_C; i++) {
		pids[i] = sp_fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			if (i < ST_P)
				st_producer(self->devfd, chans, i, sh);
			st_consumer(self->devfd, chans, i - ST_P, sh);
		}
	}

	/* midway: pause the consumers, let the channel fill, cancel it */
	ASSERT_TRUE(st_wait(&sh->produced, ST_P * ST_M / 2, SP_WAIT_MS));
	__atomic_store_n(&sh->pause, 1, __ATOMIC_RELEASE);
	EXPECT_TRUE(st_wait(&sh->paused, ST_C, 5000));
	for (i = 0; i < 1000 && info_of(chans[ST_CANCEL]).buffered <
	     (uint64_t)st_caps[ST_CANCEL]; i++)
		kst_sleep_ms(1);
	ASSERT_EQ(0, kcoro_cancel(chans[ST_CANCEL]));
	__atomic_store_n(&sh->pause, 0, __ATOMIC_RELEASE);

	for (i = 0; i < ST_P; i++)
		EXPECT_EQ(0, wait_child(pids[i], SP_WAIT_MS * 2));
	for (k = 0; k < ST_K; k++)
		ASSERT_EQ(0, kcoro_close(chans[k]));
	for (i = ST_P; i < ST_P + ST_C; i++)
		EXPECT_EQ(0, wait_child(pids[i], SP_WAIT_MS));

	/* the dead letters */
	for (;;) {
		r = kcoro_recv(dl, buf, sizeof(buf), KCORO_MSG_NONBLOCK);
		if (r == -EAGAIN)
			break;
		ASSERT_LE(0, r);
		ASSERT_TRUE(st_record(sh, buf, r));
		dead++;
	}

	for (i = 0; i < ST_P; i++)
		for (j = 0; j < ST_M; j++) {
			once += sh->got[i][j] == 1;
			EXPECT_EQ(1, sh->got[i][j]) {
				TH_LOG("producer %d seq %d: %u times", i, j,
				       sh->got[i][j]);
			}
			if (sh->got[i][j] != 1)
				break;
		}
	for (k = 0; k < ST_K; k++) {
		unsigned long long ks = 0, kr = 0;

		for (i = 0; i < ST_P; i++)
			ks += sh->sent[i][k];
		for (i = 0; i < ST_C; i++)
			kr += sh->recvd[i][k];
		sent += ks;
		recvd += kr;
		info = info_of(chans[k]);
		EXPECT_EQ(ks, info.sent);
		EXPECT_EQ(kr, info.received);
		EXPECT_EQ(0, info.buffered);
		EXPECT_EQ(info.undelivered, info.dead_lettered);
		EXPECT_EQ(0, info.dead_lost);
		EXPECT_EQ(k == ST_CANCEL ? dead : 0, info.dead_lettered);
		EXPECT_EQ(k == ST_CANCEL ? KCORO_STATE_CANCELLED :
			  KCORO_STATE_CLOSED, info.state);
		TH_LOG("channel %d (capacity %lld): sent %llu received %llu dead-lettered %llu",
		       k, (long long)st_caps[k], ks, kr,
		       (unsigned long long)info.dead_lettered);
	}
	EXPECT_EQ(ST_P * ST_M, sent);
	EXPECT_EQ(sent, recvd + dead);
	EXPECT_EQ(ST_P * ST_M, once);
	EXPECT_LT(0, dead);	/* the cancelled channel was full */
	info = info_of(dl);
	EXPECT_EQ(dead, info.sent);
	EXPECT_EQ(dead, info.received);
	EXPECT_EQ(0, info.buffered);
	for (i = 0; i < ST_P; i++)
		epipes += sh->send_epipe[i];
	for (i = 0; i < ST_P + ST_C; i++)
		timeouts += sh->timeouts[i];
	TH_LOG("%d messages: %llu received, %llu dead-lettered; EPIPE sends %u, timeouts %u",
	       ST_P * ST_M, recvd, dead, epipes, timeouts);
	for (k = 0; k < ST_K; k++)
		close(chans[k]);
	close(dl);
	munmap(sh, sizeof(*sh));
}

TEST_HARNESS_MAIN
