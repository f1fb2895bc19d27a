/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcoro tracepoints: spawn, switch, park, wake, exit and long runs, so
 * ftrace, trace-cmd and perf show kcoro's scheduling like the kernel's.
 * Coroutines are named by id (kcoro_id()); 0 is a scheduler's main_co.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kcoro

#if !defined(_KCORO_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KCORO_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(kcoro_spawn,
	TP_PROTO(u64 id, void *fn, int cpu),
	TP_ARGS(id, fn, cpu),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(void *, fn)
		__field(int, cpu)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->fn = fn;
		__entry->cpu = cpu;
	),
	TP_printk("id=%llu fn=%ps cpu=%d", __entry->id, __entry->fn,
		  __entry->cpu)
);

TRACE_EVENT(kcoro_switch,
	TP_PROTO(u64 prev, u64 next),
	TP_ARGS(prev, next),
	TP_STRUCT__entry(
		__field(u64, prev)
		__field(u64, next)
	),
	TP_fast_assign(
		__entry->prev = prev;
		__entry->next = next;
	),
	TP_printk("prev=%llu next=%llu", __entry->prev, __entry->next)
);

DECLARE_EVENT_CLASS(kcoro_id_class,
	TP_PROTO(u64 id),
	TP_ARGS(id),
	TP_STRUCT__entry(
		__field(u64, id)
	),
	TP_fast_assign(
		__entry->id = id;
	),
	TP_printk("id=%llu", __entry->id)
);

DEFINE_EVENT(kcoro_id_class, kcoro_park,
	TP_PROTO(u64 id),
	TP_ARGS(id)
);

TRACE_EVENT(kcoro_wake,
	TP_PROTO(u64 id, int cpu),
	TP_ARGS(id, cpu),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(int, cpu)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->cpu = cpu;
	),
	TP_printk("id=%llu cpu=%d", __entry->id, __entry->cpu)
);

TRACE_EVENT(kcoro_steal,
	TP_PROTO(unsigned int n, int from, int to),
	TP_ARGS(n, from, to),
	TP_STRUCT__entry(
		__field(unsigned int, n)
		__field(int, from)
		__field(int, to)
	),
	TP_fast_assign(
		__entry->n = n;
		__entry->from = from;
		__entry->to = to;
	),
	TP_printk("n=%u from=%d to=%d", __entry->n, __entry->from, __entry->to)
);

TRACE_EVENT(kcoro_exit,
	TP_PROTO(u64 id, long result),
	TP_ARGS(id, result),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(long, result)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->result = result;
	),
	TP_printk("id=%llu result=%ld", __entry->id, __entry->result)
);

TRACE_EVENT(kcoro_long_run,
	TP_PROTO(u64 id, void *fn, int cpu, unsigned int ms),
	TP_ARGS(id, fn, cpu, ms),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(void *, fn)
		__field(int, cpu)
		__field(unsigned int, ms)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->fn = fn;
		__entry->cpu = cpu;
		__entry->ms = ms;
	),
	TP_printk("id=%llu fn=%ps cpu=%d ms=%u", __entry->id, __entry->fn,
		  __entry->cpu, __entry->ms)
);

/*
 * A scheduler kthread blocked inside coroutine @id's step; kthread
 * @from_pid (blocked) gave CPU @cpu's run queue to standby @to_pid.
 */
TRACE_EVENT(kcoro_handoff,
	TP_PROTO(u64 id, int cpu, pid_t from_pid, pid_t to_pid),
	TP_ARGS(id, cpu, from_pid, to_pid),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(int, cpu)
		__field(pid_t, from_pid)
		__field(pid_t, to_pid)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->cpu = cpu;
		__entry->from_pid = from_pid;
		__entry->to_pid = to_pid;
	),
	TP_printk("id=%llu cpu=%d from_pid=%d to_pid=%d", __entry->id,
		  __entry->cpu, __entry->from_pid, __entry->to_pid)
);

/* Coroutine @id tried to suspend holding what @bad says (KCORO_GUARD_*). */
TRACE_EVENT(kcoro_guard,
	TP_PROTO(u64 id, unsigned int bad),
	TP_ARGS(id, bad),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(unsigned int, bad)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->bad = bad;
	),
	TP_printk("id=%llu bad=%#x", __entry->id, __entry->bad)
);

#endif /* _KCORO_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
