// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: the resource model ("Limits and accounting" in
 * Documentation/kcoro/uapi.rst), seen by an unprivileged user (uid 65534)
 * in a memory cgroup of its own.
 *
 * - What the user makes kcoro allocate is charged to its cgroup: for
 *   4 KiB messages, empty messages (their segments included) and service
 *   coroutines (objects and stacks), the cgroup's memory.current grows by
 *   at least 90% of the kernel memory that appeared meanwhile (Slab plus
 *   VmallocUsed in /proc/meminfo).
 * - max_user_bytes counts empty messages (KCORO_MSG_COST(0) each);
 *   max_user_coroutines bounds services.
 * - A cgroup at its memory.max fails the user's allocations or OOM-kills
 *   inside it; nothing outside is killed.
 * - Every message sent is received or undelivered exactly once, and once
 *   everything is closed the user's budget is whole again.
 * - Closing a channel that holds 10^6 messages hands each to the
 *   undelivered hook, in bounded atomic sections (the VM runner fails the
 *   run on any RCU stall or lockup report).
 * - unload_busy_service (only with KCORO_UNLOAD_BUSY=1, run last by the VM
 *   script): kcoro unloads while service coroutines still drain.
 *
 * Needs root (to make the cgroup and set the limits) and cgroup2 with the
 * memory controller; SKIP otherwise.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

#define NOBODY		65534
#define CG_ROOT		"/sys/fs/cgroup"

/* A value of /proc/meminfo in bytes, or -1. */
static long long mem_bytes(const char *key)
{
	char line[256];
	long long kb = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			kb = strtoll(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/*
 * Kernel memory that holds kcoro's objects: slab and vmalloc.  arm64
 * stacks are vmap()ed pages, which VmallocUsed does not count: for
 * coroutines the drop of MemFree is the measure (the child itself is a
 * small static program that allocates nothing).
 */
static long long kmem(bool stacks)
{
	if (stacks)
		return -mem_bytes("MemFree");
	return mem_bytes("Slab") + mem_bytes("VmallocUsed");
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -errno;
	close(fd);
	return ret;
}

static long long read_num(const char *path, const char *key)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!key) {
			v = strtoll(line, NULL, 10);
			break;
		}
		if (!strncmp(line, key, strlen(key)) &&
		    line[strlen(key)] == ' ') {
			v = strtoll(line + strlen(key) + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* cgroup2 with the memory controller for children: 0 or a reason. */
static const char *cg_setup(void)
{
	if (access(CG_ROOT "/cgroup.controllers", F_OK) &&
	    mount("none", CG_ROOT, "cgroup2", 0, NULL))
		return "cannot mount cgroup2";
	if (write_str(CG_ROOT "/cgroup.subtree_control", "+memory"))
		return "no memory controller";
	return NULL;
}

/* Make the cgroup @name with memory.max @max (0: none); its path. */
static int cg_make(char *path, size_t len, const char *name, long long max)
{
	char file[300], val[32];

	snprintf(path, len, CG_ROOT "/kcoro-%d-%s", getpid(), name);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	if (max) {
		snprintf(file, sizeof(file), "%s/memory.max", path);
		snprintf(val, sizeof(val), "%lld", max);
		return write_str(file, val);
	}
	return 0;
}

static long long cg_num(const char *path, const char *file, const char *key)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/%s", path, file);
	return read_num(p, key);
}

static void cg_remove(const char *path)
{
	int i;

	/* A cgroup whose last task just exited may still be busy a moment. */
	for (i = 0; i < 100 && rmdir(path) && errno == EBUSY; i++)
		kst_sleep_ms(20);
}

/* Enter @cg and become nobody: 0 or an exit code. */
static int enter(const char *cg)
{
	char file[300], pid[32];

	snprintf(file, sizeof(file), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_str(file, pid))
		return 40;
	if (setgroups(0, NULL) && errno != EPERM)
		return 41;
	if (setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
		return 42;
	return 0;
}

/* What a child reports to the parent, in shared memory. */
struct report {
	long long a, b, c, d;
	char what[128];
};

enum work { W_MESSAGES, W_EMPTY, W_SERVICES, W_BYTES, W_COROUTINES, W_OOM };

#define MSG_N		2000	/* 4 KiB messages */
#define EMPTY_N		100000	/* empty messages */
#define SVC_WORKERS	1024
#define SVC_N		2

static int send_empty(int ch, long n)
{
	static struct kcoro_iov iov[KCORO_BATCH_MAX];
	long sent = 0;
	int i, r;

	for (i = 0; i < KCORO_BATCH_MAX; i++)
		kcoro_iov_set(&iov[i], NULL, 0);
	while (sent < n) {
		r = kcoro_send_batch(ch, iov, n - sent > KCORO_BATCH_MAX ?
				     KCORO_BATCH_MAX : n - sent, 0, 0);
		if (r < 0)
			return r;
		sent += r;
	}
	return 0;
}

/*
 * The child: enter the cgroup as nobody, make kcoro allocate, tell the
 * parent (which measures), wait for it, check exactly-once and clean up.
 */
static int child(const char *cg, enum work work, int to_parent, int from_parent,
		 struct report *rep)
{
	static char buf[4096];
	int dev, ch, fds[2 * 8], i, n = 0, ret;
	struct kcoro_chan_info info;
	char c = 'r';

	ret = enter(cg);
	if (ret)
		return ret;
	dev = kcoro_open();
	if (dev < 0)
		return 43;
	/* services need channels too; ch is the test's own */
	ch = kcoro_chan_create(dev, KCORO_CAP_UNLIMITED, 0, 4096, 0);
	if (ch < 0)
		return 44;
	switch (work) {
	case W_MESSAGES:
		for (i = 0; i < MSG_N; i++)
			if (kcoro_send(ch, buf, sizeof(buf), 0))
				return 45;
		break;
	case W_EMPTY:
		if (send_empty(ch, EMPTY_N))
			return 46;
		break;
	case W_SERVICES:
		for (i = 0; i < SVC_N; i++)
			if (kcoro_service_create(dev, KCORO_SERVICE_ECHO,
						 SVC_WORKERS, 4, 0, 0,
						 &fds[2 * i], &fds[2 * i + 1]))
				return 47;
		break;
	case W_BYTES:
		/* the limit is 1000 empty messages: the 1001st is refused */
		ret = send_empty(ch, 1000);
		rep->a = ret;
		rep->b = kcoro_send(ch, buf, 0, 0);
		break;
	case W_COROUTINES:
		/* the limit is 1500 service coroutines */
		rep->a = kcoro_service_create(dev, KCORO_SERVICE_ECHO, 1024, 4,
					      0, 0, &fds[0], &fds[1]);
		rep->b = kcoro_service_create(dev, KCORO_SERVICE_ECHO, 1024, 4,
					      0, 0, &fds[2], &fds[3]);
		rep->c = kcoro_service_create(dev, KCORO_SERVICE_ECHO, 476, 4,
					      0, 0, &fds[4], &fds[5]);
		rep->d = kcoro_service_create(dev, KCORO_SERVICE_ECHO, 1, 4,
					      0, 0, &fds[6], &fds[7]);
		break;
	case W_OOM:
		/* services until the cgroup's memory runs out (or we die) */
		for (n = 0; n < 64; n++) {
			ret = kcoro_service_create(dev, KCORO_SERVICE_ECHO,
						   SVC_WORKERS, 4, 0, 0,
						   &fds[0], &fds[1]);
			if (ret)
				break;
		}
		rep->a = n;
		rep->b = ret;
		break;
	}
	if (write(to_parent, &c, 1) != 1 || read(from_parent, &c, 1) != 1)
		return 48;
	if (work == W_MESSAGES || work == W_EMPTY) {
		long want = work == W_MESSAGES ? MSG_N : EMPTY_N;

		/* receive half, cancel the rest: each counted once */
		for (i = 0; i < want / 2; i++)
			if (kcoro_recv(ch, buf, sizeof(buf), 0) < 0)
				return 49;
		if (kcoro_cancel(ch))
			return 50;
		if (kcoro_chan_info(ch, &info))
			return 51;
		rep->a = info.sent;
		rep->b = info.received;
		rep->c = info.undelivered;
		rep->d = info.buffered;
	}
	return 0;
}

/*
 * Run @work in a child inside a new cgroup (memory.max @max, 0: none);
 * the child's report, the cgroup's memory.current and the kernel memory
 * that appeared, both taken once the child's objects exist.
 */
static int run(struct __test_metadata *_metadata, enum work work,
	       long long max, struct report *rep, long long *charged,
	       long long *kgrew, long long *oom_kills, const char *name)
{
	int up[2], down[2], status = -1;
	long long k0, m0, ooms0;
	char cg[256], c;
	pid_t pid;

	memset(rep, 0, sizeof(*rep));
	if (cg_make(cg, sizeof(cg), name, max))
		return -1;
	if (pipe(up) || pipe(down))
		return -1;
	ooms0 = read_num("/proc/vmstat", "oom_kill");
	k0 = kmem(false);
	m0 = kmem(true);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		_exit(child(cg, work, up[1], down[0], rep));
	}
	close(up[1]);
	close(down[0]);
	/* a child the cgroup OOM-killed never says it is ready */
	if (read(up[0], &c, 1) == 1) {
		*charged = cg_num(cg, "memory.current", NULL);
		*kgrew = kmem(false) - k0;
		/*
		 * arm64 coroutine stacks are vmap()ed pages: if slab and
		 * vmalloc saw less than half of what left MemFree, count that.
		 */
		if (work == W_SERVICES && *kgrew < (kmem(true) - m0) / 2)
			*kgrew = kmem(true) - m0;
	}
	c = 'g';
	/* a child killed by its cgroup's OOM killer has closed its end */
	signal(SIGPIPE, SIG_IGN);
	if (write(down[1], &c, 1) != 1)
		TH_LOG("child gone before the go");
	waitpid(pid, &status, 0);
	if (oom_kills)
		*oom_kills = cg_num(cg, "memory.events", "oom_kill");
	/*
	 * Every OOM kill of the run happened inside the child's cgroup
	 * (kernels without VM event counters have no oom_kill line).
	 */
	if (ooms0 >= 0)
		EXPECT_EQ(read_num("/proc/vmstat", "oom_kill") - ooms0,
			  oom_kills ? *oom_kills : 0);
	close(up[0]);
	close(down[1]);
	cg_remove(cg);
	return status;
}

FIXTURE(lim) {
	struct report *rep;
	long long saved_bytes, saved_coroutines;
	const char *skip;
};

FIXTURE_SETUP(lim)
{
	self->skip = NULL;
	self->rep = mmap(NULL, sizeof(*self->rep), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->rep);
	self->saved_bytes = kst_param("max_user_bytes", -1);
	self->saved_coroutines = kst_param("max_user_coroutines", -1);
	if (getuid() != 0 || self->saved_bytes < 0 || self->saved_coroutines < 0)
		self->skip = "needs root and kcoro's parameters";
	else
		self->skip = cg_setup();
}

FIXTURE_TEARDOWN(lim)
{
	if (self->saved_bytes >= 0)
		kst_param_set("max_user_bytes", self->saved_bytes);
	if (self->saved_coroutines >= 0)
		kst_param_set("max_user_coroutines", self->saved_coroutines);
	munmap(self->rep, sizeof(*self->rep));
}

/* memory.current grew by >= 90% of the kernel memory that appeared. */
static void charged_check(struct __test_metadata *_metadata, const char *what,
			  long long charged, long long kgrew)
{
	TH_LOG("%s: memory.current %lld KiB, slab + vmalloc grew %lld KiB",
	       what, charged >> 10, kgrew >> 10);
	EXPECT_LT(4LL << 20, kgrew) TH_LOG("%s: too little to measure", what);
	EXPECT_LE(kgrew * 9 / 10, charged);
}

/* Every message received or undelivered, once. */
static void once_check(struct __test_metadata *_metadata, struct report *r,
		       long long n)
{
	EXPECT_EQ(n, r->a);			/* sent */
	EXPECT_EQ(n / 2, r->b);			/* received */
	EXPECT_EQ(n - n / 2, r->c);		/* undelivered by cancel */
	EXPECT_EQ(0, r->d);			/* buffered */
}

TEST_F_TIMEOUT(lim, messages_charged, 300)
{
	long long charged = 0, kgrew = 0;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, run(_metadata, W_MESSAGES, 0, self->rep, &charged, &kgrew,
			 NULL, "msg"));
	charged_check(_metadata, "2000 messages of 4 KiB", charged, kgrew);
	once_check(_metadata, self->rep, MSG_N);
}

TEST_F_TIMEOUT(lim, empty_messages_charged, 300)
{
	long long charged = 0, kgrew = 0;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, run(_metadata, W_EMPTY, 0, self->rep, &charged, &kgrew,
			 NULL, "empty"));
	charged_check(_metadata, "100000 empty messages and their segments",
		      charged, kgrew);
	once_check(_metadata, self->rep, EMPTY_N);
}

TEST_F_TIMEOUT(lim, services_charged, 300)
{
	long long charged = 0, kgrew = 0;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, run(_metadata, W_SERVICES, 0, self->rep, &charged, &kgrew,
			 NULL, "svc"));
	charged_check(_metadata, "2 services of 1024 coroutines", charged, kgrew);
}

/* max_user_bytes counts empty messages; the budget comes back whole. */
TEST_F_TIMEOUT(lim, user_bytes, 300)
{
	long long charged, kgrew;
	int i, status = -1;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, kst_param_set("max_user_bytes", 1000 * KCORO_MSG_COST(0)));
	/* twice: the first run's messages were all freed again */
	for (i = 0; i < 2; i++) {
		status = run(_metadata, W_BYTES, 0, self->rep, &charged, &kgrew,
			     NULL, "bytes");
		ASSERT_EQ(0, status);
		EXPECT_EQ(0, self->rep->a) TH_LOG("1000 empty messages fit");
		EXPECT_EQ(-ENOSPC, self->rep->b) TH_LOG("the 1001st does not");
	}
}

/*
 * A batch charges many messages at once, but the send that hits
 * max_user_bytes is the same as without batching, and a batch of
 * receives gives the whole charge back.
 */
TEST_F(lim, user_bytes_batch)
{
	static struct kcoro_iov iov[40];
	static char bufs[40][8];
	int dev, ch, i, round;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, kst_param_set("max_user_bytes", 20 * KCORO_MSG_COST(8)));
	dev = kcoro_open();
	ASSERT_LE(0, dev);
	ch = kcoro_chan_create(dev, KCORO_CAP_UNLIMITED, 0, 0, 0);
	ASSERT_LE(0, ch);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 40; i++) {
			snprintf(bufs[i], sizeof(bufs[i]), "m%d.%d", round, i);
			kcoro_iov_set(&iov[i], bufs[i], 8);
		}
		/* a chunk of 16 fits, the next does not: one by one to 20 */
		EXPECT_EQ(20, kcoro_send_batch(ch, iov, 40, 0, 0));
		EXPECT_EQ(-ENOSPC, kcoro_send(ch, bufs[0], 8, 0));
		EXPECT_EQ(-ENOSPC, kcoro_send_batch(ch, iov, 1, 0, 0));
		memset(bufs, 0, sizeof(bufs));
		for (i = 0; i < 40; i++)
			kcoro_iov_set(&iov[i], bufs[i], 8);
		EXPECT_EQ(20, kcoro_recv_batch(ch, iov, 40, KCORO_MSG_NONBLOCK, 0));
		for (i = 0; i < 20; i++) {
			char want[8];

			snprintf(want, sizeof(want), "m%d.%d", round, i);
			EXPECT_STREQ(want, bufs[i]);
			EXPECT_EQ(8, iov[i].len);
		}
	}
	close(ch);
	close(dev);
}

/* max_user_coroutines bounds services; their coroutines count until they end. */
TEST_F_TIMEOUT(lim, user_coroutines, 300)
{
	long long charged, kgrew;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, kst_param_set("max_user_coroutines", 1500));
	/* the last run's workers may still be ending: retry a little */
	for (i = 0; i < 50; i++) {
		ASSERT_EQ(0, run(_metadata, W_COROUTINES, 0, self->rep, &charged,
				 &kgrew, NULL, "coro"));
		if (!self->rep->a)
			break;
		kst_sleep_ms(100);
	}
	EXPECT_EQ(0, self->rep->a);
	EXPECT_EQ(-EAGAIN, self->rep->b);
	EXPECT_EQ(0, self->rep->c);
	EXPECT_EQ(-EAGAIN, self->rep->d);
}

/*
 * A cgroup of 48 MiB runs out of memory making services of 1024
 * coroutines (17 MiB or more each): the creation that does not fit fails
 * with ENOMEM, all or nothing, and nobody is OOM-killed, inside the
 * cgroup or out.
 */
TEST_F_TIMEOUT(lim, cgroup_limit_holds, 300)
{
	long long charged = 0, kgrew = 0, kills = 0;
	int status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	/* the cgroup, not max_user_coroutines, is the limit here */
	ASSERT_EQ(0, kst_param_set("max_user_coroutines", 1 << 20));
	status = run(_metadata, W_OOM, 48LL << 20, self->rep, &charged, &kgrew,
		     &kills, "oom");
	TH_LOG("services made %lld, then %lld; memory.current %lld KiB; OOM kills %lld",
	       self->rep->a, self->rep->b, charged >> 10, kills);
	EXPECT_EQ(0, status);
	EXPECT_LT(0, self->rep->a);
	EXPECT_GT(64, self->rep->a);
	EXPECT_EQ(-ENOMEM, self->rep->b);
	EXPECT_EQ(0, kills);
	EXPECT_GE(48LL << 20, charged);
}

/*
 * Cancel (the last close) of a channel with 10^6 messages: each goes to
 * the undelivered hook and is freed (the budget is whole again), in
 * bounded atomic sections.
 */
TEST_F_TIMEOUT(lim, close_million, 600)
{
	int dev, ch;
	int64_t t0;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, kst_param_set("max_user_bytes",
				   1000000LL * KCORO_MSG_COST(0) + (1 << 20)));
	dev = kcoro_open();
	ASSERT_LE(0, dev);
	ch = kcoro_chan_create(dev, KCORO_CAP_UNLIMITED, 0, 0, 0);
	ASSERT_LE(0, ch);
	t0 = kst_now();
	ASSERT_EQ(0, send_empty(ch, 1000000));
	TH_LOG("10^6 empty messages sent in %lld ms", (kst_now() - t0) / KST_MS);
	t0 = kst_now();
	close(ch);
	TH_LOG("closed in %lld ms", (kst_now() - t0) / KST_MS);
	/* nothing of root's is in flight now: exactly 10 empty ones fit */
	ASSERT_EQ(0, kst_param_set("max_user_bytes", 10 * KCORO_MSG_COST(0)));
	ch = kcoro_chan_create(dev, KCORO_CAP_UNLIMITED, 0, 0, 0);
	ASSERT_LE(0, ch);
	EXPECT_EQ(0, send_empty(ch, 10));
	EXPECT_EQ(-ENOSPC, kcoro_send(ch, NULL, 0, KCORO_MSG_NONBLOCK));
	close(ch);
	close(dev);
}

/*
 * Unload while service coroutines still drain (the VM script runs this
 * last, with KCORO_UNLOAD_BUSY=1): a CHECKSUM service with 300 queued
 * requests, every fd closed, then delete_module() at once.  kcoro waits
 * for its own coroutines; the VM runner fails the run on any WARNING.
 */
TEST(unload_busy_service)
{
	static char buf[512];
	int dev, req, rep, i;

	if (!getenv("KCORO_UNLOAD_BUSY") || getuid() != 0)
		SKIP(return, "only with KCORO_UNLOAD_BUSY=1, as root");
	dev = kcoro_open();
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, kcoro_service_create(dev, KCORO_SERVICE_CHECKSUM, 64, 512,
					  0, 0, &req, &rep));
	for (i = 0; i < 300; i++)
		ASSERT_EQ(0, kcoro_send(req, buf, sizeof(buf), 0));
	close(req);
	close(rep);
	close(dev);
	EXPECT_EQ(0, syscall(SYS_delete_module, "kcoro", O_NONBLOCK))
		TH_LOG("delete_module: %s", strerror(errno));
}

TEST_HARNESS_MAIN
