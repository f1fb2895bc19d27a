// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro selftests: /dev/kcoro, KCORO_IOC_CHAN_CREATE and its errors,
 * KCORO_IOC_CHAN_INFO, fdinfo, fd flags, ENOTTY, module pinning.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "kcoro_selftest.h"

FIXTURE(dev) {
	int devfd;
	long long param_max_msg;
};

FIXTURE_SETUP(dev)
{
	self->devfd = open(KCORO_DEVICE, O_RDWR);
	ASSERT_LE(0, self->devfd) {
		TH_LOG("open %s: %s (is kcoro.ko loaded?)", KCORO_DEVICE,
		       strerror(errno));
	}
	self->param_max_msg = kst_param("max_msg_size", 65536);
}

FIXTURE_TEARDOWN(dev)
{
	if (self->devfd >= 0)
		close(self->devfd);
}

static void cc_init(struct kcoro_chan_create *cc, int64_t capacity,
		    uint32_t overflow, uint32_t max_msg_size, uint32_t flags)
{
	memset(cc, 0, sizeof(*cc));
	cc->size = sizeof(*cc);
	cc->flags = flags;
	cc->capacity = capacity;
	cc->overflow = overflow;
	cc->max_msg_size = max_msg_size;
}

/* CHAN_CREATE with these fields: the fd (closed again) or -errno. */
static long try_create(int devfd, int64_t capacity, uint32_t overflow,
		       uint32_t max_msg_size, uint32_t flags)
{
	struct kcoro_chan_create cc;
	long fd;

	cc_init(&cc, capacity, overflow, max_msg_size, flags);
	fd = kst_ioctl(devfd, KCORO_IOC_CHAN_CREATE, &cc);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return fd;
}

/* Two pages, the second PROT_NONE: objects ending at the boundary. */
static char *guarded_page(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	mprotect(p + pg, pg, PROT_NONE);
	memset(p, 0, pg);
	return p + pg;	/* the guard; objects go just below it */
}

TEST_F(dev, create_kinds)
{
	static const struct {
		int64_t capacity;
		uint32_t overflow;
		uint32_t max_msg_size;
	} kinds[] = {
		{ KCORO_CAP_RENDEZVOUS, KCORO_OVERFLOW_SUSPEND, 0 },
		{ 1, KCORO_OVERFLOW_SUSPEND, 1 },
		{ 16, KCORO_OVERFLOW_SUSPEND, 100 },
		{ 16, KCORO_OVERFLOW_DROP_OLDEST, 4096 },
		{ 16, KCORO_OVERFLOW_DROP_LATEST, 65536 },
		{ INT_MAX, KCORO_OVERFLOW_SUSPEND, 0 },
		{ KCORO_CAP_UNLIMITED, KCORO_OVERFLOW_SUSPEND, 7 },
		{ KCORO_CAP_CONFLATED, KCORO_OVERFLOW_SUSPEND, 0 },
	};
	struct kcoro_chan_info info;
	unsigned int i;
	char val[64];

	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		uint32_t want_max = kinds[i].max_msg_size ?: 4096;
		int fd = kcoro_chan_create(self->devfd, kinds[i].capacity,
					   kinds[i].overflow,
					   kinds[i].max_msg_size, 0);

		ASSERT_LE(0, fd) TH_LOG("kind %u: %s", i, strerror(-fd));
		ASSERT_EQ(0, kcoro_chan_info(fd, &info));
		EXPECT_EQ(KCORO_STATE_OPEN, info.state);
		EXPECT_EQ(kinds[i].capacity, info.capacity);
		EXPECT_EQ(kinds[i].overflow, info.overflow);
		EXPECT_EQ(want_max, info.max_msg_size);
		EXPECT_EQ(0, info.buffered);
		EXPECT_EQ(0, info.sent);
		EXPECT_EQ(0, info.received);
		EXPECT_EQ(0, info.undelivered);
		/* a channel fd reads and writes */
		EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
		EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
		EXPECT_EQ(0, fcntl(fd, F_GETFL) & O_NONBLOCK);
		ASSERT_TRUE(kst_fdinfo(fd, "kcoro-state", val, sizeof(val)));
		EXPECT_STREQ("open", val);
		EXPECT_EQ(kinds[i].capacity, kst_fdinfo_num(fd, "kcoro-capacity"));
		EXPECT_EQ(want_max, kst_fdinfo_num(fd, "kcoro-max-msg-size"));
		close(fd);
	}
}

TEST_F(dev, create_size)
{
	size_t big = KCORO_CHAN_CREATE_SIZE_VER0 + 64;
	struct kcoro_chan_create *cc = calloc(1, big);
	long fd;

	ASSERT_NE(NULL, cc);
	cc_init(cc, 4, 0, 0, 0);
	cc->size = 0;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc));
	cc->size = 8;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc));
	cc->size = KCORO_CHAN_CREATE_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc));

	/* a newer, larger struct whose unknown tail is zero is fine */
	cc->size = big;
	fd = kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
	cc->size = KCORO_CHAN_CREATE_SIZE_VER0 + 1;
	fd = kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);

	/* ... but not when it asks for something this kernel lacks */
	cc->size = big;
	((char *)cc)[big - 1] = 1;
	EXPECT_EQ(-E2BIG, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc));
	((char *)cc)[big - 1] = 0;
	((char *)cc)[KCORO_CHAN_CREATE_SIZE_VER0] = 0x80;
	EXPECT_EQ(-E2BIG, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc));
	free(cc);
}

TEST_F(dev, create_flags_reserved)
{
	struct kcoro_chan_create cc;
	int bit, i;

	for (bit = 3; bit < 32; bit++) {
		cc_init(&cc, 4, 0, 0, 1U << bit);
		EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, &cc))
			TH_LOG("flag bit %d", bit);
	}
	cc_init(&cc, 4, 0, 0, ~0U);
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, &cc));
	cc_init(&cc, 4, 0, 0, 0);
	cc.reserved0 = 1;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, &cc));
	/* dead_letter_fd only with KCORO_CHAN_DEAD_LETTER */
	cc_init(&cc, 4, 0, 0, 0);
	cc.dead_letter_fd = 1;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, &cc));
	cc.dead_letter_fd = -1;
	EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, &cc));
	for (i = 0; i < 3; i++) {
		cc_init(&cc, 4, 0, 0, 0);
		cc.reserved[i] = 1;
		EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, &cc))
			TH_LOG("reserved[%d]", i);
		cc.reserved[i] = 1ULL << 63;
		EXPECT_EQ(-EINVAL, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, &cc))
			TH_LOG("reserved[%d]", i);
	}
}

TEST_F(dev, create_capacity)
{
	static const int64_t bad[] = {
		-3, -4, -1000, INT64_MIN, (int64_t)INT_MAX + 1, UINT32_MAX,
		INT64_MAX,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		EXPECT_EQ(-EINVAL, try_create(self->devfd, bad[i], 0, 0, 0))
			TH_LOG("capacity %lld", (long long)bad[i]);
	EXPECT_EQ(0, try_create(self->devfd, INT_MAX, 0, 0, 0));
	EXPECT_EQ(0, try_create(self->devfd, 1, 0, 0, 0));
}

TEST_F(dev, create_overflow)
{
	static const uint32_t drops[] = {
		KCORO_OVERFLOW_DROP_OLDEST, KCORO_OVERFLOW_DROP_LATEST,
	};
	unsigned int i;

	EXPECT_EQ(-EINVAL, try_create(self->devfd, 4, 3, 0, 0));
	EXPECT_EQ(0, try_create(self->devfd, KCORO_CAP_UNLIMITED, 0, 0, 0));
	EXPECT_EQ(-EINVAL, try_create(self->devfd, 4, 100, 0, 0));
	EXPECT_EQ(-EINVAL, try_create(self->devfd, 4, UINT32_MAX, 0, 0));
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(-EINVAL, try_create(self->devfd, KCORO_CAP_RENDEZVOUS,
					      drops[i], 0, 0));
		EXPECT_EQ(-EINVAL, try_create(self->devfd, KCORO_CAP_CONFLATED,
					      drops[i], 0, 0));
		EXPECT_EQ(-EINVAL, try_create(self->devfd, KCORO_CAP_UNLIMITED,
					      drops[i], 0, 0));
		EXPECT_EQ(0, try_create(self->devfd, 1, drops[i], 0, 0));
	}
}

TEST_F(dev, create_max_msg_size)
{
	struct kcoro_chan_info info;
	int fd;

	EXPECT_EQ(0, try_create(self->devfd, 4, 0, self->param_max_msg, 0));
	EXPECT_EQ(-EINVAL, try_create(self->devfd, 4, 0,
				      self->param_max_msg + 1, 0));
	EXPECT_EQ(-EINVAL, try_create(self->devfd, 4, 0, UINT32_MAX, 0));
	EXPECT_EQ(-EINVAL, try_create(self->devfd, 4, 0, 1U << 31, 0));
	fd = kcoro_chan_create(self->devfd, 4, 0, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kcoro_chan_info(fd, &info));
	EXPECT_EQ(4096, info.max_msg_size);
	close(fd);
}

TEST_F(dev, create_efault)
{
	struct kcoro_chan_create *cc;
	char *guard = guarded_page();

	ASSERT_NE(NULL, guard);
	EXPECT_EQ(-EFAULT, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, NULL));
	EXPECT_EQ(-EFAULT, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE,
				     (void *)1));
	EXPECT_EQ(-EFAULT, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, guard));
	/* the struct runs into the guard page */
	cc = (void *)(guard - 16);
	cc->size = sizeof(*cc);
	EXPECT_EQ(-EFAULT, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc));
	/* a large size whose tail runs into it */
	cc = (void *)(guard - sizeof(*cc));
	cc_init(cc, 4, 0, 0, 0);
	cc->size = sizeof(*cc) + 64;
	EXPECT_EQ(-EFAULT, kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc));
	/* and exactly up to it is fine */
	cc->size = sizeof(*cc);
	{
		long fd = kst_ioctl(self->devfd, KCORO_IOC_CHAN_CREATE, cc);

		EXPECT_LE(0, fd);
		if (fd >= 0)
			close(fd);
	}
}

TEST_F(dev, create_fd_flags)
{
	char buf[8];
	int fd, one = 1, zero = 0;

	fd = kcoro_chan_create(self->devfd, 4, 0, 0, KCORO_CHAN_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);

	fd = kcoro_chan_create(self->devfd, 4, 0, 0, KCORO_CHAN_NONBLOCK);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_NONBLOCK, fcntl(fd, F_GETFL) & O_NONBLOCK);
	EXPECT_EQ(-EAGAIN, kcoro_recv(fd, buf, sizeof(buf), 0));
	EXPECT_EQ(-EAGAIN, kst_read(fd, buf, sizeof(buf)));
	/* O_NONBLOCK off again: the receive waits (here until a timeout) */
	ASSERT_EQ(0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK));
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_timeout(fd, buf, sizeof(buf), 0,
						 20 * KST_MS));
	/* FIONBIO is handled by the VFS and sets the same flag */
	ASSERT_EQ(0, ioctl(fd, FIONBIO, &one));
	EXPECT_EQ(-EAGAIN, kcoro_recv_timeout(fd, buf, sizeof(buf), 0,
					      1000 * KST_MS));
	ASSERT_EQ(0, ioctl(fd, FIONBIO, &zero));
	EXPECT_EQ(-ETIMEDOUT, kcoro_recv_timeout(fd, buf, sizeof(buf), 0,
						 KST_MS));
	close(fd);

	fd = kcoro_chan_create(self->devfd, 4, 0, 0,
			       KCORO_CHAN_CLOEXEC | KCORO_CHAN_NONBLOCK);
	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_NONBLOCK, fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
}

TEST_F(dev, enotty)
{
	static const unsigned long chan_cmds[] = {
		KCORO_IOC_SEND, KCORO_IOC_RECV, KCORO_IOC_SEND_BATCH,
		KCORO_IOC_RECV_BATCH, KCORO_IOC_CLOSE, KCORO_IOC_CANCEL,
		KCORO_IOC_CHAN_INFO,
	};
	static const unsigned long unknown[] = {
		_IO(KCORO_IOC_MAGIC, 0), _IO(KCORO_IOC_MAGIC, 0x42),
		_IO(KCORO_IOC_MAGIC, 0x57), _IO(KCORO_IOC_MAGIC, 0xff),
		_IOWR(KCORO_IOC_MAGIC, 0x57, struct kcoro_msg),
		/* known numbers with another size or direction */
		_IOWR(KCORO_IOC_MAGIC, 0x50, char[16]),
		_IOW(KCORO_IOC_MAGIC, 0x50, struct kcoro_msg),
		_IOWR(KCORO_IOC_MAGIC, 0x40, struct kcoro_chan_create),
		_IOWR(KCORO_IOC_MAGIC, 0x56, char[64]),
		_IO(KCORO_IOC_MAGIC, 0x40),
		0x5401 /* TCGETS */, _IO('k', 0x54),
	};
	struct kcoro_service_create sc;
	struct kcoro_chan_create cc;
	struct kcoro_chan_info info;
	struct kcoro_msg msg;
	struct kcoro_batch batch;
	struct kcoro_iov iov;
	char arg[256], buf[8];
	unsigned int i;
	int ch;

	ch = kcoro_chan_create(self->devfd, 4, 0, 0, 0);
	ASSERT_LE(0, ch);

	/* channel ioctls on the device, with valid arguments */
	memset(&msg, 0, sizeof(msg));
	msg.buf = (uintptr_t)buf;
	msg.len = sizeof(buf);
	msg.flags = KCORO_MSG_NONBLOCK;
	kcoro_iov_set(&iov, buf, sizeof(buf));
	memset(&batch, 0, sizeof(batch));
	batch.iov = (uintptr_t)&iov;
	batch.count = 1;
	batch.flags = KCORO_MSG_NONBLOCK;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, KCORO_IOC_SEND, &msg));
	EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, KCORO_IOC_RECV, &msg));
	EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, KCORO_IOC_SEND_BATCH, &batch));
	EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, KCORO_IOC_RECV_BATCH, &batch));
	EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, KCORO_IOC_CLOSE, NULL));
	EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, KCORO_IOC_CANCEL, NULL));
	EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, KCORO_IOC_CHAN_INFO, &info));
	for (i = 0; i < ARRAY_SIZE(chan_cmds); i++)
		EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, chan_cmds[i], NULL))
			TH_LOG("cmd %#lx", chan_cmds[i]);

	/* device ioctls on a channel */
	cc_init(&cc, 4, 0, 0, 0);
	EXPECT_EQ(-ENOTTY, kst_ioctl(ch, KCORO_IOC_CHAN_CREATE, &cc));
	memset(&sc, 0, sizeof(sc));
	sc.size = sizeof(sc);
	sc.workers = 1;
	EXPECT_EQ(-ENOTTY, kst_ioctl(ch, KCORO_IOC_SERVICE_CREATE, &sc));

	/* unknown ioctls on both */
	memset(arg, 0, sizeof(arg));
	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		EXPECT_EQ(-ENOTTY, kst_ioctl(self->devfd, unknown[i], arg))
			TH_LOG("dev cmd %#lx", unknown[i]);
		EXPECT_EQ(-ENOTTY, kst_ioctl(ch, unknown[i], arg))
			TH_LOG("chan cmd %#lx", unknown[i]);
	}

	/* nothing above touched the channel */
	ASSERT_EQ(0, kcoro_chan_info(ch, &info));
	EXPECT_EQ(KCORO_STATE_OPEN, info.state);
	EXPECT_EQ(0, info.sent);
	close(ch);
}

TEST_F(dev, chan_info)
{
	unsigned char raw[KCORO_CHAN_INFO_SIZE_VER1 + 16];
	struct kcoro_chan_info *info = (void *)raw, *edge;
	char *guard = guarded_page();
	unsigned int i;
	int ch;

	ASSERT_NE(NULL, guard);
	ch = kcoro_chan_create(self->devfd, 8, 0, 64, 0);
	ASSERT_LE(0, ch);
	ASSERT_EQ(0, kcoro_send(ch, "abc", 3, 0));

	memset(raw, 0, sizeof(raw));
	EXPECT_EQ(-EINVAL, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, info));
	info->size = KCORO_CHAN_INFO_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, info));
	info->size = 4;
	EXPECT_EQ(-EINVAL, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, info));
	EXPECT_EQ(-EFAULT, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, NULL));
	EXPECT_EQ(-EFAULT, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, guard));

	/* a caller of the first version gets that much, nothing more */
	memset(raw, 0xa5, sizeof(raw));
	info->size = KCORO_CHAN_INFO_SIZE_VER0;
	ASSERT_EQ(0, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, info));
	EXPECT_EQ(KCORO_CHAN_INFO_SIZE_VER0, info->size);
	EXPECT_EQ(KCORO_STATE_OPEN, info->state);
	EXPECT_EQ(8, info->capacity);
	EXPECT_EQ(KCORO_OVERFLOW_SUSPEND, info->overflow);
	EXPECT_EQ(64, info->max_msg_size);
	EXPECT_EQ(1, info->buffered);
	EXPECT_EQ(1, info->sent);
	EXPECT_EQ(0, info->received);
	EXPECT_EQ(0, info->undelivered);
	for (i = KCORO_CHAN_INFO_SIZE_VER0; i < sizeof(raw); i++)
		ASSERT_EQ(0xa5, raw[i]) TH_LOG("byte %u written", i);

	/* the waiting counts */
	memset(raw, 0xa5, sizeof(raw));
	info->size = KCORO_CHAN_INFO_SIZE_VER1;
	ASSERT_EQ(0, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, info));
	EXPECT_EQ(KCORO_CHAN_INFO_SIZE_VER1, info->size);
	EXPECT_EQ(1, info->sent);
	EXPECT_EQ(0, info->waiting_senders);
	EXPECT_EQ(0, info->waiting_receivers);
	for (i = KCORO_CHAN_INFO_SIZE_VER1; i < sizeof(raw); i++)
		ASSERT_EQ(0xa5, raw[i]) TH_LOG("byte %u written", i);

	/* a caller that knows a larger struct: told what the kernel knows */
	memset(raw, 0, sizeof(raw));
	info->size = sizeof(raw);
	ASSERT_EQ(0, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, info));
	EXPECT_EQ(KCORO_CHAN_INFO_SIZE_VER1, info->size);
	EXPECT_EQ(8, info->capacity);
	EXPECT_EQ(1, info->sent);

	/* exactly up to a guard page works; one page into it faults */
	edge = (void *)(guard - KCORO_CHAN_INFO_SIZE_VER0);
	edge->size = KCORO_CHAN_INFO_SIZE_VER0;
	EXPECT_EQ(0, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, edge));
	EXPECT_EQ(64, edge->max_msg_size);
	edge = (void *)(guard - 8);
	edge->size = KCORO_CHAN_INFO_SIZE_VER0;
	EXPECT_EQ(-EFAULT, kst_ioctl(ch, KCORO_IOC_CHAN_INFO, edge));
	close(ch);
}

TEST_F(dev, fdinfo)
{
	static const char * const keys[] = {
		"kcoro-state", "kcoro-capacity", "kcoro-max-msg-size",
		"kcoro-buffered", "kcoro-sent", "kcoro-received",
		"kcoro-undelivered", "kcoro-dead-lettered", "kcoro-dead-lost",
		"kcoro-waiting-senders", "kcoro-waiting-receivers",
	};
	char val[64], buf[16];
	unsigned int i;
	int ch;

	ch = kcoro_chan_create(self->devfd, 8, 0, 100, 0);
	ASSERT_LE(0, ch);
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		EXPECT_TRUE(kst_fdinfo(ch, keys[i], val, sizeof(val)))
			TH_LOG("no '%s:\\t' line in fdinfo", keys[i]);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, kcoro_send(ch, "xyz", 3, 0));
	ASSERT_EQ(3, kcoro_recv(ch, buf, sizeof(buf), 0));
	EXPECT_EQ(8, kst_fdinfo_num(ch, "kcoro-capacity"));
	EXPECT_EQ(100, kst_fdinfo_num(ch, "kcoro-max-msg-size"));
	EXPECT_EQ(2, kst_fdinfo_num(ch, "kcoro-buffered"));
	EXPECT_EQ(3, kst_fdinfo_num(ch, "kcoro-sent"));
	EXPECT_EQ(1, kst_fdinfo_num(ch, "kcoro-received"));
	EXPECT_EQ(0, kst_fdinfo_num(ch, "kcoro-undelivered"));
	EXPECT_EQ(0, kst_fdinfo_num(ch, "kcoro-waiting-senders"));
	EXPECT_EQ(0, kst_fdinfo_num(ch, "kcoro-waiting-receivers"));
	ASSERT_EQ(0, kcoro_close(ch));
	ASSERT_TRUE(kst_fdinfo(ch, "kcoro-state", val, sizeof(val)));
	EXPECT_STREQ("closed", val);
	ASSERT_EQ(0, kcoro_cancel(ch));
	ASSERT_TRUE(kst_fdinfo(ch, "kcoro-state", val, sizeof(val)));
	EXPECT_STREQ("cancelled", val);
	EXPECT_EQ(0, kst_fdinfo_num(ch, "kcoro-buffered"));
	EXPECT_EQ(2, kst_fdinfo_num(ch, "kcoro-undelivered"));
	close(ch);

	ch = kcoro_chan_create(self->devfd, KCORO_CAP_UNLIMITED, 0, 0, 0);
	ASSERT_LE(0, ch);
	EXPECT_EQ(-1, kst_fdinfo_num(ch, "kcoro-capacity"));
	EXPECT_EQ(4096, kst_fdinfo_num(ch, "kcoro-max-msg-size"));
	close(ch);
	ch = kcoro_chan_create(self->devfd, KCORO_CAP_CONFLATED, 0, 0, 0);
	ASSERT_LE(0, ch);
	EXPECT_EQ(-2, kst_fdinfo_num(ch, "kcoro-capacity"));
	close(ch);
}

TEST_F(dev, close_cancel_arg)
{
	struct kcoro_chan_info info;
	int ch = kcoro_chan_create(self->devfd, 4, 0, 0, 0);

	ASSERT_LE(0, ch);
	EXPECT_EQ(-EINVAL, kst_ioctl_arg(ch, KCORO_IOC_CLOSE, 1));
	EXPECT_EQ(-EINVAL, kst_ioctl_arg(ch, KCORO_IOC_CANCEL, 1));
	EXPECT_EQ(-EINVAL, kst_ioctl_arg(ch, KCORO_IOC_CLOSE, ~0UL));
	EXPECT_EQ(-EINVAL, kst_ioctl_arg(ch, KCORO_IOC_CANCEL, 0x1000));
	ASSERT_EQ(0, kcoro_chan_info(ch, &info));
	EXPECT_EQ(KCORO_STATE_OPEN, info.state);
	EXPECT_EQ(0, kst_ioctl_arg(ch, KCORO_IOC_CLOSE, 0));
	EXPECT_EQ(0, kst_ioctl_arg(ch, KCORO_IOC_CLOSE, 0));
	ASSERT_EQ(0, kcoro_chan_info(ch, &info));
	EXPECT_EQ(KCORO_STATE_CLOSED, info.state);
	EXPECT_EQ(0, kst_ioctl_arg(ch, KCORO_IOC_CANCEL, 0));
	EXPECT_EQ(0, kst_ioctl_arg(ch, KCORO_IOC_CANCEL, 0));
	EXPECT_EQ(0, kst_ioctl_arg(ch, KCORO_IOC_CLOSE, 0));
	ASSERT_EQ(0, kcoro_chan_info(ch, &info));
	EXPECT_EQ(KCORO_STATE_CANCELLED, info.state);
	close(ch);
}

TEST_F(dev, many_channels)
{
	int fds[256], i, n = 256;
	struct kcoro_chan_info info;

	for (i = 0; i < n; i++) {
		fds[i] = kcoro_chan_create(self->devfd, i % 5 - 2, 0, 0, 0);
		ASSERT_LE(0, fds[i]) TH_LOG("channel %d: %s", i, strerror(-fds[i]));
	}
	/* each fd is its own channel */
	for (i = 0; i < n; i++)
		if (i % 5 != 2)	/* not rendezvous */
			ASSERT_EQ(0, kcoro_send(fds[i], &i, sizeof(i), 0));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, kcoro_chan_info(fds[i], &info));
		EXPECT_EQ(i % 5 == 2 ? 0 : 1, info.sent);
	}
	/* the device fd may go first */
	close(self->devfd);
	self->devfd = -1;
	for (i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * The module cannot go while a file of it is open: the device fd, or only
 * a channel fd.  Needs CAP_SYS_MODULE.
 */
TEST_F(dev, module_pinned)
{
	int ch, ret;

	ch = kcoro_chan_create(self->devfd, 4, 0, 0, 0);
	ASSERT_LE(0, ch);
	ret = syscall(SYS_delete_module, "kcoro", O_NONBLOCK);
	if (ret && errno == EPERM)
		SKIP(close(ch); return, "no CAP_SYS_MODULE");
	ASSERT_EQ(-1, ret) TH_LOG("kcoro unloaded with its files open");
	EXPECT_TRUE(errno == EAGAIN || errno == EBUSY)
		TH_LOG("delete_module: %s", strerror(errno));
	close(self->devfd);
	self->devfd = -1;
	ret = syscall(SYS_delete_module, "kcoro", O_NONBLOCK);
	ASSERT_EQ(-1, ret) TH_LOG("kcoro unloaded with a channel fd open");
	EXPECT_TRUE(errno == EAGAIN || errno == EBUSY)
		TH_LOG("delete_module: %s", strerror(errno));
	/* the channel still works */
	EXPECT_EQ(0, kcoro_send(ch, "x", 1, 0));
	EXPECT_EQ(1, kst_fdinfo_num(ch, "kcoro-sent"));
	close(ch);
}

TEST_HARNESS_MAIN
