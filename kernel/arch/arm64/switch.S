/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kcoro context switch for arm64.
 *
 * Shaped like cpu_switch_to (arch/arm64/kernel/entry.S): only the
 * callee-saved registers of the AAPCS64 (x19-x28, the frame pointer x29
 * and the link register x30) are saved, here on the outgoing stack, with
 * sp itself stored in the kcoro context.  The frame starts with a frame
 * record (x29, x30), so a suspended stack is a well-formed chain.  The
 * stack canary is not switched: every scheduler kthread uses the same one
 * (kcoro_arch_set_canary()).  FP/SIMD state is never live across a switch
 * (kernel_neon_begin() disables preemption, a suspension point there is a
 * bug).  Interrupts are disabled by the C caller around the switch.
 *
 * Pointer authentication: with ARM64_PTR_AUTH_KERNEL every C function
 * signs its return address with the task's APIA key (and sp as the
 * modifier) and authenticates it on return.  sp does not change for a
 * frame, whichever stack is current, but the key is per task and a
 * coroutine may be resumed by another scheduler kthread after a CPU went
 * offline.  So the key travels with the stack: the switch saves the
 * running key in the outgoing frame and, when the incoming frame was saved
 * under another task's key, makes that key the current task's
 * (thread.keys_kernel, which cpu_switch_to reinstalls) and installs it.
 * This function is not signed itself, like cpu_switch_to, so the key may
 * change under it.  A fresh stack carries a zero key: it has no signed
 * frame yet and runs under whichever key it finds.
 */
#include <linux/linkage.h>
#include <asm/asm-offsets.h>
#include <asm/asm_pointer_auth.h>
#include <asm/assembler.h>

/* struct kcoro_arm64_frame in stack.c */
#define KF_X19		16
#define KF_KEY		96
#define KF_SIZE		112

	.text

/*
 * void kcoro_switch(unsigned long *save_sp, const unsigned long *load_sp)
 * x0: where to save the outgoing stack pointer
 * x1: where to load the incoming stack pointer from
 */
SYM_FUNC_START(kcoro_switch)
	sub	sp, sp, #KF_SIZE
	stp	x29, x30, [sp]
	stp	x19, x20, [sp, #KF_X19]
	stp	x21, x22, [sp, #KF_X19 + 16]
	stp	x23, x24, [sp, #KF_X19 + 32]
	stp	x25, x26, [sp, #KF_X19 + 48]
	stp	x27, x28, [sp, #KF_X19 + 64]
#ifdef CONFIG_ARM64_PTR_AUTH_KERNEL
	get_current_task x8
	mov	x9, #THREAD_KEYS_KERNEL
	add	x9, x8, x9
	ldp	x10, x11, [x9, #PTRAUTH_KERNEL_KEY_APIA]
	stp	x10, x11, [sp, #KF_KEY]
#endif
	mov	x12, sp
	str	x12, [x0]
	ldr	x12, [x1]
	mov	sp, x12
#ifdef CONFIG_ARM64_PTR_AUTH_KERNEL
	ldp	x12, x13, [sp, #KF_KEY]
	orr	x14, x12, x13
	cbz	x14, 1f				// fresh stack: keep the key
	cmp	x12, x10
	ccmp	x13, x11, #0, eq
	b.eq	1f				// signed under this task's key
	stp	x12, x13, [x9, #PTRAUTH_KERNEL_KEY_APIA]
	ptrauth_keys_install_kernel x8, x9, x10, x11
1:
#endif
	ldp	x19, x20, [sp, #KF_X19]
	ldp	x21, x22, [sp, #KF_X19 + 16]
	ldp	x23, x24, [sp, #KF_X19 + 32]
	ldp	x25, x26, [sp, #KF_X19 + 48]
	ldp	x27, x28, [sp, #KF_X19 + 64]
	ldp	x29, x30, [sp]
	add	sp, sp, #KF_SIZE
	ret
SYM_FUNC_END(kcoro_switch)

/*
 * First instruction of every coroutine: kcoro_switch() "returns" here on a
 * fresh stack prepared by kcoro_arch_init_stack(), with the coroutine in
 * x19 and x29 pointing at the final frame record in the stack's pt_regs,
 * as ret_from_fork runs a new kthread.  The unwinder stops there cleanly
 * (unwind_next(): "Final frame; nothing to unwind").  Reached by ret, not
 * by an indirect branch, so it needs no BTI landing pad.
 */
SYM_CODE_START(kcoro_entry_tramp)
	mov	x0, x19
	bl	kcoro_entry
	/* kcoro_entry() never returns: the scheduler frees this stack. */
	brk	#0x3e8
SYM_CODE_END(kcoro_entry_tramp)
