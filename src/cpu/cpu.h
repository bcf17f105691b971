/*
 * The software x86-64 CPU: the public interface.
 *
 * The VM core hands the CPU guest memory (a gpa -> host-pointer lookup) and callbacks for port
 * I/O, MMIO, MSRs outside the CPU's own set, and interrupt acknowledge; the CPU hands back exits
 * (HLT, PAUSE, shutdown, a kick, a failed callback) from cpu_run().  Nothing in here knows about
 * devices, the PC layout or bhyve's options.
 *
 * Threading: one struct cpu per host thread.  cpu_kick() and cpu_set_irq_pending() may be
 * called from any thread; everything else only from the thread that runs the CPU.
 * A struct cpu_vm is shared by all vCPUs of one VM (memory map, code-page tracking).
 */
#ifndef BHYVE_CPU_H
#define BHYVE_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Register file (the architectural state visible to the VM core and tests) ---- */

enum cpu_gpr {
	CPU_RAX, CPU_RCX, CPU_RDX, CPU_RBX, CPU_RSP, CPU_RBP, CPU_RSI, CPU_RDI,
	CPU_R8, CPU_R9, CPU_R10, CPU_R11, CPU_R12, CPU_R13, CPU_R14, CPU_R15,
	CPU_NGPR
};

enum cpu_seg { CPU_ES, CPU_CS, CPU_SS, CPU_DS, CPU_FS, CPU_GS, CPU_LDTR, CPU_TR, CPU_NSEG };

/* A segment register with its hidden descriptor cache.  `attr` uses the layout of bits 40-47
 * and 52-55 of a descriptor shifted down: attr = type(4) | S<<4 | DPL<<5 | P<<7 | AVL<<12 |
 * L<<13 | D/B<<14 | G<<15 (VMX "access rights" layout).  `limit` is the expanded byte limit. */
struct cpu_segment {
	uint16_t sel;
	uint16_t attr;
	uint32_t limit;
	uint64_t base;
};

struct cpu_dtable {
	uint64_t base;
	uint16_t limit;
};

/* x87/MMX/SSE state in FXSAVE layout, 512 bytes, 16-byte aligned. */
struct cpu_fxstate {
	uint8_t bytes[512];
} __attribute__((aligned(16)));

struct cpu_regs {
	uint64_t gpr[CPU_NGPR];
	uint64_t rip;
	uint64_t rflags;
	struct cpu_segment seg[CPU_NSEG];
	struct cpu_dtable gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t dr[8];
	uint64_t efer;
	/* MSRs the CPU keeps itself (the rest go to the rdmsr/wrmsr callbacks). */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc_aux, pat, misc_enable;
	struct cpu_fxstate fx;
};

/* ---- Callbacks from the CPU into the VM core ---- */

/* Return codes of callbacks. */
#define CPU_CB_OK      0
#define CPU_CB_GP      1   /* rdmsr/wrmsr: unknown MSR, raise #GP(0) in the guest */
#define CPU_CB_ABORT (-1)  /* stop the CPU: cpu_run() returns CPU_EXIT_ABORT */

struct cpu_ops {
	/* Port I/O.  bytes is 1, 2 or 4; for IN the callee stores the value zero-extended. */
	int (*pio_in)(void *ctx, uint16_t port, int bytes, uint32_t *val);
	int (*pio_out)(void *ctx, uint16_t port, int bytes, uint32_t val);
	/* Accesses to guest-physical addresses that gpa_ptr() does not map (MMIO).  bytes is
	 * 1, 2, 4 or 8; wider or page-crossing accesses are split by the CPU. */
	int (*mmio_read)(void *ctx, uint64_t gpa, int bytes, uint64_t *val);
	int (*mmio_write)(void *ctx, uint64_t gpa, int bytes, uint64_t val);
	/* MSRs the CPU does not implement itself (APIC base, x2APIC range, TSC deadline, ...). */
	int (*rdmsr)(void *ctx, uint32_t msr, uint64_t *val);
	int (*wrmsr)(void *ctx, uint32_t msr, uint64_t val);
	/* Called at an instruction boundary when irq_pending is set and RFLAGS.IF=1 with no
	 * interrupt shadow: return the vector to deliver now (and consider it accepted, i.e.
	 * move it to in-service), or -1 if nothing is deliverable. */
	int (*intr_ack)(void *ctx);
	/* Current TSC value (the VM's one virtual clock). */
	uint64_t (*rdtsc)(void *ctx);
};

/* ---- Memory ---- */

/* Shared by every vCPU of a VM. */
struct cpu_vm;

/* gpa_ptr returns the host address of the byte at gpa if it is ordinary RAM (valid to the end
 * of its 4 KiB page), or NULL if the page is MMIO or unbacked.  Results may be cached by the
 * CPU until cpu_vm_memmap_changed() is called. */
typedef void *(*cpu_gpa_ptr_fn)(void *memctx, uint64_t gpa);

struct cpu_vm *cpu_vm_create(cpu_gpa_ptr_fn gpa_ptr, void *memctx, uint64_t max_gpa);
void cpu_vm_destroy(struct cpu_vm *cvm);
/* A device (DMA) or loader wrote guest RAM behind the CPU's back: drop decoded code there. */
void cpu_vm_notify_write(struct cpu_vm *cvm, uint64_t gpa, uint64_t len);
void cpu_vm_memmap_changed(struct cpu_vm *cvm);
/* Read-only memory at [gpa, gpa+size) backed by `host` (page-aligned, alive as long as the
 * cpu_vm): reads and instruction fetches use it directly (decoded code is cached as for RAM),
 * writes go to ops->mmio_write.  gpa and size are multiples of 4 KiB, inside max_gpa, and must
 * not overlap RAM.  0, or -1 if it does not fit (bad range, table full). */
int cpu_vm_add_rom(struct cpu_vm *cvm, uint64_t gpa, const void *host, uint64_t size);

/* ---- CPU model (CPUID) ---- */

struct cpu_model {
	uint32_t apic_id;          /* initial APIC ID of this vCPU (CPUID.1:EBX[31:24], 0xB) */
	uint32_t threads_per_core; /* topology for CPUID leaves 1, 4, 0xB, 0x80000008 */
	uint32_t cores_per_pkg;
	bool x2apic;               /* advertise x2APIC (CPUID.1:ECX[21]) */
	bool tsc_deadline;         /* advertise TSC-deadline timer */
	uint64_t tsc_hz;           /* reported through CPUID 0x15/0x16 */
	uint64_t crystal_hz;       /* CPUID 0x15 crystal (= LAPIC timer clock); 0: tsc_hz */
};

/* ---- The CPU ---- */

struct cpu;

enum cpu_exit_reason {
	CPU_EXIT_NONE = 0,
	CPU_EXIT_BUDGET,      /* ran the requested number of instructions */
	CPU_EXIT_KICK,        /* cpu_kick() was called */
	CPU_EXIT_HLT,         /* HLT executed; RIP is past it; cpu is halted until an interrupt */
	CPU_EXIT_PAUSE,       /* PAUSE executed and exit-on-pause is set */
	CPU_EXIT_SHUTDOWN,    /* triple fault */
	CPU_EXIT_ABORT,       /* a callback returned CPU_CB_ABORT */
	CPU_EXIT_WAIT_SIPI,   /* in wait-for-SIPI state after INIT (APs before start-up) */
	CPU_EXIT_DEBUG,       /* single-step / breakpoint for a debugger */
	CPU_EXIT_INVALID,     /* internal error: unsupported state (message in exit.msg) */
	CPU_EXIT_COUNT
};

struct cpu_exit {
	enum cpu_exit_reason reason;
	const char *msg;
};

struct cpu *cpu_create(struct cpu_vm *cvm, const struct cpu_ops *ops, void *ctx,
		       const struct cpu_model *model);
void cpu_destroy(struct cpu *cpu);

/* Architectural reset state (RESET: real mode, CS:IP = F000:FFF0, CS.base = FFFF0000). */
void cpu_reset(struct cpu *cpu);
/* INIT (keeps some state, enters wait-for-SIPI if not the BSP) and SIPI (start at vector<<12). */
void cpu_init_signal(struct cpu *cpu);
void cpu_sipi(struct cpu *cpu, uint8_t vector);

void cpu_get_regs(struct cpu *cpu, struct cpu_regs *regs);
/* Loads the whole state, including hidden segment caches, flushes TLB and decoded code;
 * clears the halted state and the interrupt shadow. */
void cpu_set_regs(struct cpu *cpu, const struct cpu_regs *regs);

/* Run until an exit; max_insns = 0 means no budget.  Returns exit->reason. */
enum cpu_exit_reason cpu_run(struct cpu *cpu, uint64_t max_insns, struct cpu_exit *exit);

/* Any thread: make cpu_run() return CPU_EXIT_KICK at the next instruction boundary (or
 * wake from HLT handling in the caller). */
void cpu_kick(struct cpu *cpu);
/* Any thread: an interrupt may be deliverable; the CPU will call ops->intr_ack at the next
 * boundary where RFLAGS.IF allows.  Cleared by the CPU when intr_ack returns -1. */
void cpu_set_irq_pending(struct cpu *cpu);
/* Any thread: raise NMI. */
void cpu_set_nmi_pending(struct cpu *cpu);

/* Execution options. */
void cpu_set_exit_on_pause(struct cpu *cpu, bool on);
/* Inject an exception (e.g. from the VM core for a debugger); vector, has error code, code. */
void cpu_inject_exception(struct cpu *cpu, int vector, bool has_err, uint32_t err);

/* Retired instruction count since creation. */
uint64_t cpu_insn_count(const struct cpu *cpu);
bool cpu_is_halted(const struct cpu *cpu);

/* Translate a guest-linear address with the current paging mode (for a debugger/loader);
 * returns 0 and the gpa, or -1 if not mapped. */
int cpu_translate(struct cpu *cpu, uint64_t gla, uint64_t *gpa);

/* Decoder test entry point: length of the instruction at bytes[0..n) decoded in `mode`
 * (16, 32 or 64-bit code), or -1 if it is undefined, needs more than n bytes, exceeds 15 bytes,
 * or is an encoding this CPU does not implement (VEX/EVEX/XOP, 3DNow!, illegal LOCK).
 * The 0F38/0F3A maps are decoded for length (ModRM [+ imm8]). */
int cpu_decode_length(const uint8_t *bytes, size_t n, int mode);

#endif
