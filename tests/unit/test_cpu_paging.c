/*
 * Software CPU: reserved-bit page faults, the PAE PDPTE registers, alignment checks and
 * debug-register breakpoints, as small snippets (the full matrices are in the cpusys test
 * guests, tests/test_cpu_sys_guests.py).  These also run under ASan/UBSan (make check-san).
 */
#include "test_cpu_common.h"

/* handler at the first 16-aligned "mov r15, [rsp]" (4c 8b 3c 24) of the snippet */
static uint64_t find_handler(struct tenv *t, size_t n)
{
	for (size_t k = 0; k + 4 <= n; k++)
		if (!memcmp(t->ram + T_CODE + k, "\x4c\x8b\x3c\x24", 4))
			return T_CODE + k;
	return 0;
}

/* 0x600000-0x7fffff through a page table at 0x13000; PTE 1 gets `bits`. */
static void map_test_page(struct tenv *t, uint64_t bits)
{
	t_put64(t, 0x12000 + 3 * 8, 0x13000 | 7);
	for (int k = 0; k < 512; k++)
		t_put64(t, 0x13000 + k * 8, (0x600000ull + k * 4096) | 7 | (k == 1 ? bits : 0));
}

/* A read through a PTE with bit `bit` set: R15 = error code (or 0x55 if no fault). */
static uint64_t read_with_pte_bit(uint64_t bits, uint64_t efer, uint64_t *cr2)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 64,
	      "mov r15, 0x55\n mov rbx, 0x601008\n mov al, [rbx]\n hlt\n"
	      "align 16\n"
	      "pf: mov r15, [rsp]\n mov r14, cr2\n add qword [rsp+8], 2\n add rsp, 8\n iretq\n");
	t_long_mode(t, T_CODE);
	if (efer) {
		struct cpu_regs r;
		cpu_get_regs(t->cpu, &r);
		r.efer = efer;
		cpu_set_regs(t->cpu, &r);
	}
	map_test_page(t, bits);
	t_idt64(t, 14, find_handler(t, n), 0, 0);
	CHECK_EQ(t_run(t, 10000), CPU_EXIT_HLT);
	uint64_t err = t_reg(t, CPU_R15);
	*cr2 = t_reg(t, CPU_R14);
	t_destroy(t);
	return err;
}

static void test_reserved_bits(void)
{
	uint64_t cr2 = 0;
	CHECK_EQ(read_with_pte_bit(1ull << 51, 0, &cr2), 9);      /* >= MAXPHYADDR: RSVD|P */
	CHECK_EQ(cr2, 0x601008ull);
	CHECK_EQ(read_with_pte_bit(1ull << 40, 0, &cr2), 9);
	CHECK_EQ(read_with_pte_bit(1ull << 52, 0, &cr2), 0x55);   /* ignored by 4-level paging */
	CHECK_EQ(read_with_pte_bit(1ull << 63, 0, &cr2), 0x55);   /* XD with NXE: reads are fine */
	CHECK_EQ(read_with_pte_bit(1ull << 63, 0x501, &cr2), 9);  /* XD without NXE: reserved */
	CHECK_EQ(read_with_pte_bit(0x80, 0, &cr2), 0x55);         /* PAT bit in a PTE */
}

/* PAE: MOV CR3 with a reserved bit in a present PDPTE raises #GP(0) and keeps CR3; the
 * PDPTEs are registers, so a later change in memory is unseen until CR3 is written. */
static void test_pae_pdptes(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 32,
	      "mov esi, 0\n"
	      "mov eax, 0x31000\n mov cr3, eax\n"          /* bad PDPTE: #GP */
	      "mov dword [0x30008], 0\n"                   /* unmap 1-2 GiB in memory only */
	      "mov al, [0x40000000]\n"                     /* still mapped (the registers) */
	      "mov esi, 1\n"
	      "mov eax, cr3\n mov cr3, eax\n"
	      "mov al, [0x40000000]\n"                     /* now #PF */
	      "hlt\n"
	      "align 16\n"
	      "gp: mov edi, [esp]\n mov ebp, cr3\n add dword [esp+4], 3\n add esp, 4\n iretd\n"
	      "align 16\n"
	      "pf: mov edx, [esp]\n mov ecx, esi\n add dword [esp+4], 5\n add esp, 4\n iretd\n");
	CHECK(n > 0);
	t_prot32(t, T_CODE);
	/* PDPT at 0x30000: [0] -> PD 0x32000 (identity 0-1 GiB, 2 MiB pages), [1] -> same PD */
	t_put64(t, 0x30000, 0x32000 | 1);
	t_put64(t, 0x30008, 0x32000 | 1);
	for (int k = 0; k < 512; k++)
		t_put64(t, 0x32000 + k * 8, ((uint64_t)k << 21) | 0x83);
	t_put64(t, 0x31000, 0x32000 | 1 | 2);             /* bit 1: reserved in a PDPTE */
	/* 32-bit IDT at T_IDT: gates 13 and 14 */
	uint64_t gp = 0, pf = 0;
	for (size_t k = 0; k + 3 <= n; k++) {
		if (!gp && !memcmp(t->ram + T_CODE + k, "\x8b\x3c\x24", 3))
			gp = T_CODE + k;
		if (!pf && !memcmp(t->ram + T_CODE + k, "\x8b\x14\x24", 3))
			pf = T_CODE + k;
	}
	CHECK(gp && pf);
	uint64_t g13 = (gp & 0xffff) | (0x18ull << 16) | (0x8eull << 40) | ((gp >> 16) << 48);
	uint64_t g14 = (pf & 0xffff) | (0x18ull << 16) | (0x8eull << 40) | ((pf >> 16) << 48);
	t_put64(t, T_IDT + 13 * 8, g13);
	t_put64(t, T_IDT + 14 * 8, g14);
	struct cpu_regs r;
	cpu_get_regs(t->cpu, &r);
	r.idtr.base = T_IDT;
	r.idtr.limit = 256 * 8 - 1;
	r.cr4 = 0x20;                                     /* PAE */
	r.cr3 = 0x30000;
	r.cr0 = 0x80000011;
	cpu_set_regs(t->cpu, &r);
	CHECK_EQ(t_run(t, 10000), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RDI), 0);                   /* #GP(0) */
	CHECK_EQ(t_reg(t, CPU_RBP), 0x30000);             /* CR3 unchanged */
	CHECK_EQ(t_reg(t, CPU_RCX), 1);                   /* the #PF came after the reload */
	CHECK_EQ(t_reg(t, CPU_RDX), 0);                   /* not present, read, supervisor */
	t_destroy(t);
}

/* DR0 instruction breakpoint: #DB before the instruction with DR6.B0; data breakpoint on a
 * write: #DB after it. */
static void test_breakpoints(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 64,
	      "lea rax, [rel brk]\n mov dr0, rax\n"
	      "mov rax, 0x601000\n mov dr1, rax\n"
	      "mov eax, 0x00d00005\n mov dr7, rax\n"        /* L0 exec; L1 write, 4 bytes */
	      "xor r12d, r12d\n"
	      "brk: inc r12d\n"
	      "mov rbx, 0x601000\n mov dword [rbx], 1\n"
	      "after: nop\n hlt\n"
	      "align 16\n"
	      "dbh: mov r15, [rsp]\n inc r13d\n mov r14, dr6\n or qword [rsp+16], 0x10000\n iretq\n");
	t_long_mode(t, T_CODE);
	map_test_page(t, 0);
	uint64_t h = find_handler(t, n);
	CHECK(h != 0);
	t_idt64(t, 1, h, 0, 0);
	CHECK_EQ(t_run(t, 10000), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_R13), 2);                   /* two #DB */
	CHECK_EQ(t_reg(t, CPU_R12), 1);                   /* RF let the INC run once */
	CHECK_EQ(t_reg(t, CPU_R14) & 3, 3);               /* B0 then B1 */
	CHECK_EQ(t->ram[0x601000], 1);
	t_destroy(t);
}

int main(void)
{
	test_reserved_bits();
	test_pae_pdptes();
	test_breakpoints();
	return unit_report("cpu_paging");
}
