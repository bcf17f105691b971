/*
 * Generated host stubs for x87/MMX/SSE execution (see sse_host.h): an append-only code arena
 * (RWX pages) and a hash table from instruction key to stub.  Stubs are only ever added, so a
 * stub pointer, once published, stays valid; insertion takes a mutex, lookups are lock-free.
 */
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/sse_host.h"

#define SSE_ARENA_SIZE   (1u << 21)
#define SSE_ARENA_MAX    32
#define SSE_HASH_SIZE    (1u << 16)

struct sse_slot {
	uint32_t key;          /* key + 1; 0 = empty */
	sse_stub_fn fn;
};

static struct sse_slot sse_hash[SSE_HASH_SIZE];
static pthread_mutex_t sse_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *sse_arena;
static size_t sse_arena_used;
static int sse_arenas;
static unsigned sse_count;

struct sse_emit {
	uint8_t b[192];
	int n;
};

static void sse_e(struct sse_emit *e, const uint8_t *p, int n)
{
	memcpy(e->b + e->n, p, (size_t)n);
	e->n += n;
}

static void sse_e1(struct sse_emit *e, uint8_t v) { e->b[e->n++] = v; }

/* [pfx] opcode(s) with ModRM reg field `reg` and memory operand [rdi + disp]. */
static void sse_e_rdi(struct sse_emit *e, const uint8_t *op, int nop, int reg, int32_t disp)
{
	sse_e(e, op, nop);
	if (disp >= -128 && disp <= 127) {
		sse_e1(e, (uint8_t)(0x40 | reg << 3 | 7));
		sse_e1(e, (uint8_t)disp);
	} else {
		sse_e1(e, (uint8_t)(0x80 | reg << 3 | 7));
		memcpy(e->b + e->n, &disp, 4);
		e->n += 4;
	}
}

static const uint8_t op_fxsave64[] = { 0x48, 0x0f, 0xae }, op_ldmxcsr[] = { 0x0f, 0xae };
static const uint8_t op_movdqu_ld[] = { 0xf3, 0x0f, 0x6f }, op_movdqu_st[] = { 0xf3, 0x0f, 0x7f };
static const uint8_t op_mov_ld[] = { 0x48, 0x8b }, op_mov_st[] = { 0x48, 0x89 };
static const uint8_t op_lea[] = { 0x48, 0x8d }, op_movq_ld[] = { 0x0f, 0x6f };
static const uint8_t op_movq_st[] = { 0x0f, 0x7f }, op_pop[] = { 0x8f }, op_push[] = { 0xff };

static void sse_gen(struct sse_emit *e, int kind, const uint8_t *insn, int len)
{
	if (kind == SSE_STUB_X87) {
		sse_e_rdi(e, op_fxsave64, 3, 0, 512);          /* fxsave64 [rdi+512]  (host) */
		sse_e_rdi(e, op_fxsave64, 3, 1, 0);            /* fxrstor64 [rdi]     (guest) */
	} else {
		sse_e_rdi(e, op_ldmxcsr, 2, 3, SSE_HCTX_HMX);  /* stmxcsr host */
		sse_e_rdi(e, op_ldmxcsr, 2, 2, SSE_HCTX_MXCSR);
		sse_e_rdi(e, op_movdqu_ld, 3, 0, SSE_HCTX_X0);
		sse_e_rdi(e, op_movdqu_ld, 3, 1, SSE_HCTX_X1);
		sse_e_rdi(e, op_mov_ld, 2, 1, SSE_HCTX_RCX);
		if (kind == SSE_STUB_MMX) {
			sse_e_rdi(e, op_movq_ld, 2, 0, SSE_HCTX_MM0);
			sse_e_rdi(e, op_movq_ld, 2, 1, SSE_HCTX_MM1);
		}
	}
	sse_e_rdi(e, op_mov_ld, 2, 0, SSE_HCTX_RAX);
	sse_e_rdi(e, op_lea, 2, 2, SSE_HCTX_MEM);              /* rdx = memory operand */
	if (kind == SSE_STUB_X87) {                             /* guest status flags (FCMOVcc) */
		sse_e_rdi(e, op_push, 1, 6, SSE_HCTX_FL);       /* push [rdi+fl] */
		sse_e1(e, 0x9d);                                /* popfq */
	}
	sse_e(e, insn, len);
	sse_e1(e, 0x9c);                                        /* pushfq */
	sse_e_rdi(e, op_pop, 1, 0, SSE_HCTX_FL);                /* pop [rdi+fl] */
	sse_e_rdi(e, op_mov_st, 2, 0, SSE_HCTX_RAX);
	if (kind == SSE_STUB_X87) {
		sse_e_rdi(e, op_fxsave64, 3, 0, 0);             /* fxsave64 [rdi] (guest) */
		sse_e_rdi(e, op_fxsave64, 3, 1, 512);           /* fxrstor64 [rdi+512] (host) */
	} else {
		sse_e_rdi(e, op_ldmxcsr, 2, 3, SSE_HCTX_MXCSR); /* stmxcsr result */
		sse_e_rdi(e, op_movdqu_st, 3, 0, SSE_HCTX_X0);
		sse_e_rdi(e, op_movdqu_st, 3, 1, SSE_HCTX_X1);
		sse_e_rdi(e, op_mov_st, 2, 1, SSE_HCTX_RCX);
		if (kind == SSE_STUB_MMX) {
			sse_e_rdi(e, op_movq_st, 2, 0, SSE_HCTX_MM0);
			sse_e_rdi(e, op_movq_st, 2, 1, SSE_HCTX_MM1);
			sse_e1(e, 0x0f);
			sse_e1(e, 0x77);                        /* emms */
		}
		sse_e_rdi(e, op_ldmxcsr, 2, 2, SSE_HCTX_HMX);  /* ldmxcsr host */
	}
	sse_e1(e, 0xc3);
}

static uint32_t sse_hash_of(uint32_t key)
{
	return (key * 2654435761u) >> 16;
}

static sse_stub_fn sse_lookup(uint32_t key)
{
	for (uint32_t h = sse_hash_of(key), n = 0; n < SSE_HASH_SIZE; n++, h = (h + 1) & (SSE_HASH_SIZE - 1)) {
		uint32_t k = __atomic_load_n(&sse_hash[h].key, __ATOMIC_ACQUIRE);
		if (k == 0)
			return NULL;
		if (k == key + 1)
			return sse_hash[h].fn;
	}
	return NULL;
}

static void *sse_alloc_code(size_t n)
{
	if (!sse_arena || sse_arena_used + n > SSE_ARENA_SIZE) {
		if (sse_arenas >= SSE_ARENA_MAX)
			return NULL;
		void *p = mmap(NULL, SSE_ARENA_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		sse_arena = p;
		sse_arena_used = 0;
		sse_arenas++;
	}
	void *r = sse_arena + sse_arena_used;
	sse_arena_used += (n + 15) & ~(size_t)15;
	return r;
}

sse_stub_fn sse_stub_get(uint32_t key, int kind, const uint8_t *insn, int len)
{
	sse_stub_fn fn = sse_lookup(key);
	if (fn)
		return fn;
	pthread_mutex_lock(&sse_lock);
	fn = sse_lookup(key);
	if (!fn && sse_count < SSE_HASH_SIZE / 2) {
		struct sse_emit e = { .n = 0 };
		sse_gen(&e, kind, insn, len);
		void *code = sse_alloc_code((size_t)e.n);
		if (code) {
			memcpy(code, e.b, (size_t)e.n);
			fn = (sse_stub_fn)code;
			uint32_t h = sse_hash_of(key);
			while (sse_hash[h].key)
				h = (h + 1) & (SSE_HASH_SIZE - 1);
			sse_hash[h].fn = fn;
			__atomic_store_n(&sse_hash[h].key, key + 1, __ATOMIC_RELEASE);
			sse_count++;
		}
	}
	pthread_mutex_unlock(&sse_lock);
	return fn;
}
