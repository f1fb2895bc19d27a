// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro userspace ABI: the /dev/kcoro misc device and channel files.
 *
 * A channel created through /dev/kcoro is an ordinary kcoro channel whose
 * elements are struct kcoro_mbuf messages, wrapped in an anon-inode file.
 * The file holds one channel reference; kernel code reaches the same
 * channel with kcoro_chan_fdget().  Everything a user makes kcoro
 * allocate is charged to the memory cgroup of the task that allocates it
 * (__GFP_ACCOUNT: messages, channels, segments, service coroutines and
 * their stacks) and counted by a per-user limit of the user that created
 * the channel or service (see "Limits and accounting" in uapi.rst).
 *
 * See include/uapi/linux/kcoro.h and Documentation/kcoro/uapi.rst.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/compat.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/kcoro.h>
#include <linux/kcoro_chan.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/kcoro.h>

#include "internal.h"

#define KC_MSG_SIZE_DEFAULT	4096
#define KC_MSG_SIZE_LIMIT	SZ_1M
#define KC_SERVICE_WORKERS_MAX	1024
#define KC_CRC_SIZE		4

static unsigned int max_msg_size = 65536;
module_param(max_msg_size, uint, 0644);
MODULE_PARM_DESC(max_msg_size,
		 "largest max_msg_size a channel may be created with (bytes, at most 1 MiB)");

static unsigned int max_user_channels = 1024;
module_param(max_user_channels, uint, 0644);
MODULE_PARM_DESC(max_user_channels, "channels one user may have alive");

static unsigned long max_user_bytes = 64UL << 20;
module_param(max_user_bytes, ulong, 0644);
MODULE_PARM_DESC(max_user_bytes,
		 "bytes of messages in flight on the channels of one user (a message costs its length plus KCORO_MSG_OVERHEAD)");

static unsigned int max_user_coroutines = 4096;
module_param(max_user_coroutines, uint, 0644);
MODULE_PARM_DESC(max_user_coroutines,
		 "service coroutines one user may have alive (default 4096)");

/*
 * What a message costs against max_user_bytes: its payload plus
 * KCORO_MSG_OVERHEAD, which covers the message header and the segment cell
 * it occupies while queued (the memory cgroup is charged the real sizes),
 * so that a flood of empty messages runs into the limit too.
 */
static size_t kc_mbuf_cost(size_t len)
{
	BUILD_BUG_ON(sizeof(struct kcoro_mbuf) + 2 * sizeof(void *) > KCORO_MSG_OVERHEAD);
	return KCORO_MSG_COST(len);
}

/**
 * struct kc_user - per-user accounting
 * @node: in kc_users, keyed by @uid
 * @uid: the real uid of the creator of the channels
 * @ref: one per channel and per message in flight
 * @channels: channels alive
 * @coroutines: service coroutines alive
 * @bytes: what the messages allocated and not yet freed cost
 *	(kc_mbuf_cost())
 * @mcache: freed small message buffers of this user, per CPU, for reuse
 */
struct kc_user {
	struct hlist_node node;
	kuid_t uid;
	refcount_t ref;
	atomic_t channels;
	atomic_t coroutines;
	atomic_long_t bytes;
	struct kc_mcache __percpu *mcache;
};

/*
 * Small message buffers are reused, per user and per CPU, instead of a
 * kmalloc() and kfree() per message: on kernels with init_on_alloc that
 * zeroes every buffer, and with the memory cgroup hooks it cost a fifth of
 * a batch of 64-byte messages (perf, stock kernel).  A message of 65 to
 * KC_MCACHE_MAX bytes with its header is allocated at the power of two
 * of its size class (128, 256 or 512 bytes, as kmalloc() would but for
 * its 96- and 192-byte caches; smaller ones, already no bigger than what
 * they cost against max_user_bytes, are not cached); when freed it goes
 * to its user's cache on
 * this CPU if that has room, else to kfree().  A reused buffer held only
 * this user's earlier messages, and only the @len bytes a sender wrote
 * are ever copied out, so it needs no zeroing.  The cache is bounded,
 * KC_MCACHE_NR buffers per class, user and CPU (7 KiB), stays charged to
 * the memory cgroup that allocated each buffer, and is freed with the
 * user.  KASAN kernels bypass it so that a use after free is still caught.
 * Interrupts are off around it: messages are freed from any context that
 * may kfree().
 */
#define KC_MCACHE_CLASSES	3
#define KC_MCACHE_MIN		128
#define KC_MCACHE_MAX		(KC_MCACHE_MIN << (KC_MCACHE_CLASSES - 1))
#define KC_MCACHE_NR		8

struct kc_mcache {
	u8 nr[KC_MCACHE_CLASSES];
	struct kcoro_mbuf *m[KC_MCACHE_CLASSES][KC_MCACHE_NR];
};

static DEFINE_HASHTABLE(kc_users, 6);
static DEFINE_SPINLOCK(kc_users_lock);

/**
 * struct kc_uchan - what /dev/kcoro adds to a channel
 * @ch: the channel (this lives exactly as long as it)
 * @user: the creator's accounting
 * @capacity: as created (uapi encoding)
 * @overflow: as created
 * @max_msg: largest message
 * @cancel_on_release: the last file going away cancels rather than
 *	closes the channel (a reply channel nobody can read any more)
 * @sent: messages handed over by sends through the file or the service
 * @received: messages received through the file or the service
 * @undelivered: messages that went to the undelivered hook, or were lost
 *	to a faulting receive copy
 * @dead: the dead-letter channel (a reference), or NULL
 * @dead_lettered: undelivered messages handed to @dead
 * @dead_lost: undelivered messages @dead could not take
 */
struct kc_uchan {
	struct kcoro_chan *ch;
	struct kcoro_chan *dead;
	struct kc_user *user;
	s64 capacity;
	u32 overflow;
	u32 max_msg;
	bool cancel_on_release;
	atomic64_t sent;
	atomic64_t received;
	atomic64_t undelivered;
	atomic64_t dead_lettered;
	atomic64_t dead_lost;
};

static const struct file_operations kc_chan_fops;

/* ---------------------------------------------------------------- */
/* users and messages                                                */

static struct kc_user *kc_user_get(kuid_t uid)
{
	struct kc_user *u, *fresh;
	u32 key = __kuid_val(uid);

	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	if (fresh && !IS_ENABLED(CONFIG_KASAN)) {
		fresh->mcache = alloc_percpu_gfp(struct kc_mcache,
						 GFP_KERNEL_ACCOUNT);
		if (!fresh->mcache) {
			kfree(fresh);
			fresh = NULL;
		}
	}
	spin_lock(&kc_users_lock);
	hash_for_each_possible(kc_users, u, node, key) {
		if (uid_eq(u->uid, uid) && refcount_inc_not_zero(&u->ref)) {
			spin_unlock(&kc_users_lock);
			if (fresh)
				free_percpu(fresh->mcache);
			kfree(fresh);
			return u;
		}
	}
	u = fresh;
	if (u) {
		u->uid = uid;
		refcount_set(&u->ref, 1);
		hash_add(kc_users, &u->node, key);
	}
	spin_unlock(&kc_users_lock);
	return u;
}

/*
 * The last reference is gone: every message of @u was freed, and each
 * went to a cache before its reference was dropped (the drop's release
 * pairs with the acquire of refcount_sub_and_test() reaching zero), so
 * nobody touches the caches any more.  Any context (free_percpu() may be
 * called in atomic context).
 */
static void kc_user_free(struct kc_user *u)
{
	struct kc_mcache *c;
	int cpu, k;

	if (u->mcache) {
		for_each_possible_cpu(cpu) {
			c = per_cpu_ptr(u->mcache, cpu);
			for (k = 0; k < KC_MCACHE_CLASSES; k++)
				while (c->nr[k])
					kfree(c->m[k][--c->nr[k]]);
		}
		free_percpu(u->mcache);
	}
	kfree(u);
}

/*
 * A lookup that finds @u at zero skips it (refcount_inc_not_zero() under
 * the lock), so it can be unhashed after the count dropped.
 */
static void kc_user_put_many(struct kc_user *u, unsigned int n)
{
	if (refcount_sub_and_test(n, &u->ref)) {
		spin_lock(&kc_users_lock);
		hash_del(&u->node);
		spin_unlock(&kc_users_lock);
		kc_user_free(u);
	}
}

static void kc_user_put(struct kc_user *u)
{
	kc_user_put_many(u, 1);
}

/*
 * Every message alive carries kc_mbuf_cost() of its length in its user's
 * @bytes and one reference on the user.  A batch charges (and a batch of
 * receives gives back) many messages' worth at once; the limit stays
 * exact, as the whole charge is checked against max_user_bytes.
 */
static bool kc_user_charge(struct kc_user *u, size_t cost, unsigned int n)
{
	if (atomic_long_add_return(cost, &u->bytes) > READ_ONCE(max_user_bytes)) {
		atomic_long_sub(cost, &u->bytes);
		return false;
	}
	refcount_add(n, &u->ref);
	return true;
}

static void kc_user_uncharge(struct kc_user *u, size_t cost, unsigned int n)
{
	atomic_long_sub(cost, &u->bytes);
	kc_user_put_many(u, n);
}

/* The size class of a message of @len bytes plus 1, or 0: not cached. */
static unsigned int kc_mbuf_class(size_t len)
{
	struct kcoro_mbuf *m;
	size_t size = struct_size(m, data, len);

	if (size <= KC_MCACHE_MIN / 2 || size > KC_MCACHE_MAX)
		return 0;
	if (size <= KC_MCACHE_MIN)
		return 1;
	return ilog2(roundup_pow_of_two(size) / KC_MCACHE_MIN) + 1;
}

static struct kcoro_mbuf *kc_mcache_get(struct kc_user *u, unsigned int cls)
{
	struct kcoro_mbuf *m = NULL;
	struct kc_mcache *c;
	unsigned long flags;

	local_irq_save(flags);
	c = this_cpu_ptr(u->mcache);
	if (c->nr[cls - 1])
		m = c->m[cls - 1][--c->nr[cls - 1]];
	local_irq_restore(flags);
	return m;
}

/* Free the buffer of @m, whose reference on its user is not dropped yet. */
static void kc_mbuf_release(struct kcoro_mbuf *m)
{
	struct kc_user *u = m->user;
	unsigned int cls = m->size_class;
	struct kc_mcache *c;
	unsigned long flags;

	if (cls && u->mcache) {
		local_irq_save(flags);
		c = this_cpu_ptr(u->mcache);
		if (c->nr[cls - 1] < KC_MCACHE_NR) {
			c->m[cls - 1][c->nr[cls - 1]++] = m;
			m = NULL;
		}
		local_irq_restore(flags);
	}
	kfree(m);
}

/* A message whose charge (cost and user reference) is already taken. */
static struct kcoro_mbuf *kc_mbuf_new_charged(struct kc_uchan *uc, size_t len)
{
	struct kc_user *u = uc->user;
	unsigned int cls = u->mcache ? kc_mbuf_class(len) : 0;
	struct kcoro_mbuf *m = NULL;

	if (cls)
		m = kc_mcache_get(u, cls);
	if (!m)
		m = kmalloc(cls ? KC_MCACHE_MIN << (cls - 1) :
			    struct_size(m, data, len),
			    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!m) {
		kc_user_uncharge(u, kc_mbuf_cost(len), 1);
		return ERR_PTR(-ENOMEM);
	}
	m->len = len;
	m->size_class = cls;
	m->user = u;
	return m;
}

static struct kcoro_mbuf *kc_mbuf_new(struct kc_uchan *uc, size_t len)
{
	if (len > uc->max_msg)
		return ERR_PTR(-EMSGSIZE);
	if (!kc_user_charge(uc->user, kc_mbuf_cost(len), 1))
		return ERR_PTR(-ENOSPC);
	return kc_mbuf_new_charged(uc, len);
}

/*
 * Messages freed by one call, given back to their user at once (see
 * kc_user_charge()): @u, and the @cost and @n references still to give.
 */
struct kc_mfree {
	struct kc_user *u;
	size_t cost;
	unsigned int n;
};

static void kc_mfree_flush(struct kc_mfree *mf)
{
	if (mf->n)
		kc_user_uncharge(mf->u, mf->cost, mf->n);
	mf->n = 0;
	mf->cost = 0;
}

static void kc_mbuf_free_in(struct kcoro_mbuf *m, struct kc_mfree *mf)
{
	if (mf->u != m->user) {
		kc_mfree_flush(mf);
		mf->u = m->user;
	}
	mf->cost += kc_mbuf_cost(m->len);
	mf->n++;
	kc_mbuf_release(m);
}

/**
 * kcoro_mbuf_free() - free a message
 * @m: a message from kcoro_mbuf_alloc() or received from a channel of a
 *	/dev/kcoro file; NULL is allowed
 *
 * Any context that may call kfree().
 */
void kcoro_mbuf_free(struct kcoro_mbuf *m)
{
	struct kc_user *u;
	size_t cost;

	if (!m)
		return;
	u = m->user;
	cost = kc_mbuf_cost(m->len);
	kc_mbuf_release(m);
	kc_user_uncharge(u, cost, 1);
}
EXPORT_SYMBOL_GPL(kcoro_mbuf_free);

static struct kc_uchan *kc_uchan_of(struct kcoro_chan *ch)
{
	return kcoro_chan_ctx(ch);
}

static struct kc_uchan *kc_file_uchan(struct file *file)
{
	return kc_uchan_of(file->private_data);
}

/**
 * kcoro_mbuf_alloc() - allocate a message for a /dev/kcoro channel
 * @ch: a channel from kcoro_chan_fdget()
 * @len: message length
 *
 * The message is charged to the current task's memory cgroup and to the
 * per-user byte limit of the user that created @ch.  Fill @data, then
 * send it on @ch (or on another channel of the same user); whoever
 * receives it frees it with kcoro_mbuf_free().  May sleep.
 *
 * Return: the message, or ERR_PTR(-EMSGSIZE) when @len is above the
 * channel's maximum, ERR_PTR(-ENOSPC) when the user's limit is reached,
 * ERR_PTR(-ENOMEM).
 */
struct kcoro_mbuf *kcoro_mbuf_alloc(struct kcoro_chan *ch, size_t len)
{
	return kc_mbuf_new(kc_uchan_of(ch), len);
}
EXPORT_SYMBOL_GPL(kcoro_mbuf_alloc);

/* ---------------------------------------------------------------- */
/* channels                                                          */

/*
 * A message of @uc that will never be received: to the dead-letter
 * channel if there is one and it takes it without waiting, else dropped.
 * Atomic context (it is also the channel's undelivered hook).
 */
static void kc_uchan_discard(struct kc_uchan *uc, struct kcoro_mbuf *m)
{
	atomic64_inc(&uc->undelivered);
	if (uc->dead) {
		if (!kc_chan_try_send_nowait(uc->dead, m)) {
			atomic64_inc(&uc->dead_lettered);
			atomic64_inc(&kc_uchan_of(uc->dead)->sent);
			return;
		}
		atomic64_inc(&uc->dead_lost);
	}
	kcoro_mbuf_free(m);
}

static void kc_uchan_undelivered(struct kcoro_chan *ch, void *elem, void *ctx)
{
	kc_uchan_discard(ctx, elem);
}

static void kc_uchan_release(struct kcoro_chan *ch, void *ctx)
{
	struct kc_uchan *uc = ctx;

	if (uc->dead)
		kcoro_chan_put(uc->dead);

	atomic_dec(&uc->user->channels);
	kc_user_put(uc->user);
	kfree(uc);
}

static struct kc_uchan *kc_uchan_create(s64 capacity, u32 overflow,
					u32 max_msg, struct kcoro_chan *dead)
{
	struct kcoro_chan_attr attr = {
		.capacity = capacity,
		.overflow = overflow,
		.undelivered = kc_uchan_undelivered,
		.release = kc_uchan_release,
		.flags = KCORO_CHAN_ACCOUNT,
	};
	struct kcoro_chan *ch;
	struct kc_uchan *uc;
	struct kc_user *u;
	int ret = -ENOMEM;

	u = kc_user_get(current_uid());
	if (!u)
		return ERR_PTR(-ENOMEM);
	if (atomic_inc_return(&u->channels) > READ_ONCE(max_user_channels)) {
		ret = -EMFILE;
		goto err_count;
	}
	uc = kzalloc(sizeof(*uc), GFP_KERNEL_ACCOUNT);
	if (!uc)
		goto err_count;
	uc->user = u;
	uc->capacity = capacity;
	uc->overflow = overflow;
	uc->max_msg = max_msg;
	uc->dead = dead;
	attr.undelivered_ctx = uc;
	ch = kcoro_chan_create(&attr);
	if (IS_ERR(ch)) {
		ret = PTR_ERR(ch);
		kfree(uc);
		goto err_count;
	}
	uc->ch = ch;
	return uc;

err_count:
	atomic_dec(&u->channels);
	kc_user_put(u);
	return ERR_PTR(ret);
}

/* Give the channel's reference to a new file and install it as an fd. */
static int kc_uchan_install(struct kc_uchan *uc, unsigned int flags,
			    struct file **filep)
{
	struct file *file;
	int fd;

	fd = get_unused_fd_flags(O_RDWR | (flags & KCORO_CHAN_CLOEXEC ?
					   O_CLOEXEC : 0));
	if (fd < 0)
		return fd;
	file = anon_inode_getfile("[kcoro-chan]", &kc_chan_fops, uc->ch,
				  O_RDWR | (flags & KCORO_CHAN_NONBLOCK ?
					    O_NONBLOCK : 0));
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	*filep = file;
	return fd;
}

static int kc_ioc_chan_create(void __user *uarg)
{
	struct kcoro_chan *dead = NULL;
	struct kcoro_chan_create arg;
	struct kc_uchan *uc, *duc;
	struct file *file;
	u32 usize;
	int ret, fd;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < KCORO_CHAN_CREATE_SIZE_VER0)
		return -EINVAL;
	ret = copy_struct_from_user(&arg, sizeof(arg), uarg, usize);
	if (ret)
		return ret;
	if (arg.flags & ~(KCORO_CHAN_CLOEXEC | KCORO_CHAN_NONBLOCK |
			  KCORO_CHAN_DEAD_LETTER) ||
	    (!(arg.flags & KCORO_CHAN_DEAD_LETTER) && arg.dead_letter_fd) ||
	    arg.reserved0 || memchr_inv(arg.reserved, 0, sizeof(arg.reserved)) ||
	    arg.capacity < KCORO_CAP_CONFLATED || arg.capacity > INT_MAX ||
	    arg.overflow > KCORO_OVERFLOW_DROP_LATEST ||
	    (arg.capacity <= KCORO_CAP_RENDEZVOUS &&
	     arg.capacity != KCORO_CAP_UNLIMITED &&
	     arg.overflow != KCORO_OVERFLOW_SUSPEND) ||
	    arg.max_msg_size > min(READ_ONCE(max_msg_size), KC_MSG_SIZE_LIMIT))
		return -EINVAL;
	if (arg.capacity == KCORO_CAP_UNLIMITED &&
	    arg.overflow != KCORO_OVERFLOW_SUSPEND)
		return -EINVAL;
	if (arg.flags & KCORO_CHAN_DEAD_LETTER) {
		dead = kcoro_chan_fdget(arg.dead_letter_fd);
		if (IS_ERR(dead))
			return PTR_ERR(dead);
		/*
		 * No chains: a discard never waits on a second channel.  And
		 * the dead-letter channel must be able to hold every message
		 * of this one: its own max_msg_size holds for what it holds.
		 */
		duc = kc_uchan_of(dead);
		if (duc->dead || duc->overflow == KCORO_OVERFLOW_DROP_LATEST ||
		    duc->max_msg < (arg.max_msg_size ?: KC_MSG_SIZE_DEFAULT)) {
			kcoro_chan_put(dead);
			return -EINVAL;
		}
	}
	uc = kc_uchan_create(arg.capacity, arg.overflow,
			     arg.max_msg_size ?: KC_MSG_SIZE_DEFAULT, dead);
	if (IS_ERR(uc)) {
		if (dead)
			kcoro_chan_put(dead);
		return PTR_ERR(uc);
	}
	fd = kc_uchan_install(uc, arg.flags, &file);
	if (fd < 0) {
		kcoro_chan_put(uc->ch);
		return fd;
	}
	fd_install(fd, file);
	return fd;
}

/**
 * kcoro_chan_fdget() - the channel behind a /dev/kcoro channel fd
 * @fd: a file descriptor of the current task
 *
 * Lets kernel code (a coroutine, a driver) exchange messages with
 * userspace: its elements are struct kcoro_mbuf (kcoro_mbuf_alloc(),
 * kcoro_mbuf_free()).  Drop the reference with kcoro_chan_put().
 *
 * Return: the channel with a reference, or ERR_PTR(-EBADF) when @fd is
 * not open, ERR_PTR(-EINVAL) when it is not a kcoro channel.
 */
struct kcoro_chan *kcoro_chan_fdget(int fd)
{
	struct kcoro_chan *ch;
	struct file *file = fget(fd);

	if (!file)
		return ERR_PTR(-EBADF);
	if (file->f_op != &kc_chan_fops) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	ch = file->private_data;
	kcoro_chan_get(ch);
	fput(file);
	return ch;
}
EXPORT_SYMBOL_GPL(kcoro_chan_fdget);

/* ---------------------------------------------------------------- */
/* send and receive                                                  */

#define KC_MSG_FLAGS	(KCORO_MSG_NONBLOCK | KCORO_MSG_TIMEOUT | KCORO_MSG_ABSTIME)

/*
 * How an operation may wait: @nonblock, or until @deadline (KTIME_MAX for
 * ever).  @restart: a signal restarts the call (no timeout, or an
 * absolute one); a relative timeout returns -EINTR instead.
 * kc_wait_parse() takes the call's flags and the file's O_NONBLOCK (no
 * file for a select).
 */
struct kc_wait {
	bool nonblock;
	bool restart;
	ktime_t deadline;
};

static int kc_wait_parse(struct file *file, u32 flags, s64 timeout_ns,
			 struct kc_wait *w)
{
	if ((flags & KCORO_MSG_ABSTIME) && !(flags & KCORO_MSG_TIMEOUT))
		return -EINVAL;
	w->nonblock = (flags & KCORO_MSG_NONBLOCK) ||
		      (file && (file->f_flags & O_NONBLOCK));
	w->restart = true;
	w->deadline = KTIME_MAX;
	if (flags & KCORO_MSG_TIMEOUT) {
		if (timeout_ns < 0)
			return -EINVAL;
		if (flags & KCORO_MSG_ABSTIME) {
			w->deadline = ns_to_ktime(timeout_ns);
		} else {
			w->restart = false;
			w->deadline = ktime_add_safe(ktime_get(),
						     ns_to_ktime(timeout_ns));
		}
	}
	return 0;
}

static int kc_wait_errno(const struct kc_wait *w, int ret)
{
	if (ret == -EINTR && w->restart)
		return -ERESTARTSYS;
	return ret;
}

/* A wait that has already expired behaves like a non-blocking one. */
static bool kc_wait_expired(const struct kc_wait *w)
{
	return w->deadline != KTIME_MAX &&
	       ktime_compare(ktime_get(), w->deadline) >= 0;
}

static int kc_send_mbuf(struct kc_uchan *uc, struct kcoro_mbuf *m,
			const struct kc_wait *w)
{
	int ret;

	if (w->nonblock) {
		/*
		 * Every kind of channel: a message dropped by an overflow
		 * policy goes to the undelivered hook inside the try-send;
		 * one that could not be sent (EAGAIN, EPIPE) stays ours, as
		 * Kotlin's trySend keeps its element: it was not sent.
		 */
		ret = kcoro_chan_try_send(uc->ch, m);
		if (ret)
			kcoro_mbuf_free(m);
	} else {
		/*
		 * Kotlin's rule: a send that fails because the channel is
		 * closed hands its element over, whatever its deadline (one
		 * already past included: the outcome must not depend on the
		 * clock).  One interrupted by a signal or a timeout did not
		 * happen: the caller still has it.
		 */
		ret = kc_chan_send_keep(uc->ch, m, w->deadline);
		if (ret == -EPIPE)
			kc_uchan_discard(uc, m);
		else if (ret)
			kcoro_mbuf_free(m);
	}
	if (!ret)
		atomic64_inc(&uc->sent);
	return kc_wait_errno(w, ret);
}

/*
 * Send @len bytes from @buf.  @charged: a batch has already charged the
 * message (kc_batch_charge()), so only its buffer is allocated.
 */
static int kc_send_user_in(struct kc_uchan *uc, const void __user *buf,
			   size_t len, const struct kc_wait *w, bool charged)
{
	struct kcoro_mbuf *m;

	m = charged ? kc_mbuf_new_charged(uc, len) : kc_mbuf_new(uc, len);
	if (IS_ERR(m))
		return PTR_ERR(m);
	if (copy_from_user(m->data, buf, len)) {
		kcoro_mbuf_free(m);
		return -EFAULT;
	}
	return kc_send_mbuf(uc, m, w);
}

static int kc_send_user(struct kc_uchan *uc, const void __user *buf,
			size_t len, const struct kc_wait *w)
{
	return kc_send_user_in(uc, buf, len, w, false);
}

/*
 * Pages of the caller's memory found writable so far by one call (the
 * last KC_WPAGES of them): a page written to or walked once is not walked
 * again.  A batch's buffers usually share a page or two; a select's
 * result fields, clause array and receive buffers are often on one stack
 * page.
 */
#define KC_WPAGES	4

struct kc_wpages {
	unsigned long page[KC_WPAGES];
	unsigned int n;
};

static bool kc_wpages_has(const struct kc_wpages *wp, unsigned long page)
{
	unsigned int i;

	for (i = 0; i < min(wp->n, KC_WPAGES); i++)
		if (wp->page[i] == page)
			return true;
	return false;
}

static void kc_wpages_add(struct kc_wpages *wp, unsigned long page)
{
	wp->page[wp->n++ % KC_WPAGES] = page;
}

/*
 * Can a receive copy to @buf without faulting?  Checked before a message
 * is taken, without writing to the buffer.  The common case, every page
 * present and writable, costs a lockless page-table walk per page not in
 * @wp (may be NULL); otherwise the pages are faulted in properly (mmap
 * lock).  A page unmapped after its check makes the copy fault later: the
 * message is then lost as uapi.rst says, as when it happens between this
 * check and the copy of a single receive.
 */
static int kc_user_writable_in(void __user *buf, size_t len,
			       struct kc_wpages *wp)
{
	unsigned long addr = (unsigned long)buf, end = addr + len;
	struct page *page;

	if (!len)
		return 0;
	if (!access_ok(buf, len))
		return -EFAULT;
	for (addr &= PAGE_MASK; addr < end; addr += PAGE_SIZE) {
		if (wp && kc_wpages_has(wp, addr))
			continue;
		if (get_user_pages_fast_only(addr, 1, FOLL_WRITE, &page) != 1) {
			if (fault_in_safe_writeable(buf, len))
				return -EFAULT;
			break;
		}
		put_page(page);
		if (wp)
			kc_wpages_add(wp, addr);
	}
	return 0;
}

static int kc_recv_mbuf(struct kc_uchan *uc, struct kcoro_mbuf **mp,
			const struct kc_wait *w)
{
	void *elem;
	int ret;

	if (w->nonblock || kc_wait_expired(w)) {
		ret = kcoro_chan_try_recv(uc->ch, &elem);
		if (ret == -EAGAIN && !w->nonblock)
			ret = -ETIMEDOUT;
	} else {
		ret = kcoro_chan_recv_deadline(uc->ch, &elem, w->deadline);
	}
	if (ret)
		return kc_wait_errno(w, ret);
	atomic64_inc(&uc->received);
	*mp = elem;
	return 0;
}

/*
 * Receive one message into @buf (@size bytes), which kc_user_writable_in()
 * has checked.  Returns the message's full length.  A copy that still
 * faults (the buffer went away meanwhile) loses the message (counted in
 * undelivered).  A batch frees its messages through @mf; others pass NULL.
 */
static ssize_t kc_recv_checked(struct kc_uchan *uc, void __user *buf,
			       size_t size, const struct kc_wait *w,
			       struct kc_mfree *mf)
{
	struct kcoro_mbuf *m;
	size_t n;
	int ret;

	ret = kc_recv_mbuf(uc, &m, w);
	if (ret)
		return ret;
	n = min_t(size_t, size, m->len);
	if (copy_to_user(buf, m->data, n)) {
		atomic64_dec(&uc->received);
		kc_uchan_discard(uc, m);
		return -EFAULT;
	}
	n = m->len;
	if (mf)
		kc_mbuf_free_in(m, mf);
	else
		kcoro_mbuf_free(m);
	return n;
}

/*
 * Receive one message into @buf (@size bytes).  Returns the message's
 * full length.  Faults on @buf are found before the message is taken when
 * they can be; a copy that still faults loses the message (counted in
 * undelivered).  A batch passes the pages it checked already in @wp and
 * frees its messages through @mf; a single receive passes NULLs.
 */
static ssize_t kc_recv_user_in(struct kc_uchan *uc, void __user *buf,
			       size_t size, const struct kc_wait *w,
			       struct kc_wpages *wp, struct kc_mfree *mf)
{
	if (kc_user_writable_in(buf, min_t(size_t, size, uc->max_msg), wp))
		return -EFAULT;
	return kc_recv_checked(uc, buf, size, w, mf);
}

static ssize_t kc_recv_user(struct kc_uchan *uc, void __user *buf,
			    size_t size, const struct kc_wait *w)
{
	return kc_recv_user_in(uc, buf, size, w, NULL, NULL);
}

/* Copy in and check a struct kcoro_msg, and how its call may wait. */
static int kc_msg_parse(struct file *file, struct kcoro_msg __user *uarg,
			struct kcoro_msg *msg, struct kc_wait *w)
{
	if (copy_from_user(msg, uarg, sizeof(*msg)))
		return -EFAULT;
	if (msg->flags & ~KC_MSG_FLAGS || msg->reserved)
		return -EINVAL;
	return kc_wait_parse(file, msg->flags, msg->timeout_ns, w);
}

static long kc_ioc_send(struct file *file, struct kc_uchan *uc,
			struct kcoro_msg __user *uarg)
{
	struct kcoro_msg msg;
	struct kc_wait w;
	int ret;

	ret = kc_msg_parse(file, uarg, &msg, &w);
	if (ret)
		return ret;
	return kc_send_user(uc, u64_to_user_ptr(msg.buf), msg.len, &w);
}

static long kc_ioc_recv(struct file *file, struct kc_uchan *uc,
			struct kcoro_msg __user *uarg)
{
	struct kcoro_msg msg;
	struct kc_wait w;
	ssize_t ret;

	ret = kc_msg_parse(file, uarg, &msg, &w);
	if (ret)
		return ret;
	ret = kc_recv_user(uc, u64_to_user_ptr(msg.buf), msg.len, &w);
	if (ret >= 0 && put_user((u32)ret, &uarg->len))
		return -EFAULT;	/* the message was copied; its length was not */
	return ret;
}

/* Messages of a batch handled together: iov copy and accounting. */
#define KC_BATCH_CHUNK	16

/*
 * Copy in the next @n iovs of a batch at once.  If that faults, copy them
 * one by one: the batch then stops at the first entry that faults, as it
 * would if each were copied on its own.  Returns how many were copied.
 */
static u32 kc_batch_iov_in(struct kcoro_iov *iov,
			   const struct kcoro_iov __user *uiov, u32 n)
{
	u32 j;

	if (!copy_from_user(iov, uiov, n * sizeof(*iov)))
		return n;
	for (j = 0; j < n; j++)
		if (copy_from_user(&iov[j], &uiov[j], sizeof(*iov)))
			break;
	return j;
}

/*
 * Charge the sends of a chunk at once: every message that can be sent
 * (not above the channel's maximum) up to the first that cannot.  If the
 * user's limit does not take the whole chunk, nothing is charged and each
 * message charges itself, so a send fails with ENOSPC exactly as alone.
 * Returns how many messages of @iov are charged.
 */
static u32 kc_batch_charge(struct kc_uchan *uc, const struct kcoro_iov *iov,
			   u32 n, size_t *cost)
{
	u32 j;

	*cost = 0;
	for (j = 0; j < n && iov[j].len <= uc->max_msg && !iov[j].reserved; j++)
		*cost += kc_mbuf_cost(iov[j].len);
	if (j && !kc_user_charge(uc->user, *cost, j))
		return 0;
	return j;
}

static long kc_ioc_batch(struct file *file, struct kc_uchan *uc,
			 struct kcoro_batch __user *uarg, bool send)
{
	struct kcoro_iov iov[KC_BATCH_CHUNK];
	struct kcoro_iov __user *uiov;
	struct kc_wpages wp = {};
	struct kc_mfree mf = {};
	struct kcoro_batch b;
	struct kc_wait w;
	u32 i = 0, j, n, got, charged = 0;
	size_t cost = 0;
	long ret = 0;

	if (copy_from_user(&b, uarg, sizeof(b)))
		return -EFAULT;
	if (b.flags & ~(KC_MSG_FLAGS | KCORO_BATCH_WAITALL) || b.reserved ||
	    !b.count || b.count > KCORO_BATCH_MAX)
		return -EINVAL;
	ret = kc_wait_parse(file, b.flags, b.timeout_ns, &w);
	if (ret)
		return ret;
	uiov = u64_to_user_ptr(b.iov);
	while (i < b.count && !ret) {
		n = min_t(u32, b.count - i, KC_BATCH_CHUNK);
		got = kc_batch_iov_in(iov, &uiov[i], n);
		if (send)
			charged = kc_batch_charge(uc, iov, got, &cost);
		for (j = 0; j < n; j++) {
			if (j == got) {
				ret = -EFAULT;
				break;
			}
			if (iov[j].reserved) {
				ret = -EINVAL;
				break;
			}
			if (send) {
				if (j < charged)
					cost -= kc_mbuf_cost(iov[j].len);
				ret = kc_send_user_in(uc, u64_to_user_ptr(iov[j].buf),
						      iov[j].len, &w, j < charged);
			} else {
				ret = kc_recv_user_in(uc, u64_to_user_ptr(iov[j].buf),
						      iov[j].len, &w, &wp, &mf);
				if (ret >= 0 && put_user((u32)ret, &uiov[i + j].len))
					ret = -EFAULT;
			}
			if (ret < 0)
				break;
			ret = 0;
			/* After the first message, wait only when asked to. */
			if (!(b.flags & KCORO_BATCH_WAITALL))
				w.nonblock = true;
		}
		/* The charge of messages a failure left unsent. */
		if (send && j + 1 < charged)
			kc_user_uncharge(uc->user, cost, charged - j - 1);
		i += j;
		/*
		 * Not after every message: the peer just woken would take the
		 * CPU each time and a batch would become a ping-pong.
		 */
		if (!ret && !(i % 64))
			cond_resched();
	}
	kc_mfree_flush(&mf);
	if (i)
		return i;
	return ret;
}

/* fd_file() came with the struct fd of 6.12; 6.1 has a plain member. */
#ifndef fd_file
#define fd_file(f)	((f).file)
#endif

/*
 * KCORO_IOC_CALL: send a request on @uc (the ioctl's file), then receive
 * the reply on the channel of call.rep_fd, both within one deadline.
 *
 * The caller must always learn whether its request went out (call.sent),
 * so everything that could keep that from being reported is checked
 * before the send: the reply channel, the reply buffer (as a receive
 * does) and that call.rep_len and call.sent can be written.  A failed
 * send sent nothing (or, blocking on a closed channel, handed the request
 * to the undelivered hook, as KCORO_IOC_SEND does) and may restart the
 * whole call.  Once the request is out, a failure stores sent = 1 before
 * returning: a signal's -ERESTARTSYS then re-enters this ioctl with
 * sent = 1, which only waits for the reply, so no request is ever sent
 * twice by a restart.  The argument carries the state across the
 * restart (as select() carries its remaining time) rather than a
 * restart_block: that would have to keep the reply file and point into
 * this module while the task is back in userspace, and a handler
 * without SA_RESTART would still turn it into EINTR.
 */
static int kc_call_put(struct kcoro_call __user *uarg, u32 rep_len, u32 sent)
{
	/* One aligned word: one access window, never split across pages. */
	BUILD_BUG_ON(offsetof(struct kcoro_call, sent) !=
		     offsetof(struct kcoro_call, rep_len) + sizeof(u32) ||
		     offsetof(struct kcoro_call, rep_len) % sizeof(u64));
	if (!user_write_access_begin(&uarg->rep_len, 2 * sizeof(u32)))
		return -EFAULT;
	unsafe_put_user(rep_len, &uarg->rep_len, efault);
	unsafe_put_user(sent, &uarg->sent, efault);
	user_write_access_end();
	return 0;
efault:
	user_write_access_end();
	return -EFAULT;
}

static long kc_ioc_call(struct file *file, struct kc_uchan *uc,
			struct kcoro_call __user *uarg)
{
	struct kc_uchan *ruc;
	struct kcoro_call c;
	void __user *rbuf;
	struct kc_wait w;
	struct fd rf;
	long ret;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (c.flags & ~KC_MSG_FLAGS || c.sent > 1 || c.reserved0 ||
	    c.reserved)
		return -EINVAL;
	ret = kc_wait_parse(file, c.flags, c.timeout_ns, &w);
	if (ret)
		return ret;
	rf = fdget(c.rep_fd);
	if (!fd_file(rf))
		return -EBADF;
	ret = -EINVAL;
	if (fd_file(rf)->f_op != &kc_chan_fops)
		goto out;
	ruc = kc_file_uchan(fd_file(rf));
	rbuf = u64_to_user_ptr(c.rep_buf);
	ret = -EFAULT;
	if (kc_user_writable_in(rbuf, min_t(size_t, c.rep_len, ruc->max_msg), NULL) ||
	    kc_call_put(uarg, c.rep_len, c.sent))
		goto out;
	if (!c.sent) {
		ret = kc_send_user(uc, u64_to_user_ptr(c.req_buf), c.req_len,
				   &w);
		if (ret)
			goto out;
	}
	/* NONBLOCK and O_NONBLOCK are for the send: the reply is waited for. */
	w.nonblock = false;
	ret = kc_recv_checked(ruc, rbuf, c.rep_len, &w, NULL);
	if (ret >= 0) {
		/* The reply was copied; only its length can be lost. */
		if (kc_call_put(uarg, ret, 0))
			ret = -EFAULT;
	} else if (kc_call_put(uarg, c.rep_len, 1)) {
		ret = -EFAULT;	/* never restart what cannot say it sent */
	}
out:
	fdput(rf);
	return ret;
}

/* ---------------------------------------------------------------- */
/* the in-kernel service                                             */

/**
 * struct kc_service - kernel coroutines answering requests
 * @req: request channel (the service holds a reference)
 * @rep: reply channel (the service holds a reference)
 * @op: KCORO_SERVICE_*
 * @workers: coroutines still running; the last one closes @rep and frees
 *	the service
 * @user: whose max_user_coroutines the workers count against (a reference)
 */
struct kc_service {
	struct kc_uchan *req;
	struct kc_uchan *rep;
	u32 op;
	atomic_t workers;
	struct kc_user *user;
};

/* CRC-32C (Castagnoli), reflected, no final xor: as crc32c(seed, ...). */
static u32 kc_crc32c(u32 crc, const u8 *p, size_t len)
{
	int k;

	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78 & -(crc & 1));
	}
	return crc;
}

/* The last user of the service (a worker, or its creator) ends it. */
static void kc_service_put(struct kc_service *svc)
{
	if (atomic_dec_and_test(&svc->workers)) {
		kcoro_chan_close(svc->rep->ch);
		kcoro_chan_put(svc->req->ch);
		kcoro_chan_put(svc->rep->ch);
		kc_user_put(svc->user);
		kfree(svc);
	}
}

static struct kcoro_mbuf *kc_service_reply(struct kc_service *svc,
					   struct kcoro_mbuf *m)
{
	struct kcoro_mbuf *r;
	__le32 crc;

	if (svc->op == KCORO_SERVICE_ECHO)
		return m;
	r = kc_mbuf_new(svc->rep, m->len + KC_CRC_SIZE);
	if (!IS_ERR(r)) {
		memcpy(r->data, m->data, m->len);
		crc = cpu_to_le32(kc_crc32c(0, m->data, m->len));
		memcpy(r->data + m->len, &crc, KC_CRC_SIZE);
	}
	kcoro_mbuf_free(m);
	return r;
}

static long kc_service_fn(void *arg)
{
	struct kc_service *svc = arg;
	struct kcoro_mbuf *m;
	void *elem;
	long n = 0;

	while (!kcoro_chan_recv(svc->req->ch, &elem)) {
		atomic64_inc(&svc->req->received);
		m = kc_service_reply(svc, elem);
		if (IS_ERR(m)) {
			/* Nowhere to put the reply: count it as lost. */
			atomic64_inc(&svc->rep->undelivered);
			continue;
		}
		if (kcoro_chan_send(svc->rep->ch, m)) {
			/* Nobody will read replies: stop taking requests. */
			kcoro_chan_cancel(svc->req->ch);
			break;
		}
		atomic64_inc(&svc->rep->sent);
		n++;
	}
	atomic_dec(&svc->user->coroutines);
	kc_service_put(svc);
	return n;
}

static int kc_ioc_service_create(struct kcoro_service_create __user *uarg)
{
	/* The workers' objects and stacks are charged to the caller. */
	struct kcoro_attr cattr = { .cpu = KCORO_CPU_ANY,
				    .flags = KCORO_SPAWN_ACCOUNT };
	struct kcoro_service_create arg;
	struct file *req_file, *rep_file;
	struct kc_service *svc;
	int ret, req_fd, rep_fd;
	struct kcoro *co;
	u32 usize, i;

	if (get_user(usize, &uarg->size))
		return -EFAULT;
	if (usize < KCORO_SERVICE_CREATE_SIZE_VER0)
		return -EINVAL;
	ret = copy_struct_from_user(&arg, sizeof(arg), uarg, usize);
	if (ret)
		return ret;
	if (arg.flags & ~(KCORO_CHAN_CLOEXEC | KCORO_CHAN_NONBLOCK) ||
	    arg.op > KCORO_SERVICE_CHECKSUM || arg.req_fd || arg.rep_fd ||
	    memchr_inv(arg.reserved, 0, sizeof(arg.reserved)) ||
	    !arg.workers || arg.workers > KC_SERVICE_WORKERS_MAX ||
	    arg.capacity < KCORO_CAP_UNLIMITED || arg.capacity > INT_MAX ||
	    arg.max_msg_size > min(READ_ONCE(max_msg_size),
				   KC_MSG_SIZE_LIMIT - KC_CRC_SIZE))
		return -EINVAL;
	if (!arg.max_msg_size)
		arg.max_msg_size = KC_MSG_SIZE_DEFAULT;

	svc = kzalloc(sizeof(*svc), GFP_KERNEL_ACCOUNT);
	if (!svc)
		return -ENOMEM;
	svc->op = arg.op;
	/* Each channel's first reference goes to its file. */
	svc->req = kc_uchan_create(arg.capacity, KCORO_OVERFLOW_SUSPEND,
				   arg.max_msg_size, NULL);
	if (IS_ERR(svc->req)) {
		ret = PTR_ERR(svc->req);
		goto err_svc;
	}
	svc->rep = kc_uchan_create(arg.capacity, KCORO_OVERFLOW_SUSPEND,
				   arg.max_msg_size + KC_CRC_SIZE, NULL);
	if (IS_ERR(svc->rep)) {
		ret = PTR_ERR(svc->rep);
		kcoro_chan_put(svc->req->ch);
		goto err_svc;
	}
	svc->rep->cancel_on_release = true;
	req_fd = kc_uchan_install(svc->req, arg.flags, &req_file);
	if (req_fd < 0) {
		kcoro_chan_put(svc->req->ch);
		kcoro_chan_put(svc->rep->ch);
		ret = req_fd;
		goto err_svc;
	}
	rep_fd = kc_uchan_install(svc->rep, arg.flags, &rep_file);
	if (rep_fd < 0) {
		kcoro_chan_put(svc->rep->ch);
		ret = rep_fd;
		goto err_req_file;
	}
	if (put_user(req_fd, &uarg->req_fd) || put_user(rep_fd, &uarg->rep_fd)) {
		ret = -EFAULT;
		goto err_files;
	}

	/*
	 * Every worker counts against its creator's max_user_coroutines (the
	 * user of the request channel) until it returns.
	 */
	svc->user = svc->req->user;
	refcount_inc(&svc->user->ref);
	if (atomic_add_return(arg.workers, &svc->user->coroutines) >
	    READ_ONCE(max_user_coroutines)) {
		atomic_sub(arg.workers, &svc->user->coroutines);
		kc_user_put(svc->user);
		ret = -EAGAIN;
		goto err_files;
	}

	/* The service's own references, dropped by the last of its users. */
	kcoro_chan_get(svc->req->ch);
	kcoro_chan_get(svc->rep->ch);
	atomic_set(&svc->workers, 1);
	for (i = 0; i < arg.workers; i++) {
		atomic_inc(&svc->workers);
		co = kcoro_spawn(kc_service_fn, svc, &cattr);
		if (IS_ERR(co)) {
			atomic_dec(&svc->workers);
			ret = PTR_ERR(co);
			break;
		}
		kcoro_put(co);
	}
	/* The workers that could not be spawned do not count. */
	atomic_sub(arg.workers - i, &svc->user->coroutines);
	/*
	 * All or nothing: the workers already running end when the files
	 * go (releasing the request file closes the request channel).
	 */
	if (i < arg.workers) {
		kc_service_put(svc);
		goto err_files_nosvc;
	}
	fd_install(req_fd, req_file);
	fd_install(rep_fd, rep_file);
	kc_service_put(svc);
	return 0;

err_files:
	kfree(svc);
err_files_nosvc:
	put_unused_fd(rep_fd);
	fput(rep_file);		/* drops the file's channel reference */
	put_unused_fd(req_fd);
	fput(req_file);
	return ret;
err_req_file:
	put_unused_fd(req_fd);
	fput(req_file);
err_svc:
	kfree(svc);
	return ret;
}

/* ---------------------------------------------------------------- */
/* select                                                            */

/* 6.1 has no fd_file() (6.12 does, and no fd.file). */
#ifndef fd_file
#define fd_file(f)	((f).file)
#endif

/*
 * Clauses whose arrays live on the stack (the common selects: a few
 * channels); larger selects allocate them, charged to the caller.
 */
#define KC_SEL_STACK	8

/**
 * struct kc_sel - the kernel side of one KCORO_IOC_SELECT clause
 * @f: the channel file, from fdget(): a reference only if the fd table
 *	is shared (see kc_sel_prepare())
 * @uc: its channel
 * @m: a send's message, ours until the send completes
 */
struct kc_sel {
	struct fd f;
	struct kc_uchan *uc;
	struct kcoro_mbuf *m;
};

/*
 * Look up and check clause @u.  The file comes from fdget(), which takes
 * no reference when the fd table is not shared: then only this task could
 * close the fd, and it is inside this call until every clause's waiter
 * has left its channel (kcoro_select() returns only then), so the file,
 * and the channel reference the file holds, outlive the registrations.
 * With a shared table fdget() takes a reference, as fget() would.
 */
static int kc_sel_prepare(const struct kcoro_sel_clause *u, struct kc_sel *ks,
			  struct kcoro_select_clause *kc)
{
	struct file *file;

	ks->m = NULL;
	ks->f = fdget(u->fd);
	file = fd_file(ks->f);
	if (!file)
		return -EBADF;
	if (file->f_op != &kc_chan_fops)
		return -EINVAL;
	if (u->reserved || (u->op != KCORO_SEL_SEND && u->op != KCORO_SEL_RECV))
		return -EINVAL;
	ks->uc = kc_file_uchan(file);
	kc->ch = ks->uc->ch;
	kc->elem = NULL;
	if (u->op == KCORO_SEL_RECV) {
		kc->op = KCORO_SELECT_RECV;
		return 0;
	}
	kc->op = KCORO_SELECT_SEND;
	ks->m = kc_mbuf_new(ks->uc, u->len);
	if (IS_ERR(ks->m)) {
		int ret = PTR_ERR(ks->m);

		ks->m = NULL;
		return ret;
	}
	if (copy_from_user(ks->m->data, u64_to_user_ptr(u->buf), u->len))
		return -EFAULT;
	kc->elem = ks->m;
	return 0;
}

/*
 * Where the results go must be writable before a clause is taken, so
 * that a bad pointer fails the call with nothing taken: the index and
 * status fields (written with the zeros they must hold on entry), the
 * clause array (a receive's length goes back there) and each receive
 * clause's buffer.
 */
static int kc_sel_check_out(struct kcoro_select __user *uarg,
			    struct kcoro_sel_clause __user *uclauses,
			    const struct kcoro_sel_clause *u,
			    const struct kc_sel *ks, unsigned int n)
{
	struct kc_wpages wp = { .n = 0 };
	unsigned int i;

	if (put_user(0, &uarg->index) || put_user(0, &uarg->status))
		return -EFAULT;
	kc_wpages_add(&wp, (unsigned long)&uarg->index & PAGE_MASK);
	if (((unsigned long)&uarg->status & PAGE_MASK) != wp.page[0])
		kc_wpages_add(&wp, (unsigned long)&uarg->status & PAGE_MASK);
	if (kc_user_writable_in(uclauses, n * sizeof(*uclauses), &wp))
		return -EFAULT;
	for (i = 0; i < n; i++) {
		if (u[i].op == KCORO_SEL_RECV &&
		    kc_user_writable_in(u64_to_user_ptr(u[i].buf),
					min(u[i].len, ks[i].uc->max_msg), &wp))
			return -EFAULT;
	}
	return 0;
}

static long kc_ioc_select(struct kcoro_select __user *uarg)
{
	struct kcoro_sel_clause stack_u[KC_SEL_STACK], *u = stack_u;
	struct kcoro_select_clause stack_kc[KC_SEL_STACK], *kc = stack_kc;
	struct kc_sel stack_ks[KC_SEL_STACK], *ks = stack_ks;
	struct kcoro_sel_clause __user *uclauses;
	struct kcoro_select arg;
	struct kcoro_mbuf *m;
	struct kc_wait w;
	unsigned int flags = 0, i, n, nprep = 0;
	void *big = NULL;
	long ret;
	int won;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~(KC_MSG_FLAGS | KCORO_SEL_BIASED) || arg.reserved ||
	    arg.index || arg.status || !arg.count ||
	    arg.count > KCORO_SELECT_MAX_CLAUSES)
		return -EINVAL;
	BUILD_BUG_ON(KCORO_SELECT_MAX_CLAUSES > KCORO_SELECT_MAX);
	n = arg.count;
	/* No file is involved: only the flags decide whether to wait. */
	ret = kc_wait_parse(NULL, arg.flags, arg.timeout_ns, &w);
	if (ret)
		return ret;

	if (n > KC_SEL_STACK) {
		/* At most 64 clauses: 64 * 80 bytes, charged to the caller. */
		big = kmalloc_array(n, sizeof(*u) + sizeof(*kc) + sizeof(*ks),
				    GFP_KERNEL_ACCOUNT);
		if (!big)
			return -ENOMEM;
		kc = big;
		ks = (struct kc_sel *)(kc + n);
		u = (struct kcoro_sel_clause *)(ks + n);
	}
	uclauses = u64_to_user_ptr(arg.clauses);
	ret = -EFAULT;
	if (copy_from_user(u, uclauses, n * sizeof(*u)))
		goto out;
	for (i = 0; i < n; i++) {
		ret = kc_sel_prepare(&u[i], &ks[i], &kc[i]);
		nprep = i + 1;
		if (ret)
			goto out;
	}
	if (arg.flags & KCORO_SEL_BIASED)
		flags |= KCORO_SELECT_BIASED;
	if (w.nonblock)
		flags |= KCORO_SELECT_DEFAULT;
	ret = kc_sel_check_out(uarg, uclauses, u, ks, n);
	if (ret)
		goto out;
	won = kcoro_select(kc, n, flags, w.deadline);
	if (won < 0) {
		ret = kc_wait_errno(&w, won);
		goto out;
	}
	ret = won;
	if (kc[won].op == KCORO_SELECT_SEND) {
		if (!kc[won].result) {
			ks[won].m = NULL;	/* the channel's now */
			atomic64_inc(&ks[won].uc->sent);
		}
	} else if (!kc[won].result) {
		m = kc[won].elem;
		atomic64_inc(&ks[won].uc->received);
		/*
		 * If the memory went away meanwhile, the message is lost as
		 * for a receive whose copy faults: counted undelivered.
		 */
		if (copy_to_user(u64_to_user_ptr(u[won].buf), m->data,
				 min(u[won].len, m->len)) ||
		    put_user(m->len, &uclauses[won].len) ||
		    put_user(won, &uarg->index)) {
			atomic64_dec(&ks[won].uc->received);
			kc_uchan_discard(ks[won].uc, m);
			ret = -EFAULT;
			goto out;
		}
		kcoro_mbuf_free(m);
		goto out;
	}
	/*
	 * A send that happened stays sent: the return value names the
	 * clause even if the result fields cannot be written.  (status
	 * holds 0 since kc_sel_check_out().)
	 */
	if ((put_user(won, &uarg->index) ||
	     put_user(kc[won].result ? EPIPE : 0, &uarg->status)) &&
	    kc[won].result)
		ret = -EFAULT;
out:
	for (i = 0; i < nprep; i++) {
		kcoro_mbuf_free(ks[i].m);	/* sends that did not happen */
		fdput(ks[i].f);
	}
	kfree(big);
	return ret;
}

/* ---------------------------------------------------------------- */
/* file operations                                                   */

static long kc_chan_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct kc_uchan *uc = kc_file_uchan(file);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KCORO_IOC_SEND:
		return kc_ioc_send(file, uc, uarg);
	case KCORO_IOC_RECV:
		return kc_ioc_recv(file, uc, uarg);
	case KCORO_IOC_SEND_BATCH:
		return kc_ioc_batch(file, uc, uarg, true);
	case KCORO_IOC_RECV_BATCH:
		return kc_ioc_batch(file, uc, uarg, false);
	case KCORO_IOC_CALL:
		return kc_ioc_call(file, uc, uarg);
	case KCORO_IOC_CLOSE:
	case KCORO_IOC_CANCEL:
		if (arg)
			return -EINVAL;
		if (cmd == KCORO_IOC_CLOSE)
			kcoro_chan_close(uc->ch);
		else
			kcoro_chan_cancel(uc->ch);
		return 0;
	case KCORO_IOC_CHAN_INFO: {
		struct kcoro_chan_info info = { .size = sizeof(info) };
		struct kcoro_chan_snapshot snap;
		u32 usize;

		if (get_user(usize, (u32 __user *)uarg))
			return -EFAULT;
		BUILD_BUG_ON(sizeof(info) != KCORO_CHAN_INFO_SIZE_VER1);
		if (usize < KCORO_CHAN_INFO_SIZE_VER0)
			return -EINVAL;
		kcoro_chan_get_snapshot(uc->ch, &snap);
		info.state = snap.state;
		info.capacity = uc->capacity;
		info.overflow = uc->overflow;
		info.max_msg_size = uc->max_msg;
		info.buffered = snap.pending;
		info.sent = atomic64_read(&uc->sent);
		info.received = atomic64_read(&uc->received);
		info.undelivered = atomic64_read(&uc->undelivered);
		info.dead_lettered = atomic64_read(&uc->dead_lettered);
		info.dead_lost = atomic64_read(&uc->dead_lost);
		info.waiting_senders = snap.waiting_senders;
		info.waiting_receivers = snap.waiting_receivers;
		info.size = min_t(u32, usize, sizeof(info));
		if (copy_to_user(uarg, &info, info.size))
			return -EFAULT;
		return 0;
	}
	default:
		return -ENOTTY;
	}
}

static ssize_t kc_chan_read(struct file *file, char __user *buf, size_t size,
			    loff_t *pos)
{
	struct kc_uchan *uc = kc_file_uchan(file);
	struct kc_wait w;
	ssize_t ret;

	/*
	 * A read of nothing does nothing (POSIX: "no other results"), so it
	 * cannot lose a message; it returns 0 like any zero-byte read.
	 */
	if (!size)
		return 0;
	kc_wait_parse(file, 0, 0, &w);
	ret = kc_recv_user(uc, buf, size, &w);
	if (ret == -EPIPE)
		return 0;
	if (ret > 0)
		ret = min_t(size_t, ret, size);
	return ret;
}

static ssize_t kc_chan_write(struct file *file, const char __user *buf,
			     size_t size, loff_t *pos)
{
	struct kc_uchan *uc = kc_file_uchan(file);
	struct kc_wait w;
	int ret;

	kc_wait_parse(file, 0, 0, &w);
	ret = kc_send_user(uc, buf, size, &w);
	return ret ? ret : size;
}

static __poll_t kc_chan_poll(struct file *file, poll_table *pt)
{
	return kcoro_chan_poll(file->private_data, file, pt);
}

static int kc_chan_release(struct inode *inode, struct file *file)
{
	struct kcoro_chan *ch = file->private_data;

	/* Nobody in userspace can reach the channel through this file. */
	if (kc_uchan_of(ch)->cancel_on_release)
		kcoro_chan_cancel(ch);
	else
		kcoro_chan_close(ch);
	kcoro_chan_put(ch);
	return 0;
}

static void kc_chan_show_fdinfo(struct seq_file *m, struct file *file)
{
	static const char * const states[] = {
		[KCORO_CHAN_STATE_OPEN] = "open",
		[KCORO_CHAN_STATE_CLOSED] = "closed",
		[KCORO_CHAN_STATE_CANCELLED] = "cancelled",
	};
	struct kc_uchan *uc = kc_file_uchan(file);
	struct kcoro_chan_snapshot snap;

	kcoro_chan_get_snapshot(uc->ch, &snap);
	seq_printf(m, "kcoro-state:\t%s\n", states[snap.state]);
	seq_printf(m, "kcoro-capacity:\t%lld\n", uc->capacity);
	seq_printf(m, "kcoro-max-msg-size:\t%u\n", uc->max_msg);
	seq_printf(m, "kcoro-buffered:\t%llu\n", snap.pending);
	seq_printf(m, "kcoro-sent:\t%lld\n", (s64)atomic64_read(&uc->sent));
	seq_printf(m, "kcoro-received:\t%lld\n",
		   (s64)atomic64_read(&uc->received));
	seq_printf(m, "kcoro-undelivered:\t%lld\n",
		   (s64)atomic64_read(&uc->undelivered));
	seq_printf(m, "kcoro-dead-lettered:\t%lld\n",
		   (s64)atomic64_read(&uc->dead_lettered));
	seq_printf(m, "kcoro-dead-lost:\t%lld\n",
		   (s64)atomic64_read(&uc->dead_lost));
	seq_printf(m, "kcoro-waiting-senders:\t%llu\n", snap.waiting_senders);
	seq_printf(m, "kcoro-waiting-receivers:\t%llu\n",
		   snap.waiting_receivers);
}

static const struct file_operations kc_chan_fops = {
	.owner		= THIS_MODULE,
	.read		= kc_chan_read,
	.write		= kc_chan_write,
	.poll		= kc_chan_poll,
	.unlocked_ioctl	= kc_chan_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= kc_chan_release,
	.show_fdinfo	= kc_chan_show_fdinfo,
};

static long kc_dev_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KCORO_IOC_CHAN_CREATE:
		return kc_ioc_chan_create(uarg);
	case KCORO_IOC_SERVICE_CREATE:
		return kc_ioc_service_create(uarg);
	case KCORO_IOC_SELECT:
		return kc_ioc_select(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kc_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= kc_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice kc_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kcoro",
	.fops	= &kc_dev_fops,
	.mode	= 0666,
};

int kcoro_dev_init(void)
{
	return misc_register(&kc_miscdev);
}

void kcoro_dev_exit(void)
{
	misc_deregister(&kc_miscdev);
}
