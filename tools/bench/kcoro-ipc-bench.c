// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro-ipc-bench ("make bench-ipc"): messages between userspace processes
 * through kcoro channels (/dev/kcoro) against the kernel's own IPC, side by
 * side in one boot:
 *  - round trip: a client process sends a 64-byte request and waits for
 *    the reply, from a second process (kcoro channels, two pipes, two
 *    eventfds with an 8-byte counter, two POSIX message queues, a unix
 *    SOCK_SEQPACKET socket pair) or from kcoro's in-kernel ECHO service;
 *    kcoro's client also with one KCORO_IOC_CALL per trip, and a server
 *    that answers with KCORO_IOC_CALL too (reply, then wait for the next);
 *  - throughput: one producer process sends 64-byte messages to one
 *    consumer process (kcoro ioctl, write()/read(), and batches of 64
 *    with and without KCORO_BATCH_WAITALL, against a pipe moving the same
 *    64-byte messages, and a pipe moving 4096 bytes per call);
 *  - two sources: a producer process sends 64-byte messages alternately
 *    on two kcoro channels or two pipes; the consumer waits for either
 *    with one KCORO_IOC_SELECT over two receive clauses, or with
 *    epoll_wait() on both pipes followed by a read() of the ready one;
 *  - diagnostic: one process sends a message and receives it back, so
 *    nothing ever waits: the cost of the system calls and of the channel
 *    without any scheduling.
 * Each row also shows the context switches per operation (getrusage()
 * and wait4()), which tell scheduling effects from syscall costs.
 *
 * Every measurement is calibrated to take about -t milliseconds; then
 * they run in rounds (run_round()): every measurement once, and every kcoro
 * row back to back with its table's first baseline, so that the two sides
 * of that ratio see the same (emulated, shared) host.  -r rounds, and more,
 * up to -R, while one of those ratios spreads by SETTLED_PCT or more (see
 * median_spread()).  A ratio is the median of the per-round ratios, shown
 * with its spread, or "noisy" when it did not settle.  Under QEMU
 * TCG only the ratios mean something.  A ratio above 1 means kcoro is
 * faster.  "ratio:" lines after the tables repeat every ratio for "make
 * bench"'s targets table (tools/bench/targets.sh).
 *
 * -l lists the measurements' short names; -p NAME runs that one alone for
 * about -t milliseconds, for "make profile" (perf record around it).
 *
 * This is a benchmark, not a test: a missed target is reported, not an
 * error; the exit status is non-zero only if a measurement failed (a
 * message lost, reordered or corrupted, a call failed, a time-out).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kcoro.h>

#define MSG_SIZE	64	/* bytes per message */
#define BATCH		64	/* messages per kcoro batch call */
#define THRU_CAP	1024	/* kcoro capacity for throughput (a pipe: 1024 x 64 B) */
#define BULK_SIZE	4096	/* bytes per pipe call in the bulk reference */
#define MAX_RUNS	41
#define SETTLED_PCT	10	/* a ratio has settled below this spread, in % */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN_OPS		16UL
#define MAX_OPS		(64UL << 20)

static const char *prog = "kcoro-ipc-bench";
static int kcoro_dev = -1;
static int kcoro_dev_err;
static int cpu_a = -1, cpu_b = -1;	/* -s: client/consumer, server/producer */
static unsigned int alarm_s = 60;
static const char *current_name = "";

static void die_timeout(int sig)
{
	static const char msg[] = ": measurement timed out\n";

	(void)sig;
	if (write(2, prog, strlen(prog)) < 0 ||
	    write(2, " ", 1) < 0 ||
	    write(2, current_name, strlen(current_name)) < 0 ||
	    write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		fprintf(stderr, "%s: cannot pin to cpu%d: %s\n", prog, cpu,
			strerror(errno));
}

/*
 * One direction of a conversation: the fd a message is sent on and the fd
 * it is received from (the same fd for a kcoro channel, an eventfd or a
 * message queue).
 */
struct link {
	int tx;
	int rx;
};

/* req: client (or producer) to server (or consumer); rep: back. */
struct ends {
	struct link req;
	struct link rep;
	int fds[8];
	int nfds;
};

static void ends_init(struct ends *e)
{
	memset(e, 0, sizeof(*e));
	e->req.tx = -1;
	e->req.rx = -1;
	e->rep.tx = -1;
	e->rep.rx = -1;
}

static void set_link(struct link *l, int tx, int rx)
{
	l->tx = tx;
	l->rx = rx;
}

static int ends_add(struct ends *e, int fd)
{
	if (fd >= 0)
		e->fds[e->nfds++] = fd;
	return fd;
}

static void ends_close(struct ends *e)
{
	int i;

	for (i = 0; i < e->nfds; i++)
		close(e->fds[i]);
	e->nfds = 0;
}

/* Message operations: 0 or a length on success, -errno on failure. */
static int fd_send(int fd, void *buf, size_t len)
{
	ssize_t r = write(fd, buf, len);

	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

static int fd_recv(int fd, void *buf, size_t len)
{
	ssize_t r = read(fd, buf, len);

	return r < 0 ? -errno : (int)r;
}

static int kc_send(int fd, void *buf, size_t len)
{
	struct kcoro_msg m = { .buf = (uintptr_t)buf, .len = len };

	return ioctl(fd, KCORO_IOC_SEND, &m) < 0 ? -errno : 0;
}

static int kc_recv(int fd, void *buf, size_t len)
{
	struct kcoro_msg m = { .buf = (uintptr_t)buf, .len = len };
	int r = ioctl(fd, KCORO_IOC_RECV, &m);

	if (r < 0)
		return -errno;
	return (unsigned int)r == m.len ? r : -EPROTO;
}

/* KCORO_IOC_CALL: send on @tx, receive the reply from @rx. */
static int kc_call(int tx, int rx, void *req, size_t len, void *rep,
		   size_t size)
{
	struct kcoro_call c = {
		.req_buf = (uintptr_t)req, .req_len = len,
		.rep_buf = (uintptr_t)rep, .rep_len = size, .rep_fd = rx,
	};
	int r = ioctl(tx, KCORO_IOC_CALL, &c);

	if (r < 0)
		return -errno;
	return (unsigned int)r == c.rep_len ? r : -EPROTO;
}

static int mq_send1(int fd, void *buf, size_t len)
{
	return mq_send(fd, buf, len, 0) ? -errno : 0;
}

static int mq_recv1(int fd, void *buf, size_t len)
{
	ssize_t r = mq_receive(fd, buf, len, NULL);

	return r < 0 ? -errno : (int)r;
}

static int kc_chan(long capacity)
{
	struct kcoro_chan_create cc = {
		.size = sizeof(cc),
		.flags = KCORO_CHAN_CLOEXEC,
		.capacity = capacity,
		.overflow = KCORO_OVERFLOW_SUSPEND,
		.max_msg_size = MSG_SIZE,
	};
	int fd;

	if (kcoro_dev < 0)
		return -kcoro_dev_err;
	fd = ioctl(kcoro_dev, KCORO_IOC_CHAN_CREATE, &cc);
	return fd < 0 ? -errno : fd;
}

/* Open the two directions; @arg is the kcoro capacity where it applies. */
static int open_kcoro(struct ends *e, long arg)
{
	int a, b;

	a = ends_add(e, kc_chan(arg));
	if (a < 0)
		return a;
	b = ends_add(e, kc_chan(arg));
	if (b < 0)
		return b;
	set_link(&e->req, a, a);
	set_link(&e->rep, b, b);
	return 0;
}

static int open_echo(struct ends *e, long arg)
{
	struct kcoro_service_create sc = {
		.size = sizeof(sc),
		.flags = KCORO_CHAN_CLOEXEC,
		.op = KCORO_SERVICE_ECHO,
		.workers = 1,
		.capacity = arg,
		.max_msg_size = MSG_SIZE,
	};

	if (kcoro_dev < 0)
		return -kcoro_dev_err;
	if (ioctl(kcoro_dev, KCORO_IOC_SERVICE_CREATE, &sc) < 0)
		return -errno;
	set_link(&e->req, ends_add(e, sc.req_fd), -1);
	set_link(&e->rep, -1, ends_add(e, sc.rep_fd));
	return 0;
}

static int open_pipes(struct ends *e, long arg)
{
	int p[2], q[2];

	(void)arg;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	ends_add(e, p[0]);
	ends_add(e, p[1]);
	if (pipe2(q, O_CLOEXEC))
		return -errno;
	ends_add(e, q[0]);
	ends_add(e, q[1]);
	set_link(&e->req, p[1], p[0]);
	set_link(&e->rep, q[1], q[0]);
	return 0;
}

static int open_eventfds(struct ends *e, long arg)
{
	int a, b;

	(void)arg;
	a = ends_add(e, eventfd(0, EFD_CLOEXEC));
	if (a < 0)
		return -errno;
	b = ends_add(e, eventfd(0, EFD_CLOEXEC));
	if (b < 0)
		return -errno;
	set_link(&e->req, a, a);
	set_link(&e->rep, b, b);
	return 0;
}

/* Two queues of @arg messages; unlinked at once, the descriptors live on. */
static int open_mqueues(struct ends *e, long arg)
{
	struct mq_attr attr = { .mq_maxmsg = arg, .mq_msgsize = MSG_SIZE };
	char name[64];
	int i, fd;

	for (i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "/kcoro-ipc-bench-%d-%d",
			 (int)getpid(), i);
		fd = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600,
			     &attr);
		if (fd < 0)
			return -errno;
		mq_unlink(name);
		ends_add(e, fd);
		set_link(i ? &e->rep : &e->req, fd, fd);
	}
	return 0;
}

static int open_seqpacket(struct ends *e, long arg)
{
	int sv[2];

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	ends_add(e, sv[0]);
	ends_add(e, sv[1]);
	/* sv[0] is the client's end, sv[1] the server's */
	set_link(&e->req, sv[0], sv[1]);
	set_link(&e->rep, sv[1], sv[0]);
	return 0;
}

/**
 * struct transport - how to move a message between two processes
 * @open: create the fds; @arg as in struct bench
 * @send: send one message
 * @recv: receive one message into a buffer of the given size
 * @len: message size (8 for eventfd's counter)
 * @kernel_server: the server is kcoro's ECHO service, not a process
 * @call: if set, the client sends and receives the reply with one call
 * @server_call: the server process answers with @call too (it sends the
 *	reply and receives the next request in one call)
 */
struct transport {
	int (*open)(struct ends *e, long arg);
	int (*send)(int fd, void *buf, size_t len);
	int (*recv)(int fd, void *buf, size_t len);
	size_t len;
	bool kernel_server;
	int (*call)(int tx, int rx, void *req, size_t len, void *rep,
		    size_t size);
	bool server_call;
};

static const struct transport t_kcoro_ioctl = {
	.open = open_kcoro,
	.send = kc_send,
	.recv = kc_recv,
	.len = MSG_SIZE,
};

static const struct transport t_kcoro_rw = {
	.open = open_kcoro,
	.send = fd_send,
	.recv = fd_recv,
	.len = MSG_SIZE,
};

static const struct transport t_kcoro_echo = {
	.open = open_echo,
	.send = kc_send,
	.recv = kc_recv,
	.len = MSG_SIZE,
	.kernel_server = true,
};

static const struct transport t_kcoro_call = {
	.open = open_kcoro,
	.send = kc_send,
	.recv = kc_recv,
	.len = MSG_SIZE,
	.call = kc_call,
};

static const struct transport t_kcoro_call_both = {
	.open = open_kcoro,
	.send = kc_send,
	.recv = kc_recv,
	.len = MSG_SIZE,
	.call = kc_call,
	.server_call = true,
};

static const struct transport t_kcoro_call_echo = {
	.open = open_echo,
	.send = kc_send,
	.recv = kc_recv,
	.len = MSG_SIZE,
	.kernel_server = true,
	.call = kc_call,
};

static const struct transport t_pipe = {
	.open = open_pipes,
	.send = fd_send,
	.recv = fd_recv,
	.len = MSG_SIZE,
};

static const struct transport t_eventfd = {
	.open = open_eventfds,
	.send = fd_send,
	.recv = fd_recv,
	.len = sizeof(uint64_t),
};

static const struct transport t_mqueue = {
	.open = open_mqueues,
	.send = mq_send1,
	.recv = mq_recv1,
	.len = MSG_SIZE,
};

static const struct transport t_seqpacket = {
	.open = open_seqpacket,
	.send = fd_send,
	.recv = fd_recv,
	.len = MSG_SIZE,
};

/**
 * struct bench - one measurement
 * @name: its row label
 * @run: do @ops operations, store how long they took in *@ns
 * @t: the transport
 * @arg: kcoro/mqueue capacity
 * @kcoro: needs /dev/kcoro
 * @flags: kcoro_batch.flags of batched sends and receives
 * @ops: calibrated operation count
 * @ns: each run's duration
 * @cs: each run's context switches (both processes)
 * @sw: each run's context switches by kind (enum sw_kind)
 * @calls: each run's receive calls (batched receives)
 * @pair: each round's ratio to the first baseline of its table, from runs
 *        of the two back to back (kcoro rows)
 * @err: 0, or the first failure (-errno)
 * @skip: not selected (-m)
 */
struct bench {
	const char *name;
	int (*run)(struct bench *b, unsigned long ops, uint64_t *ns);
	const struct transport *t;
	long arg;
	bool kcoro;
	unsigned int flags;
	unsigned long ops;
	uint64_t ns[MAX_RUNS];
	uint64_t cs[MAX_RUNS];
	uint64_t sw[MAX_RUNS][4];
	uint64_t calls[MAX_RUNS];
	double pair[MAX_RUNS];
	int err;
	bool skip;
};

/* Context switches: of the timing process and of its child. */
enum sw_kind { SW_SELF_VOL, SW_SELF_INVOL, SW_CHILD_VOL, SW_CHILD_INVOL };

/* What the current run counted besides its time. */
static uint64_t cur_sw[4];
static uint64_t cur_calls;

/* Note the timing process's context switches: -1 before, +1 after. */
static void self_cs(int sign)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return;
	cur_sw[SW_SELF_VOL] += sign * ru.ru_nvcsw;
	cur_sw[SW_SELF_INVOL] += sign * ru.ru_nivcsw;
}

static void report(const struct bench *b, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s: %s\n", prog, b->name, what, strerror(-err));
}

/* Start a child running @fn; it dies with its parent. */
static pid_t spawn(int (*fn)(struct bench *, struct ends *, unsigned long),
		   struct bench *b, struct ends *e, unsigned long ops)
{
	pid_t pid = fork();

	if (pid)
		return pid < 0 ? -errno : pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pin_to_cpu(cpu_b);
	_exit(fn(b, e, ops) ? 1 : 0);
}

static int reap(struct bench *b, pid_t pid, bool kill_it)
{
	struct rusage ru;
	int status;

	if (kill_it)
		kill(pid, SIGKILL);
	if (wait4(pid, &status, 0, &ru) < 0)
		return -errno;
	cur_sw[SW_CHILD_VOL] += ru.ru_nvcsw;
	cur_sw[SW_CHILD_INVOL] += ru.ru_nivcsw;
	if (kill_it || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return 0;
	fprintf(stderr, "%s: %s: child failed (status 0x%x)\n", prog, b->name,
		status);
	return -ECHILD;
}

static void put_seq(unsigned char *buf, size_t len, uint64_t seq)
{
	if (len >= sizeof(seq))
		memcpy(buf, &seq, sizeof(seq));
}

static bool seq_ok(const unsigned char *buf, size_t len, uint64_t seq)
{
	uint64_t got;

	if (len < sizeof(got))
		return true;
	memcpy(&got, buf, sizeof(got));
	return got == seq;
}

/* Round trip: the server process answers each request with itself. */
static int rt_server(struct bench *b, struct ends *e, unsigned long ops)
{
	const struct transport *t = b->t;
	unsigned char buf[MSG_SIZE];
	unsigned long i;
	int r;

	r = t->recv(e->req.rx, buf, sizeof(buf));
	for (i = 0; i < ops; i++) {
		if (r != (int)t->len) {
			report(b, "server receive", r < 0 ? r : -EPROTO);
			return -1;
		}
		/* reply and wait for the next request, in one call */
		if (t->server_call && i + 1 < ops) {
			r = t->call(e->rep.tx, e->req.rx, buf, t->len, buf,
				    sizeof(buf));
			continue;
		}
		r = t->send(e->rep.tx, buf, t->len);
		if (r) {
			report(b, "server send", r);
			return -1;
		}
		if (i + 1 < ops)
			r = t->recv(e->req.rx, buf, sizeof(buf));
	}
	return 0;
}

static int run_roundtrip(struct bench *b, unsigned long ops, uint64_t *ns)
{
	const struct transport *t = b->t;
	unsigned char req[MSG_SIZE], rep[MSG_SIZE];
	uint64_t start, i;
	struct ends e;
	pid_t pid = 0;
	int r;

	ends_init(&e);
	memset(req, 0xa5, sizeof(req));
	if (t == &t_eventfd)
		put_seq(req, sizeof(req), 1);	/* the counter increment */
	r = t->open(&e, b->arg);
	if (r) {
		report(b, "setup", r);
		goto out;
	}
	if (!t->kernel_server) {
		pid = spawn(rt_server, b, &e, ops);
		if (pid < 0) {
			r = pid;
			report(b, "fork", r);
			goto out;
		}
	}
	self_cs(-1);
	start = now_ns();
	for (i = 0; i < ops; i++) {
		if (t != &t_eventfd)
			put_seq(req, t->len, i);
		r = t->call ? 0 : t->send(e.req.tx, req, t->len);
		if (r) {
			report(b, "send", r);
			break;
		}
		if (t->call)
			r = t->call(e.req.tx, e.rep.rx, req, t->len, rep,
				    sizeof(rep));
		else
			r = t->recv(e.rep.rx, rep, sizeof(rep));
		if (r != (int)t->len) {
			r = r < 0 ? r : -EPROTO;
			report(b, "receive", r);
			break;
		}
		if (t != &t_eventfd && memcmp(req, rep, t->len)) {
			r = -EBADMSG;
			report(b, "reply differs from the request", r);
			break;
		}
		r = 0;
	}
	*ns = now_ns() - start;
	self_cs(1);
	if (pid > 0) {
		int rr = reap(b, pid, r != 0);

		if (!r)
			r = rr;
	}
out:
	ends_close(&e);
	return r;
}

/* Throughput: the producer waits for the go byte, then sends @ops. */
static int wait_go(struct bench *b, int go_fd)
{
	char c;

	if (read(go_fd, &c, 1) != 1) {
		report(b, "start barrier", -EIO);
		return -1;
	}
	return 0;
}

static int tp_producer(struct bench *b, struct ends *e, unsigned long ops)
{
	const struct transport *t = b->t;
	unsigned char buf[MSG_SIZE];
	unsigned long i;
	int r;

	if (wait_go(b, e->rep.rx))
		return -1;
	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; i < ops; i++) {
		put_seq(buf, sizeof(buf), i);
		r = t->send(e->req.tx, buf, t->len);
		if (r) {
			report(b, "producer send", r);
			return -1;
		}
	}
	return 0;
}

static int tp_consumer(struct bench *b, struct ends *e, unsigned long ops)
{
	const struct transport *t = b->t;
	unsigned char buf[MSG_SIZE];
	unsigned long i;
	int r;

	for (i = 0; i < ops; i++) {
		r = t->recv(e->req.rx, buf, sizeof(buf));
		if (r != (int)t->len) {
			report(b, "consumer receive", r < 0 ? r : -EPROTO);
			return -1;
		}
		if (!seq_ok(buf, r, i)) {
			report(b, "message out of order", -EBADMSG);
			return -1;
		}
	}
	return 0;
}

static int kc_producer_batch(struct bench *b, struct ends *e,
			     unsigned long ops)
{
	static unsigned char bufs[BATCH][MSG_SIZE];
	struct kcoro_iov iov[BATCH];
	struct kcoro_batch kb = { .iov = (uintptr_t)iov, .flags = b->flags };
	unsigned long sent = 0;
	unsigned int j, n;
	int r;

	if (wait_go(b, e->rep.rx))
		return -1;
	memset(bufs, 0x5a, sizeof(bufs));
	memset(iov, 0, sizeof(iov));
	while (sent < ops) {
		n = ops - sent < BATCH ? ops - sent : BATCH;
		for (j = 0; j < n; j++) {
			put_seq(bufs[j], MSG_SIZE, sent + j);
			iov[j].buf = (uintptr_t)bufs[j];
			iov[j].len = MSG_SIZE;
		}
		kb.count = n;
		r = ioctl(e->req.tx, KCORO_IOC_SEND_BATCH, &kb);
		if (r <= 0 || (unsigned int)r > n) {
			report(b, "producer SEND_BATCH", r < 0 ? -errno : -EPROTO);
			return -1;
		}
		sent += r;
	}
	return 0;
}

static int kc_consumer_batch(struct bench *b, struct ends *e,
			     unsigned long ops)
{
	static unsigned char bufs[BATCH][MSG_SIZE];
	struct kcoro_iov iov[BATCH];
	struct kcoro_batch kb = { .iov = (uintptr_t)iov, .flags = b->flags };
	unsigned long got = 0;
	unsigned int j, n;
	int r;

	memset(iov, 0, sizeof(iov));
	while (got < ops) {
		n = ops - got < BATCH ? ops - got : BATCH;
		for (j = 0; j < n; j++) {
			iov[j].buf = (uintptr_t)bufs[j];
			iov[j].len = MSG_SIZE;
		}
		kb.count = n;
		r = ioctl(e->req.rx, KCORO_IOC_RECV_BATCH, &kb);
		if (r <= 0 || (unsigned int)r > n) {
			report(b, "consumer RECV_BATCH", r < 0 ? -errno : -EPROTO);
			return -1;
		}
		for (j = 0; j < (unsigned int)r; j++) {
			if (iov[j].len != MSG_SIZE) {
				report(b, "batch message length", -EPROTO);
				return -1;
			}
			if (!seq_ok(bufs[j], MSG_SIZE, got + j)) {
				report(b, "message out of order", -EBADMSG);
				return -1;
			}
		}
		got += r;
		cur_calls++;
	}
	return 0;
}

/* The pipe as a byte stream: BULK_SIZE bytes (64 messages) per call. */
static int pipe_producer_bulk(struct bench *b, struct ends *e,
			      unsigned long ops)
{
	static unsigned char buf[BULK_SIZE];
	size_t left = ops * MSG_SIZE, n;
	ssize_t r;

	if (wait_go(b, e->rep.rx))
		return -1;
	memset(buf, 0x5a, sizeof(buf));
	while (left) {
		n = left < sizeof(buf) ? left : sizeof(buf);
		r = write(e->req.tx, buf, n);
		if (r <= 0) {
			report(b, "producer write", r < 0 ? -errno : -EIO);
			return -1;
		}
		left -= r;
	}
	return 0;
}

static int pipe_consumer_bulk(struct bench *b, struct ends *e,
			      unsigned long ops)
{
	static unsigned char buf[BULK_SIZE];
	size_t left = ops * MSG_SIZE, n;
	ssize_t r;

	while (left) {
		n = left < sizeof(buf) ? left : sizeof(buf);
		r = read(e->req.rx, buf, n);
		if (r <= 0) {
			report(b, "consumer read", r < 0 ? -errno : -EIO);
			return -1;
		}
		left -= r;
	}
	return 0;
}

/*
 * After a kcoro throughput run: the channel's own counters must agree
 * with what was sent and received.
 */
static int kc_check_info(struct bench *b, int fd, unsigned long ops)
{
	struct kcoro_chan_info info = { .size = sizeof(info) };

	if (ioctl(fd, KCORO_IOC_CHAN_INFO, &info) < 0) {
		report(b, "CHAN_INFO", -errno);
		return -errno;
	}
	if (info.sent != ops || info.received != ops || info.buffered ||
	    info.undelivered || info.state != KCORO_STATE_OPEN ||
	    info.capacity != b->arg) {
		fprintf(stderr,
			"%s: %s: CHAN_INFO after %lu messages: state %u capacity %lld sent %llu received %llu buffered %llu undelivered %llu\n",
			prog, b->name, ops, info.state,
			(long long)info.capacity,
			(unsigned long long)info.sent,
			(unsigned long long)info.received,
			(unsigned long long)info.buffered,
			(unsigned long long)info.undelivered);
		return -EPROTO;
	}
	return 0;
}

typedef int (*side_fn)(struct bench *, struct ends *, unsigned long);

static int run_throughput_with(struct bench *b, unsigned long ops,
			       uint64_t *ns, side_fn producer, side_fn consumer)
{
	const struct transport *t = b->t;
	uint64_t start;
	struct ends e;
	int go[2], r, rr;
	pid_t pid;

	ends_init(&e);
	r = t->open(&e, b->arg);
	if (r) {
		report(b, "setup", r);
		goto out;
	}
	/* The go pipe; rep.rx is the producer's end of it. */
	if (pipe2(go, O_CLOEXEC)) {
		r = -errno;
		report(b, "setup", r);
		goto out;
	}
	ends_add(&e, go[0]);
	ends_add(&e, go[1]);
	e.rep.rx = go[0];
	pid = spawn(producer, b, &e, ops);
	if (pid < 0) {
		r = pid;
		report(b, "fork", r);
		goto out;
	}
	self_cs(-1);
	start = now_ns();
	if (write(go[1], "g", 1) != 1) {
		r = -EIO;
		report(b, "start barrier", r);
	} else {
		r = consumer(b, &e, ops) ? -EIO : 0;
	}
	*ns = now_ns() - start;
	self_cs(1);
	rr = reap(b, pid, r != 0);
	if (!r)
		r = rr;
	if (!r && b->kcoro)
		r = kc_check_info(b, e.req.rx, ops);
out:
	ends_close(&e);
	return r;
}

static int run_throughput(struct bench *b, unsigned long ops, uint64_t *ns)
{
	return run_throughput_with(b, ops, ns, tp_producer, tp_consumer);
}

static int run_throughput_batch(struct bench *b, unsigned long ops,
				uint64_t *ns)
{
	return run_throughput_with(b, ops, ns, kc_producer_batch,
				   kc_consumer_batch);
}

static int run_throughput_bulk(struct bench *b, unsigned long ops,
			       uint64_t *ns)
{
	return run_throughput_with(b, ops, ns, pipe_producer_bulk,
				   pipe_consumer_bulk);
}

/*
 * Two sources.  The producer sends message i on link i % 2 (req, rep);
 * the consumer waits for either: one KCORO_IOC_SELECT over two receive
 * clauses (random choice among ready ones, the default), or epoll_wait()
 * on both pipes for one event and a read() of that pipe.  Either way one
 * wait and one receive per message.  Each link keeps its own order.
 */
static int two_go = -1;		/* the go pipe's read end */

static int two_producer(struct bench *b, struct ends *e, unsigned long ops)
{
	const struct transport *t = b->t;
	unsigned char buf[MSG_SIZE];
	unsigned long i;
	int r;

	if (wait_go(b, two_go))
		return -1;
	memset(buf, 0x6b, sizeof(buf));
	for (i = 0; i < ops; i++) {
		put_seq(buf, sizeof(buf), i);
		r = t->send(i & 1 ? e->rep.tx : e->req.tx, buf, t->len);
		if (r) {
			report(b, "producer send", r);
			return -1;
		}
	}
	return 0;
}

/* Message @len of @buf came from source @k: the next one expected there? */
static int two_check(struct bench *b, uint64_t *next, unsigned int k,
		     const unsigned char *buf, int len)
{
	if (len != MSG_SIZE) {
		report(b, "consumer receive", len < 0 ? len : -EPROTO);
		return -1;
	}
	if (k > 1 || !seq_ok(buf, len, next[k])) {
		report(b, "message out of order", -EBADMSG);
		return -1;
	}
	next[k] += 2;
	return 0;
}

static int sel_consumer(struct bench *b, struct ends *e, unsigned long ops)
{
	unsigned char bufs[2][MSG_SIZE];
	struct kcoro_sel_clause c[2];
	struct kcoro_select s;
	uint64_t next[2] = { 0, 1 };
	unsigned long i;
	int r;

	memset(c, 0, sizeof(c));
	c[0].fd = e->req.rx;
	c[1].fd = e->rep.rx;
	for (i = 0; i < 2; i++) {
		c[i].op = KCORO_SEL_RECV;
		c[i].buf = (uintptr_t)bufs[i];
	}
	for (i = 0; i < ops; i++) {
		c[0].len = MSG_SIZE;
		c[1].len = MSG_SIZE;
		memset(&s, 0, sizeof(s));
		s.clauses = (uintptr_t)c;
		s.count = 2;
		r = ioctl(kcoro_dev, KCORO_IOC_SELECT, &s);
		if (r < 0) {
			report(b, "KCORO_IOC_SELECT", -errno);
			return -1;
		}
		if (r > 1 || s.status) {
			report(b, "KCORO_IOC_SELECT", -EPROTO);
			return -1;
		}
		if (two_check(b, next, r, bufs[r], c[r].len))
			return -1;
	}
	cur_calls += ops;
	return 0;
}

static int epoll_consumer(struct bench *b, struct ends *e, unsigned long ops)
{
	int fds[2] = { e->req.rx, e->rep.rx }, ep, n, r = -1;
	unsigned char buf[MSG_SIZE];
	struct epoll_event ev;
	uint64_t next[2] = { 0, 1 };
	unsigned long i;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		report(b, "epoll_create1", -errno);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u32 = i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev)) {
			report(b, "epoll_ctl", -errno);
			goto out;
		}
	}
	for (i = 0; i < ops; i++) {
		n = epoll_wait(ep, &ev, 1, -1);
		if (n < 0 && errno == EINTR) {
			i--;
			continue;
		}
		if (n != 1) {
			report(b, "epoll_wait", n < 0 ? -errno : -EPROTO);
			goto out;
		}
		if (ev.data.u32 > 1) {
			report(b, "epoll_wait", -EPROTO);
			goto out;
		}
		if (two_check(b, next, ev.data.u32, buf,
			      fd_recv(fds[ev.data.u32], buf, sizeof(buf))))
			goto out;
	}
	cur_calls += ops;
	r = 0;
out:
	close(ep);
	return r;
}

/* After a select run: each channel carried its half, all received. */
static int kc_check_two(struct bench *b, struct ends *e, unsigned long ops)
{
	int fds[2] = { e->req.rx, e->rep.rx }, k;

	for (k = 0; k < 2; k++) {
		struct kcoro_chan_info info = { .size = sizeof(info) };
		unsigned long half = k ? ops / 2 : ops - ops / 2;

		if (ioctl(fds[k], KCORO_IOC_CHAN_INFO, &info) < 0) {
			report(b, "CHAN_INFO", -errno);
			return -errno;
		}
		if (info.sent != half || info.received != half ||
		    info.buffered || info.undelivered) {
			fprintf(stderr,
				"%s: %s: channel %d after %lu messages: sent %llu received %llu buffered %llu undelivered %llu\n",
				prog, b->name, k, half,
				(unsigned long long)info.sent,
				(unsigned long long)info.received,
				(unsigned long long)info.buffered,
				(unsigned long long)info.undelivered);
			return -EPROTO;
		}
	}
	return 0;
}

static int run_two(struct bench *b, unsigned long ops, uint64_t *ns)
{
	uint64_t start;
	struct ends e;
	int go[2], r, rr;
	pid_t pid;

	ends_init(&e);
	r = b->t->open(&e, b->arg);
	if (r) {
		report(b, "setup", r);
		goto out;
	}
	if (pipe2(go, O_CLOEXEC)) {
		r = -errno;
		report(b, "setup", r);
		goto out;
	}
	ends_add(&e, go[0]);
	ends_add(&e, go[1]);
	two_go = go[0];
	pid = spawn(two_producer, b, &e, ops);
	if (pid < 0) {
		r = pid;
		report(b, "fork", r);
		goto out;
	}
	self_cs(-1);
	start = now_ns();
	if (write(go[1], "g", 1) != 1) {
		r = -EIO;
		report(b, "start barrier", r);
	} else if (b->kcoro) {
		r = sel_consumer(b, &e, ops) ? -EIO : 0;
	} else {
		r = epoll_consumer(b, &e, ops) ? -EIO : 0;
	}
	*ns = now_ns() - start;
	self_cs(1);
	rr = reap(b, pid, r != 0);
	if (!r)
		r = rr;
	if (!r && b->kcoro)
		r = kc_check_two(b, &e, ops);
out:
	ends_close(&e);
	return r;
}

/*
 * One process sends a message and receives it back from the same channel
 * or pipe: nothing ever waits, so this is the cost of the two system calls
 * and of the channel itself, without scheduling.
 */
static int run_local(struct bench *b, unsigned long ops, uint64_t *ns)
{
	const struct transport *t = b->t;
	unsigned char buf[MSG_SIZE], got[MSG_SIZE];
	uint64_t start, i;
	struct ends e;
	int r;

	ends_init(&e);
	memset(buf, 0x3c, sizeof(buf));
	r = t->open(&e, b->arg);
	if (r) {
		report(b, "setup", r);
		goto out;
	}
	self_cs(-1);
	start = now_ns();
	for (i = 0; i < ops; i++) {
		put_seq(buf, sizeof(buf), i);
		r = t->call ? 0 : t->send(e.req.tx, buf, t->len);
		if (r) {
			report(b, "send", r);
			break;
		}
		/* a call on one channel: its request is its reply */
		if (t->call)
			r = t->call(e.req.tx, e.req.rx, buf, t->len, got,
				    sizeof(got));
		else
			r = t->recv(e.req.rx, got, sizeof(got));
		if (r != (int)t->len || memcmp(buf, got, t->len)) {
			r = r < 0 ? r : -EBADMSG;
			report(b, "receive", r);
			break;
		}
		r = 0;
	}
	*ns = now_ns() - start;
	self_cs(1);
out:
	ends_close(&e);
	return r;
}

/* The same with SEND_BATCH and RECV_BATCH of BATCH messages. */
static int run_local_batch(struct bench *b, unsigned long ops, uint64_t *ns)
{
	static unsigned char bufs[BATCH][MSG_SIZE];
	struct kcoro_iov iov[BATCH];
	struct kcoro_batch kb = { .iov = (uintptr_t)iov };
	uint64_t start, done = 0;
	unsigned int j, n;
	struct ends e;
	int r;

	ends_init(&e);
	memset(bufs, 0x3c, sizeof(bufs));
	memset(iov, 0, sizeof(iov));
	r = b->t->open(&e, b->arg);
	if (r) {
		report(b, "setup", r);
		goto out;
	}
	self_cs(-1);
	start = now_ns();
	while (done < ops) {
		n = ops - done < BATCH ? ops - done : BATCH;
		for (j = 0; j < n; j++) {
			put_seq(bufs[j], MSG_SIZE, done + j);
			iov[j].buf = (uintptr_t)bufs[j];
			iov[j].len = MSG_SIZE;
		}
		kb.count = n;
		r = ioctl(e.req.tx, KCORO_IOC_SEND_BATCH, &kb);
		if (r != (int)n) {
			r = r < 0 ? -errno : -EPROTO;
			report(b, "SEND_BATCH", r);
			break;
		}
		memset(bufs, 0, sizeof(bufs[0]) * n);
		for (j = 0; j < n; j++)
			iov[j].len = MSG_SIZE;
		r = ioctl(e.req.rx, KCORO_IOC_RECV_BATCH, &kb);
		if (r != (int)n) {
			r = r < 0 ? -errno : -EPROTO;
			report(b, "RECV_BATCH", r);
			break;
		}
		for (j = 0; j < n; j++) {
			if (iov[j].len != MSG_SIZE ||
			    !seq_ok(bufs[j], MSG_SIZE, done + j)) {
				r = -EBADMSG;
				report(b, "RECV_BATCH message", r);
				break;
			}
		}
		if (r < 0)
			break;
		done += n;
		r = 0;
	}
	*ns = now_ns() - start;
	self_cs(1);
out:
	ends_close(&e);
	return r;
}

enum {
	RT_PIPE,
	RT_EVENTFD,
	RT_MQUEUE,
	RT_UNIX,
	RT_KC,
	RT_KC_RV,
	RT_KC_RW,
	RT_KC_CALL,
	RT_KC_CALL_BOTH,
	RT_KC_ECHO,
	RT_KC_CALL_ECHO,
	TP_PIPE,
	TP_PIPE_BULK,
	TP_KC,
	TP_KC_RW,
	TP_KC_BATCH,
	TP_KC_BATCH_WA,
	L_PIPE,
	L_KC,
	L_KC_RW,
	L_KC_CALL,
	L_KC_BATCH,
	TS_EPOLL,
	TS_KC_SEL,
	B_NR
};

static struct bench benches[B_NR] = {
	[RT_PIPE] = { "pipe pair, write/read", run_roundtrip, &t_pipe },
	[RT_EVENTFD] = { "eventfd pair, 8-byte counter", run_roundtrip,
			 &t_eventfd },
	[RT_MQUEUE] = { "POSIX mqueue pair (maxmsg 1)", run_roundtrip,
			&t_mqueue, 1 },
	[RT_UNIX] = { "unix socketpair, SOCK_SEQPACKET", run_roundtrip,
		      &t_seqpacket },
	[RT_KC] = { "kcoro SEND/RECV ioctl, capacity 1", run_roundtrip,
		    &t_kcoro_ioctl, 1, true },
	[RT_KC_RV] = { "kcoro SEND/RECV ioctl, rendezvous", run_roundtrip,
		       &t_kcoro_ioctl, KCORO_CAP_RENDEZVOUS, true },
	[RT_KC_RW] = { "kcoro write/read, capacity 1", run_roundtrip,
		       &t_kcoro_rw, 1, true },
	[RT_KC_CALL] = { "kcoro CALL ioctl, capacity 1", run_roundtrip,
			 &t_kcoro_call, 1, true },
	[RT_KC_CALL_BOTH] = { "kcoro CALL ioctl, server CALLs too, cap 1",
			      run_roundtrip, &t_kcoro_call_both, 1, true },
	[RT_KC_ECHO] = { "kcoro ECHO service, 1 coroutine, cap 1",
			 run_roundtrip, &t_kcoro_echo, 1, true },
	[RT_KC_CALL_ECHO] = { "kcoro CALL to ECHO service", run_roundtrip,
			      &t_kcoro_call_echo, 1, true },
	[TP_PIPE] = { "pipe, 64-byte write/read", run_throughput, &t_pipe },
	[TP_PIPE_BULK] = { "pipe, 4096-byte write/read (64 msgs)",
			   run_throughput_bulk, &t_pipe },
	[TP_KC] = { "kcoro SEND/RECV ioctl, capacity 1024", run_throughput,
		    &t_kcoro_ioctl, THRU_CAP, true },
	[TP_KC_RW] = { "kcoro write/read, capacity 1024", run_throughput,
		       &t_kcoro_rw, THRU_CAP, true },
	[TP_KC_BATCH] = { "kcoro SEND/RECV_BATCH x64, capacity 1024",
			  run_throughput_batch, &t_kcoro_ioctl, THRU_CAP,
			  true },
	[TP_KC_BATCH_WA] = {
		.name = "kcoro ..._BATCH x64 WAITALL, capacity 1024",
		.run = run_throughput_batch,
		.t = &t_kcoro_ioctl,
		.arg = THRU_CAP,
		.kcoro = true,
		.flags = KCORO_BATCH_WAITALL,
	},
	[L_PIPE] = { "pipe, 64-byte write+read", run_local, &t_pipe },
	[L_KC] = { "kcoro SEND+RECV ioctl", run_local, &t_kcoro_ioctl,
		   THRU_CAP, true },
	[L_KC_RW] = { "kcoro write+read", run_local, &t_kcoro_rw, THRU_CAP,
		      true },
	[L_KC_CALL] = { "kcoro CALL ioctl, one channel", run_local,
			&t_kcoro_call, THRU_CAP, true },
	[L_KC_BATCH] = { "kcoro SEND_BATCH+RECV_BATCH x64", run_local_batch,
			 &t_kcoro_ioctl, THRU_CAP, true },
	[TS_EPOLL] = { "epoll_wait + read, 2 pipes", run_two, &t_pipe },
	[TS_KC_SEL] = { "kcoro SELECT, 2 channels of capacity 1024",
			run_two, &t_kcoro_ioctl, THRU_CAP, true },
};

/* The short names, for -p and -l ("make profile BENCH=NAME"). */
static const char * const bench_keys[B_NR] = {
	[RT_PIPE] = "rt-pipe",
	[RT_EVENTFD] = "rt-eventfd",
	[RT_MQUEUE] = "rt-mqueue",
	[RT_UNIX] = "rt-unix",
	[RT_KC] = "rt-kc",
	[RT_KC_RV] = "rt-kc-rv",
	[RT_KC_RW] = "rt-kc-rw",
	[RT_KC_CALL] = "rt-call",
	[RT_KC_CALL_BOTH] = "rt-call-both",
	[RT_KC_ECHO] = "rt-echo",
	[RT_KC_CALL_ECHO] = "rt-call-echo",
	[TP_PIPE] = "tp-pipe",
	[TP_PIPE_BULK] = "tp-pipe-4k",
	[TP_KC] = "tp-kc",
	[TP_KC_RW] = "tp-kc-rw",
	[TP_KC_BATCH] = "tp-kc-batch",
	[TP_KC_BATCH_WA] = "tp-kc-waitall",
	[L_PIPE] = "local-pipe",
	[L_KC] = "local-kc",
	[L_KC_RW] = "local-kc-rw",
	[L_KC_CALL] = "local-call",
	[L_KC_BATCH] = "local-kc-batch",
	[TS_EPOLL] = "sel-epoll",
	[TS_KC_SEL] = "sel-kc",
};

/* Interleaved runs: at least min_runs, at most max_runs; runs done. */
static unsigned int min_runs = 5, max_runs = 41, runs;

/* Run @b once; @r: the run's index, or -1 for a calibration run. */
static int run_once(struct bench *b, unsigned long ops, int r, uint64_t *ns)
{
	int ret;

	current_name = b->name;
	memset(cur_sw, 0, sizeof(cur_sw));
	cur_calls = 0;
	alarm(alarm_s);
	ret = b->run(b, ops, ns);
	alarm(0);
	if (r >= 0) {
		b->ns[r] = *ns;
		memcpy(b->sw[r], cur_sw, sizeof(cur_sw));
		b->cs[r] = cur_sw[0] + cur_sw[1] + cur_sw[2] + cur_sw[3];
		b->calls[r] = cur_calls;
	}
	return ret;
}

/* Find an operation count that takes about @target_ns. */
static void calibrate(struct bench *b, uint64_t target_ns)
{
	unsigned long ops = MIN_OPS;
	uint64_t ns = 0;

	for (;;) {
		b->err = run_once(b, ops, -1, &ns);
		if (b->err)
			return;
		if (ns >= target_ns / 4 || ops >= MAX_OPS)
			break;
		ops *= ns < target_ns / 64 ? 8 : 2;
	}
	ops = (uint64_t)ops * target_ns / (ns ? ns : 1);
	if (ops < MIN_OPS)
		ops = MIN_OPS;
	if (ops > MAX_OPS)
		ops = MAX_OPS;
	b->ops = ops;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The median of @n values (sorted in place), and in *@spread the width of
 * a ~95% confidence interval of that median relative to it, in %: the
 * order statistics k and n - 1 - k, k = (n - 1.96 sqrt(n)) / 2 (a sign
 * test).  Up to 7 values k is 0 and this is (max - min) / median; more
 * runs narrow it, which is what lets a noisy row settle.
 */
static double median_spread(double *v, unsigned int n, double *spread)
{
	double med;
	int k;

	qsort(v, n, sizeof(v[0]), cmp_double);
	med = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	/* the largest k with (n - 2k)^2 >= 1.96^2 n */
	for (k = 0; 2 * (k + 1) <= (int)n &&
	     (n - 2 * (k + 1)) * (n - 2 * (k + 1)) * 10000ULL >= 38416ULL * n;)
		k++;
	if (spread)
		*spread = med ? 100.0 * (v[n - 1 - k] - v[k]) / med : 0;
	return med;
}

/* Nanoseconds per operation of the median run, and the spread in %. */
static double per_op(const struct bench *b, double *spread)
{
	double v[MAX_RUNS];
	unsigned int r;

	for (r = 0; r < runs; r++)
		v[r] = (double)b->ns[r] / b->ops;
	return median_spread(v, runs, spread);
}

/* Average over the runs of a per-run count, per operation. */
static double avg_per_op(const struct bench *b, const uint64_t *count)
{
	uint64_t sum = 0;
	unsigned int r;

	for (r = 0; r < runs; r++)
		sum += count[r];
	return (double)sum / runs / b->ops;
}

static const char *machine_kind(void)
{
	static char line[4096];
	bool hv = false, tcg = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10))
			tcg = strstr(line, "QEMU TCG");
		if (!strncmp(line, "flags", 5)) {
			hv = strstr(line, " hypervisor");
			break;
		}
	}
	if (f)
		fclose(f);
	if (tcg)
		return "QEMU TCG (emulated CPU): only the ratios are meaningful";
	return hv ? "virtual machine" : "bare metal";
}

static void online_cpus(char *buf, size_t len)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");

	if (!f || !fgets(buf, len, f))
		snprintf(buf, len, "?");
	buf[strcspn(buf, "\n")] = 0;
	if (f)
		fclose(f);
}

/*
 * Ratio of @base's time per op to @b's (> 1: @b is faster): the median of
 * the ratios of the runs of each round, with its spread in %.  With
 * @paired (@base is the first baseline of @b's table) the runs of each
 * round ran back to back (see run_round()).
 */
static bool ratio(const struct bench *b, const struct bench *base,
		  bool paired, double *r, double *spread)
{
	double v[MAX_RUNS];
	unsigned int i;

	if (b->err || base->err || !runs)
		return false;
	for (i = 0; i < runs; i++)
		v[i] = paired ? b->pair[i] : ((double)base->ns[i] / base->ops) /
					     ((double)b->ns[i] / b->ops);
	*r = median_spread(v, runs, spread);
	return true;
}

#define NAME_W	42

/**
 * struct table - how to print a group of measurements
 * @title: the group's heading
 * @first: its first measurement
 * @last: its last measurement
 * @unit: what one operation is
 * @rate: add an operations-per-second column
 * @bases: the baselines that kcoro rows are compared with, -1 ended
 * @base_names: their column headings
 */
struct table {
	const char *title;
	int first;
	int last;
	const char *unit;
	bool rate;
	int bases[5];
	const char *base_names[4];
};

static void print_table(const struct table *tb)
{
	double ns, spread, r;
	unsigned int i, j;

	printf("\n%s\n%-*s %13s %6s", tb->title, NAME_W, "", tb->unit,
	       "spread");
	if (tb->rate)
		printf(" %11s", "messages/s");
	printf(" %6s", "cs/op");
	for (j = 0; tb->bases[j] >= 0; j++)
		printf(" %14s", tb->base_names[j]);
	printf("\n");
	for (i = tb->first; i <= (unsigned int)tb->last; i++) {
		const struct bench *b = &benches[i];

		if (b->skip)
			continue;
		printf("%-*s", NAME_W, b->name);
		if (b->err) {
			printf(" %s\n", b->err == -ENOENT && b->kcoro ?
			       "n/a (no /dev/kcoro)" : strerror(-b->err));
			continue;
		}
		ns = per_op(b, &spread);
		printf(" %10.0f ns %5.0f%%", ns, spread);
		if (tb->rate)
			printf(" %11.0f", 1e9 / ns);
		printf(" %6.3f", avg_per_op(b, b->cs));
		for (j = 0; b->kcoro && tb->bases[j] >= 0; j++) {
			if (!ratio(b, &benches[tb->bases[j]], !j, &r, &spread))
				printf(" %14s", "-");
			else if (spread >= SETTLED_PCT)
				printf(" %9s %3.0f%%", "noisy", spread);
			else
				printf(" %8.2fx %3.0f%%", r, spread);
		}
		printf("\n");
	}
}

static const struct table tables[] = {
	{
		"round trip: 64-byte request + reply between 2 processes (or the in-kernel ECHO service)",
		RT_PIPE, RT_KC_CALL_ECHO, "per trip", false,
		{ RT_PIPE, RT_EVENTFD, RT_MQUEUE, RT_UNIX, -1 },
		{ "vs pipe", "vs eventfd", "vs mqueue", "vs unix" },
	},
	{
		"throughput: 64-byte messages, 1 producer process -> 1 consumer process",
		TP_PIPE, TP_KC_BATCH_WA, "per msg", true,
		{ TP_PIPE, TP_PIPE_BULK, -1 },
		{ "vs pipe", "vs pipe 4K" },
	},
	{
		"diagnostic: 1 process sends and receives back, nothing waits (syscalls + channel only)",
		L_PIPE, L_KC_BATCH, "per msg", true,
		{ L_PIPE, -1 },
		{ "vs pipe" },
	},
	{
		"two sources: 64-byte messages alternately on 2 channels or pipes, the consumer waits on both",
		TS_EPOLL, TS_KC_SEL, "per msg", true,
		{ TS_EPOLL, -1 },
		{ "vs epoll" },
	},
};

/* Every ratio of the tables, one per line, for the targets table. */
static void print_ratios(void)
{
	double r, spread;
	unsigned int t, i, j;

	printf("\n");
	for (t = 0; t < ARRAY_SIZE(tables); t++) {
		const struct table *tb = &tables[t];

		for (i = tb->first; i <= (unsigned int)tb->last; i++) {
			const struct bench *b = &benches[i];

			for (j = 0; b->kcoro && tb->bases[j] >= 0; j++) {
				const struct bench *base = &benches[tb->bases[j]];

				if (b->skip || !ratio(b, base, !j, &r, &spread))
					continue;
				printf("ratio: %s | %s | %.3f | %.0f | %s\n",
				       b->name, base->name, r, spread,
				       spread < SETTLED_PCT ? "settled" : "noisy");
			}
		}
	}
}

/* Has every kcoro row's ratio to its table's first baseline settled? */
static bool settled(void)
{
	double r, spread;
	unsigned int t, i;

	for (t = 0; t < ARRAY_SIZE(tables); t++) {
		const struct table *tb = &tables[t];

		for (i = tb->first; i <= (unsigned int)tb->last; i++) {
			if (!benches[i].kcoro ||
			    !ratio(&benches[i], &benches[tb->bases[0]], true, &r,
				   &spread))
				continue;
			if (spread >= SETTLED_PCT)
				return false;
		}
	}
	return true;
}

/* Run measurement @i in round @r; only its first run there is kept. */
static bool run_in_round(unsigned int i, unsigned int r, bool *done,
			 uint64_t *ns)
{
	struct bench *b = &benches[i];

	if (!b->err)
		b->err = run_once(b, b->ops, done[i] ? -1 : (int)r, ns);
	done[i] = true;
	return !b->err;
}

/*
 * Round @r: every measurement once, and every kcoro row back to back with
 * its table's first baseline (that one first in every other round), so
 * that the ratio of the two sees the same (emulated, shared) host,
 * whatever it does over the rest of the round.
 */
static void run_round(unsigned int r)
{
	bool done[B_NR] = { false };
	uint64_t ns_b, ns_base;
	unsigned int t, i;
	bool ok;

	for (t = 0; t < ARRAY_SIZE(tables); t++) {
		const struct table *tb = &tables[t];
		unsigned int base = tb->bases[0];

		for (i = tb->first; i <= (unsigned int)tb->last; i++) {
			struct bench *b = &benches[i];

			if (b->err)
				continue;
			if (!b->kcoro || benches[base].err) {
				if (!done[i])
					run_in_round(i, r, done, &ns_b);
				continue;
			}
			if (r & 1)
				ok = run_in_round(base, r, done, &ns_base) &&
				     run_in_round(i, r, done, &ns_b);
			else
				ok = run_in_round(i, r, done, &ns_b) &&
				     run_in_round(base, r, done, &ns_base);
			if (ok)
				b->pair[r] = ((double)ns_base / benches[base].ops) /
					     ((double)ns_b / b->ops);
		}
	}
}

/* -p: one measurement alone, for a profiler. */
static int profile_one(const char *key, unsigned long target_ms)
{
	struct bench *b = NULL;
	uint64_t ns = 0;
	unsigned int i;

	for (i = 0; i < B_NR; i++)
		if (bench_keys[i] && !strcmp(key, bench_keys[i]))
			b = &benches[i];
	if (!b) {
		fprintf(stderr, "%s: -p %s: no such measurement (-l lists them)\n",
			prog, key);
		return 2;
	}
	calibrate(b, target_ms * 1000000ULL);
	if (!b->err)
		b->err = run_once(b, b->ops, 0, &ns);
	if (b->err) {
		printf("profile: %s failed: %s\n", key, strerror(-b->err));
		return 1;
	}
	printf("profile: %s (%s): %lu operations in %.0f ms, %.0f ns per operation (%s)\n",
	       key, b->name, b->ops, ns / 1e6, (double)ns / b->ops,
	       machine_kind());
	return 0;
}

/* Every run of every measurement, for judging the noise. */
static void print_runs(void)
{
	unsigned int i, k, r;

	printf("\nevery run, ns per operation (operations per run):\n");
	for (i = 0; i < B_NR; i++) {
		const struct bench *b = &benches[i];

		if (b->err || b->skip)
			continue;
		printf("  %-*s", NAME_W, b->name);
		for (r = 0; r < runs; r++)
			printf(" %9.0f", (double)b->ns[r] / b->ops);
		printf("  (%lu)\n", b->ops);
	}
	puts("\ncontext switches per 1000 operations, voluntary / involuntary,");
	puts("of the client or consumer | of the server or producer:");
	for (i = 0; i < B_NR; i++) {
		const struct bench *b = &benches[i];
		uint64_t sum[4] = { 0 };

		if (b->err)
			continue;
		for (r = 0; r < runs; r++)
			for (k = 0; k < 4; k++)
				sum[k] += b->sw[r][k];
		printf("  %-*s", NAME_W, b->name);
		for (k = 0; k < 4; k++)
			printf("%s%8.1f", k == 2 ? "  |" : k ? " /" : "",
			       1000.0 * sum[k] / runs / b->ops);
		printf("\n");
	}
}

static void print_usage(void)
{
	fprintf(stderr,
		"usage: %s [-t MS] [-r RUNS] [-R RUNS] [-s CPU,CPU] [-b] [-v] [-m TEXT]\n"
		"       %s -p NAME [-t MS] | -l\n"
		"  -t MS       time per measurement (default 100; with -p 4000)\n"
		"  -r RUNS     rounds of runs, at least (default 5)\n"
		"  -R RUNS     at most, while a ratio spreads by %d%% or more\n"
		"              (default and most %d)\n"
		"  -s A,B      pin the client/consumer to cpu A and the\n"
		"              server/producer to cpu B (default: no pinning)\n"
		"  -b          baselines only (no /dev/kcoro needed)\n"
		"  -v          also print every run\n"
		"  -m TEXT     only the measurements whose name contains TEXT\n"
		"  -p NAME     only the measurement NAME, once, for a profiler\n"
		"  -l          list the measurements' names\n",
		prog, prog, SETTLED_PCT, MAX_RUNS);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long target_ms = 0;
	bool baselines_only = false, verbose = false;
	const char *only = NULL, *prof = NULL;
	char cpus[64];
	unsigned int i, r;
	int opt, failed = 0;

	while ((opt = getopt(argc, argv, "t:r:R:s:bvm:p:l")) != -1) {
		switch (opt) {
		case 't':
			target_ms = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			min_runs = strtoul(optarg, NULL, 0);
			break;
		case 'R':
			max_runs = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			prof = optarg;
			break;
		case 'l':
			for (i = 0; i < B_NR; i++)
				if (bench_keys[i])
					printf("%-16s %s\n", bench_keys[i],
					       benches[i].name);
			return 0;
		case 's':
			if (sscanf(optarg, "%d,%d", &cpu_a, &cpu_b) != 2)
				print_usage();
			break;
		case 'b':
			baselines_only = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'm':
			only = optarg;
			break;
		default:
			print_usage();
		}
	}
	if (!target_ms)
		target_ms = prof ? 4000 : 100;
	if (max_runs < min_runs)
		max_runs = min_runs;
	if (optind != argc || !min_runs || max_runs > MAX_RUNS)
		print_usage();
	alarm_s = 30 + target_ms * 20 / 1000;
	signal(SIGALRM, die_timeout);
	setvbuf(stdout, NULL, _IOLBF, 0);
	pin_to_cpu(cpu_a);

	kcoro_dev = open(KCORO_DEVICE, O_RDWR | O_CLOEXEC);
	if (kcoro_dev < 0) {
		kcoro_dev_err = errno;
		if (!baselines_only)
			fprintf(stderr, "%s: %s: %s\n", prog, KCORO_DEVICE,
				strerror(errno));
	}
	if (prof)
		return profile_one(prof, target_ms);

	for (i = 0; i < B_NR; i++) {
		if (only && !strstr(benches[i].name, only)) {
			benches[i].skip = true;
			benches[i].err = -ENOENT;
			continue;
		}
		if (baselines_only && benches[i].kcoro) {
			benches[i].err = -ENOENT;
			continue;
		}
		calibrate(&benches[i], target_ms * 1000000ULL);
	}
	for (r = 0; r < max_runs; r++) {
		if (r >= min_runs && settled())
			break;
		run_round(r);
		runs = r + 1;
	}

	online_cpus(cpus, sizeof(cpus));
	printf("%s: %s; CPUs online: %s; %s\n", prog, machine_kind(), cpus,
	       cpu_a < 0 ? "processes not pinned" :
	       "client/consumer and server/producer pinned apart");
	printf("%u rounds of runs of ~%lu ms (%u to %u, until every kcoro row's ratio to its\n"
	       "table's first baseline spreads under %d%%; in each round the two ran back to back)\n",
	       runs, target_ms, min_runs, max_runs, SETTLED_PCT);
	puts("times: the median round; ratios: the median of the per-round ratios;\n"
	     "spread: the width of a ~95% confidence interval of the median (up to 7\n"
	     "rounds: max - min) relative to it; \"noisy\": a ratio spread by 10% or more");
	puts("cs/op: context switches of both processes (not the ECHO service's kthread)");
	puts("ratios: baseline time / kcoro time (above 1: kcoro faster)");
	printf("kcoro channels: capacity 1 for round trips, %d for throughput\n",
	       THRU_CAP);
	for (i = 0; i < ARRAY_SIZE(tables); i++)
		print_table(&tables[i]);
	if (!benches[TP_KC_BATCH].err && !benches[TP_KC_BATCH_WA].err)
		printf("  (messages per RECV_BATCH call: %.1f, with WAITALL %.1f)\n",
		       1.0 / avg_per_op(&benches[TP_KC_BATCH],
					benches[TP_KC_BATCH].calls),
		       1.0 / avg_per_op(&benches[TP_KC_BATCH_WA],
					benches[TP_KC_BATCH_WA].calls));
	if (verbose)
		print_runs();
	print_ratios();

	for (i = 0; i < B_NR; i++)
		if (benches[i].err && !benches[i].skip &&
		    !(baselines_only && benches[i].kcoro))
			failed = 1;
	if (failed)
		fprintf(stderr, "%s: some measurements failed\n", prog);
	return failed;
}
