/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcoro context switch for x86_64.
 *
 * Modelled on __switch_to_asm (arch/x86/entry/entry_64.S): only the
 * callee-saved registers of the C ABI are saved, on the outgoing stack, in
 * the same six-push layout on both sides, so objtool's ORC data describes
 * every suspended kcoro stack.  The stack canary is not switched: every
 * scheduler kthread uses the same one (kcoro_arch_set_canary()), so a
 * coroutine may resume on another CPU's kthread; FPU state is never live
 * across a switch (kernel_fpu_begin() disables preemption, a suspension point there is
 * a bug).  Interrupts are disabled by the C caller around the switch.
 */
#include <linux/linkage.h>
#include <linux/objtool.h>
#include <linux/version.h>
#include <asm/unwind_hints.h>
#include <asm/nospec-branch.h>

	.text

/*
 * void kcoro_switch(unsigned long *save_sp, const unsigned long *load_sp)
 * %rdi: where to save the outgoing stack pointer
 * %rsi: where to load the incoming stack pointer from
 */
SYM_FUNC_START(kcoro_switch)
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15

	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp

	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	RET
SYM_FUNC_END(kcoro_switch)

/*
 * First instruction of every coroutine: kcoro_switch() "returns" here on a
 * fresh stack prepared by kcoro_arch_init_stack(), with the coroutine in
 * %r12.  This is the outermost frame of the coroutine stack, so unwinding
 * ends here cleanly, as it does at ret_from_fork_asm.
 */
SYM_CODE_START(kcoro_entry_tramp)
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	UNWIND_HINT_END_OF_STACK
#else
	UNWIND_HINT_EMPTY
#endif
	ANNOTATE_NOENDBR
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	CALL_DEPTH_ACCOUNT
#endif
	movq	%r12, %rdi
	call	kcoro_entry
	/* kcoro_entry() never returns: the scheduler frees this stack. */
	int3
SYM_CODE_END(kcoro_entry_tramp)
