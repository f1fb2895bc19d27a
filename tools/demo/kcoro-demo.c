// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro-demo: userspace processes and kernel coroutines on /dev/kcoro
 * channels.
 *
 * The kernel runs a CHECKSUM service (KCORO_IOC_SERVICE_CREATE): its
 * coroutines receive requests on one channel and answer each on another
 * with the request followed by its crc32c.  Producer processes send
 * numbered requests; consumer processes take the replies and check every
 * checksum.  When the producers are done the request channel is closed:
 * the coroutines answer what is left, then close the reply channel, which
 * ends the consumers.  Every request must come back exactly once.
 * Then one process calls a second checksum service (one coroutine) with
 * KCORO_IOC_CALL (kcoro_call(): the request sent and its reply received
 * in one system call) and checks every reply.
 *
 * Usage: kcoro-demo [producers [consumers [requests [workers]]]]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kcoro.h"

#define MAX_PROCS	16
#define MAX_REQ		1024	/* bytes in a request */

struct req_hdr {
	uint32_t producer;
	uint32_t seq;
};

struct stats {
	uint64_t msgs;
	uint64_t bytes;
	uint64_t good;
	uint64_t bad;
	uint64_t from[MAX_PROCS];	/* consumers: replies per producer */
	pid_t pid;
	int err;
};

struct shared {
	struct stats prod[MAX_PROCS];
	struct stats cons[MAX_PROCS];
	uint8_t seen[];			/* [producer][seq] */
};

static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "kcoro-demo: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* one write per line: the console interleaves kernel messages */
	if (write(STDOUT_FILENO, line, n) < 0)
		exit(3);
}

static const char *state_name(uint32_t state)
{
	return state == KCORO_STATE_OPEN ? "open" :
	       state == KCORO_STATE_CLOSED ? "closed" : "cancelled";
}

static uint32_t req_len(uint32_t p, uint32_t seq)
{
	uint32_t x = (p + 1) * 2654435761U ^ (seq + 1) * 40503U;

	x ^= x >> 13;
	return sizeof(struct req_hdr) + x % (MAX_REQ - sizeof(struct req_hdr) + 1);
}

static void req_fill(unsigned char *buf, uint32_t p, uint32_t seq, uint32_t len)
{
	struct req_hdr h = { p, seq };
	uint32_t i;

	memcpy(buf, &h, sizeof(h));
	for (i = sizeof(h); i < len; i++)
		buf[i] = (unsigned char)(p * 31 + seq * 17 + i);
}

static int producer(int req, struct shared *sh, uint32_t p, uint32_t n)
{
	unsigned char buf[MAX_REQ];
	struct stats *st = &sh->prod[p];
	uint32_t seq;
	int ret;

	st->pid = getpid();
	for (seq = 0; seq < n; seq++) {
		uint32_t len = req_len(p, seq);

		req_fill(buf, p, seq, len);
		ret = kcoro_send(req, buf, len, 0);
		if (ret) {
			st->err = -ret;
			return 1;
		}
		st->msgs++;
		st->bytes += len;
	}
	return 0;
}

static int consumer(int rep, struct shared *sh, uint32_t c, uint32_t nprod,
		    uint32_t n)
{
	unsigned char buf[MAX_REQ + 4], want[MAX_REQ];
	struct stats *st = &sh->cons[c];
	struct req_hdr h;
	ssize_t len;
	uint32_t crc;

	st->pid = getpid();
	for (;;) {
		len = kcoro_recv(rep, buf, sizeof(buf), 0);
		if (len == -EPIPE)
			return 0;	/* closed by the service: all answered */
		if (len < 0) {
			st->err = -len;
			return 1;
		}
		st->msgs++;
		st->bytes += len;
		if (len < (ssize_t)sizeof(h) + 4) {
			st->bad++;
			continue;
		}
		memcpy(&h, buf, sizeof(h));
		memcpy(&crc, buf + len - 4, 4);		/* little endian */
		if (h.producer >= nprod || h.seq >= n ||
		    req_len(h.producer, h.seq) != len - 4) {
			st->bad++;
			continue;
		}
		req_fill(want, h.producer, h.seq, len - 4);
		if (memcmp(buf, want, len - 4) ||
		    crc != kcoro_crc32c(0, want, len - 4)) {
			st->bad++;
			continue;
		}
		st->good++;
		st->from[h.producer]++;
		__atomic_fetch_add(&sh->seen[h.producer * n + h.seq], 1,
				   __ATOMIC_RELAXED);
	}
}

/*
 * One client calling a service: each kcoro_call() sends a request and
 * waits for its reply (at most 10 s) in one system call.
 */
static int call_service(int req, int rep, uint32_t n)
{
	unsigned char buf[MAX_REQ], reply[MAX_REQ + 4];
	uint32_t seq, len, crc, good = 0;
	int64_t t0, t1;
	ssize_t ret;
	int sent;

	t0 = kcoro_deadline(0);
	for (seq = 0; seq < n; seq++) {
		len = req_len(MAX_PROCS, seq);
		req_fill(buf, MAX_PROCS, seq, len);
		ret = kcoro_call(req, buf, len, rep, reply, sizeof(reply),
				 KCORO_MSG_TIMEOUT, 10000000000LL, &sent);
		if (ret < 0) {
			say("call %u: %s (the request was %s)", seq,
			    strerror(-ret), sent ? "sent" : "not sent");
			break;
		}
		if (ret != len + 4)
			continue;
		memcpy(&crc, reply + len, 4);		/* little endian */
		good += !memcmp(reply, buf, len) &&
			crc == kcoro_crc32c(0, buf, len);
	}
	t1 = kcoro_deadline(0);
	say("call: one process, %u KCORO_IOC_CALLs to a checksum service of 1 coroutine",
	    n);
	say("call: %u replies correct, %lld us per call (request and reply)", good,
	    (long long)(t1 - t0) / 1000 / (n ? n : 1));
	return good == n ? 0 : 1;
}

static int arg(int argc, char **argv, int i, int dflt, int max)
{
	int v = argc > i ? atoi(argv[i]) : dflt;

	return v < 1 ? 1 : v > max ? max : v;
}

int main(int argc, char **argv)
{
	uint32_t nprod = arg(argc, argv, 1, 3, MAX_PROCS);
	uint32_t ncons = arg(argc, argv, 2, 2, MAX_PROCS);
	uint32_t n = arg(argc, argv, 3, 500, 1000000);
	uint32_t workers = arg(argc, argv, 4, 4, 1024);
	uint64_t total = 0, good = 0, bad = 0, once = 0, bytes = 0;
	struct kcoro_chan_info ri, pi;
	pid_t pids[2 * MAX_PROCS];
	int dev, req, rep, creq, crep, ret, status, failed = 0;
	struct shared *sh;
	int64_t t0, t1;
	size_t shsize;
	char from[256];
	uint32_t i, j;

	dev = kcoro_open();
	if (dev < 0) {
		say("cannot open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		    strerror(-dev));
		return 1;
	}
	ret = kcoro_service_create(dev, KCORO_SERVICE_CHECKSUM, workers, 16,
				   MAX_REQ, KCORO_CHAN_CLOEXEC, &req, &rep);
	if (ret) {
		say("KCORO_IOC_SERVICE_CREATE: %s", strerror(-ret));
		return 1;
	}
	ret = kcoro_service_create(dev, KCORO_SERVICE_CHECKSUM, 1, 1, MAX_REQ,
				   KCORO_CHAN_CLOEXEC, &creq, &crep);
	if (ret) {
		say("KCORO_IOC_SERVICE_CREATE: %s", strerror(-ret));
		return 1;
	}
	close(dev);	/* the channels live on without it */
	shsize = sizeof(*sh) + (size_t)nprod * n;
	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		say("mmap: %s", strerror(errno));
		return 1;
	}

	say("userspace: processes and kernel coroutines on /dev/kcoro channels");
	say("checksum service: %u kernel coroutines, request and reply channels of 16",
	    workers);
	say("%u producers send %u requests each (8 to %u bytes), %u consumers check replies",
	    nprod, n, MAX_REQ, ncons);
	t0 = kcoro_deadline(0);
	for (i = 0; i < nprod + ncons; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			say("fork: %s", strerror(errno));
			return 1;
		}
		if (pids[i] == 0) {
			if (i < nprod) {
				close(rep);
				_exit(producer(req, sh, i, n));
			}
			close(req);
			_exit(consumer(rep, sh, i - nprod, nprod, n));
		}
	}
	for (i = 0; i < nprod; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] || status)
			failed = 1;
	}
	/* all requests are in: the service answers the rest, then closes */
	kcoro_chan_info(req, &pi);
	kcoro_close(req);
	for (i = nprod; i < nprod + ncons; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] || status)
			failed = 1;
	}
	t1 = kcoro_deadline(0);
	kcoro_chan_info(req, &pi);
	kcoro_chan_info(rep, &ri);

	for (i = 0; i < nprod; i++) {
		struct stats *st = &sh->prod[i];

		say("producer %u (pid %d): sent %llu requests, %llu bytes%s%s",
		    i, st->pid, (unsigned long long)st->msgs,
		    (unsigned long long)st->bytes, st->err ? ", error: " : "",
		    st->err ? strerror(st->err) : "");
	}
	for (i = 0; i < ncons; i++) {
		struct stats *st = &sh->cons[i];
		int len = 0;

		for (j = 0; j < nprod && len < (int)sizeof(from) - 24; j++)
			len += snprintf(from + len, sizeof(from) - len, "%s%llu",
					j ? "/" : "",
					(unsigned long long)st->from[j]);
		say("consumer %u (pid %d): %llu replies, %llu bytes, crc32c %llu ok %llu bad%s%s",
		    i, st->pid, (unsigned long long)st->msgs,
		    (unsigned long long)st->bytes,
		    (unsigned long long)st->good, (unsigned long long)st->bad,
		    st->err ? ", error: " : "",
		    st->err ? strerror(st->err) : "");
		say("consumer %u: replies per producer %s", i, from);
		total += st->msgs;
		good += st->good;
		bad += st->bad;
		bytes += st->bytes;
	}
	for (i = 0; i < nprod * n; i++)
		once += sh->seen[i] == 1;
	say("request channel: %s, %llu sent, %llu received by the coroutines",
	    state_name(pi.state), (unsigned long long)pi.sent,
	    (unsigned long long)pi.received);
	say("reply channel: %s, %llu sent by the coroutines, %llu received",
	    ri.state == KCORO_STATE_CLOSED ? "closed by the service" :
	    state_name(ri.state), (unsigned long long)ri.sent,
	    (unsigned long long)ri.received);
	if (failed || bad || total != (uint64_t)nprod * n ||
	    once != (uint64_t)nprod * n) {
		say("FAILED: %llu of %llu requests answered exactly once, %llu replies, %llu wrong",
		    (unsigned long long)once,
		    (unsigned long long)nprod * n,
		    (unsigned long long)total, (unsigned long long)bad);
		return 1;
	}
	say("%llu requests, %llu replies, %llu bytes in %lld ms",
	    (unsigned long long)nprod * n, (unsigned long long)total,
	    (unsigned long long)bytes, (long long)(t1 - t0) / 1000000);
	say("every request answered exactly once, every crc32c correct");
	close(req);
	close(rep);
	ret = call_service(creq, crep, n);
	close(creq);
	close(crep);
	return ret;
}
