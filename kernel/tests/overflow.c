// SPDX-License-Identifier: GPL-2.0
/*
 * kcoro_overflow: deliberately overflow a coroutine stack.
 *
 * Loaded only by "make check-overflow" inside a throw-away VM, which
 * expects the kernel to report "stack guard page was hit" with a trace that
 * names the coroutine's function, instead of silently corrupting memory.
 */
#include <linux/kcoro.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

/* Far deeper than any stack: the guard page is hit long before. */
static unsigned long max_depth = 1UL << 20;
module_param(max_depth, ulong, 0444);
MODULE_PARM_DESC(max_depth, "recursion depth limit");

static noinline long kcoro_overflow_recurse(unsigned long depth)
{
	char pad[256];

	memset(pad, (int)depth, sizeof(pad));
	/* Keep the frame: the compiler must not turn this into a loop. */
	barrier_data(pad);
	if (depth >= max_depth)
		return pad[0];
	return kcoro_overflow_recurse(depth + 1) + pad[depth % sizeof(pad)];
}

static long kcoro_overflow_body(void *arg)
{
	return kcoro_overflow_recurse(0);
}

static int __init kcoro_overflow_init(void)
{
	struct kcoro *co = kcoro_spawn(kcoro_overflow_body, NULL, NULL);

	if (IS_ERR(co))
		return PTR_ERR(co);
	kcoro_join(co);
	kcoro_put(co);
	return -EIO;	/* not reached: the overflow oopses */
}
module_init(kcoro_overflow_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kcoro test: coroutine stack overflow hits the guard page");
