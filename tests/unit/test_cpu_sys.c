/* Software CPU: mode transitions, paging faults, #DF/triple fault, SYSCALL/SYSRET, IRETQ
 * across privilege levels, interrupts with IF and the STI shadow, HLT wake-up, SMC, MMIO. */
#include "test_cpu_common.h"

static void t_real(struct tenv *t, uint64_t ip)
{
	struct cpu_regs r;
	cpu_get_regs(t->cpu, &r);
	r.seg[CPU_CS].sel = 0;
	r.seg[CPU_CS].base = 0;
	r.rip = ip;
	cpu_set_regs(t->cpu, &r);
}

static void test_mode_roundtrip(void)
{
	struct tenv *t = t_create();
	t_setup_gdt(t);
	t_setup_paging(t);
	CHECK(t_asm(t, 0x7c00, 16,
	      "cli\n xor ax, ax\n mov ds, ax\n mov ss, ax\n mov sp, 0x7000\n"
	      "mov byte [0x600], 1\n lgdt [gdtr]\n"
	      "mov eax, cr0\n or eax, 1\n mov cr0, eax\n jmp dword 0x18:pm32\n"
	      "bits 32\npm32: mov ax, 0x10\n mov ds, ax\n mov ss, ax\n mov es, ax\n mov esp, 0x7000\n"
	      "mov byte [0x601], 2\n"
	      "mov eax, cr4\n or eax, 0x20\n mov cr4, eax\n mov eax, 0x10000\n mov cr3, eax\n"
	      "mov ecx, 0xc0000080\n rdmsr\n or eax, 0x100\n wrmsr\n"
	      "mov eax, cr0\n or eax, 0x80000000\n mov cr0, eax\n jmp 0x08:lm64\n"
	      "bits 64\nlm64: mov byte [0x602], 3\n mov rax, 0x123456789\n mov [0x608], rax\n"
	      "mov rsp, 0x7000\n push 0x18\n lea rax, [rel cm32]\n push rax\n retfq\n"
	      "bits 32\ncm32: mov eax, cr0\n and eax, 0x7fffffff\n mov cr0, eax\n"
	      "mov ecx, 0xc0000080\n rdmsr\n and eax, ~0x100\n wrmsr\n"
	      "mov byte [0x603], 4\n jmp 0x48:pm16\n"
	      "bits 16\npm16: mov eax, cr0\n and eax, ~1\n mov cr0, eax\n jmp 0:rm16\n"
	      "rm16: xor ax, ax\n mov ds, ax\n mov byte [0x604], 5\n hlt\n"
	      "gdtr: dw 79\n dd 0x500\n") > 0);
	t_real(t, 0x7c00);
	CHECK_EQ(t_run(t, 100000), CPU_EXIT_HLT);
	for (int k = 0; k < 5; k++)
		CHECK_EQ(t->ram[0x600 + k], k + 1);
	CHECK_EQ(t_get64(t, 0x608), 0x123456789ull);
	struct cpu_regs r;
	cpu_get_regs(t->cpu, &r);
	CHECK_EQ(r.cr0 & 0x80000001, 0);
	CHECK_EQ(r.efer & 0x500, 0);
	t_destroy(t);
}

/* #PF: not-present write, then a protection fault on a read-only 4K page with CR0.WP. */
static void test_page_faults(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 64,
	      "mov rbx, 0x40001234\n mov byte [rbx], 1\n"       /* 3-byte store */
	      "mov r12, r15\n mov r13, r14\n"
	      "mov rbx, 0x601008\n mov byte [rbx], 1\n"
	      "hlt\n"
	      "align 16\n"
	      "pf: mov r15, [rsp]\n mov r14, cr2\n add qword [rsp+8], 3\n add rsp, 8\n iretq\n");
	CHECK(n > 0);
	t_long_mode(t, T_CODE);
	t_put64(t, 0x12000 + 3 * 8, 0x13000 | 7);
	for (int k = 0; k < 512; k++)
		t_put64(t, 0x13000 + k * 8, (0x600000ull + k * 4096) | (k == 1 ? 0x5 : 0x7));
	t_put64(t, 0x11000 + 8, 0);
	/* the handler is the last 16-aligned chunk: find "mov r15, [rsp]" (4c 8b 3c 24) */
	uint64_t h = 0;
	for (size_t k = 0; k + 4 <= n; k++)
		if (!memcmp(t->ram + T_CODE + k, "\x4c\x8b\x3c\x24", 4))
			h = T_CODE + k;
	CHECK(h != 0);
	t_idt64(t, 14, h, 0, 0);
	CHECK_EQ(t_run(t, 10000), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_R13), 0x40001234ull);
	CHECK_EQ(t_reg(t, CPU_R12), 2);            /* write, not present, supervisor */
	CHECK_EQ(t_reg(t, CPU_R14), 0x601008ull);
	CHECK_EQ(t_reg(t, CPU_R15), 3);            /* write, protection */
	CHECK_EQ(t->ram[0x601008], 0);
	t_destroy(t);
}

/* #PF whose gate is not present -> #NP -> #DF; then with no #DF gate -> triple fault. */
static void test_double_triple_fault(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 64,
	      "mov rbx, 0x40000000\n mov al, [rbx]\n hlt\n"
	      "align 16\ndf: mov r15, [rsp]\n mov r14, 0xdf\n hlt\n");
	t_long_mode(t, T_CODE);
	t_put64(t, 0x11000 + 8, 0);
	uint64_t h = 0;
	for (size_t k = 0; k + 4 <= n; k++)
		if (!memcmp(t->ram + T_CODE + k, "\x4c\x8b\x3c\x24", 4))
			h = T_CODE + k;
	t_idt64(t, 8, h, 0, 0);
	CHECK_EQ(t_run(t, 10000), CPU_EXIT_HLT);     /* vector 14 gate is empty (not present) */
	CHECK_EQ(t_reg(t, CPU_R14), 0xdf);
	CHECK_EQ(t_reg(t, CPU_R15), 0);
	t_destroy(t);

	t = t_create();
	t_asm(t, T_CODE, 64, "mov rbx, 0x40000000\n mov al, [rbx]\n hlt\n");
	t_long_mode(t, T_CODE);
	t_put64(t, 0x11000 + 8, 0);
	CHECK_EQ(t_run(t, 10000), CPU_EXIT_SHUTDOWN);
	t_destroy(t);
}

/* Kernel -> IRETQ to ring 3 -> SYSCALL -> SYSRETQ -> INT 0x80 (ring 0 on RSP0). */
static void test_syscall_iret(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 64,
	      "mov ecx, 0xc0000081\n xor eax, eax\n mov edx, 0x00180008\n wrmsr\n"
	      "mov ecx, 0xc0000082\n lea rax, [rel sysent]\n mov rdx, rax\n shr rdx, 32\n wrmsr\n"
	      "mov ecx, 0xc0000084\n mov eax, 0x200\n xor edx, edx\n wrmsr\n"
	      "push 0x23\n push 0x70000\n push 0x202\n push 0x2b\n lea rax, [rel user]\n push rax\n"
	      "iretq\n"
	      "user: mov r8, cs\n mov r9, ss\n syscall\n"
	      "after: mov [0x650], rcx\n int 0x80\n"
	      "align 16\nsysent: mov r10, cs\n mov [0x640], rcx\n mov [0x648], r11\n o64 sysret\n"
	      "align 16\nint80: mov r11, [rsp+8]\n mov r12, [rsp+24]\n mov r13, rsp\n mov r14, cs\n hlt\n");
	CHECK(n > 0);
	t_long_mode(t, T_CODE);
	t_put64(t, T_TSS + 4, 0x90000);       /* RSP0 */
	uint64_t i80 = 0;
	for (size_t k = 0; k + 5 <= n; k++)
		if (!memcmp(t->ram + T_CODE + k, "\x4c\x8b\x5c\x24\x08", 5))
			i80 = T_CODE + k;
	CHECK(i80 != 0);
	t_idt64(t, 0x80, i80, 3, 0);
	CHECK_EQ(t_run(t, 10000), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_R8), 0x2b);
	CHECK_EQ(t_reg(t, CPU_R9), 0x23);
	CHECK_EQ(t_reg(t, CPU_R10), 0x08);
	CHECK_EQ(t_get64(t, 0x648) & 0x200, 0x200);          /* R11 = user RFLAGS */
	CHECK_EQ(t_get64(t, 0x650), t_get64(t, 0x640));      /* RCX = return address */
	CHECK_EQ(t_reg(t, CPU_R11), 0x2b);                   /* interrupted CS */
	CHECK_EQ(t_reg(t, CPU_R12), 0x70000);                /* interrupted RSP */
	CHECK_EQ(t_reg(t, CPU_R13), 0x90000 - 40);           /* on RSP0, 5 qwords */
	CHECK_EQ(t_reg(t, CPU_R14), 0x08);
	t_destroy(t);
}

static uint64_t find(struct tenv *t, size_t n, const char *pat, size_t len)
{
	for (size_t k = 0; k + len <= n; k++)
		if (!memcmp(t->ram + T_CODE + k, pat, len))
			return T_CODE + k;
	return 0;
}

/* External interrupts: masked by IF=0, taken one instruction after STI; HLT wakes up. */
static void test_interrupts(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 64,
	      "xor r8, r8\n mov ecx, 100\n l: dec ecx\n jnz l\n"
	      "sti\n mov r9, r8\n mov r10, r8\n hlt\n mov r11, r8\n hlt\n"
	      "align 16\nisr: inc r8\n iretq\n");
	t_long_mode(t, T_CODE);
	t_idt64(t, 0x30, find(t, n, "\x49\xff\xc0\x48\xcf", 5), 0, 0);
	t->pending_vec = 0x30;
	cpu_set_irq_pending(t->cpu);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t->acks, 1);
	CHECK_EQ(t_reg(t, CPU_R9), 0);     /* STI shadow: not before the next instruction */
	CHECK_EQ(t_reg(t, CPU_R10), 1);
	CHECK(cpu_is_halted(t->cpu));
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);   /* nothing pending: stays halted */
	t->pending_vec = 0x30;
	cpu_set_irq_pending(t->cpu);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_R11), 2);
	t_destroy(t);
}

/* Self-modifying code: patch an immediate in a loop and the very next instruction. */
static void test_smc(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64,
	      "xor ebx, ebx\n mov ecx, 3\n"
	      "again: mov eax, 1\n add ebx, eax\n mov byte [rel again+1], 5\n dec ecx\n jnz again\n"
	      "mov byte [rel nxt+1], 7\n"
	      "nxt: mov edx, 1\n hlt\n");
	t_long_mode(t, T_CODE);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RBX), 11);
	CHECK_EQ(t_reg(t, CPU_RDX), 7);
	/* DMA-style write behind the CPU's back, then re-run the same code */
	t->ram[T_CODE + 0] = 0x90;   /* was "xor ebx, ebx" (31 db) -> nop, nop */
	t->ram[T_CODE + 1] = 0x90;
	cpu_vm_notify_write(t->vm, T_CODE, 2);
	struct cpu_regs r;
	cpu_get_regs(t->cpu, &r);
	r.rip = T_CODE;
	r.gpr[CPU_RBX] = 100;
	cpu_set_regs(t->cpu, &r);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RBX), 115);   /* 100 + 5 + 5 + 5 (the imm stays patched) */
	t_destroy(t);
}

/* MMIO through the callbacks in 32-bit protected mode; port I/O; CPUID; #UD on UD2. */
static void test_mmio_cpuid_ud(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 32,
	      "mov dword [0xfee00080], 0x55aa\n mov eax, [0xfee00080]\n mov esi, eax\n"
	      "in al, 0x80\n mov edi, eax\n"
	      "xor eax, eax\n cpuid\n mov [0x700], ebx\n mov [0x704], edx\n mov [0x708], ecx\n"
	      "mov eax, 1\n cpuid\n mov ebp, edx\n"
	      "ud2\n hlt\n");
	CHECK(n > 0);
	t_prot32(t, T_CODE);
	CHECK_EQ(t_run(t, 1000), CPU_EXIT_SHUTDOWN);   /* #UD with no IDT: triple fault */
	struct cpu_regs r;
	cpu_get_regs(t->cpu, &r);
	CHECK_EQ(r.rip, T_CODE + n - 3);                 /* RIP of the UD2 */
	CHECK_EQ(r.gpr[CPU_RSI], 0x55aa);
	CHECK_EQ(r.gpr[CPU_RDI] & 0xff, 0x78);
	CHECK(!memcmp(t->ram + 0x700, "GenuineIntel", 12));
	CHECK_EQ(r.gpr[CPU_RBP] & 0x07000379, 0x07000379);  /* FPU..CX8 APIC CMOV FXSR SSE SSE2 */
	CHECK(t->mmio_writes == 1 && t->mmio_reads == 1);
	t_destroy(t);
}

/* INVLPG drops 4K and large-page translations; MOV CR3 drops non-global ones. */
static void test_invlpg(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64,
	      "mov rbx, 0x601000\n mov rax, [rbx]\n"           /* 4K page -> 0x601000 */
	      "mov qword [0x13008], 0x700007\n invlpg [rbx]\n mov rcx, [rbx]\n"
	      "mov rbx, 0x800008\n mov rdx, [rbx]\n"           /* 2M page 0x800000 */
	      "mov qword [0x12020], 0xa00087\n mov rsi, 0x9ff000\n invlpg [rsi]\n"
	      "mov rdi, [rbx]\n hlt\n");
	t_long_mode(t, T_CODE);
	t_put64(t, 0x12000 + 3 * 8, 0x13000 | 7);
	for (int k = 0; k < 512; k++)
		t_put64(t, 0x13000 + k * 8, (0x600000ull + k * 4096) | 7);
	t_put64(t, 0x601000, 0x1111);
	t_put64(t, 0x700000, 0x2222);
	t_put64(t, 0x800008, 0x3333);
	t_put64(t, 0xa00008, 0x4444);
	CHECK_EQ(t_run(t, 1000), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RAX), 0x1111);
	CHECK_EQ(t_reg(t, CPU_RCX), 0x2222);
	CHECK_EQ(t_reg(t, CPU_RDX), 0x3333);
	CHECK_EQ(t_reg(t, CPU_RDI), 0x4444);
	t_destroy(t);
}

/* TF: one #DB trap after each instruction; the handler sees the next RIP. */
static void test_single_step(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 64,
	      "xor r8, r8\n pushfq\n or qword [rsp], 0x100\n popfq\n"
	      "nop\n nop\n nop\n pushfq\n and qword [rsp], ~0x100\n popfq\n hlt\n"
	      "align 16\ndb: inc r8\n iretq\n");
	t_long_mode(t, T_CODE);
	uint64_t h = 0;
	for (size_t k = 0; k + 5 <= n; k++)
		if (!memcmp(t->ram + T_CODE + k, "\x49\xff\xc0\x48\xcf", 5))
			h = T_CODE + k;
	CHECK(h != 0);
	t_idt64(t, 1, h, 0, 0);
	CHECK_EQ(t_run(t, 1000), CPU_EXIT_HLT);
	/* traps after: nop nop nop pushfq and popfq -> 6 (the first popfq sets TF for later) */
	CHECK_EQ(t_reg(t, CPU_R8), 6);
	t_destroy(t);
}

/* Machine-check architecture with no banks: CPUID.1:EDX MCE+MCA, CR4.MCE settable (OVMF's
 * reset vector writes CR4 = 0x640), IA32_MCG_CAP = 0 banks, IA32_MCG_STATUS and
 * IA32_PLATFORM_ID readable, MCG_STATUS accepts a zero write. */
static void test_mce(void)
{
	struct tenv *t = t_create();
	CHECK(t_asm(t, T_CODE, 32,
	      "mov eax, 0x640\n mov cr4, eax\n mov eax, cr4\n mov [0x700], eax\n"
	      "mov eax, 1\n cpuid\n mov [0x704], edx\n"
	      "mov ecx, 0x179\n mov eax, -1\n mov edx, -1\n rdmsr\n mov [0x708], eax\n mov [0x70c], edx\n"
	      "mov ecx, 0x17a\n mov eax, -1\n rdmsr\n mov [0x710], eax\n"
	      "xor eax, eax\n xor edx, edx\n wrmsr\n"
	      "mov ecx, 0x17\n mov eax, -1\n mov edx, -1\n rdmsr\n mov [0x714], edx\n"
	      "hlt\n") > 0);
	t_prot32(t, T_CODE);
	CHECK_EQ(t_run(t, 1000), CPU_EXIT_HLT);
	CHECK_EQ(t_get64(t, 0x700) & 0xffffffff, 0x640);
	CHECK_EQ(t_get64(t, 0x704) & 0x4080, 0x4080);    /* MCE (7) and MCA (14) */
	CHECK_EQ(t_get64(t, 0x708), 0);                  /* MCG_CAP: no banks */
	CHECK_EQ(t_get64(t, 0x710) & 0xffffffff, 0);
	CHECK_EQ(t_get64(t, 0x714) & 0xffffffff, 0);
	t_destroy(t);
}

/* WRMSR IA32_TSC moves this CPU's TSC for RDTSC, RDTSCP and RDMSR alike (the fixture's
 * clock advances 1000 per read). */
static void test_tsc_write(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64,
	      "mov ecx, 0x10\n xor eax, eax\n mov edx, 1\n wrmsr\n"
	      "rdtsc\n shl rdx, 32\n or rax, rdx\n mov r8, rax\n"
	      "rdtscp\n shl rdx, 32\n or rax, rdx\n mov r9, rax\n"
	      "mov ecx, 0x10\n rdmsr\n shl rdx, 32\n or rax, rdx\n mov r10, rax\n hlt\n");
	t_long_mode(t, T_CODE);
	CHECK_EQ(t_run(t, 1000), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_R8), 0x100000000ull + 1000);
	CHECK_EQ(t_reg(t, CPU_R9), 0x100000000ull + 2000);
	CHECK_EQ(t_reg(t, CPU_R10), 0x100000000ull + 3000);
	t_destroy(t);

	/* IA32_TSC_ADJUST (CPUID.7.0:EBX[1]): WRMSR TSC moves it by the same amount, and
	 * writing it moves the TSC by the difference. */
	t = t_create();
	t_asm(t, T_CODE, 64,
	      "mov eax, 7\n xor ecx, ecx\n cpuid\n mov r11, rbx\n"
	      "mov ecx, 0x10\n mov eax, 5000\n xor edx, edx\n wrmsr\n"       /* TSC 1000 -> 5000 */
	      "mov ecx, 0x3b\n rdmsr\n mov r8, rax\n"                          /* adjust = 4000 */
	      "mov ecx, 0x3b\n mov eax, 14000\n xor edx, edx\n wrmsr\n"       /* +10000 */
	      "rdtsc\n mov r9, rax\n"
	      "mov ecx, 0x3b\n rdmsr\n mov r10, rax\n hlt\n");
	t_long_mode(t, T_CODE);
	CHECK_EQ(t_run(t, 1000), CPU_EXIT_HLT);
	CHECK(t_reg(t, CPU_R11) & 2);
	CHECK_EQ(t_reg(t, CPU_R8), 4000);
	CHECK_EQ(t_reg(t, CPU_R9), 2000 + 4000 + 10000);
	CHECK_EQ(t_reg(t, CPU_R10), 14000);
	t_destroy(t);
}

int main(void)
{
	test_mce();
	test_single_step();
	test_invlpg();
	test_mode_roundtrip();
	test_page_faults();
	test_double_triple_fault();
	test_syscall_iret();
	test_interrupts();
	test_smc();
	test_mmio_cpuid_ud();
	test_tsc_write();
	return unit_report("cpu_sys");
}
