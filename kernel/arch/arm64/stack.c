// SPDX-License-Identifier: GPL-2.0
/*
 * arm64: coroutine stacks and the first frame of a coroutine.
 */
#include <linux/bug.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <asm/ptrace.h>

#include "../../internal.h"

/*
 * Each coroutine's return addresses live on one shadow call stack per
 * task (x18); coroutines of one kthread would interleave their entries.
 * A shadow stack per coroutine needs scs_alloc(), which is not exported.
 */
#ifdef CONFIG_SHADOW_CALL_STACK
#error "kcoro does not support CONFIG_SHADOW_CALL_STACK"
#endif

/* What kcoro_switch() pops (switch.S), then the key it was saved under. */
struct kcoro_arm64_frame {
	unsigned long fp;		/* x29: frame record ... */
	unsigned long lr;		/* x30: ... and where ret goes */
	unsigned long x19[10];		/* x19-x28 */
	unsigned long key[2];		/* APIA key, zero on a fresh stack */
};

static_assert(sizeof(struct kcoro_arm64_frame) == 112);
static_assert(offsetof(struct kcoro_arm64_frame, x19) == 16);
static_assert(offsetof(struct kcoro_arm64_frame, key) == 96);

/*
 * Like a kthread's stack (copy_thread()), the top of the stack is a zeroed
 * struct pt_regs, whose stackframe is the final frame record the unwinder
 * stops at; the first frame sits just below it.
 */
unsigned long kcoro_arch_init_stack(void *stack, struct kcoro *co)
{
	struct pt_regs *regs = stack + THREAD_SIZE - sizeof(*regs);
	struct kcoro_arm64_frame *frame = (void *)regs - sizeof(*frame);

	memset(regs->stackframe, 0, sizeof(regs->stackframe));
	memset(frame, 0, sizeof(*frame));
	frame->fp = (unsigned long)regs->stackframe;
	frame->lr = (unsigned long)kcoro_entry_tramp;
	frame->x19[0] = (unsigned long)co;
	return (unsigned long)frame;
}

/*
 * Make @canary the stack-protector canary of the current task (a scheduler
 * kthread) and return the previous one.  With STACKPROTECTOR_PER_TASK the
 * compiler reads current->stack_canary (through sp_el0) at every check,
 * so the one field is all there is; otherwise the canary is the global
 * __stack_chk_guard, shared by every task already.  The caller must not
 * have a canary-checked frame that spans the change.
 */
unsigned long kcoro_arch_set_canary(unsigned long canary)
{
	unsigned long old = 0;

#ifdef CONFIG_STACKPROTECTOR_PER_TASK
	old = current->stack_canary;
	WRITE_ONCE(current->stack_canary, canary);
#endif
	return old;
}

/*
 * Stacks.  The VMAP_STACK overflow check at exception entry (kernel_ventry)
 * tests bit THREAD_SHIFT of sp, so a task stack must be THREAD_ALIGN
 * (2 * THREAD_SIZE) aligned; then an overflow is reported as one ("kernel
 * stack overflow", with the task stack bounds and a trace) instead of
 * recursing on the guard page.  Aligned vmalloc (__vmalloc_node()) is not
 * exported, but vmap() of a VM_IOREMAP area aligns it to the power of two
 * above its size: THREAD_SIZE plus one page gives THREAD_ALIGN.  That top
 * page is a single page shared by every stack, never written (nothing is
 * above pt_regs), so a stack costs THREAD_SIZE as on x86; below each area
 * vmalloc keeps an unmapped guard page.
 */
#define KCORO_STACK_PAGES	(THREAD_SIZE >> PAGE_SHIFT)

static_assert(KCORO_STACK_PAGES >= 1);

static u8 kcoro_stack_pad[PAGE_SIZE] __aligned(PAGE_SIZE);

void *kcoro_arch_stack_alloc(gfp_t gfp)
{
	struct page *pages[KCORO_STACK_PAGES + 1];
	void *stack;
	int i;

	for (i = 0; i < KCORO_STACK_PAGES; i++) {
		pages[i] = alloc_page(gfp | __GFP_ZERO);
		if (!pages[i])
			goto fail;
	}
	pages[i] = vmalloc_to_page(kcoro_stack_pad);
	stack = vmap(pages, KCORO_STACK_PAGES + 1, VM_MAP | VM_IOREMAP,
		     PAGE_KERNEL);
	if (!stack)
		goto fail;
	if (WARN_ON_ONCE(!IS_ALIGNED((unsigned long)stack, THREAD_ALIGN))) {
		kcoro_arch_stack_free(stack);
		return NULL;
	}
	return stack;
fail:
	while (i--)
		__free_page(pages[i]);
	return NULL;
}

void kcoro_arch_stack_free(void *stack)
{
	struct page *pages[KCORO_STACK_PAGES];
	int i;

	for (i = 0; i < KCORO_STACK_PAGES; i++)
		pages[i] = vmalloc_to_page(stack + i * PAGE_SIZE);
	vunmap(stack);
	for (i = 0; i < KCORO_STACK_PAGES; i++)
		__free_page(pages[i]);
}
