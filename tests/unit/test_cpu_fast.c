/*
 * The software CPU's fast paths against their slow references: conditions read straight from
 * the lazy flag state (Jcc/SETcc/CMOVcc) against the materialised RFLAGS, exact instruction
 * counts and budgets inside blocks that run on past not-taken branches, self-modifying code in
 * such a block, decoded code dropped by cpu_set_regs, and cached RIP -> block lookups and TLB
 * entries across CR3 writes that remap code and data (with few and with many TLB fills).
 */
#include "test_cpu_common.h"

#define RES 0x600000ull   /* result area: 64 bytes per case */

static bool cond_ref(int cc, uint64_t f)
{
	bool cf = f & 1, pf = f & 4, zf = f & 0x40, sf = f & 0x80, of = f & 0x800, r;
	switch (cc >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || (sf != of); break;
	}
	return r != (cc & 1);
}

static const char *const cc_names[16] = {
	"o", "no", "b", "nb", "z", "nz", "be", "nbe", "s", "ns", "p", "np", "l", "nl", "le", "nle",
};

static const char *const fl_ops[] = {
	"cmp rax, rbx", "sub rax, rbx", "add rax, rbx", "and rax, rbx", "test eax, ebx",
	"xor ax, bx", "or al, bl", "inc rax", "dec eax", "neg rax", "shl rax, 3", "sar eax, 5",
	"shr rax, 1", "rol rax, 7", "cmp al, bl", "sub ax, bx", "adc rax, rbx", "sbb eax, ebx",
	"cmp ebx, eax", "imul rax, rbx",
};

static const uint64_t fl_vals[][2] = {
	{ 0, 0 }, { 1, 2 }, { 2, 1 }, { ~0ull, 1 }, { 0x8000000000000000ull, 1 },
	{ 0x7fffffffffffffffull, ~0ull }, { 0x80000000ull, 0x7fffffffull }, { 0x80, 0x7f },
	{ 0x8000, 0x8000 }, { 5, 5 },
};

/* One case: the op, then every condition through SETcc r8, Jcc and CMOVcc on the lazy
 * state; then the op again and PUSHFQ for the reference. */
static void fl_case(char *p, size_t cap, const char *op, uint64_t a, uint64_t b, bool cf_in)
{
	size_t n = 0;
	n += snprintf(p + n, cap - n, "%s\nmov rax, 0x%llx\nmov rbx, 0x%llx\n%s\n",
		      cf_in ? "stc" : "clc", (unsigned long long)a, (unsigned long long)b, op);
	for (int cc = 0; cc < 16; cc++) {
		n += snprintf(p + n, cap - n,
			      "set%s dl\nmov [rdi+%d], dl\n"
			      "mov byte [rdi+%d], 1\nj%s short $+6\nmov byte [rdi+%d], 0\n"
			      "mov rdx, 0\nmov rcx, 1\ncmov%s rdx, rcx\nmov [rdi+%d], dl\n",
			      cc_names[cc], cc, 16 + cc, cc_names[cc], 16 + cc, cc_names[cc], 32 + cc);
	}
	n += snprintf(p + n, cap - n, "%s\nmov rax, 0x%llx\nmov rbx, 0x%llx\n%s\n"
		      "pushfq\npop qword [rdi+48]\nadd rdi, 64\n", cf_in ? "stc" : "clc",
		      (unsigned long long)a, (unsigned long long)b, op);
}

static void test_lazy_conditions(void)
{
	size_t nops = sizeof(fl_ops) / sizeof(fl_ops[0]), nvals = sizeof(fl_vals) / sizeof(fl_vals[0]);
	size_t cap = nops * nvals * 2 * 4096 + 256, n = 0;
	char *src = malloc(cap);
	n += snprintf(src + n, cap - n, "mov rdi, 0x%llx\n", (unsigned long long)RES);
	for (size_t o = 0; o < nops; o++)
		for (size_t v = 0; v < nvals; v++)
			for (int cf = 0; cf < 2; cf++) {
				fl_case(src + n, cap - n, fl_ops[o], fl_vals[v][0], fl_vals[v][1], cf);
				n += strlen(src + n);
			}
	snprintf(src + n, cap - n, "hlt\n");
	CHECK(strlen(src) + 1 < cap);            /* not truncated */
	struct tenv *t = t_create();
	n = t_asm(t, T_CODE, 64, src);
	CHECK(n > 0);
	free(src);
	t_long_mode(t, T_CODE);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, -1), T_CODE + n);    /* ran to the final HLT */
	int bad = 0;
	for (size_t k = 0; k < nops * nvals * 2; k++) {
		const uint8_t *r = t->ram + RES + k * 64;
		uint64_t f;
		memcpy(&f, r + 48, 8);
		for (int cc = 0; cc < 16; cc++) {
			int want = cond_ref(cc, f);
			if (r[cc] != want || r[16 + cc] != want || r[32 + cc] != want) {
				if (bad++ < 5)
					fprintf(stderr, "lazy cond: '%s' values #%zu cf=%zu cc=%s flags=%#llx:"
						" setcc %d jcc %d cmov %d want %d\n", fl_ops[k / (nvals * 2)],
						(k / 2) % nvals, k & 1, cc_names[cc], (unsigned long long)f,
						r[cc], r[16 + cc], r[32 + cc], want);
			}
		}
	}
	CHECK_EQ(bad, 0);
	t_destroy(t);
}

/* Budgets that end inside a block running past not-taken branches; exact counts. */
static void test_counts_in_long_blocks(void)
{
	static const char *prog =
		"mov ecx, 1000\n"
		"l: cmp ecx, 5000\n je away\n dec ecx\n jnz l\n hlt\n"
		"away: mov eax, 1\n hlt\n";
	for (uint64_t budget = 1001; budget <= 1004; budget++) {
		struct tenv *t = t_create();
		t_asm(t, T_CODE, 64, prog);
		t_long_mode(t, T_CODE);
		uint64_t n0 = cpu_insn_count(t->cpu);
		CHECK_EQ(t_run(t, budget), CPU_EXIT_BUDGET);
		CHECK_EQ(cpu_insn_count(t->cpu) - n0, budget);
		uint64_t done = (budget - 1) / 4, part = (budget - 1) % 4;
		CHECK_EQ(t_reg(t, CPU_RCX), 1000 - done - (part >= 3));
		/* RIP is the next instruction: l + 0 (cmp, 6 bytes), +6 (je short), +8 (dec), +10 (jnz) */
		static const uint64_t off[4] = { 0, 6, 8, 10 };
		CHECK_EQ(t_reg(t, -1), T_CODE + 5 + off[part]);
		CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
		CHECK_EQ(cpu_insn_count(t->cpu) - n0, 1 + 4 * 1000 + 1);
		CHECK_EQ(t_reg(t, CPU_RAX), 0);
		t_destroy(t);
	}
}

/* A store that patches a later instruction of the running block, after a not-taken Jcc. */
static void test_smc_after_branch(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64,
	      "mov byte [rel tgt+1], 42\n"
	      "cmp eax, eax\n jne out\n"
	      "tgt: mov eax, 1\n"
	      "out: hlt\n");
	t_long_mode(t, T_CODE);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RAX), 42);
	t_destroy(t);
}

/* cpu_set_regs drops decoded code: code rewritten behind the CPU's back runs afterwards. */
static void test_set_regs_drops_code(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64, "mov eax, 1\n hlt\n");
	t_long_mode(t, T_CODE);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RAX), 1);
	t->ram[T_CODE + 1] = 7;            /* mov eax, 7: no cpu_vm_notify_write */
	struct cpu_regs r;
	cpu_get_regs(t->cpu, &r);
	r.rip = T_CODE;
	cpu_set_regs(t->cpu, &r);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RAX), 7);
	t_destroy(t);
}

/* The same linear code address mapped to two physical pages by two page-table roots: each
 * CR3 write must be seen by the next call. */
static void test_cr3_remaps_code(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64,
	      "mov rsi, 0x10000\n mov rdi, 0x13000\n"
	      /* more pages touched than the TLB fill log holds: the next flush scans it all */
	      "mov rbx, 0x800000\n mov ecx, 300\n"
	      "t: mov rax, [rbx]\n add rbx, 4096\n dec ecx\n jnz t\n"
	      "call 0x400000\n mov r8, rax\n mov r12, [0x400000]\n"
	      "mov cr3, rdi\n call 0x400000\n mov r9, rax\n mov r13, [0x400000]\n"
	      "mov cr3, rsi\n call 0x400000\n mov r10, rax\n mov r14, [0x400000]\n"
	      "mov cr3, rdi\n call 0x400000\n mov r11, rax\n mov r15, [0x400000]\n hlt\n");
	t_asm(t, 0x400000, 64, "mov eax, 1\n ret\n");
	t_asm(t, 0x600000, 64, "mov eax, 2\n ret\n");
	t_long_mode(t, T_CODE);
	/* second root: a copy of the identity map with 0x400000 -> 0x600000 */
	t_put64(t, 0x13000, 0x14000 | 7);
	t_put64(t, 0x14000, 0x15000 | 7);
	for (int k = 0; k < 512; k++)
		t_put64(t, 0x15000 + k * 8, ((uint64_t)k << 21) | 0x87);
	t_put64(t, 0x15000 + 2 * 8, 0x600000 | 0x87);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_R8), 1);
	CHECK_EQ(t_reg(t, CPU_R9), 2);
	CHECK_EQ(t_reg(t, CPU_R10), 1);
	CHECK_EQ(t_reg(t, CPU_R11), 2);
	uint64_t lo = t_get64(t, 0x400000), hi = t_get64(t, 0x600000);
	CHECK(lo != hi);
	CHECK_EQ(t_reg(t, CPU_R12), lo);
	CHECK_EQ(t_reg(t, CPU_R13), hi);
	CHECK_EQ(t_reg(t, CPU_R14), lo);
	CHECK_EQ(t_reg(t, CPU_R15), hi);
	t_destroy(t);
}

int main(void)
{
	test_lazy_conditions();
	test_counts_in_long_blocks();
	test_smc_after_branch();
	test_set_regs_drops_code();
	test_cr3_remaps_code();
	return unit_report("cpu_fast");
}
