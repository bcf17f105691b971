/*
 * Native side of the differential test: load every GPR, RFLAGS and the FXSAVE image from a
 * struct dstate (layout in diff.h) and jump to the instruction under test.  Never returns:
 * the INT3 trailer (or a fault) raises a signal whose handler, on the alternate signal stack,
 * records the state and siglongjmp()s back into C.
 *
 * void diff_native_enter(const struct dstate *st);
 */
	.text
	.globl	diff_native_enter
	.type	diff_native_enter, @function
diff_native_enter:
	fxrstor64 192(%rdi)
	/* RIP of the instruction into a scratch slot addressed RIP-relatively. */
	movq	128(%rdi), %rax
	movq	%rax, diff_native_target(%rip)
	pushq	136(%rdi)
	popfq
	movq	0(%rdi), %rax
	movq	8(%rdi), %rcx
	movq	16(%rdi), %rdx
	movq	24(%rdi), %rbx
	movq	40(%rdi), %rbp
	movq	48(%rdi), %rsi
	movq	64(%rdi), %r8
	movq	72(%rdi), %r9
	movq	80(%rdi), %r10
	movq	88(%rdi), %r11
	movq	96(%rdi), %r12
	movq	104(%rdi), %r13
	movq	112(%rdi), %r14
	movq	120(%rdi), %r15
	movq	32(%rdi), %rsp
	movq	56(%rdi), %rdi
	jmp	*diff_native_target(%rip)
	.size	diff_native_enter, .-diff_native_enter

	.bss
	.align	8
	.globl	diff_native_target
diff_native_target:
	.quad	0
	.section .note.GNU-stack,"",@progbits
