/*
 * QEMU's fw_cfg interface (QEMU docs/specs/fw_cfg.rst), as QEMU's OVMF uses it:
 *
 *   0x510  selector, 16-bit write: picks an item and rewinds its read offset;
 *   0x511  data, byte reads advance through the item (0 past its end; writes are ignored);
 *   0x514  DMA address, big-endian: the high half at 0x514, the low half at 0x518, whose write
 *          runs the request at that guest-physical address: { be32 control; be32 length;
 *          be64 address }.  control: ERROR 0x01, READ 0x02, SKIP 0x04, SELECT 0x08 (selector in
 *          bits 31:16), WRITE 0x10.  On completion control reads 0, or ERROR.
 *
 * Items: signature "QEMU" (0x00), ID (0x01: bit 0 traditional interface, bit 1 DMA), UUID
 * (0x02), RAM size (0x03), CPU count (0x05), boot menu (0x0E), max CPUs (0x0F), the file
 * directory (0x19: be32 count, then { be32 size; be16 select; be16 reserved; char name[56] })
 * and files from 0x20: etc/e820, the ACPI tables with the linker/loader script that places
 * them (etc/table-loader, etc/acpi/tables, etc/acpi/rsdp) and SMBIOS (etc/smbios/...).
 *
 * The ACPI tables describe the ECAM window where the host bridge put it, which the firmware
 * programs before it reads them: they are rebuilt (same size) whenever one of their items is
 * selected.  No item is writable.
 */
#include "pci/fwcfg.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pci/fwcfg_acpi.h"
#include "pci/pci_devinst.h"
#include "vmm/inout.h"
#include "vmm/layout.h"
#include "vmm/vmm.h"

#define FWCFG_SIGNATURE   0x00
#define FWCFG_ID          0x01
#define FWCFG_UUID        0x02
#define FWCFG_RAM_SIZE    0x03
#define FWCFG_NB_CPUS     0x05
#define FWCFG_BOOT_MENU   0x0E
#define FWCFG_MAX_CPUS    0x0F
#define FWCFG_FILE_DIR    0x19
#define FWCFG_FILE_FIRST  0x20
#define FWCFG_MAX_ITEMS   32
#define FWCFG_NAME_LEN    56

#define FWCFG_ID_TRAD     0x1
#define FWCFG_ID_DMA      0x2

#define DMA_CTL_ERROR     0x01
#define DMA_CTL_READ      0x02
#define DMA_CTL_SKIP      0x04
#define DMA_CTL_SELECT    0x08
#define DMA_CTL_WRITE     0x10

struct fwcfg_item {
	uint16_t key;
	char name[FWCFG_NAME_LEN];     /* "" for the fixed items */
	uint8_t *data;
	uint32_t size;
	bool acpi;                     /* rebuilt on select */
};

struct fwcfg {
	struct vm *vm;
	pthread_mutex_t lock;
	struct fwcfg_item item[FWCFG_MAX_ITEMS];
	int nitems;
	int nfiles;
	struct fwcfg_item *cur;        /* selected item, NULL if none exists */
	uint32_t off;                  /* read offset in it */
	uint32_t dma_hi;
	struct fwcfg_acpi acpi;
	struct inout_port sel_port, dma_port;
	bool sel_reg, dma_reg;
};

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct fwcfg_item *fwcfg_find(struct fwcfg *fc, uint16_t key)
{
	for (int i = 0; i < fc->nitems; i++)
		if (fc->item[i].key == key)
			return &fc->item[i];
	return NULL;
}

static int fwcfg_add(struct fwcfg *fc, uint16_t key, const char *name, const void *data,
		     uint32_t size)
{
	struct fwcfg_item *it;

	if (fc->nitems >= FWCFG_MAX_ITEMS || strlen(name) >= FWCFG_NAME_LEN || fwcfg_find(fc, key))
		return -1;
	it = &fc->item[fc->nitems];
	memset(it, 0, sizeof(*it));
	it->data = malloc(size ? size : 1);
	if (!it->data)
		return -1;
	if (size)
		memcpy(it->data, data, size);
	it->key = key;
	it->size = size;
	snprintf(it->name, sizeof(it->name), "%s", name);
	fc->nitems++;
	return key;
}

/* The directory: every named item, sorted by selector (the order they were added). */
static int fwcfg_rebuild_dir(struct fwcfg *fc)
{
	struct fwcfg_item *dir = fwcfg_find(fc, FWCFG_FILE_DIR);
	uint32_t size = 4 + 64 * (uint32_t)fc->nfiles;
	uint8_t *p = calloc(1, size), *e;

	if (!p || !dir) {
		free(p);
		return -1;
	}
	be32_put(p, (uint32_t)fc->nfiles);
	e = p + 4;
	for (int i = 0; i < fc->nitems; i++) {
		struct fwcfg_item *it = &fc->item[i];
		if (!it->name[0])
			continue;
		be32_put(e, it->size);
		e[4] = (uint8_t)(it->key >> 8);
		e[5] = (uint8_t)it->key;
		memcpy(e + 8, it->name, strlen(it->name));
		e += 64;
	}
	free(dir->data);
	dir->data = p;
	dir->size = size;
	return 0;
}

int fwcfg_add_file(struct fwcfg *fc, const char *name, const void *data, uint32_t size)
{
	int key;

	if (!*name)
		return -1;
	for (int i = 0; i < fc->nitems; i++)
		if (!strcmp(fc->item[i].name, name))
			return -1;     /* names are unique in the directory */
	key = fwcfg_add(fc, (uint16_t)(FWCFG_FILE_FIRST + fc->nfiles), name, data, size);
	if (key < 0)
		return -1;
	fc->nfiles++;
	if (fwcfg_rebuild_dir(fc) < 0)
		return -1;
	return key;
}

struct fwcfg *fwcfg_new(struct vm *vm)
{
	struct fwcfg *fc = calloc(1, sizeof(*fc));
	uint32_t id = FWCFG_ID_TRAD | FWCFG_ID_DMA;

	if (!fc)
		return NULL;
	fc->vm = vm;
	pthread_mutex_init(&fc->lock, NULL);
	if (fwcfg_add(fc, FWCFG_SIGNATURE, "", "QEMU", 4) < 0 ||
	    fwcfg_add(fc, FWCFG_ID, "", &id, 4) < 0 ||
	    fwcfg_add(fc, FWCFG_FILE_DIR, "", NULL, 0) < 0 || fwcfg_rebuild_dir(fc) < 0) {
		fwcfg_free(fc);
		return NULL;
	}
	return fc;
}

void fwcfg_free(struct fwcfg *fc)
{
	if (!fc)
		return;
	for (int i = 0; i < fc->nitems; i++)
		free(fc->item[i].data);
	pthread_mutex_destroy(&fc->lock);
	free(fc);
}

static void fwcfg_select(struct fwcfg *fc, uint16_t key)
{
	fc->cur = fwcfg_find(fc, key);
	fc->off = 0;
	if (fc->cur && fc->cur->acpi)
		fwcfg_acpi_refresh(&fc->acpi, fc->vm);
}

/* Copy up to n bytes of the current item from the read offset; the rest of dst gets zeros. */
static void fwcfg_read(struct fwcfg *fc, uint8_t *dst, uint32_t n)
{
	uint32_t avail = 0;

	if (fc->cur && fc->off < fc->cur->size)
		avail = fc->cur->size - fc->off;
	if (avail > n)
		avail = n;
	if (avail)
		memcpy(dst, fc->cur->data + fc->off, avail);
	memset(dst + avail, 0, n - avail);
	fc->off += avail;
}

static void fwcfg_skip(struct fwcfg *fc, uint32_t n)
{
	uint32_t left = fc->cur && fc->off < fc->cur->size ? fc->cur->size - fc->off : 0;

	fc->off += n < left ? n : left;
}

/* One DMA request at gpa; its control word is written back (0 or ERROR). */
static void fwcfg_dma(struct fwcfg *fc, uint64_t gpa)
{
	uint8_t *req = vm_map_gpa(fc->vm, gpa, 16);
	uint32_t ctl, len;
	uint64_t addr;

	if (!req)
		return;     /* nowhere to report: as a bus error, nothing happens */
	ctl = be32_get(req);
	len = be32_get(req + 4);
	addr = (uint64_t)be32_get(req + 8) << 32 | be32_get(req + 12);
	if (ctl & DMA_CTL_SELECT)
		fwcfg_select(fc, (uint16_t)(ctl >> 16));
	if (ctl & DMA_CTL_READ) {
		uint8_t *dst = len ? vm_map_gpa(fc->vm, addr, len) : NULL;
		if (len && !dst) {
			be32_put(req, DMA_CTL_ERROR);
			return;
		}
		if (len) {
			fwcfg_read(fc, dst, len);
			vm_notify_write(fc->vm, addr, len);
		}
	} else if (ctl & DMA_CTL_SKIP) {
		fwcfg_skip(fc, len);
	} else if (ctl & DMA_CTL_WRITE) {
		be32_put(req, DMA_CTL_ERROR);   /* no item is writable */
		return;
	}
	be32_put(req, 0);
}

void fwcfg_io(struct fwcfg *fc, int in, uint16_t port, int bytes, uint32_t *val)
{
	static const char dma_sig[8] = "QEMU CFG";

	pthread_mutex_lock(&fc->lock);
	if (port == PORT_FWCFG_SEL && !in && bytes == 2) {
		fwcfg_select(fc, (uint16_t)*val);
	} else if (port == PORT_FWCFG_SEL + 1 && in) {
		uint8_t b[4];
		fwcfg_read(fc, b, (uint32_t)bytes);
		*val = 0;
		memcpy(val, b, (size_t)bytes);
	} else if (port >= PORT_FWCFG_DMA && port < PORT_FWCFG_DMA + 8) {
		int o = port - PORT_FWCFG_DMA;
		if (in) {
			*val = 0;
			if (o + bytes <= 8)
				memcpy(val, dma_sig + o, (size_t)bytes);
		} else if (o == 0 && bytes == 4) {
			fc->dma_hi = __builtin_bswap32(*val);
		} else if (o == 4 && bytes == 4) {
			fwcfg_dma(fc, (uint64_t)fc->dma_hi << 32 | __builtin_bswap32(*val));
			fc->dma_hi = 0;
		}
	} else if (in) {
		*val = 0;
	}
	pthread_mutex_unlock(&fc->lock);
}

static int fwcfg_port(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
		      void *arg)
{
	fwcfg_io(arg, in, port, bytes, eax);
	return 0;
}

/* The fixed items and files that describe this VM. */
static int fwcfg_fill(struct fwcfg *fc, struct vm *vm, char *err, size_t errlen)
{
	uint64_t ram = vm_mem_size(vm), gpa[2], len[2], e820[2][3];
	uint16_t ncpu = (uint16_t)vm_ncpus(vm), zero = 0;
	uint8_t ent[2][20];
	int n = vm_mem_ranges(vm, gpa, len);

	for (int i = 0; i < n; i++) {
		e820[i][0] = gpa[i];
		e820[i][1] = len[i];
		e820[i][2] = 1;     /* RAM */
		memcpy(ent[i], &e820[i][0], 8);
		memcpy(ent[i] + 8, &e820[i][1], 8);
		memcpy(ent[i] + 16, &(uint32_t){ 1 }, 4);
	}
	if (fwcfg_add(fc, FWCFG_RAM_SIZE, "", &ram, 8) < 0 ||
	    fwcfg_add(fc, FWCFG_NB_CPUS, "", &ncpu, 2) < 0 ||
	    fwcfg_add(fc, FWCFG_MAX_CPUS, "", &ncpu, 2) < 0 ||
	    fwcfg_add(fc, FWCFG_BOOT_MENU, "", &zero, 2) < 0 ||
	    fwcfg_add_file(fc, "etc/e820", ent, (uint32_t)(20 * n)) < 0) {
		snprintf(err, errlen, "fw_cfg: out of memory");
		return -1;
	}
	return fwcfg_acpi_add(fc, &fc->acpi, vm, err, errlen);
}

uint8_t *fwcfg_file_data(struct fwcfg *fc, int key, uint32_t *size)
{
	struct fwcfg_item *it = fwcfg_find(fc, (uint16_t)key);

	if (!it)
		return NULL;
	*size = it->size;
	return it->data;
}

void fwcfg_refresh_on_select(struct fwcfg *fc, int key)
{
	struct fwcfg_item *it = fwcfg_find(fc, (uint16_t)key);

	if (it)
		it->acpi = true;
}

int fwcfg_add_uuid(struct fwcfg *fc, const uint8_t uuid[16])
{
	return fwcfg_add(fc, FWCFG_UUID, "", uuid, 16);
}

void fwcfg_deinit(struct fwcfg *fc)
{
	if (!fc)
		return;
	if (fc->sel_reg)
		unregister_inout(fc->vm, &fc->sel_port);
	if (fc->dma_reg)
		unregister_inout(fc->vm, &fc->dma_port);
	fwcfg_free(fc);
}

struct fwcfg *fwcfg_init(struct vm *vm, char *err, size_t errlen)
{
	struct fwcfg *fc = fwcfg_new(vm);

	if (!fc) {
		snprintf(err, errlen, "fw_cfg: out of memory");
		return NULL;
	}
	if (fwcfg_fill(fc, vm, err, errlen) < 0) {
		fwcfg_deinit(fc);
		return NULL;
	}
	fc->sel_port = (struct inout_port){ "fw_cfg", PORT_FWCFG_SEL, 2, IOPORT_F_INOUT,
					    fwcfg_port, fc };
	fc->dma_port = (struct inout_port){ "fw_cfg-dma", PORT_FWCFG_DMA, 8, IOPORT_F_INOUT,
					    fwcfg_port, fc };
	fc->sel_reg = register_inout(vm, &fc->sel_port) == 0;
	fc->dma_reg = fc->sel_reg && register_inout(vm, &fc->dma_port) == 0;
	if (!fc->dma_reg) {
		snprintf(err, errlen, "fw_cfg: ports 0x%x-0x%x are taken", PORT_FWCFG_SEL,
			 PORT_FWCFG_DMA + 7);
		fwcfg_deinit(fc);
		return NULL;
	}
	return fc;
}
