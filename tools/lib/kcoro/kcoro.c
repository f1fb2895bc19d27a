// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * libkcoro: wrappers over the /dev/kcoro ioctls; see kcoro.h.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kcoro.h"

/* The ABI is the same for 32-bit and 64-bit callers. */
#define KC_SIZE(type, size) \
	static_assert(sizeof(struct type) == (size), #type " layout")
KC_SIZE(kcoro_chan_create, KCORO_CHAN_CREATE_SIZE_VER0);
KC_SIZE(kcoro_chan_info, KCORO_CHAN_INFO_SIZE_VER1);
KC_SIZE(kcoro_service_create, KCORO_SERVICE_CREATE_SIZE_VER0);
KC_SIZE(kcoro_msg, 32);
KC_SIZE(kcoro_batch, 32);
KC_SIZE(kcoro_iov, 16);
KC_SIZE(kcoro_sel_clause, 24);
KC_SIZE(kcoro_select, 40);
KC_SIZE(kcoro_call, 56);

static inline uint64_t ptr64(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* ioctl(2) as liburing does system calls: a negative errno on failure. */
static long kc_ioctl(int fd, unsigned long cmd, void *arg)
{
	long ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

int kcoro_open(void)
{
	int fd = open(KCORO_DEVICE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int kc_create(int devfd, int64_t capacity, unsigned int overflow,
		     unsigned int max_msg_size, unsigned int flags, int dead_fd)
{
	struct kcoro_chan_create cc;

	memset(&cc, 0, sizeof(cc));
	cc.size = sizeof(cc);
	cc.flags = flags;
	cc.capacity = capacity;
	cc.overflow = overflow;
	cc.max_msg_size = max_msg_size;
	cc.dead_letter_fd = dead_fd;
	return kc_ioctl(devfd, KCORO_IOC_CHAN_CREATE, &cc);
}

int kcoro_chan_create(int devfd, int64_t capacity, unsigned int overflow,
		      unsigned int max_msg_size, unsigned int flags)
{
	return kc_create(devfd, capacity, overflow, max_msg_size, flags, 0);
}

int kcoro_chan_create_dead_letter(int devfd, int64_t capacity,
				  unsigned int overflow,
				  unsigned int max_msg_size,
				  unsigned int flags, int dead_fd)
{
	return kc_create(devfd, capacity, overflow, max_msg_size,
			 flags | KCORO_CHAN_DEAD_LETTER, dead_fd);
}

static int kc_msg(int chfd, unsigned long cmd, const void *buf, size_t len,
		  unsigned int flags, int64_t timeout_ns)
{
	struct kcoro_msg m;
	long ret;

	memset(&m, 0, sizeof(m));
	m.buf = ptr64(buf);
	m.len = len;
	m.flags = flags;
	m.timeout_ns = timeout_ns;
	ret = kc_ioctl(chfd, cmd, &m);
	if (ret >= 0 && cmd == KCORO_IOC_RECV)
		ret = m.len;
	return ret;
}

int kcoro_send(int chfd, const void *buf, size_t len, unsigned int flags)
{
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	return kc_msg(chfd, KCORO_IOC_SEND, buf, len, flags, 0);
}

int kcoro_send_timeout(int chfd, const void *buf, size_t len,
		       unsigned int flags, int64_t timeout_ns)
{
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	return kc_msg(chfd, KCORO_IOC_SEND, buf, len,
		      flags | KCORO_MSG_TIMEOUT, timeout_ns);
}

ssize_t kcoro_recv(int chfd, void *buf, size_t len, unsigned int flags)
{
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	return kc_msg(chfd, KCORO_IOC_RECV, buf, len, flags, 0);
}

ssize_t kcoro_recv_timeout(int chfd, void *buf, size_t len,
			   unsigned int flags, int64_t timeout_ns)
{
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	return kc_msg(chfd, KCORO_IOC_RECV, buf, len,
		      flags | KCORO_MSG_TIMEOUT, timeout_ns);
}

ssize_t kcoro_call(int req_fd, const void *req, size_t req_len, int rep_fd,
		   void *rep, size_t rep_size, unsigned int flags,
		   int64_t timeout_ns, int *sent)
{
	struct kcoro_call c;
	long ret;

	if (sent)
		*sent = 0;
	if (req_len > UINT32_MAX)
		return -EMSGSIZE;
	if (rep_size > UINT32_MAX)
		rep_size = UINT32_MAX;
	memset(&c, 0, sizeof(c));
	c.req_buf = ptr64(req);
	c.req_len = req_len;
	c.rep_buf = ptr64(rep);
	c.rep_len = rep_size;
	c.rep_fd = rep_fd;
	c.flags = flags;
	c.timeout_ns = timeout_ns;
	ret = kc_ioctl(req_fd, KCORO_IOC_CALL, &c);
	if (ret >= 0)
		ret = c.rep_len;
	if (sent)
		*sent = ret >= 0 || c.sent;
	return ret;
}

static int kc_batch(int chfd, unsigned long cmd, const struct kcoro_iov *iov,
		    unsigned int count, unsigned int flags, int64_t timeout_ns)
{
	struct kcoro_batch b;

	memset(&b, 0, sizeof(b));
	b.iov = ptr64(iov);
	b.count = count;
	b.flags = flags;
	b.timeout_ns = timeout_ns;
	return kc_ioctl(chfd, cmd, &b);
}

int kcoro_send_batch(int chfd, const struct kcoro_iov *iov,
		     unsigned int count, unsigned int flags,
		     int64_t timeout_ns)
{
	return kc_batch(chfd, KCORO_IOC_SEND_BATCH, iov, count, flags,
			timeout_ns);
}

int kcoro_recv_batch(int chfd, struct kcoro_iov *iov, unsigned int count,
		     unsigned int flags, int64_t timeout_ns)
{
	return kc_batch(chfd, KCORO_IOC_RECV_BATCH, iov, count, flags,
			timeout_ns);
}

int kcoro_close(int chfd)
{
	return kc_ioctl(chfd, KCORO_IOC_CLOSE, NULL);
}

int kcoro_cancel(int chfd)
{
	return kc_ioctl(chfd, KCORO_IOC_CANCEL, NULL);
}

int kcoro_chan_info(int chfd, struct kcoro_chan_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return kc_ioctl(chfd, KCORO_IOC_CHAN_INFO, info);
}

int kcoro_service_create(int devfd, unsigned int op, unsigned int workers,
			 int64_t capacity, unsigned int max_msg_size,
			 unsigned int flags, int *req_fd, int *rep_fd)
{
	struct kcoro_service_create sc;
	long ret;

	memset(&sc, 0, sizeof(sc));
	sc.size = sizeof(sc);
	sc.flags = flags;
	sc.op = op;
	sc.workers = workers;
	sc.capacity = capacity;
	sc.max_msg_size = max_msg_size;
	ret = kc_ioctl(devfd, KCORO_IOC_SERVICE_CREATE, &sc);
	if (ret < 0)
		return ret;
	*req_fd = sc.req_fd;
	*rep_fd = sc.rep_fd;
	return 0;
}

int kcoro_select(int devfd, struct kcoro_sel_clause *clauses,
		 unsigned int count, unsigned int flags, int64_t timeout_ns,
		 int *status)
{
	struct kcoro_select sel;
	long ret;

	memset(&sel, 0, sizeof(sel));
	sel.clauses = ptr64(clauses);
	sel.count = count;
	sel.flags = flags;
	sel.timeout_ns = timeout_ns;
	ret = kc_ioctl(devfd, KCORO_IOC_SELECT, &sel);
	if (ret >= 0 && status)
		*status = sel.status;
	return ret;
}

int64_t kcoro_deadline(int64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + ns;
}

/* Reflected Castagnoli polynomial, as lib/crc32.c's crc32c. */
#define KCORO_CRC32C_POLY	0x82f63b78U

uint32_t kcoro_crc32c(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	const unsigned char *p = data;
	size_t i;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			uint32_t c = i;
			int k;

			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ KCORO_CRC32C_POLY : c >> 1;
			/* table[1] last: it marks the table as ready */
			if (i != 1)
				table[i] = c;
		}
		__atomic_store_n(&table[1], 0xf26b8303U, __ATOMIC_RELEASE);
	}
	for (i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc;
}
