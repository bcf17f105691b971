/*
 * The VM core's private structures, shared by vm_mem.c (lifetime, memory), vcpu.c (threads,
 * run loop, events) and the backends.  Nothing outside src/vmm/ includes this.
 */
#ifndef BHYVE_VM_INTERNAL_H
#define BHYVE_VM_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "vmm/vm_backend.h"
#include "vmm/vmm.h"

/* The header at the start of the shm object; guest RAM follows at VM_SHM_HDR_SIZE. */
#define VM_SHM_MAGIC    "BHYVEVM1"
#define VM_SHM_VERSION  2
#define VM_SHM_HDR_SIZE 8192u

struct vm_shm_header {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size;
	uint32_t regs_size;        /* sizeof(struct cpu_regs) of the writer: layout check */
	uint32_t boot_valid;
	uint64_t memsize;
	uint64_t lowmem;
	uint64_t highmem;
	char name[VM_NAME_LEN + 1];
	int32_t running_pid;       /* bhyve process running it, 0 if none */
	uint32_t pad;
	struct cpu_regs boot_regs;
	struct vcpu_stats stats[VM_MAXCPU];   /* kept up to date by the running bhyve */
};

enum vcpu_state { VCPU_IDLE, VCPU_WAIT_SIPI, VCPU_RUNNING, VCPU_HALTED, VCPU_DONE };

struct vcpu {
	struct vm *vm;
	int id;
	pthread_t thread;
	bool thread_started;
	enum vcpu_state state;      /* under vm->lock */
	bool active;                /* started (BSP at vm_run, AP at SIPI) */
	bool intr_flag;             /* an interrupt may be pending (cleared when looked at) */
	bool nmi_flag, init_flag, sipi_flag;
	uint8_t sipi_vector;
	pthread_cond_t cond;        /* halted / wait-for-SIPI sleep, with vm->lock */
	bool regs_req, regs_done;   /* another thread wants a register snapshot (vm->lock) */
	struct cpu_regs regs_snap;
	void *backend_data;
	struct cpu_model model;
	struct vcpu_stats stats;
	uint64_t disp_active;       /* epoch announced while dispatching, 0 outside (vm_epoch.c) */
	int disp_depth;             /* nesting of dispatches on this vCPU's thread */
};

#define VM_DEVMEM_MAX 4

struct vm {
	char name[VM_NAME_LEN + 1];
	int shm_fd;                 /* -1 for an anonymous VM */
	struct vm_shm_header *hdr;  /* NULL for an anonymous VM (then boot state is in `anon_hdr`) */
	struct vm_shm_header *anon_hdr;
	size_t map_len;
	uint8_t *map;               /* whole mapping */
	uint8_t *ram;               /* guest RAM: low RAM then high RAM, contiguous */
	uint64_t memsize, lowmem, highmem;

	/* Per-VM parts, created by vm_alloc() and freed by vm_free(): the port and MMIO
	 * registries, the virtual clock, the exit table (a copy of the defaults). */
	struct inout_table *io;
	struct mmio_table *mmio;
	struct vclock *clk;
	uint64_t disp_epoch;        /* registry grace-period clock, starts at 1 (vm_epoch.c) */
	vm_exit_handler_t exit_handlers[VM_EXITCODE_MAX];   /* NULL: the default (vm_exit.c) */
	/* Set by the parts that own them (vm_set_platform, vm_set_pci_bus); NULL until then. */
	struct platform *_Atomic plat;
	struct pci_bus *_Atomic pci;
	const struct vm_platform_ops *_Atomic plat_ops;   /* registered by the platform */
	struct console *_Atomic console;    /* console input hub (console.c), made on first use */
	/* What vm_close() undoes, registered by the part that made it: the control socket
	 * (vm_ctl_start), the vCPUs (vm_setup_backend), the console hub (console.c).  A VM that
	 * was only opened (bhyvectl, bhyveload) has none, so those programs link none of them. */
	void (*ctl_stop)(struct vm *vm);
	void (*vcpus_fini)(struct vm *vm);
	void (*console_fini)(struct vm *vm);

	/* Device memory the guest reaches as plain memory (a framebuffer BAR): vm_map_devmem.
	 * Entries are written by the vCPU that moves the BAR and read by every vCPU's page
	 * lookup; a lookup racing with a move sees the old or the new place, both valid host
	 * memory for the VM's lifetime. */
	struct vm_devmem {
		uint64_t gpa, size;     /* size 0: free */
		uint8_t *host;
	} devmem[VM_DEVMEM_MAX];

	/* Run-time side (vm_setup). */
	const struct vm_backend_ops *ops;
	void *backend_data;
	int ncpus;
	struct vcpu *vcpus[VM_MAXCPU];
	struct vm_options opts;
	char err[256];

	pthread_mutex_t lock;
	pthread_cond_t done_cond;   /* vCPU threads ending, register snapshots done */
	void *ctl;                  /* control socket server (vm_ctl.c) */
	_Atomic int suspend_how;    /* VM_SUSPEND_NONE while running */
	_Atomic int debug_exit_status;  /* with VM_SUSPEND_DEBUG_EXIT */
	uint32_t halted_noint;      /* vCPUs halted with IF=0 (bit per vCPU), under lock */
	uint32_t active_mask;       /* under lock */
	int running_threads;        /* under lock */
};

/* Constructors and destructors of the per-VM parts (inout.c, mmio.c, vclock.c), called by
 * vm_alloc()/vm_free() only. */
struct inout_table *inout_table_create(void);
void inout_table_destroy(struct inout_table *t);
struct mmio_table *mmio_table_create(void);
void mmio_table_destroy(struct mmio_table *t);
struct vclock *vclock_create(struct vm *vm);
void vclock_destroy(struct vclock *c);

/* Registry grace periods (vm_epoch.c).  Dispatchers bracket their use of a registry with
 * enter/exit; a writer tags an unpublished entry with vm_epoch_retire() and frees it once
 * vm_epoch_safe(tag) holds.  vm_epoch_safe reads vm->vcpus: registration is not concurrent
 * with vCPU creation or teardown. */
void vm_epoch_enter(struct vcpu *v);
void vm_epoch_exit(struct vcpu *v);
uint64_t vm_epoch_retire(struct vm *vm);
bool vm_epoch_safe(struct vm *vm, uint64_t tag);

/* vcpu.c: stop and free the vCPUs (also vm_close's vcpus_fini). */
void vm_teardown_vcpus(struct vm *vm);
/* The control channel's pieces both ends use (vm_ctl_client.c): the socket address of VM
 * `name`, a whole write, a line read with a time-out, the peer's user. */
#define VM_CTL_TIMEOUT_MS 2000
socklen_t vm_ctl_addr(const char *name, struct sockaddr_un *sa);
int vm_ctl_write_all(int fd, const void *buf, size_t len);
int vm_ctl_read_line(int fd, char *buf, size_t len);
/* The peer's user (SO_PEERCRED) in *uid; true if it is root or our own user. */
bool vm_ctl_peer_ok(int fd, uid_t *uid);
struct vm_shm_header *vm_header(struct vm *vm);
/* Default exit handlers that need the vCPU internals (vcpu.c). */
int vcpu_handle_hlt(struct vcpu *v, struct vm_exit *exit);
int vcpu_handle_wait_sipi(struct vcpu *v, struct vm_exit *exit);
/* Pin the calling vCPU thread to vcpu.N.cpuset (vcpu_pin.c); 0, or -1 with a message on
 * stderr. */
int vcpu_pin(struct vcpu *v);
/* Parse a host CPU list "0,2-3" into a mask of CPUs below 1024; 0 or -1. */
int vcpu_parse_cpuset(const char *s, cpu_set_t *set);

#endif
