// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro introspection: /sys/kernel/debug/kcoro/ and the long-run watchdog.
 *
 * "coroutines" lists every coroutine object still referenced: id, state,
 * home CPU, body function, where it suspended (the caller of its last
 * park, or "-" while it runs), and for a suspended one the kernel text
 * addresses found on its stack, each marked "?" as the kernel marks
 * unreliable trace entries (a suspended stack is not unwound).  "stats"
 * has the counters of kcoro_get_stats() and kcoro_chan_get_stats() and
 * each CPU's scheduler.  "workers" lists each CPU's scheduler kthreads:
 * pid, role (active, standby, or detached: blocked inside a coroutine's
 * step after a hand-off) and whether a coroutine is on it.
 *
 * The watchdog reports a coroutine that runs without suspending for longer
 * than the long_run_ms module parameter: its scheduler, and every other
 * coroutine of that CPU, is stuck behind it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpu.h>
#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/kallsyms.h>
#include <linux/kcoro_chan.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "internal.h"
#include "trace.h"

static unsigned int long_run_ms = 2000;
module_param(long_run_ms, uint, 0644);
MODULE_PARM_DESC(long_run_ms,
		 "warn when a coroutine runs this long without suspending (ms, 0: never)");

static atomic_long_t kcoro_nr_long_runs;

static LIST_HEAD(kcoro_all);
static DEFINE_SPINLOCK(kcoro_all_lock);

void kcoro_debug_add(struct kcoro *co)
{
	unsigned long flags;

	spin_lock_irqsave(&kcoro_all_lock, flags);
	list_add_tail(&co->all_node, &kcoro_all);
	spin_unlock_irqrestore(&kcoro_all_lock, flags);
}

void kcoro_debug_del(struct kcoro *co)
{
	unsigned long flags;

	spin_lock_irqsave(&kcoro_all_lock, flags);
	list_del(&co->all_node);
	spin_unlock_irqrestore(&kcoro_all_lock, flags);
}

/**
 * kcoro_long_runs() - how many times the watchdog reported a long run
 *
 * Return: the count since the module was loaded (tests use it).
 */
long kcoro_long_runs(void)
{
	return atomic_long_read(&kcoro_nr_long_runs);
}
EXPORT_SYMBOL_GPL(kcoro_long_runs);

static const char * const kcoro_state_names[] = {
	[KCORO_RUNNABLE] = "runnable",
	[KCORO_RUNNING] = "running",
	[KCORO_PARKED] = "parked",
	[KCORO_DEAD] = "dead",
};

/*
 * Text addresses on a suspended coroutine's stack, from its saved stack
 * pointer up.  The coroutine may resume, finish and free its stack while
 * we look: every word is read with copy_from_kernel_nofault(), so the
 * worst outcome is a stale list.
 */
static void kcoro_show_stack(struct seq_file *m, unsigned long sp, void *stack)
{
	unsigned long top = (unsigned long)stack + THREAD_SIZE, word;
	char sym[KSYM_SYMBOL_LEN];
	unsigned int shown = 0;

	if (!stack || sp < (unsigned long)stack || sp >= top)
		return;
	for (; sp < top && shown < 32; sp += sizeof(long)) {
		if (copy_from_kernel_nofault(&word, (void *)sp, sizeof(word)))
			return;
		if (word < PAGE_OFFSET)
			continue;
		sprint_symbol(sym, word);
		if (!strncmp(sym, "0x", 2) || !strchr(sym, '+'))
			continue;
		seq_printf(m, "\t? %s\n", sym);
		shown++;
	}
}

/*
 * "coroutines" walks a list that may hold any number of coroutines, under
 * a lock that disables interrupts (coroutines are freed from any context).
 * So the lock is held only for one seq_file buffer's worth of lines at a
 * time (start() to stop()), and a cursor on the list remembers where the
 * walk is in between: a zeroed struct kcoro per open file, whose id 0 no
 * coroutine has (ids start at 1), so walks skip each other's cursors.
 */
static struct kcoro *kcoro_dbg_after(struct kcoro *cursor)
{
	struct kcoro *co = cursor;

	list_for_each_entry_continue(co, &kcoro_all, all_node)
		if (co->id)
			return co;
	return NULL;
}

static void *kcoro_dbg_start(struct seq_file *m, loff_t *pos)
	__acquires(&kcoro_all_lock)
{
	struct kcoro *cursor = m->private;

	spin_lock_irq(&kcoro_all_lock);
	if (!*pos) {
		list_move(&cursor->all_node, &kcoro_all);
		return SEQ_START_TOKEN;
	}
	return kcoro_dbg_after(cursor);
}

static void *kcoro_dbg_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct kcoro *cursor = m->private;

	++*pos;
	if (v != SEQ_START_TOKEN)
		list_move(&cursor->all_node, &((struct kcoro *)v)->all_node);
	return kcoro_dbg_after(cursor);
}

static void kcoro_dbg_stop(struct seq_file *m, void *v)
	__releases(&kcoro_all_lock)
{
	spin_unlock_irq(&kcoro_all_lock);
}

static int kcoro_dbg_show(struct seq_file *m, void *v)
{
	struct kcoro *co = v;
	int st;

	if (v == SEQ_START_TOKEN) {
		seq_puts(m, "id\tstate\tcpu\tfunction\twaiting in\n");
		return 0;
	}
	st = atomic_read(&co->state);
	seq_printf(m, "%llu\t%s%s\t%d\t%ps\t", co->id,
		   kcoro_state_names[st],
		   test_bit(KCORO_FLAG_CANCELLED, &co->flags) ?
		   ",cancelled" : "", READ_ONCE(co->cpu), co->fn);
	if (st == KCORO_PARKED || st == KCORO_RUNNABLE)
		seq_printf(m, "%ps\n", READ_ONCE(co->waiting));
	else
		seq_puts(m, "-\n");
	if (st == KCORO_PARKED)
		kcoro_show_stack(m, READ_ONCE(co->ctx.sp),
				 READ_ONCE(co->ctx.stack));
	return 0;
}

static const struct seq_operations kcoro_coroutines_sops = {
	.start = kcoro_dbg_start,
	.next = kcoro_dbg_next,
	.stop = kcoro_dbg_stop,
	.show = kcoro_dbg_show,
};

static int kcoro_coroutines_open(struct inode *inode, struct file *file)
{
	struct kcoro *cursor = __seq_open_private(file, &kcoro_coroutines_sops,
						  sizeof(*cursor));

	if (!cursor)
		return -ENOMEM;
	spin_lock_irq(&kcoro_all_lock);
	list_add(&cursor->all_node, &kcoro_all);
	spin_unlock_irq(&kcoro_all_lock);
	return 0;
}

static int kcoro_coroutines_release(struct inode *inode, struct file *file)
{
	struct kcoro *cursor = ((struct seq_file *)file->private_data)->private;

	spin_lock_irq(&kcoro_all_lock);
	list_del(&cursor->all_node);
	spin_unlock_irq(&kcoro_all_lock);
	return seq_release_private(inode, file);
}

static const struct file_operations kcoro_coroutines_fops = {
	.owner = THIS_MODULE,
	.open = kcoro_coroutines_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = kcoro_coroutines_release,
};

static int kcoro_stats_show(struct seq_file *m, void *v)
{
	struct kcoro_chan_stats cs;
	struct kcoro_stats s;
	struct kcoro_rq *rq;
	int cpu;

	kcoro_get_stats(&s);
	kcoro_chan_get_stats(&cs);
	seq_printf(m, "live\t%ld\nspawned\t%llu\nswitches\t%llu\nstacks\t%ld\ncached_stacks\t%ld\n",
		   s.live, s.spawned, s.switches, s.stacks, s.cached_stacks);
	seq_printf(m, "long_runs\t%ld\nguard_violations\t%ld\n",
		   kcoro_long_runs(), kcoro_guard_violations());
	seq_printf(m, "channels\t%ld\nsegments\t%ld\nwaiters\t%ld\n",
		   cs.channels, cs.segments, cs.waiters);
	seq_printf(m, "eb_stalls\t%ld\nsegment_waits\t%ld\n",
		   cs.eb_stalls, cs.segment_waits);
	for_each_online_cpu(cpu) {
		rq = per_cpu_ptr(&kcoro_rqs, cpu);
		seq_printf(m, "cpu%d\tswitches %llu\tsteals %llu\tcurrent %llu\thandoffs %llu\thandoff_missed %llu\tworkers %u\n",
			   cpu, READ_ONCE(rq->switches), READ_ONCE(rq->steals),
			   kcoro_rq_curr(rq) ? READ_ONCE(rq->curr_id) : 0,
			   READ_ONCE(rq->handoffs), READ_ONCE(rq->handoff_missed),
			   READ_ONCE(rq->nr_workers));
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kcoro_stats);

/*
 * Under cpus_read_lock(): CPU hotplug alone stops workers and drops their
 * task references (the grow work only adds them, task first).
 */
static int kcoro_workers_show(struct seq_file *m, void *v)
{
	struct kcoro_worker *w, *active;
	struct task_struct *t;
	struct kcoro_rq *rq;
	unsigned int i, n;
	int cpu;

	seq_puts(m, "cpu\tpid\trole\tcoroutine\n");
	cpus_read_lock();
	for_each_online_cpu(cpu) {
		rq = per_cpu_ptr(&kcoro_rqs, cpu);
		active = READ_ONCE(rq->active);
		n = READ_ONCE(rq->nr_workers);
		for (i = 0; i < n; i++) {
			w = &rq->workers[i];
			t = READ_ONCE(w->task);
			if (!t)
				continue;
			seq_printf(m, "%d\t%d\t%s\t%s\n", cpu, task_pid_nr(t),
				   w == active ? "active" :
				   READ_ONCE(w->detached) ? "detached" : "standby",
				   READ_ONCE(w->curr) ? "busy" : "idle");
		}
	}
	cpus_read_unlock();
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kcoro_workers);

/* ---------------------------------------------------------------- */
/* long-run watchdog                                                 */

static void kcoro_watchdog_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(kcoro_watchdog, kcoro_watchdog_fn);

/*
 * Looks only at values the scheduler stores at each switch (never
 * dereferences the coroutine, which may be gone): which coroutine, since
 * when, and the switch count that tells one run from the next.
 */
static void kcoro_watchdog_fn(struct work_struct *work)
{
	unsigned int limit = READ_ONCE(long_run_ms);
	unsigned long since;
	struct kcoro_rq *rq;
	u64 switches;
	int cpu;

	for_each_online_cpu(cpu) {
		rq = per_cpu_ptr(&kcoro_rqs, cpu);
		switches = READ_ONCE(rq->switches);
		since = READ_ONCE(rq->curr_since);
		if (!limit || !kcoro_rq_curr(rq) ||
		    switches == rq->long_run_switches ||
		    !time_after(jiffies, since + msecs_to_jiffies(limit)))
			continue;
		/* Once per run. */
		rq->long_run_switches = switches;
		atomic_long_inc(&kcoro_nr_long_runs);
		trace_kcoro_long_run(READ_ONCE(rq->curr_id),
				     READ_ONCE(rq->curr_fn), cpu,
				     jiffies_to_msecs(jiffies - since));
		pr_warn("coroutine %llu (%ps) has run for %u ms on CPU %d without suspending; other coroutines of that CPU wait: call kcoro_yield() in long loops\n",
			READ_ONCE(rq->curr_id), READ_ONCE(rq->curr_fn),
			jiffies_to_msecs(jiffies - since), cpu);
	}
	schedule_delayed_work(&kcoro_watchdog,
			      msecs_to_jiffies(clamp(limit / 4, 50U, 1000U)));
}

static struct dentry *kcoro_debugfs;

void kcoro_debug_init(void)
{
	kcoro_debugfs = debugfs_create_dir("kcoro", NULL);
	debugfs_create_file("coroutines", 0400, kcoro_debugfs, NULL,
			    &kcoro_coroutines_fops);
	debugfs_create_file("stats", 0444, kcoro_debugfs, NULL,
			    &kcoro_stats_fops);
	debugfs_create_file("workers", 0444, kcoro_debugfs, NULL,
			    &kcoro_workers_fops);
	schedule_delayed_work(&kcoro_watchdog, HZ);
}

void kcoro_debug_exit(void)
{
	debugfs_remove(kcoro_debugfs);
	cancel_delayed_work_sync(&kcoro_watchdog);
}
