/* Software CPU: decoder lengths, integer arithmetic and flags, string ops, stack, LOCK ops. */
#include "test_cpu_common.h"

static void test_decode_lengths(void)
{
	struct { const char *hex; int mode, len; } v[] = {
		{ "90", 64, 1 }, { "4889c8", 64, 3 }, { "48b88877665544332211", 64, 10 },
		{ "b878563412", 32, 5 }, { "66b83412", 32, 4 }, { "b83412", 16, 3 },
		{ "8b0425785634 12", 64, 7 }, { "8b05 00000000", 64, 6 }, { "8b4508", 32, 3 },
		{ "8b8500010000", 32, 6 }, { "8b4608", 16, 3 }, { "8b0e3412", 16, 4 },
		{ "678b0e3412", 32, 5 }, { "f30f1efa", 64, 4 }, { "0f1f440000", 64, 5 },
		{ "660f1f840000000000", 64, 9 }, { "c8100001", 32, 4 }, { "ea78563412 0800", 32, 7 },
		{ "ea", 64, -1 }, { "0f0b", 64, 2 }, { "f00100", 64, 3 }, { "f001c0", 64, -1 },
		{ "f090", 64, -1 }, { "0f20c0", 64, 3 }, { "0f2005", 64, 3 }, { "c4e27d18c0", 64, -1 },
		{ "0f38f0c0", 64, 4 }, { "660f3a0fc108", 64, 6 }, { "f6c001", 64, 3 }, { "f6d0", 64, 2 },
		{ "f7c078563412", 32, 6 }, { "66f7c03412", 32, 5 }, { "48f7c078563412", 64, 7 },
		{ "a1 8877665544332211", 64, 9 }, { "67a1 44332211", 64, 6 }, { "a1 3412", 16, 3 },
		{ "e9 00000000", 64, 5 }, { "66e9 00000000", 64, 6 }, { "e8 0000", 16, 3 },
		{ "c20800", 64, 3 }, { "0f8500000000", 32, 6 }, { "d9c9", 64, 2 }, { "dd0424", 64, 3 },
		{ "0f28c1", 64, 3 }, { "660fefc0", 64, 4 }, { "0fae0424", 64, 4 }, { "0faef0", 64, 3 },
		{ "26262626262626262626262626262690", 32, -1 }, { "2626262626262626262626262690", 32, 14 },
		{ "48", 64, -1 }, { "40", 32, 1 }, { "0fc70e", 64, 3 }, { "0fbae503", 64, 4 },
		{ "6a01", 64, 2 }, { "6801000000", 64, 5 }, { "c6c801", 64, -1 }, { "8fc0", 64, 2 },
		{ "0f01f8", 64, 3 }, { "0f01 1425 00000000", 64, 8 }, { "cd80", 32, 2 },
	};
	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		uint8_t b[20];
		int n = 0;
		for (const char *p = v[k].hex; *p && n < 20;) {
			if (*p == ' ') { p++; continue; }
			unsigned x;
			sscanf(p, "%2x", &x);
			b[n++] = (uint8_t)x;
			p += 2;
		}
		int got = cpu_decode_length(b, n, v[k].mode);
		if (got != v[k].len)
			fprintf(stderr, "decode %s mode %d: got %d want %d\n", v[k].hex, v[k].mode, got, v[k].len);
		CHECK_EQ(got, v[k].len);
	}
}

static void test_arith64(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64,
	      "mov rax, 0x7fffffffffffffff\n"
	      "add rax, 1\n"            /* OF=1 SF=1 */
	      "pushfq\n pop rbx\n"
	      "mov ecx, 0xffffffff\n"
	      "add ecx, 1\n"            /* CF=1 ZF=1, rcx zero-extended */
	      "pushfq\n pop rdx\n"
	      "mov [0x600000], rcx\n mov [0x600008], rdx\n"
	      "mov r8, 10\n"
	      "xor r9, r9\n"
	      "l1: add r9, r8\n dec r8\n jnz l1\n"   /* 55 */
	      "mov al, 0x80\n"
	      "shl al, 1\n"              /* CF=1 OF=1 ZF=1 */
	      "pushfq\n pop r10\n"
	      "mov r11, -7\n"
	      "mov rax, 100\n cqo\n idiv r11\n"   /* rax=-14 rdx=2 */
	      "mov r12, rax\n mov r13, rdx\n"
	      "mov rax, 0x123456789\n mov rcx, 0x1000\n mul rcx\n"  /* rdx:rax */
	      "mov r14, rax\n"
	      "bsr r15, r14\n"
	      "hlt\n");
	t_long_mode(t, T_CODE);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RBX) & 0x8d5, 0x880 | 0x10 | 0x4);  /* OF SF AF PF */
	CHECK_EQ(t_get64(t, 0x600000), 0);
	CHECK_EQ(t_get64(t, 0x600008) & 0x8c5, 0x45);             /* ZF CF PF */
	CHECK_EQ(t_reg(t, CPU_R9), 55);
	CHECK_EQ(t_reg(t, CPU_R10) & 0x841, 0x841);
	CHECK_EQ(t_reg(t, CPU_R12), (uint64_t)-14);
	CHECK_EQ(t_reg(t, CPU_R13), 2);
	CHECK_EQ(t_reg(t, CPU_R14), 0x123456789000ull);
	CHECK_EQ(t_reg(t, CPU_R15), 44);
	t_destroy(t);
}

static void test_flags_misc(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64,
	      "xor eax, eax\n"
	      "stc\n mov al, 0xff\n adc al, 0\n"      /* al=0 CF=1 ZF=1 AF=1 */
	      "lahf\n mov bl, ah\n"
	      "mov cx, 0x8000\n rol cx, 1\n"         /* cx=1 CF=1 OF=1 */
	      "pushfq\n pop rdx\n"
	      "mov esi, 1\n rcr esi, 1\n"            /* esi=0x80000000 CF=1 */
	      "setc dil\n"
	      "mov r8d, 5\n inc r8d\n"
	      "mov r9, 0xf0\n bt r9, 4\n setc r10b\n"
	      "mov r11, 0x10\n btr r11, 4\n"
	      "mov r12, 3\n neg r12\n"
	      "sbb r13, r13\n"                       /* CF from neg = 1 -> r13=-1 */
	      "mov ax, 0x1234\n bswap eax\n mov r14d, eax\n"
	      "mov r15, 0x80\n sar r15b, 7\n"         /* r15b = 0xff */
	      "hlt\n");
	t_long_mode(t, T_CODE);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK_EQ(t_reg(t, CPU_RBX) & 0xff, 0x57);                 /* ZF AF PF CF + bit1 */
	CHECK_EQ(t_reg(t, CPU_RCX) & 0xffff, 1);
	CHECK_EQ(t_reg(t, CPU_RDX) & 0x801, 0x801);
	CHECK_EQ(t_reg(t, CPU_RSI), 0x80000000ull);
	CHECK_EQ(t_reg(t, CPU_RDI) & 0xff, 1);
	CHECK_EQ(t_reg(t, CPU_R8), 6);
	CHECK_EQ(t_reg(t, CPU_R10) & 0xff, 1);
	CHECK_EQ(t_reg(t, CPU_R11), 0);
	CHECK_EQ(t_reg(t, CPU_R12), (uint64_t)-3);
	CHECK_EQ(t_reg(t, CPU_R13), ~0ull);
	CHECK_EQ(t_reg(t, CPU_R14), 0x34120000ull);
	CHECK_EQ(t_reg(t, CPU_R15) & 0xff, 0xff);
	t_destroy(t);
}

static void test_strings_and_stack(void)
{
	struct tenv *t = t_create();
	memset(t->ram + 0x200000, 0x5a, 10000);
	t_asm(t, T_CODE, 64,
	      "cld\n mov rsi, 0x200000\n mov rdi, 0x300000\n mov rcx, 10000\n rep movsb\n"
	      "mov rdi, 0x400000\n mov rax, 0x1122334455667788\n mov rcx, 1000\n rep stosq\n"
	      "mov rdi, 0x300000\n mov al, 0x5a\n mov rcx, 20000\n repe scasb\n"
	      "mov rbx, rcx\n"
	      "push 0x1234\n pop r8\n"
	      "call f\n jmp done\n"
	      "f: enter 16, 0\n mov qword [rbp-8], 77\n mov r9, [rbp-8]\n leave\n ret\n"
	      "done: mov rdx, 0xe9\n mov al, 'O'\n out dx, al\n mov al, 'K'\n out 0xe9, al\n"
	      "lock xadd [0x500000], rdx\n"
	      "mov eax, 0\n mov ecx, 9\n lock cmpxchg [0x500008], ecx\n"
	      "hlt\n");
	t_long_mode(t, T_CODE);
	t_put64(t, 0x500000, 5);
	t_put64(t, 0x500008, 0);
	CHECK_EQ(t_run(t, 0), CPU_EXIT_HLT);
	CHECK(memcmp(t->ram + 0x200000, t->ram + 0x300000, 10000) == 0);
	CHECK_EQ(t_get64(t, 0x400000 + 999 * 8), 0x1122334455667788ull);
	CHECK_EQ(t_get64(t, 0x400000 + 1000 * 8), 0);
	CHECK_EQ(t_reg(t, CPU_RBX), 20000 - 10001);
	CHECK_EQ(t_reg(t, CPU_R8), 0x1234);
	CHECK_EQ(t_reg(t, CPU_R9), 77);
	CHECK_EQ(t_reg(t, CPU_RSP), T_STACK);
	CHECK(t->outn == 2 && t->out[0] == 'O' && t->out[1] == 'K');
	CHECK_EQ(t_get64(t, 0x500000), 5 + 0xe9);
	CHECK_EQ(t_reg(t, CPU_RDX), 5);
	CHECK_EQ(t_get64(t, 0x500008), 9);
	t_destroy(t);
}

static void test_budget_and_count(void)
{
	struct tenv *t = t_create();
	t_asm(t, T_CODE, 64, "l: inc rax\n jmp l\n");
	t_long_mode(t, T_CODE);
	uint64_t n0 = cpu_insn_count(t->cpu);
	CHECK_EQ(t_run(t, 1001), CPU_EXIT_BUDGET);
	CHECK_EQ(cpu_insn_count(t->cpu) - n0, 1001);
	CHECK_EQ(t_reg(t, CPU_RAX), 501);
	t_destroy(t);
}

/* Accesses crossing a page: split and assembled; a write whose second page faults changes
 * nothing; MMIO-free RAM only. */
static void test_page_cross(void)
{
	struct tenv *t = t_create();
	size_t n = t_asm(t, T_CODE, 64,
	      "mov rbx, 0x200ffd\n mov rax, 0x1122334455667788\n mov [rbx], rax\n"
	      "mov rcx, [rbx]\n mov edx, [rbx+1]\n"
	      "mov rbx, 0xdffffd\n mov qword [rbx], -1\n hlt\n"
	      "align 16\npf: mov r15, cr2\n hlt\n");
	t_long_mode(t, T_CODE);
	uint64_t h = 0;
	for (size_t k = 0; k + 3 <= n; k++)
		if (!memcmp(t->ram + T_CODE + k, "\x41\x0f\x20", 3))
			h = T_CODE + k;
	CHECK(h != 0);
	t_idt64(t, 14, h, 0, 0);
	t_put64(t, 0x12000 + 7 * 8, 0);      /* 0xe00000.. not present */
	CHECK_EQ(t_run(t, 1000), CPU_EXIT_HLT);
	CHECK_EQ(t_get64(t, 0x200ffd), 0x1122334455667788ull);
	CHECK_EQ(t_reg(t, CPU_RCX), 0x1122334455667788ull);
	CHECK_EQ(t_reg(t, CPU_RDX), 0x44556677ull);
	CHECK_EQ(t_reg(t, CPU_R15), 0xe00000ull);   /* fault on the second page ... */
	CHECK_EQ(t->ram[0xdffffd], 0);                /* ... and the first was not written */
	t_destroy(t);
}

int main(void)
{
	test_page_cross();
	test_decode_lengths();
	test_arith64();
	test_flags_misc();
	test_strings_and_stack();
	test_budget_and_count();
	return unit_report("cpu_basic");
}
