/*
 * CFI flash with the Intel command set, as QEMU's pflash_cfi01 behaves for OVMF:
 *
 *   0xFF read array (the default mode: reads return the contents)
 *   0x70 read status; 0x50 clear status (status 0, back to read array)
 *   0x10 / 0x40 program: the next write stores its bytes, status bit 7 (ready) is set and
 *        the part stays in read-status mode
 *   0x20 then 0xD0 erase the 4 KiB block holding the address (all 0xFF)
 *   0x90 read identifier: manufacturer 0x89 (Intel) at offset 0, device 0x18 at offset 1
 *
 * OVMF probes for flash by writing 0x50 and 0x70 to a byte that is not one of those values and
 * expects a status of 0 (a ROM would read back its contents, RAM the written value).  An
 * erase sequence with a wrong confirm byte sets the error bits 4-5 of the status.
 */
#include "pci/pflash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/mmio.h"
#include "vmm/vmm.h"

#define PFLASH_BLOCK        4096
#define CMD_PROGRAM         0x10
#define CMD_PROGRAM_ALT     0x40
#define CMD_ERASE           0x20
#define CMD_CLEAR_STATUS    0x50
#define CMD_READ_STATUS     0x70
#define CMD_READ_ID         0x90
#define CMD_ERASE_CONFIRM   0xD0
#define CMD_READ_ARRAY      0xFF
#define STATUS_READY        0x80
#define STATUS_ERASE_ERR    0x30

enum pflash_mode { PF_ARRAY, PF_STATUS, PF_PROGRAM, PF_ERASE, PF_ID };

struct pflash {
	struct vm *vm;
	uint8_t *data;                 /* the file, shared mapping */
	uint64_t size;
	int fd;
	enum pflash_mode mode;
	uint8_t status;
	pthread_mutex_t lock;
	struct mem_range mr;
	bool registered;
};

static uint64_t pflash_read(struct pflash *pf, uint64_t off, int size)
{
	uint64_t v = 0;

	switch (pf->mode) {
	case PF_ARRAY:
		memcpy(&v, pf->data + off, (size_t)size);
		return v;
	case PF_ID:
		return (off & 1) ? 0x18 : 0x89;
	default:
		/* the status byte, on every byte lane */
		for (int k = 0; k < size; k++)
			v |= (uint64_t)pf->status << (8 * k);
		return v;
	}
}

static void pflash_command(struct pflash *pf, uint64_t off, uint8_t cmd)
{
	switch (cmd) {
	case CMD_PROGRAM: case CMD_PROGRAM_ALT: pf->mode = PF_PROGRAM; break;
	case CMD_ERASE: pf->mode = PF_ERASE; break;
	case CMD_CLEAR_STATUS: pf->status = 0; pf->mode = PF_ARRAY; break;
	case CMD_READ_STATUS: pf->mode = PF_STATUS; break;
	case CMD_READ_ID: pf->mode = PF_ID; break;
	default: pf->mode = PF_ARRAY; break;   /* 0xFF and anything unknown */
	}
	(void)off;
}

static void pflash_write(struct pflash *pf, uint64_t off, int size, uint64_t val)
{
	switch (pf->mode) {
	case PF_PROGRAM:
		memcpy(pf->data + off, &val, (size_t)size);
		pf->status |= STATUS_READY;
		pf->mode = PF_STATUS;
		break;
	case PF_ERASE:
		if ((uint8_t)val == CMD_ERASE_CONFIRM) {
			memset(pf->data + (off & ~(uint64_t)(PFLASH_BLOCK - 1)), 0xFF, PFLASH_BLOCK);
			pf->status |= STATUS_READY;
		} else {
			pf->status |= STATUS_ERASE_ERR;
		}
		pf->mode = PF_STATUS;
		break;
	default:
		pflash_command(pf, off, (uint8_t)val);
		break;
	}
}

void pflash_access(struct pflash *pf, int write, uint64_t off, int size, uint64_t *val)
{
	if (size < 1 || size > 8 || off >= pf->size || (uint64_t)size > pf->size - off) {
		if (!write)
			*val = ~0ULL;
		return;
	}
	pthread_mutex_lock(&pf->lock);
	if (write)
		pflash_write(pf, off, size, *val);
	else
		*val = pflash_read(pf, off, size);
	pthread_mutex_unlock(&pf->lock);
}

static int pflash_handler(struct vcpu *vcpu, int dir, uint64_t addr, int size, uint64_t *val,
			  void *arg1, long arg2)
{
	struct pflash *pf = arg1;

	pflash_access(pf, dir == MEM_F_WRITE, addr - pf->mr.base, size, val);
	return 0;
}

static int pflash_open(struct pflash *pf, const char *path, uint64_t max_size, char *err,
		       size_t errlen)
{
	struct stat sb;

	pf->fd = open(path, O_RDWR | O_CLOEXEC);
	if (pf->fd < 0 || fstat(pf->fd, &sb) < 0) {
		snprintf(err, errlen, "bootvars %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0 || (sb.st_size & (PFLASH_BLOCK - 1)) ||
	    (uint64_t)sb.st_size > max_size) {
		snprintf(err, errlen, "bootvars %s: size must be a non-zero multiple of 4 KiB, "
			 "at most %llu KiB with the boot ROM", path,
			 (unsigned long long)(max_size >> 10));
		return -1;
	}
	pf->size = (uint64_t)sb.st_size;
	pf->data = mmap(NULL, pf->size, PROT_READ | PROT_WRITE, MAP_SHARED, pf->fd, 0);
	if (pf->data == MAP_FAILED) {
		pf->data = NULL;
		snprintf(err, errlen, "bootvars %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

struct pflash *pflash_create(struct vm *vm, const char *path, uint64_t top, uint64_t max_size,
			     char *err, size_t errlen)
{
	struct pflash *pf = calloc(1, sizeof(*pf));

	if (!pf) {
		snprintf(err, errlen, "bootvars %s: out of memory", path);
		return NULL;
	}
	pf->vm = vm;
	pthread_mutex_init(&pf->lock, NULL);
	if (pflash_open(pf, path, max_size, err, errlen) < 0) {
		pflash_destroy(pf);
		return NULL;
	}
	pf->mr = (struct mem_range){ "bootvars", MEM_F_RW, pflash_handler, pf, 0,
				     top - pf->size, pf->size };
	if (vm && register_mem(vm, &pf->mr) < 0) {
		snprintf(err, errlen, "bootvars %s: cannot map it below the boot ROM: %s", path,
			 strerror(errno));
		pflash_destroy(pf);
		return NULL;
	}
	pf->registered = vm != NULL;
	return pf;
}

uint64_t pflash_size(const struct pflash *pf)
{
	return pf->size;
}

void pflash_destroy(struct pflash *pf)
{
	if (!pf)
		return;
	if (pf->registered)
		unregister_mem(pf->vm, &pf->mr);
	if (pf->data) {
		msync(pf->data, pf->size, MS_SYNC);
		munmap(pf->data, pf->size);
	}
	if (pf->fd >= 0)
		fsync(pf->fd);
	if (pf->fd >= 0)
		close(pf->fd);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
}
