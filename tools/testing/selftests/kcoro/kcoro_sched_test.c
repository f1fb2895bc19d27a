// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: kernel coroutines while CPUs go offline and online,
 * and the debugfs listing while they run.
 *
 * A load of CHECKSUM services (kernel coroutines) answers a stream of
 * self-checking requests from a sender and a receiver thread per service;
 * every reply is checked: its crc32c and payload, that it belongs to the
 * service, that no request is lost or answered twice, and the order where
 * a service has one worker.  Meanwhile:
 *
 *  - hotplug: a CPU (not cpu0) goes offline and online through sysfs a
 *    few times; while it is offline every service must keep answering,
 *    a new service must work, and kcoro's stats must not list it;
 *  - debugfs: threads read /sys/kernel/debug/kcoro/coroutines and stats
 *    over and over; every read must succeed and parse, and the service
 *    coroutines must be listed.
 *
 * Either test SKIPs when the kernel cannot do what it needs (no CPU that
 * can go offline, no debugfs).  CPUs taken offline are brought back in a
 * teardown that runs in the parent process, even when the test crashes.
 */
#define _GNU_SOURCE
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

#define CPU_SYSFS	"/sys/devices/system/cpu/"
#define DEBUGFS		"/sys/kernel/debug"
#define KCORO_DEBUGFS	DEBUGFS "/kcoro/"
#define MAX_CPUS	256
#define NR_SVC		4
#define MAX_REQ		(1024 * 1024)	/* requests per service at most */
#define REQ_MAX		256		/* request size at most */
#define STALL_MS	20000		/* a reply this late is lost */
/* Offline/online cycles: 4 at least, more while within 8 s, 40 at most. */
#define HOTPLUG_MIN	4
#define HOTPLUG_MAX	40
#define HOTPLUG_MS	8000
#define DEBUGFS_MS	3000		/* the debugfs test reads this long */
#define SVC_FN		"kc_service_fn"	/* body of service coroutines */

static const struct {
	uint32_t workers;
	int64_t capacity;
} svc_cfg[NR_SVC] = {
	{ 1, 4 }, { 8, KCORO_CAP_RENDEZVOUS }, { 16, 16 }, { 48, 64 },
};

struct svc {
	uint32_t idx, workers;
	int req, rep;
	const bool *stop;
	uint32_t sent;		/* requests sent (atomic) */
	uint32_t replies;	/* replies received (atomic) */
	uint32_t bad, dup, order;
	int send_err, recv_err;
	bool send_done;		/* the sender has closed the request channel */
	uint8_t *seen;		/* bitmap of answered requests */
	pthread_t sender, receiver;
};

struct load {
	struct svc svc[NR_SVC];
	bool stop;
	uint32_t workers;	/* of all services */
};

static void *sender_fn(void *arg)
{
	unsigned char buf[REQ_MAX];
	struct svc *s = arg;
	uint64_t st = s->idx + 1;
	uint32_t seq;
	int ret;

	for (seq = 0; !__atomic_load_n(s->stop, __ATOMIC_ACQUIRE); seq++) {
		size_t len;

		if (seq == MAX_REQ) {	/* enough: wait for the end */
			kst_sleep_ms(10);
			seq--;
			continue;
		}
		len = kst_msg_fill(buf, s->idx, seq, kst_rand(&st) %
				   (REQ_MAX - sizeof(struct kst_msg_hdr) + 1));
		ret = kcoro_send_timeout(s->req, buf, len, 0, STALL_MS * KST_MS);
		if (ret) {
			s->send_err = ret;
			break;
		}
		__atomic_store_n(&s->sent, seq + 1, __ATOMIC_RELEASE);
	}
	/* The workers answer what is left, then close the reply channel. */
	ret = kcoro_close(s->req);
	if (ret && !s->send_err)
		s->send_err = ret;
	__atomic_store_n(&s->send_done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *receiver_fn(void *arg)
{
	unsigned char buf[REQ_MAX + 8];
	const struct kst_msg_hdr *h = (const void *)buf;
	struct svc *s = arg;
	uint32_t n = 0;
	ssize_t len;

	for (;;) {
		len = kcoro_recv_timeout(s->rep, buf, sizeof(buf), 0,
					 STALL_MS * KST_MS);
		if (len == -EPIPE)	/* closed by the workers, drained */
			break;
		if (len < 0) {
			s->recv_err = len;
			break;
		}
		if (!kst_checksum_reply_check(buf, len) ||
		    h->producer != s->idx || h->seq >= MAX_REQ) {
			s->bad++;
		} else if (s->seen[h->seq / 8] & (1U << h->seq % 8)) {
			s->dup++;
		} else {
			s->seen[h->seq / 8] |= 1U << h->seq % 8;
			if (s->workers == 1 && h->seq != n)
				s->order++;
		}
		__atomic_store_n(&s->replies, ++n, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void load_start(struct __test_metadata *_metadata, int devfd,
		       struct load *ld)
{
	int i;

	memset(ld, 0, sizeof(*ld));
	for (i = 0; i < NR_SVC; i++) {
		struct svc *s = &ld->svc[i];

		s->idx = i;
		s->workers = svc_cfg[i].workers;
		s->stop = &ld->stop;
		s->seen = calloc(MAX_REQ / 8, 1);
		ASSERT_NE(NULL, s->seen);
		ASSERT_EQ(0, kcoro_service_create(devfd, KCORO_SERVICE_CHECKSUM,
						  s->workers, svc_cfg[i].capacity,
						  REQ_MAX, 0, &s->req, &s->rep));
		ld->workers += s->workers;
		ASSERT_EQ(0, pthread_create(&s->receiver, NULL, receiver_fn, s));
		ASSERT_EQ(0, pthread_create(&s->sender, NULL, sender_fn, s));
	}
}

/* Stop the senders, let every reply arrive, and check them all. */
static void load_stop(struct __test_metadata *_metadata, struct load *ld)
{
	uint32_t total = 0, seq, missing;
	int i;

	__atomic_store_n(&ld->stop, true, __ATOMIC_RELEASE);
	for (i = 0; i < NR_SVC; i++) {
		pthread_join(ld->svc[i].sender, NULL);
		pthread_join(ld->svc[i].receiver, NULL);
	}
	for (i = 0; i < NR_SVC; i++) {
		struct svc *s = &ld->svc[i];

		for (missing = 0, seq = 0; seq < s->sent; seq++)
			missing += !(s->seen[seq / 8] & (1U << seq % 8));
		EXPECT_EQ(0, s->send_err) TH_LOG("service %d: send: %s", i,
						 strerror(-s->send_err));
		EXPECT_EQ(0, s->recv_err) {
			TH_LOG("service %d: receive: %s after %u of %u replies (a reply lost?)",
			       i, strerror(-s->recv_err), s->replies, s->sent);
		}
		EXPECT_EQ(s->sent, s->replies) TH_LOG("service %d", i);
		EXPECT_EQ(0, missing) TH_LOG("service %d: requests unanswered", i);
		EXPECT_EQ(0, s->bad) TH_LOG("service %d: bad replies", i);
		EXPECT_EQ(0, s->dup) TH_LOG("service %d: duplicate replies", i);
		EXPECT_EQ(0, s->order) TH_LOG("service %d (1 worker): out of order", i);
		EXPECT_LT(0, s->sent) TH_LOG("service %d: no request went through", i);
		total += s->replies;
		close(s->req);
		close(s->rep);
		free(s->seen);
	}
	TH_LOG("%u replies checked from %u kernel coroutines", total,
	       ld->workers);
}

/*
 * Wait until every service has answered more requests than in @before
 * (or its sender has finished): the service coroutines keep running.
 */
static bool load_progress(struct __test_metadata *_metadata, struct load *ld,
			  const uint32_t *before, const char *when)
{
	int64_t end = kst_now() + STALL_MS * KST_MS;
	uint32_t n;
	int i;

	for (i = 0; i < NR_SVC; i++) {
		struct svc *s = &ld->svc[i];

		while ((n = __atomic_load_n(&s->replies, __ATOMIC_ACQUIRE)) <=
		       before[i] && !__atomic_load_n(&s->send_done, __ATOMIC_ACQUIRE)) {
			if (kst_now() > end) {
				TH_LOG("service %d made no progress %s: %u of %u requests answered",
				       i, when, n, __atomic_load_n(&s->sent, __ATOMIC_ACQUIRE));
				return false;
			}
			kst_sleep_ms(5);
		}
	}
	return true;
}

static void load_snapshot(struct load *ld, uint32_t *replies)
{
	int i;

	for (i = 0; i < NR_SVC; i++)
		replies[i] = __atomic_load_n(&ld->svc[i].replies, __ATOMIC_ACQUIRE);
}

/* A short-lived service: @n requests, every reply checked. */
static void checksum_once(struct __test_metadata *_metadata, int devfd,
			  uint32_t workers, uint32_t n)
{
	unsigned char buf[REQ_MAX + 8];
	const struct kst_msg_hdr *h = (const void *)buf;
	uint32_t i, seen = 0;
	int req, rep;
	ssize_t len;

	ASSERT_EQ(0, kcoro_service_create(devfd, KCORO_SERVICE_CHECKSUM, workers,
					  n, REQ_MAX, 0, &req, &rep));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, kcoro_send_timeout(req, buf,
						kst_msg_fill(buf, 99, i, i % 64),
						0, STALL_MS * KST_MS));
	ASSERT_EQ(0, kcoro_close(req));
	for (i = 0; i < n; i++) {
		len = kcoro_recv_timeout(rep, buf, sizeof(buf), 0, STALL_MS * KST_MS);
		ASSERT_LE(0, len) TH_LOG("reply %u of %u: %s", i, n, strerror(-len));
		ASSERT_TRUE(kst_checksum_reply_check(buf, len));
		ASSERT_LT(h->seq, 32);
		seen |= 1U << h->seq;
	}
	EXPECT_EQ(n == 32 ? UINT32_MAX : (1U << n) - 1, seen);
	EXPECT_EQ(-EPIPE, kcoro_recv_timeout(rep, buf, sizeof(buf), 0,
					     STALL_MS * KST_MS));
	close(req);
	close(rep);
}

/* ---------------------------------------------------------------- */
/* debugfs                                                          */

/*
 * Make sure debugfs is mounted: 0, or -errno when it cannot be (the
 * kernel has none, or we may not mount).
 */
static int debugfs_mount(void)
{
	struct statfs sfs;

	if (!statfs(DEBUGFS, &sfs) && sfs.f_type == DEBUGFS_MAGIC)
		return 0;
	if (mount("none", DEBUGFS, "debugfs", 0, NULL))
		return -errno;
	return 0;
}

/* The whole file in one malloc()ed string, read in small pieces. */
static ssize_t read_file(const char *path, char **out)
{
	size_t len = 0, size = 8192;
	char *buf = malloc(size + 1);
	ssize_t n;
	int fd;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (;;) {
		if (size - len < 1000) {
			char *nb = realloc(buf, 2 * size + 1);

			if (!nb) {
				n = -ENOMEM;
				break;
			}
			buf = nb;
			size *= 2;
		}
		/* 1000 bytes at a time: seq_file hands the listing out in pieces */
		n = kst_read(fd, buf + len, 1000);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	if (n < 0) {
		free(buf);
		return n;
	}
	buf[len] = 0;
	*out = buf;
	return len;
}

/* What one read of the debugfs files showed. */
struct dbg_view {
	long coroutines, svc, stack_lines, live, spawned, channels;
	int cpus;
	bool cpu_listed[MAX_CPUS];
	char err[200];		/* why it did not parse */
};

static bool parse_fail(struct dbg_view *v, const char *what, const char *line)
{
	int n = strcspn(line, "\n");

	snprintf(v->err, sizeof(v->err), "%s: \"%.*s\"", what, n > 120 ? 120 : n,
		 line);
	return false;
}

static bool parse_ulong(const char *s, size_t n, unsigned long long *val)
{
	char *end;

	if (!n || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	*val = strtoull(s, &end, 10);
	return !errno && end == s + n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * kcoro/coroutines: a header, then per coroutine "id\tstate\tcpu\t
 * function\twaiting in" and for a parked one lines "\t? symbol+off/len".
 */
static bool parse_coroutines(char *text, struct dbg_view *v, long ncpus)
{
	static const char * const states[] = {
		"runnable", "running", "parked", "dead",
	};
	static const char header[] = "id\tstate\tcpu\tfunction\twaiting in\n";
	char *line, *next, *p, *f[5];
	uint64_t *ids = NULL;
	size_t nids = 0, cap = 0, len;
	bool ok = false, parked = false;
	unsigned long long id;
	long cpu;
	int i, nf;

	if (strncmp(text, header, sizeof(header) - 1))
		return parse_fail(v, "bad header", text);
	for (line = text + sizeof(header) - 1; *line; line = next) {
		next = strchr(line, '\n');
		if (!next) {
			parse_fail(v, "unterminated line", line);
			goto out;
		}
		*next++ = 0;
		if (line[0] == '\t') {	/* a stack entry of a parked coroutine */
			if (!parked || strncmp(line, "\t? ", 3) || !line[3] ||
			    !strstr(line + 3, "+0x") || !strchr(line + 3, '/')) {
				parse_fail(v, "bad stack line", line);
				goto out;
			}
			v->stack_lines++;
			continue;
		}
		len = strlen(line);
		nf = 0;
		f[nf++] = line;
		for (p = line; *p && nf <= 5; p++) {
			if (*p != '\t')
				continue;
			*p = 0;
			if (nf++ < 5)
				f[nf - 1] = p + 1;
		}
		if (nf != 5) {
			for (p = line; p < line + len; p++)	/* the tabs back */
				if (!*p)
					*p = '\t';
			parse_fail(v, "not 5 fields", line);
			goto out;
		}
		if (!parse_ulong(f[0], strlen(f[0]), &id)) {
			parse_fail(v, "bad id", f[0]);
			goto out;
		}
		for (i = 0; i < 4; i++) {
			size_t n = strlen(states[i]);

			if (!strncmp(f[1], states[i], n) &&
			    (!f[1][n] || !strcmp(f[1] + n, ",cancelled")))
				break;
		}
		if (i == 4) {
			parse_fail(v, "bad state", f[1]);
			goto out;
		}
		parked = i == 2;
		cpu = strtol(f[2], &p, 10);
		if (!f[2][0] || *p || cpu < 0 || cpu >= ncpus) {
			parse_fail(v, "bad cpu", f[2]);
			goto out;
		}
		if (!f[3][0] || !f[4][0] ||
		    ((i == 1 || i == 3) && strcmp(f[4], "-"))) {
			parse_fail(v, "bad function or waiting in", f[3]);
			goto out;
		}
		if (!strncmp(f[3], SVC_FN, strlen(SVC_FN)) &&
		    (!f[3][strlen(SVC_FN)] || f[3][strlen(SVC_FN)] == ' '))
			v->svc++;
		if (nids == cap) {
			uint64_t *n = realloc(ids, (cap = 2 * cap + 64) * sizeof(*ids));

			if (!n) {
				parse_fail(v, "out of memory", "");
				goto out;
			}
			ids = n;
		}
		ids[nids++] = id;
	}
	v->coroutines = nids;
	qsort(ids, nids, sizeof(*ids), cmp_u64);
	for (i = 1; i < (int)nids; i++)
		if (ids[i] == ids[i - 1]) {
			snprintf(v->err, sizeof(v->err), "id %llu listed twice",
				 (unsigned long long)ids[i]);
			goto out;
		}
	ok = true;
out:
	free(ids);
	return ok;
}

/*
 * kcoro/stats: "key\tnumber" for each counter, in this order, then
 * "cpuN\tswitches N\tsteals N\tcurrent N\thandoffs N\thandoff_missed N\t
 * workers N" for each online CPU.
 */
static bool parse_stats(char *text, struct dbg_view *v, long ncpus)
{
	static const char * const keys[] = {
		"live", "spawned", "switches", "stacks", "cached_stacks",
		"long_runs", "guard_violations", "channels", "segments",
		"waiters", "eb_stalls", "segment_waits",
	};
	unsigned long long val[ARRAY_SIZE(keys)], sw, steals, cur, ho, hom;
	char *line, *next, *tab;
	int i = 0, cpu, end, last = -1, workers;

	for (line = text; *line; line = next) {
		next = strchr(line, '\n');
		if (!next)
			return parse_fail(v, "unterminated line", line);
		*next++ = 0;
		if (i < (int)ARRAY_SIZE(keys)) {
			tab = strchr(line, '\t');
			if (!tab || strncmp(line, keys[i], tab - line) ||
			    strlen(keys[i]) != (size_t)(tab - line) ||
			    !parse_ulong(tab + 1, strlen(tab + 1), &val[i]))
				return parse_fail(v, keys[i], line);
			i++;
			continue;
		}
		end = 0;
		if (sscanf(line,
			   "cpu%d\tswitches %llu\tsteals %llu\tcurrent %llu\thandoffs %llu\thandoff_missed %llu\tworkers %d%n",
			   &cpu, &sw, &steals, &cur, &ho, &hom, &workers,
			   &end) != 7 || line[end] ||
		    cpu <= last || cpu >= ncpus || cpu >= MAX_CPUS ||
		    workers < 0)
			return parse_fail(v, "bad cpu line", line);
		last = cpu;
		v->cpu_listed[cpu] = true;
		v->cpus++;
	}
	if (i < (int)ARRAY_SIZE(keys))
		return parse_fail(v, "missing", keys[i]);
	if (!v->cpus)
		return parse_fail(v, "no cpu line", "");
	v->live = val[0];
	v->spawned = val[1];
	v->channels = val[7];
	if (v->spawned < v->live)
		return parse_fail(v, "spawned < live", "");
	return true;
}

/* Read and parse both files: 0, or -errno when a read failed, or 1. */
static int dbg_read(struct dbg_view *v, bool stats_only)
{
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	char *text;
	ssize_t n;
	bool ok;

	memset(v, 0, sizeof(*v));
	n = read_file(KCORO_DEBUGFS "stats", &text);
	if (n < 0) {
		snprintf(v->err, sizeof(v->err), "read stats: %s", strerror(-n));
		return n;
	}
	ok = parse_stats(text, v, ncpus);
	free(text);
	if (!ok || stats_only)
		return !ok;
	n = read_file(KCORO_DEBUGFS "coroutines", &text);
	if (n < 0) {
		snprintf(v->err, sizeof(v->err), "read coroutines: %s",
			 strerror(-n));
		return n;
	}
	ok = parse_coroutines(text, v, ncpus);
	free(text);
	return !ok;
}

/* A thread reading the debugfs files until told to stop. */
struct reader {
	pthread_t thread;
	const bool *stop;
	long min_svc;		/* the service coroutines that must be listed */
	long max_svc;		/* at most */
	long reads, stack_lines, min_seen, max_seen;
	int ret;		/* the first failure: dbg_read()'s, or 2 */
	char err[240];
};

static void *reader_fn(void *arg)
{
	struct reader *r = arg;
	struct dbg_view v;
	int ret;

	r->min_seen = LONG_MAX;
	while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
		ret = dbg_read(&v, false);
		if (!ret && (v.svc < r->min_svc || v.svc > r->max_svc)) {
			snprintf(v.err, sizeof(v.err),
				 "%ld %s coroutines listed, want %ld to %ld", v.svc,
				 SVC_FN, r->min_svc, r->max_svc);
			ret = 2;
		}
		if (!ret && v.live < r->min_svc) {
			snprintf(v.err, sizeof(v.err), "stats: live %ld < %ld",
				 v.live, r->min_svc);
			ret = 2;
		}
		if (!ret && v.channels < 2 * NR_SVC) {
			snprintf(v.err, sizeof(v.err), "stats: channels %ld < %d",
				 v.channels, 2 * NR_SVC);
			ret = 2;
		}
		if (ret) {
			snprintf(r->err, sizeof(r->err), "read %ld: %s",
				 r->reads + 1, v.err);
			__atomic_store_n(&r->ret, ret, __ATOMIC_RELEASE);
			break;
		}
		__atomic_store_n(&r->reads, r->reads + 1, __ATOMIC_RELAXED);
		r->stack_lines += v.stack_lines;
		if (v.svc < r->min_seen)
			r->min_seen = v.svc;
		if (v.svc > r->max_seen)
			r->max_seen = v.svc;
	}
	return NULL;
}

/* ---------------------------------------------------------------- */
/* CPU hotplug                                                      */

static int cpu_online_get(int cpu)
{
	char path[64], c = 0;
	int fd, ret;

	snprintf(path, sizeof(path), CPU_SYSFS "cpu%d/online", cpu);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	ret = kst_read(fd, &c, 1);
	close(fd);
	return ret == 1 ? c == '1' : -EIO;
}

/* 0 or -errno (EBUSY, EPERM... when the CPU may not go offline). */
static int cpu_online_set(int cpu, bool online)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), CPU_SYSFS "cpu%d/online", cpu);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, online ? "1" : "0", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

FIXTURE(sched) {
	int devfd;
	bool debugfs;
	long ncpus;
	/* CPUs this test may have taken offline: the teardown restores them */
	int nr_hp;
	int hp[MAX_CPUS];
};

FIXTURE_SETUP(sched)
{
	self->nr_hp = 0;
	self->ncpus = sysconf(_SC_NPROCESSORS_CONF);
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
	self->debugfs = !debugfs_mount();
}

/* In the parent: runs even when the test crashed. */
FIXTURE_TEARDOWN_PARENT(sched)
{
	int i, ret;

	for (i = 0; i < self->nr_hp; i++) {
		if (cpu_online_get(self->hp[i]) == 1)
			continue;
		ret = cpu_online_set(self->hp[i], true);
		EXPECT_EQ(0, ret) TH_LOG("cpu%d back online: %s", self->hp[i],
					 strerror(-ret));
	}
	if (self->devfd >= 0)
		close(self->devfd);
}

/* The stats list exactly the online CPUs of @cpu's kind. */
static void check_stats_cpu(struct __test_metadata *_metadata, int cpu,
			    bool online)
{
	struct dbg_view v;

	ASSERT_EQ(0, dbg_read(&v, true)) TH_LOG("%s", v.err);
	EXPECT_EQ(online, v.cpu_listed[cpu]) {
		TH_LOG("kcoro/stats %s cpu%d, which is %s", online ?
		       "does not list" : "lists", cpu, online ? "online" : "offline");
	}
}

TEST_F_TIMEOUT(sched, hotplug, 600)
{
	struct reader rd = { 0 };
	bool rd_stop = false;
	uint32_t before[NR_SVC];
	struct load *ld;
	int64_t t0, t_off = 0, t_on = 0, end;
	int cycle, i, cpu, ret;

	for (cpu = 1; cpu < self->ncpus && cpu < MAX_CPUS; cpu++)
		if (cpu_online_get(cpu) == 1)
			self->hp[self->nr_hp++] = cpu;
	if (!self->nr_hp)
		SKIP(return, "no CPU but cpu0 online with %s (CONFIG_HOTPLUG_CPU?)",
		     CPU_SYSFS "cpuN/online");
	/* One offline attempt before any load: can this kernel do it? */
	ret = cpu_online_set(self->hp[0], false);
	if (ret) {
		self->nr_hp = 0;
		SKIP(return, "cpu%d cannot go offline: %s", self->hp[0],
		     strerror(-ret));
	}
	ASSERT_EQ(0, cpu_online_set(self->hp[0], true));

	ld = calloc(1, sizeof(*ld));
	ASSERT_NE(NULL, ld);
	load_start(_metadata, self->devfd, ld);
	if (self->debugfs) {
		rd.stop = &rd_stop;
		rd.min_svc = ld->workers;
		rd.max_svc = LONG_MAX;
		ASSERT_EQ(0, pthread_create(&rd.thread, NULL, reader_fn, &rd));
	}
	load_snapshot(ld, before);
	ASSERT_TRUE(load_progress(_metadata, ld, before, "at start"));

	end = kst_now() + HOTPLUG_MS * KST_MS;
	for (cycle = 0; cycle < HOTPLUG_MAX &&
	     (cycle < HOTPLUG_MIN || kst_now() < end); cycle++) {
		for (i = 0; i < self->nr_hp; i++) {
			cpu = self->hp[i];
			t0 = kst_now();
			ret = cpu_online_set(cpu, false);
			ASSERT_EQ(0, ret) TH_LOG("cycle %d: cpu%d offline: %s",
						 cycle, cpu, strerror(-ret));
			t_off += kst_now() - t0;
			ASSERT_EQ(0, cpu_online_get(cpu));
			if (self->debugfs)
				check_stats_cpu(_metadata, cpu, false);
			/* everything keeps running on the CPUs left */
			load_snapshot(ld, before);
			ASSERT_TRUE(load_progress(_metadata, ld, before,
						  "with a CPU offline"));
			checksum_once(_metadata, self->devfd, 4, 32);

			t0 = kst_now();
			ret = cpu_online_set(cpu, true);
			ASSERT_EQ(0, ret) TH_LOG("cycle %d: cpu%d online: %s",
						 cycle, cpu, strerror(-ret));
			t_on += kst_now() - t0;
			ASSERT_EQ(1, cpu_online_get(cpu));
			if (self->debugfs)
				check_stats_cpu(_metadata, cpu, true);
			load_snapshot(ld, before);
			ASSERT_TRUE(load_progress(_metadata, ld, before,
						  "after a CPU came back"));
		}
	}
	if (self->debugfs) {
		__atomic_store_n(&rd_stop, true, __ATOMIC_RELEASE);
		pthread_join(rd.thread, NULL);
		EXPECT_EQ(0, rd.ret) TH_LOG("debugfs %s", rd.err);
	}
	load_stop(_metadata, ld);
	TH_LOG("%d cycles of %d CPU(s): offline %lld ms, online %lld ms; %ld debugfs reads",
	       cycle, self->nr_hp, (long long)(t_off / KST_MS),
	       (long long)(t_on / KST_MS), rd.reads);
	free(ld);
}

TEST_F_TIMEOUT(sched, debugfs, 300)
{
	struct reader rd[2] = { 0 };
	struct dbg_view v;
	bool rd_stop = false;
	long baseline;
	struct load *ld;
	int64_t end;
	int i, ret;

	if (!self->debugfs)
		SKIP(return, "cannot mount debugfs on %s", DEBUGFS);
	ASSERT_EQ(0, access(KCORO_DEBUGFS "coroutines", R_OK)) {
		TH_LOG("%s: %s", KCORO_DEBUGFS "coroutines", strerror(errno));
	}
	/* Service coroutines of earlier programs may still be ending. */
	ret = dbg_read(&v, false);
	ASSERT_EQ(0, ret) TH_LOG("%s", v.err);
	baseline = v.svc;

	ld = calloc(1, sizeof(*ld));
	ASSERT_NE(NULL, ld);
	load_start(_metadata, self->devfd, ld);
	for (i = 0; i < 2; i++) {
		rd[i].stop = &rd_stop;
		rd[i].min_svc = ld->workers;
		rd[i].max_svc = ld->workers + baseline;
		ASSERT_EQ(0, pthread_create(&rd[i].thread, NULL, reader_fn, &rd[i]));
	}
	/* DEBUGFS_MS, and 20 reads each at least (a minute at most) */
	end = kst_now() + DEBUGFS_MS * KST_MS;
	while (kst_now() < end + 60000 * KST_MS &&
	       (kst_now() < end || __atomic_load_n(&rd[0].reads, __ATOMIC_RELAXED) < 20 ||
		__atomic_load_n(&rd[1].reads, __ATOMIC_RELAXED) < 20) &&
	       !__atomic_load_n(&rd[0].ret, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&rd[1].ret, __ATOMIC_RELAXED))
		kst_sleep_ms(20);
	__atomic_store_n(&rd_stop, true, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++) {
		pthread_join(rd[i].thread, NULL);
		EXPECT_EQ(0, rd[i].ret) TH_LOG("reader %d: %s", i, rd[i].err);
		EXPECT_LE(20, rd[i].reads);
		TH_LOG("reader %d: %ld reads, %ld to %ld %s coroutines listed, %ld stack lines",
		       i, rd[i].reads, rd[i].min_seen, rd[i].max_seen, SVC_FN,
		       rd[i].stack_lines);
	}
	load_stop(_metadata, ld);
	free(ld);
}

TEST_HARNESS_MAIN
