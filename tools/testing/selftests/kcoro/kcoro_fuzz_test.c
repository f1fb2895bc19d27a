// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: a bounded, seeded bad-input loop.  Random ioctl
 * numbers, sizes, pointers (NULL, kernel addresses, unmapped pages,
 * buffers running into a guard page) and flags against /dev/kcoro and
 * channel fds, plus read/write/poll.  It must end with every fd it got
 * closed, the device still working and, through the per-user limits,
 * no channel and no buffered byte still charged: nothing leaked.
 *
 * KCORO_FUZZ_SEED and KCORO_FUZZ_ITERS override the seed and the number
 * of iterations (default 4000).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

#define NCHAN		4
#define MAXFD		128
#define ARENA_PAGES	3	/* two read-write pages, then PROT_NONE */

struct fuzz {
	uint64_t rng;
	long pg;
	char *arena;		/* ARENA_PAGES pages */
	char *guard;		/* the PROT_NONE page */
	int devfd;
	int pipefd;		/* an fd that is not kcoro's */
	int chans[NCHAN];
	bool baseline[MAXFD];
	unsigned long calls, errors[160];
};

static uint64_t rnd(struct fuzz *f, uint64_t n)
{
	return n ? kst_rand(&f->rng) % n : kst_rand(&f->rng);
}

static uint64_t pick(struct fuzz *f, const uint64_t *vals, size_t n)
{
	return vals[rnd(f, n)];
}

/* A pointer: mostly valid arena memory, sometimes anything but. */
static uint64_t rnd_ptr(struct fuzz *f)
{
	switch (rnd(f, 10)) {
	case 0:
		return 0;
	case 1:
		return 0xffffffff81000000ULL + rnd(f, 1 << 20);	/* kernel text */
	case 2:
		return 0xffff888000000000ULL + rnd(f, 1 << 30);	/* direct map */
	case 3:
		return (uintptr_t)f->guard - rnd(f, 64);	/* runs into the guard */
	case 4:
		return (uintptr_t)f->guard + rnd(f, f->pg);	/* PROT_NONE */
	case 5:
		return rnd(f, 0);				/* anything */
	case 6:
		return rnd(f, 65536);				/* low, unmapped */
	default:
		return (uintptr_t)f->arena + rnd(f, 2 * f->pg - 64);
	}
}

/*
 * A pointer passed as a pointer (ioctl's argument, read/write buffers):
 * on 32-bit, a 64-bit value would be truncated to some address that may
 * well be mapped, so it becomes a PROT_NONE one instead.
 */
static unsigned long rnd_native_ptr(struct fuzz *f)
{
	uint64_t p = rnd_ptr(f);

	if (p != (unsigned long)p)
		p = (uintptr_t)f->guard + 8;
	return p;
}

static uint32_t rnd_len(struct fuzz *f)
{
	static const uint64_t lens[] = {
		0, 1, 2, 15, 16, 64, 4095, 4096, 4097, 65536, 65537,
		0x7fffffff, 0x80000000, 0xffffffff,
	};

	return rnd(f, 3) ? pick(f, lens, ARRAY_SIZE(lens)) : (uint32_t)rnd(f, 0);
}

static uint32_t rnd_flags(struct fuzz *f)
{
	switch (rnd(f, 4)) {
	case 0:
		return rnd(f, 0);
	case 1:
		return 1U << rnd(f, 32);
	default:
		return rnd(f, 16) | (rnd(f, 4) ? 0 : KCORO_BATCH_WAITALL);
	}
}

static uint32_t rnd_size(struct fuzz *f, uint32_t ver0)
{
	static const uint64_t d[] = { 0, 0, 0, 1, 8, 64, 4096 };

	switch (rnd(f, 6)) {
	case 0:
		return rnd(f, ver0);
	case 1:
		return rnd(f, 0);
	default:
		return ver0 + pick(f, d, ARRAY_SIZE(d));
	}
}

static int64_t rnd_capacity(struct fuzz *f)
{
	static const uint64_t caps[] = {
		0, 1, 2, 16, -1ULL, -2ULL, -3ULL, 0x7fffffff, 0x80000000,
		0x8000000000000000ULL,
	};

	return rnd(f, 4) ? (int64_t)pick(f, caps, ARRAY_SIZE(caps)) : (int64_t)rnd(f, 0);
}

/* Fill the arena at @p with a plausible argument for @nr. */
static void fill_arg(struct fuzz *f, char *p, unsigned int nr)
{
	static const uint64_t timeouts[] = {
		0, 1, 1000, -1ULL, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
	};
	static const uint64_t counts[] = {
		0, 1, 2, 7, 8, KCORO_BATCH_MAX, KCORO_BATCH_MAX + 1, 0xffffffff,
	};
	static const uint64_t workers[] = { 0, 1, 2, 3, 1025, 4096, 0xffffffff };
	struct kcoro_chan_create *cc = (void *)p;
	struct kcoro_service_create *sc = (void *)p;
	struct kcoro_msg *m = (void *)p;
	struct kcoro_batch *b = (void *)p;
	struct kcoro_chan_info *ci = (void *)p;
	struct kcoro_select *sel = (void *)p;
	struct kcoro_call *call = (void *)p;
	struct kcoro_sel_clause *cl;
	struct kcoro_iov *iov;
	unsigned int i;

	memset(p, 0, 256);
	if (!rnd(f, 8)) {	/* random bytes */
		for (i = 0; i < 256; i++)
			p[i] = rnd(f, 256);
		return;
	}
	switch (nr) {
	case 0x40:
		cc->size = rnd_size(f, KCORO_CHAN_CREATE_SIZE_VER0);
		cc->flags = rnd(f, 2) ? rnd(f, 4) : rnd_flags(f);
		cc->capacity = rnd_capacity(f);
		cc->overflow = rnd(f, 5) ? rnd(f, 3) : rnd(f, 0);
		cc->max_msg_size = rnd_len(f);
		if (!rnd(f, 10))
			cc->reserved[rnd(f, 4)] = rnd(f, 0);
		if (cc->size > KCORO_CHAN_CREATE_SIZE_VER0 && cc->size < 256 &&
		    !rnd(f, 3))
			p[cc->size - 1] = 1;
		break;
	case 0x41:
		sc->size = rnd_size(f, KCORO_SERVICE_CREATE_SIZE_VER0);
		sc->flags = rnd(f, 2) ? rnd(f, 4) : rnd_flags(f);
		sc->op = rnd(f, 4) ? rnd(f, 2) : rnd(f, 0);
		sc->workers = pick(f, workers, ARRAY_SIZE(workers));
		sc->capacity = rnd_capacity(f);
		sc->max_msg_size = rnd_len(f);
		sc->req_fd = rnd(f, 0);
		sc->rep_fd = rnd(f, 0);
		if (!rnd(f, 10))
			sc->reserved[rnd(f, 3)] = rnd(f, 0);
		break;
	case 0x50:
	case 0x51:
		m->buf = rnd_ptr(f);
		m->len = rnd_len(f);
		m->flags = rnd_flags(f);
		m->timeout_ns = pick(f, timeouts, ARRAY_SIZE(timeouts));
		if (!rnd(f, 10))
			m->reserved = rnd(f, 0);
		break;
	case 0x52:
	case 0x53:
		b->count = pick(f, counts, ARRAY_SIZE(counts));
		b->flags = rnd_flags(f);
		b->timeout_ns = pick(f, timeouts, ARRAY_SIZE(timeouts));
		if (!rnd(f, 10))
			b->reserved = rnd(f, 0);
		/* the iov array in the second page, up to its end */
		iov = (void *)(f->arena + f->pg + rnd(f, 4) * 16);
		b->iov = rnd(f, 5) ? (uintptr_t)iov : rnd_ptr(f);
		for (i = 0; (char *)(iov + i + 1) <= f->guard; i++) {
			iov[i].buf = rnd(f, 3) ? (uintptr_t)f->arena + rnd(f, f->pg) :
				rnd_ptr(f);
			iov[i].len = rnd(f, 3) ? rnd(f, 128) : rnd_len(f);
			iov[i].reserved = rnd(f, 20) ? 0 : rnd(f, 0);
		}
		break;
	case 0x56:
		ci->size = rnd_size(f, KCORO_CHAN_INFO_SIZE_VER0);
		break;
	case 0x57:
		/*
		 * A call waits for its reply whatever O_NONBLOCK says: here
		 * never longer than its relative timeout of at most 1 ms.
		 */
		call->req_buf = rnd(f, 3) ? (uintptr_t)f->arena + f->pg +
			rnd(f, f->pg) : rnd_ptr(f);
		call->req_len = rnd(f, 3) ? rnd(f, 128) : rnd_len(f);
		call->rep_buf = rnd(f, 3) ? (uintptr_t)f->arena + f->pg +
			rnd(f, f->pg) : rnd_ptr(f);
		call->rep_len = rnd(f, 3) ? rnd(f, 128) : rnd_len(f);
		call->rep_fd = rnd(f, 10) ? f->chans[rnd(f, NCHAN)] :
			rnd(f, 2) ? -1 : f->pipefd;
		call->flags = (rnd_flags(f) & ~KCORO_MSG_ABSTIME) |
			KCORO_MSG_TIMEOUT;
		call->timeout_ns = rnd(f, 1000000);
		call->sent = rnd(f, 10) ? rnd(f, 2) : rnd(f, 0);
		if (!rnd(f, 20))
			call->reserved0 = rnd(f, 0);
		if (!rnd(f, 20))
			call->reserved = rnd(f, 0);
		break;
	case 0x42:
		/*
		 * select ignores O_NONBLOCK: it never waits here (NONBLOCK or
		 * a timeout of at most 1 ms).  Sends go to the first half of
		 * our channels, receives to the other: a send and a receive
		 * on one channel in one select is a test of its own.
		 */
		sel->count = rnd(f, 4) ? 1 + rnd(f, 8) : pick(f, counts, ARRAY_SIZE(counts));
		sel->flags = rnd_flags(f) & ~KCORO_MSG_ABSTIME;
		if (!(sel->flags & KCORO_MSG_TIMEOUT) || rnd(f, 2))
			sel->flags |= KCORO_MSG_NONBLOCK;
		sel->timeout_ns = rnd(f, 1000000);
		if (!rnd(f, 20))
			sel->reserved = rnd(f, 0);
		if (!rnd(f, 20))
			sel->index = rnd(f, 0);
		cl = (void *)(f->arena + f->pg + rnd(f, 4) * 24);
		sel->clauses = rnd(f, 5) ? (uintptr_t)cl : rnd_ptr(f);
		for (i = 0; (char *)(cl + i + 1) <= f->guard; i++) {
			bool send = rnd(f, 2);
			int k = rnd(f, NCHAN / 2) + (send ? 0 : NCHAN / 2);

			cl[i].fd = rnd(f, 10) ? f->chans[k] :
				rnd(f, 2) ? -1 : f->pipefd;
			cl[i].op = rnd(f, 20) ? (send ? KCORO_SEL_SEND :
						 KCORO_SEL_RECV) : rnd(f, 4);
			if (cl[i].op == KCORO_SEL_SEND && !send)
				cl[i].op = KCORO_SEL_RECV;
			cl[i].buf = rnd(f, 3) ? (uintptr_t)f->arena + rnd(f, f->pg) :
				rnd_ptr(f);
			cl[i].len = rnd(f, 3) ? rnd(f, 128) : rnd_len(f);
			cl[i].reserved = rnd(f, 20) ? 0 : rnd(f, 0);
		}
		break;
	}
}

static unsigned long rnd_cmd(struct fuzz *f, unsigned int *nr)
{
	static const uint64_t known[] = {
		KCORO_IOC_CHAN_CREATE, KCORO_IOC_SERVICE_CREATE, KCORO_IOC_SEND,
		KCORO_IOC_RECV, KCORO_IOC_SEND_BATCH, KCORO_IOC_RECV_BATCH,
		KCORO_IOC_CLOSE, KCORO_IOC_CANCEL, KCORO_IOC_CHAN_INFO,
		KCORO_IOC_SELECT, KCORO_IOC_CALL,
	};
	unsigned long cmd;

	switch (rnd(f, 10)) {
	case 0:		/* a kcoro number, any size and direction */
		cmd = _IOC(rnd(f, 4), KCORO_IOC_MAGIC, pick(f, known, ARRAY_SIZE(known)) & 0xff,
			   rnd(f, 1 << 14));
		break;
	case 1:		/* any kcoro number */
		cmd = _IOC(rnd(f, 4), KCORO_IOC_MAGIC, rnd(f, 256),
			   rnd(f, 4) ? rnd(f, 128) : rnd(f, 1 << 14));
		break;
	case 2:		/* anything, but never the VFS's own FIO* ioctls */
		do
			cmd = (uint32_t)rnd(f, 0);
		while ((cmd >> 8 & 0xff) == 'T' || (cmd >> 8 & 0xff) == 'f' ||
		       (cmd >> 8 & 0xff) == 'X' || (cmd >> 8 & 0xff) == 0x94);
		break;
	default:
		cmd = pick(f, known, ARRAY_SIZE(known));
		break;
	}
	*nr = _IOC_TYPE(cmd) == KCORO_IOC_MAGIC ? _IOC_NR(cmd) : 0;
	return cmd;
}

static int new_chan(struct fuzz *f)
{
	static const int64_t caps[] = { 0, 1, 4, -1, -2 };
	int64_t cap = caps[rnd(f, 5)];

	return kcoro_chan_create(f->devfd, cap,
				 cap > 0 ? rnd(f, 3) : 0, rnd(f, 2) ? 64 : 0,
				 KCORO_CHAN_NONBLOCK);
}

/* Close every fd that appeared since the baseline. */
static void close_new_fds(struct fuzz *f)
{
	int fd;

	for (fd = 0; fd < MAXFD; fd++)
		if (!f->baseline[fd] && fcntl(fd, F_GETFD) >= 0)
			close(fd);
}

static void one_call(struct fuzz *f)
{
	char *argbuf = f->arena + rnd(f, 64) * 8;
	unsigned int nr = 0;
	unsigned long cmd, arg;
	struct pollfd pfd;
	int fd, r;
	long ret;

	switch (rnd(f, 10)) {
	case 0:
		fd = f->devfd;
		break;
	case 1:
		fd = rnd(f, 2) ? -1 : f->pipefd;	/* not kcoro at all */
		break;
	default:
		fd = f->chans[rnd(f, NCHAN)];
		break;
	}
	r = rnd(f, 20);
	if (r == 0) {
		ret = read(fd, (void *)rnd_native_ptr(f), rnd_len(f));
	} else if (r == 1) {
		ret = write(fd, (void *)rnd_native_ptr(f), rnd_len(f));
	} else if (r == 2) {
		pfd.fd = fd;
		pfd.events = rnd(f, 0x10000);
		ret = poll(&pfd, 1, 0);
	} else {
		cmd = rnd_cmd(f, &nr);
		fill_arg(f, argbuf, nr);
		arg = rnd(f, 6) ? (uintptr_t)argbuf : rnd_native_ptr(f);
		if (nr == 0x54 || nr == 0x55)	/* CLOSE/CANCEL: mostly 0 */
			arg = rnd(f, 3) ? 0 : arg;
		/*
		 * A select or a call may wait: only ever on the argument
		 * made for it.
		 */
		if ((nr == 0x42 || nr == 0x57) && arg != (uintptr_t)argbuf)
			arg = rnd(f, 2) ? 0 : (uintptr_t)f->guard;
		ret = ioctl(fd, cmd, arg);
	}
	f->calls++;
	if (ret < 0 && errno < 160)
		f->errors[errno]++;
}

FIXTURE(fuzz) {
	int devfd;
};

FIXTURE_SETUP(fuzz)
{
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
}

FIXTURE_TEARDOWN(fuzz)
{
	close(self->devfd);
}

/* After everything is closed, the user's limits are whole again. */
static void check_limits(struct __test_metadata *_metadata, int devfd)
{
	long long chans = kst_param("max_user_channels", -1);
	long long bytes = kst_param("max_user_bytes", -1);
	static char buf[4096];
	int fds[9], i, j, n, ch;

	if (getuid() != 0 || chans < 0 || bytes < 0 ||
	    kst_param_set("max_user_channels", 8)) {
		TH_LOG("no root or no parameters: limits not checked");
		return;
	}
	/* eight channels fit, a ninth does not (retrying while releases end) */
	for (n = 0; n < 100; n++) {
		for (i = 0; i < 9; i++)
			fds[i] = kcoro_chan_create(devfd, KCORO_CAP_UNLIMITED,
						   0, 4096, 0);
		for (i = 0; i < 9 && fds[i] >= 0; i++)
			;
		if (i >= 8)
			break;
		for (j = 0; j < 9; j++)
			if (fds[j] >= 0)
				close(fds[j]);
		kst_sleep_ms(20);
	}
	EXPECT_GE(8, i) TH_LOG("9 channels with max_user_channels 8");
	EXPECT_LE(8, i) {
		TH_LOG("channels still charged to root after the loop: %d fit",
		       i);
		EXPECT_EQ(0, kst_param_set("max_user_channels", chans));
		EXPECT_EQ(0, kst_param_set("max_user_bytes", bytes));
		return;
	}
	EXPECT_EQ(-EMFILE, fds[8]);
	ch = fds[0];
	EXPECT_EQ(0, kst_param_set("max_user_bytes", 2 * KCORO_MSG_COST(4096)));
	EXPECT_EQ(0, kcoro_send(ch, buf, 4096, 0));
	EXPECT_EQ(0, kcoro_send(ch, buf, 4096, 0))
		TH_LOG("bytes still charged to root after the loop");
	EXPECT_EQ(-ENOSPC, kcoro_send(ch, buf, 0, 0));
	for (i = 0; i < 9; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	EXPECT_EQ(0, kst_param_set("max_user_channels", chans));
	EXPECT_EQ(0, kst_param_set("max_user_bytes", bytes));
}

TEST_F_TIMEOUT(fuzz, bad_input, 400)
{
	const char *seed_env = getenv("KCORO_FUZZ_SEED");
	const char *iters_env = getenv("KCORO_FUZZ_ITERS");
	unsigned long iters = iters_env ? strtoul(iters_env, NULL, 0) : 4000;
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x6b636f726fULL;
	struct fuzz f = { 0 };
	unsigned long i;
	char val[32];
	int fd, j, e, pipefds[2];

	TH_LOG("seed %#llx, %lu iterations", (unsigned long long)seed, iters);
	f.rng = seed | 1;
	f.pg = sysconf(_SC_PAGESIZE);
	f.devfd = self->devfd;
	ASSERT_EQ(0, pipe2(pipefds, O_NONBLOCK));
	f.pipefd = pipefds[0];
	f.arena = mmap(NULL, ARENA_PAGES * f.pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, f.arena);
	f.guard = f.arena + 2 * f.pg;
	ASSERT_EQ(0, mprotect(f.guard, f.pg, PROT_NONE));
	for (j = 0; j < NCHAN; j++) {
		f.chans[j] = new_chan(&f);
		ASSERT_LE(0, f.chans[j]);
	}
	for (fd = 0; fd < MAXFD; fd++)
		f.baseline[fd] = fcntl(fd, F_GETFD) >= 0;

	for (i = 0; i < iters; i++) {
		one_call(&f);
		close_new_fds(&f);
		/* keep our channels non-blocking, and now and then new */
		for (j = 0; j < NCHAN; j++)
			fcntl(f.chans[j], F_SETFL, O_NONBLOCK);
		if (i % 256 == 255) {
			for (j = 0; j < NCHAN; j++) {
				fd = new_chan(&f);
				ASSERT_LE(0, fd);
				ASSERT_EQ(f.chans[j], dup2(fd, f.chans[j]));
				close(fd);
			}
		}
	}
	for (e = 0; e < 160; e++)
		if (f.errors[e])
			TH_LOG("%6lu x %s", f.errors[e], strerror(e));

	/* every channel fd goes; none is left behind in the fd table */
	for (j = 0; j < NCHAN; j++)
		close(f.chans[j]);
	close(pipefds[0]);
	close(pipefds[1]);
	for (fd = 0; fd < MAXFD; fd++)
		EXPECT_FALSE(kst_fdinfo(fd, "kcoro-state", val, sizeof(val)))
			TH_LOG("fd %d is still a channel", fd);

	/* the device still works */
	fd = kcoro_chan_create(self->devfd, 1, 0, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, kcoro_send(fd, "ok", 2, 0));
	EXPECT_EQ(2, kcoro_recv(fd, val, sizeof(val), 0));
	close(fd);
	check_limits(_metadata, self->devfd);
	munmap(f.arena, ARENA_PAGES * f.pg);
}

TEST_HARNESS_MAIN
