// SPDX-License-Identifier: GPL-2.0
/*
 * x86_64: lay out the first frame of a coroutine stack.
 */
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/vmalloc.h>
#include <asm/ptrace.h>

#include "../../internal.h"

/* The six registers kcoro_switch() pops, then its return address. */
struct kcoro_x86_frame {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bx;
	unsigned long bp;
	unsigned long ret_addr;
};

/*
 * Like a kthread's stack (copy_thread()), the top of the stack is a zeroed
 * struct pt_regs, so task_pt_regs(current) is harmless while a coroutine
 * runs, and the first frame sits just below it.  Stacks are zeroed when
 * allocated and nothing writes above the first frame, so a reused stack
 * still has a zero pt_regs.
 */
unsigned long kcoro_arch_init_stack(void *stack, struct kcoro *co)
{
	struct pt_regs *regs = stack + THREAD_SIZE -
			       TOP_OF_KERNEL_STACK_PADDING - sizeof(*regs);
	struct kcoro_x86_frame *frame = (void *)regs - sizeof(*frame);

	memset(frame, 0, sizeof(*frame));
	frame->r12 = (unsigned long)co;
	frame->ret_addr = (unsigned long)kcoro_entry_tramp;
	return (unsigned long)frame;
}

/*
 * Make @canary the stack-protector canary of the current task (a scheduler
 * kthread) and return the previous one.  x86_64 checks frames against the
 * per-CPU copy, which __switch_to() reloads from current->stack_canary, so
 * both change together with preemption off.  The caller must not have a
 * canary-checked frame that spans the change.
 */
unsigned long kcoro_arch_set_canary(unsigned long canary)
{
	unsigned long old = 0;

#ifdef CONFIG_STACKPROTECTOR
	preempt_disable();
	old = current->stack_canary;
	current->stack_canary = canary;
	this_cpu_write(fixed_percpu_data.stack_canary, canary);
	preempt_enable();
#endif
	return old;
}

/*
 * A coroutine stack: THREAD_SIZE of zeroed vmalloc memory.  x86 needs no
 * alignment beyond a page (the fork path uses THREAD_ALIGN = THREAD_SIZE
 * but nothing depends on it), and vmalloc leaves an unmapped guard page
 * between areas.
 */
void *kcoro_arch_stack_alloc(gfp_t gfp)
{
	return __vmalloc(THREAD_SIZE, gfp | __GFP_ZERO);
}

void kcoro_arch_stack_free(void *stack)
{
	vfree(stack);
}
