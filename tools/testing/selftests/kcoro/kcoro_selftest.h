/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kcoro selftests: raw ioctls returning -errno,
 * module parameters, fdinfo, clocks, waiting until a task sleeps or a
 * channel has callers blocked, fd passing and message patterns.
 */
#ifndef _KCORO_SELFTEST_H
#define _KCORO_SELFTEST_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kcoro.h"

#define KST_PARAM_DIR	"/sys/module/kcoro/parameters/"
#define KST_MS		1000000LL	/* nanoseconds */

/* ioctl(2) returning -errno, so that tests compare one value. */
static inline long kst_ioctl(int fd, unsigned long cmd, void *arg)
{
	long ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

/* Same with an integer argument (KCORO_IOC_CLOSE / _CANCEL). */
static inline long kst_ioctl_arg(int fd, unsigned long cmd, unsigned long arg)
{
	long ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

static inline ssize_t kst_read(int fd, void *buf, size_t n)
{
	ssize_t ret = read(fd, buf, n);

	return ret < 0 ? -errno : ret;
}

static inline ssize_t kst_write(int fd, const void *buf, size_t n)
{
	ssize_t ret = write(fd, buf, n);

	return ret < 0 ? -errno : ret;
}

static inline int64_t kst_now(void)
{
	return kcoro_deadline(0);
}

static inline void kst_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline pid_t kst_gettid(void)
{
	return syscall(SYS_gettid);
}

/* A module parameter, or @dflt when it cannot be read. */
static inline long long kst_param(const char *name, long long dflt)
{
	char path[128];
	long long val;
	FILE *f;

	snprintf(path, sizeof(path), KST_PARAM_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return dflt;
	if (fscanf(f, "%lld", &val) != 1)
		val = dflt;
	fclose(f);
	return val;
}

/* Set a module parameter: 0 or -errno. */
static inline int kst_param_set(const char *name, long long val)
{
	char path[128], buf[32];
	int fd, n, ret = 0;

	snprintf(path, sizeof(path), KST_PARAM_DIR "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%lld\n", val);
	if (write(fd, buf, n) != n)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The value of "@key:\t<value>" in /proc/self/fdinfo/@fd, copied into @val;
 * false when the line is missing.
 */
static inline bool kst_fdinfo(int fd, const char *key, char *val, size_t len)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':' ||
		    line[klen + 1] != '\t')
			continue;
		line[strcspn(line, "\n")] = 0;
		if (len) {
			size_t n = strlen(line + klen + 2);

			if (n >= len)
				n = len - 1;
			memcpy(val, line + klen + 2, n);
			val[n] = 0;
		}
		found = true;
		break;
	}
	fclose(f);
	return found;
}

/* A numeric fdinfo value, or LLONG_MIN when missing. */
static inline long long kst_fdinfo_num(int fd, const char *key)
{
	char val[64];

	if (!kst_fdinfo(fd, key, val, sizeof(val)))
		return LLONG_MIN;
	return strtoll(val, NULL, 10);
}

/* The state letter of a task in /proc/self/task/@tid/stat. */
static inline char kst_task_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/*
 * Wait until a task sleeps (state S) for a few samples in a row: it is
 * then blocked in the call the test made, not on its way to it.  False
 * after @ms milliseconds.
 */
static inline bool kst_wait_sleeping(pid_t pid, pid_t tid, long ms)
{
	int64_t end = kst_now() + ms * KST_MS;
	int seen = 0;

	while (kst_now() < end) {
		if (kst_task_state(pid, tid) == 'S') {
			if (++seen >= 3)
				return true;
		} else {
			seen = 0;
		}
		kst_sleep_ms(2);
	}
	return false;
}

/*
 * Wait until exactly @senders sends and @receivers receives are blocked in
 * channel @fd (KCORO_IOC_CHAN_INFO's waiting counts; -1: any number).
 * Tied to progress: gives up only once the counts stood still for @ms
 * milliseconds.  False then, or when the kernel has no such counts.
 */
static inline bool kst_wait_waiting(int fd, long long senders,
				    long long receivers, long ms)
{
	uint64_t last_s = UINT64_MAX, last_r = UINT64_MAX;
	int64_t end = kst_now() + ms * KST_MS;
	struct kcoro_chan_info info;

	for (;;) {
		if (kcoro_chan_info(fd, &info) ||
		    info.size < KCORO_CHAN_INFO_SIZE_VER1)
			return false;
		if ((senders < 0 || info.waiting_senders == (uint64_t)senders) &&
		    (receivers < 0 ||
		     info.waiting_receivers == (uint64_t)receivers))
			return true;
		if (info.waiting_senders != last_s ||
		    info.waiting_receivers != last_r) {
			last_s = info.waiting_senders;
			last_r = info.waiting_receivers;
			end = kst_now() + ms * KST_MS;
		} else if (kst_now() > end) {
			return false;
		}
		kst_sleep_ms(1);
	}
}

/* Pass @fd over a unix socket: 0 or -errno. */
static inline int kst_send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte = 'F';
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -errno;
}

/* Receive an fd passed by kst_send_fd(): the fd or -errno. */
static inline int kst_recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	int fd;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -errno ?: -EIO;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -EBADMSG;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* xorshift64*: the tests' reproducible random numbers. */
static inline uint64_t kst_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/*
 * A self-checking message: producer id, sequence number, payload length
 * and a payload derived from them.
 */
struct kst_msg_hdr {
	uint32_t producer;
	uint32_t seq;
	uint32_t len;		/* payload bytes after the header */
	uint32_t crc;		/* kcoro_crc32c() of the payload */
};

static inline size_t kst_msg_fill(void *buf, uint32_t producer, uint32_t seq,
				  uint32_t len)
{
	struct kst_msg_hdr *h = buf;
	unsigned char *p = (unsigned char *)(h + 1);
	uint32_t i;

	h->producer = producer;
	h->seq = seq;
	h->len = len;
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(producer * 131 + seq * 7 + i);
	h->crc = kcoro_crc32c(0, p, len);
	return sizeof(*h) + len;
}

/* True when @buf holds @n bytes of a consistent kst_msg_fill() message. */
static inline bool kst_msg_check(const void *buf, size_t n)
{
	const struct kst_msg_hdr *h = buf;
	const unsigned char *p = (const unsigned char *)(h + 1);
	uint32_t i;

	if (n < sizeof(*h) || n != sizeof(*h) + h->len)
		return false;
	for (i = 0; i < h->len; i++)
		if (p[i] != (unsigned char)(h->producer * 131 + h->seq * 7 + i))
			return false;
	return kcoro_crc32c(0, p, h->len) == h->crc;
}

/* The little-endian CRC a CHECKSUM service appends to its reply. */
static inline uint32_t kst_crc_le(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * True when @buf holds a CHECKSUM reply of @n bytes: a consistent
 * kst_msg_fill() message followed by its kcoro_crc32c().
 */
static inline bool kst_checksum_reply_check(const unsigned char *buf, size_t n)
{
	return n >= 4 && kst_crc_le(buf + n - 4) == kcoro_crc32c(0, buf, n - 4) &&
	       kst_msg_check(buf, n - 4);
}

#endif /* _KCORO_SELFTEST_H */
