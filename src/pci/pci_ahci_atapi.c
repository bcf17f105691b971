/*
 * ATAPI for AHCI cd: ports: the ATA commands a packet device answers (IDENTIFY PACKET
 * DEVICE, PACKET, SET FEATURES, DEVICE RESET, power management; IDENTIFY DEVICE aborts with
 * the packet signature) and the SCSI MMC commands that guests and firmware use to find, boot
 * from and read a CD/DVD image: TEST UNIT READY, REQUEST SENSE, INQUIRY, READ CAPACITY,
 * READ(10/12), READ TOC (formats 0 and 1), GET CONFIGURATION, GET EVENT STATUS NOTIFICATION,
 * MODE SENSE(10) (capabilities page), START STOP UNIT (eject and load), PREVENT ALLOW MEDIUM
 * REMOVAL.  The medium is read-only 2048-byte sectors.  A failing command ends with CHECK
 * CONDITION: status ERR, the sense key in the error register, sense data for REQUEST SENSE.
 */
#include <errno.h>
#include <string.h>

#include "pci/pci_ahci.h"

#define ATAPI_SECT 2048

#define ATA_DEVICE_RESET        0x08
#define ATA_PACKET              0xA0
#define ATA_IDENTIFY_PACKET     0xA1

#define SCSI_TEST_UNIT_READY    0x00
#define SCSI_REQUEST_SENSE      0x03
#define SCSI_INQUIRY            0x12
#define SCSI_MODE_SELECT6       0x15
#define SCSI_MODE_SENSE6        0x1A
#define SCSI_START_STOP         0x1B
#define SCSI_PREVENT_ALLOW      0x1E
#define SCSI_READ_CAPACITY      0x25
#define SCSI_READ10             0x28
#define SCSI_SYNC_CACHE         0x35
#define SCSI_READ_TOC           0x43
#define SCSI_GET_CONFIGURATION  0x46
#define SCSI_GET_EVENT_STATUS   0x4A
#define SCSI_MODE_SENSE10       0x5A
#define SCSI_READ12             0xA8
#define SCSI_SET_CD_SPEED       0xBB

#define SENSE_NOT_READY         0x02
#define SENSE_ILLEGAL_REQUEST   0x05
#define ASC_INVALID_OPCODE      0x20
#define ASC_LBA_OUT_OF_RANGE    0x21
#define ASC_INVALID_FIELD       0x24
#define ASC_NO_MEDIUM           0x3A

void ahci_atapi_identify_init(struct ahci_port *p, const char *ser, const char *model,
			      const char *rev)
{
	uint16_t *id = p->ident;

	memset(p->ident, 0, sizeof(p->ident));
	id[0] = 0x85C0;         /* ATAPI, CD/DVD, removable, DRQ within 50 us, 12-byte packets */
	ahci_ata_string(id + 10, ser, 20);
	ahci_ata_string(id + 23, rev ? rev : "001", 8);
	ahci_ata_string(id + 27, model ? model : "BHYVE SATA DVD ROM", 40);
	id[49] = 1u << 9 | 1u << 8;             /* LBA, DMA */
	id[53] = 1u << 1 | 1u << 2;
	id[63] = 0x0007 | 0x0400;
	id[64] = 0x0003;
	id[65] = id[66] = id[67] = id[68] = 120;
	id[76] = 1u << 3 | 1u << 2 | 1u << 1;   /* SATA Gen1-3 */
	id[80] = 0x03F0;
	id[82] = 1u << 14 | 1u << 4;            /* NOP, PACKET feature set */
	id[83] = 1u << 14;
	id[84] = 1u << 14;
	id[85] = id[82];
	id[87] = 1u << 14;
	id[88] = 0x007F | 1u << (8 + 6);
	id[222] = 0x103F;
	uint8_t sum = 0xA5;
	for (int i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
	id[255] = (uint16_t)(((uint8_t)-sum) << 8 | 0xA5);
}

static uint32_t atapi_be(const uint8_t *b, int n)
{
	uint32_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

static void atapi_put_be(uint8_t *b, uint32_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

struct atapi_ctx {
	struct ahci_port *p;
	int slot;
	const uint8_t *prdt;
	unsigned prdtl;
	bool dma;
};

/* CHECK CONDITION with this sense. */
static void atapi_fail(struct atapi_ctx *x, uint8_t key, uint8_t asc)
{
	x->p->sense_key = key;
	x->p->asc = asc;
	x->p->ascq = 0;
	ahci_complete(x->p, x->slot, ATA_S_DRDY | ATA_S_ERR, (uint8_t)(key << 4 | ATA_E_ABRT), 0);
}

static void atapi_ok(struct atapi_ctx *x, uint32_t bytes)
{
	x->p->sense_key = x->p->asc = x->p->ascq = 0;
	ahci_complete(x->p, x->slot, ATA_S_OK, 0, bytes);
}

/* Data-in of at most `alloc` bytes from buf. */
static void atapi_data(struct atapi_ctx *x, const void *buf, uint32_t len, uint32_t alloc)
{
	uint32_t n = len < alloc ? len : alloc;

	x->p->slot[x->slot].pio = !x->dma;
	n = ahci_prd_write(x->p, x->prdt, x->prdtl, buf, n);
	atapi_ok(x, n);
}

static bool atapi_media(const struct ahci_port *p)
{
	return !p->tray_open;
}

static void atapi_inquiry(struct atapi_ctx *x, const uint8_t *cdb)
{
	uint8_t d[36];

	if (cdb[1] & 1) {               /* no vital product data pages */
		atapi_fail(x, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	memset(d, ' ', sizeof(d));
	d[0] = 0x05;                    /* CD/DVD device */
	d[1] = 0x80;                    /* removable */
	d[2] = 0x05;                    /* SPC-3 */
	d[3] = 0x32;                    /* response data format 2 */
	d[4] = sizeof(d) - 5;
	d[5] = d[6] = d[7] = 0;
	memcpy(d + 8, "BHYVE", 5);
	memcpy(d + 16, "BHYVE DVD-ROM", 13);
	memcpy(d + 32, "001 ", 4);
	atapi_data(x, d, sizeof(d), atapi_be(cdb + 3, 2));
}

static void atapi_request_sense(struct atapi_ctx *x, const uint8_t *cdb)
{
	uint8_t d[18] = { 0x70, 0, x->p->sense_key, 0, 0, 0, 0, 10 };

	d[12] = x->p->asc;
	d[13] = x->p->ascq;
	x->p->slot[x->slot].pio = !x->dma;
	uint32_t n = ahci_prd_write(x->p, x->prdt, x->prdtl, d,
				    cdb[4] < sizeof(d) ? cdb[4] : (uint32_t)sizeof(d));
	atapi_ok(x, n);
}

static void atapi_read_capacity(struct atapi_ctx *x)
{
	uint8_t d[8];
	uint64_t last = x->p->nsect ? x->p->nsect - 1 : 0;

	atapi_put_be(d, last > 0xFFFFFFFF ? 0xFFFFFFFF : (uint32_t)last, 4);
	atapi_put_be(d + 4, ATAPI_SECT, 4);
	atapi_data(x, d, sizeof(d), sizeof(d));
}

/* A TOC address: LBA, or MSF (with the 2-second lead-in) when msf. */
static void atapi_toc_addr(uint8_t *b, uint64_t lba, bool msf)
{
	if (!msf) {
		atapi_put_be(b, (uint32_t)lba, 4);
		return;
	}
	lba += 150;
	b[0] = 0;
	b[1] = (uint8_t)(lba / (75 * 60) > 255 ? 255 : lba / (75 * 60));
	b[2] = (uint8_t)(lba / 75 % 60);
	b[3] = (uint8_t)(lba % 75);
}

static void atapi_read_toc(struct atapi_ctx *x, const uint8_t *cdb)
{
	uint8_t d[20];
	bool msf = cdb[1] & 2;
	unsigned fmt = cdb[2] & 0xF;
	uint32_t alloc = atapi_be(cdb + 7, 2);

	if (!fmt)
		fmt = cdb[9] >> 6;      /* the older place for the format */
	memset(d, 0, sizeof(d));
	if (fmt == 0) {
		if (cdb[6] > 1 && cdb[6] != 0xAA) {
			atapi_fail(x, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
			return;
		}
		atapi_put_be(d, 18, 2);
		d[2] = d[3] = 1;                        /* first and last track */
		d[5] = 0x14;                            /* data track, digital copy allowed */
		d[6] = 1;
		atapi_toc_addr(d + 8, 0, msf);
		d[13] = 0x14;
		d[14] = 0xAA;                           /* lead-out */
		atapi_toc_addr(d + 16, x->p->nsect, msf);
		atapi_data(x, d, 20, alloc);
	} else if (fmt == 1) {                          /* session information */
		atapi_put_be(d, 10, 2);
		d[2] = d[3] = 1;
		d[5] = 0x14;
		d[6] = 1;
		atapi_toc_addr(d + 8, 0, msf);
		atapi_data(x, d, 12, alloc);
	} else {
		atapi_fail(x, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
	}
}

static void atapi_get_configuration(struct atapi_ctx *x, const uint8_t *cdb)
{
	uint8_t d[16];
	uint16_t profile = atapi_media(x->p) ? 0x0010 : 0;     /* DVD-ROM */

	memset(d, 0, sizeof(d));
	atapi_put_be(d, sizeof(d) - 4, 4);
	atapi_put_be(d + 6, profile, 2);
	d[8 + 2] = 0x03;                /* feature 0 (profile list): persistent, current */
	d[8 + 3] = 4;
	atapi_put_be(d + 12, 0x0010, 2);
	d[14] = profile ? 1 : 0;
	atapi_data(x, d, sizeof(d), atapi_be(cdb + 7, 2));
}

static void atapi_event_status(struct atapi_ctx *x, const uint8_t *cdb)
{
	uint8_t d[8];
	struct ahci_port *p = x->p;

	if (!(cdb[1] & 1)) {            /* only polled operation */
		atapi_fail(x, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	memset(d, 0, sizeof(d));
	d[3] = 0x10;                    /* supported: media class */
	if (!(cdb[4] & 0x10)) {
		atapi_put_be(d, 2, 2);
		d[2] = 0x80;            /* no event available */
		atapi_data(x, d, 4, atapi_be(cdb + 7, 2));
		return;
	}
	atapi_put_be(d, 6, 2);
	d[2] = 4;                       /* media class */
	d[4] = p->media_changed ? (atapi_media(p) ? 2 : 3) : 0;   /* new media / removal */
	d[5] = (uint8_t)((atapi_media(p) ? 2 : 0) | (p->tray_open ? 1 : 0));
	p->media_changed = false;
	atapi_data(x, d, sizeof(d), atapi_be(cdb + 7, 2));
}

static void atapi_mode_sense(struct atapi_ctx *x, const uint8_t *cdb)
{
	uint8_t d[8 + 28];
	unsigned page = cdb[2] & 0x3F;

	if (page != 0x2A && page != 0x3F) {
		atapi_fail(x, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	memset(d, 0, sizeof(d));
	atapi_put_be(d, sizeof(d) - 2, 2);
	uint8_t *pg = d + 8;            /* MM capabilities and mechanical status page */
	pg[0] = 0x2A;
	pg[1] = 26;
	pg[2] = 0x3F;                   /* reads CD-R, CD-RW, method 2, DVD-ROM, ... */
	pg[4] = 0x71;                   /* audio play, composite, digital ports, mode 2 form 2 */
	pg[5] = 0xFF;
	pg[6] = 0x29;                   /* tray loading mechanism, eject, lock */
	atapi_put_be(pg + 8, 706 * 8, 2);       /* max read speed: 8x in kB/s */
	atapi_put_be(pg + 10, 256, 2);          /* volume levels */
	atapi_put_be(pg + 12, 2048, 2);         /* buffer, KiB */
	atapi_put_be(pg + 14, 706 * 8, 2);
	atapi_data(x, d, sizeof(d), atapi_be(cdb + 7, 2));
}

static void atapi_start_stop(struct atapi_ctx *x, const uint8_t *cdb)
{
	struct ahci_port *p = x->p;
	bool loej = cdb[4] & 2, start = cdb[4] & 1;

	if (loej) {
		p->tray_open = !start;  /* eject opens the tray and takes the medium away */
		p->media_changed = true;
	}
	atapi_ok(x, 0);
}

static void atapi_read_done(struct blockif_req *br, int err)
{
	struct ahci_cmd *c = br->arg;
	struct ahci_port *p = c->p;

	pthread_mutex_lock(&p->sc->mtx);
	if (err) {
		p->sense_key = err == EINVAL ? SENSE_ILLEGAL_REQUEST : 0x03;     /* medium error */
		p->asc = err == EINVAL ? ASC_LBA_OUT_OF_RANGE : 0x11;
		ahci_complete(p, c->slot, ATA_S_DRDY | ATA_S_ERR,
			      (uint8_t)(p->sense_key << 4 | ATA_E_ABRT), 0);
	} else {
		ahci_dma_written(p, c);
		p->sense_key = p->asc = 0;
		ahci_complete(p, c->slot, ATA_S_OK, 0, c->xfer);
	}
	if (--p->inflight == 0)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->sc->mtx);
}

static void atapi_read(struct atapi_ctx *x, const uint8_t *cdb)
{
	struct ahci_port *p = x->p;
	struct ahci_cmd *c = &p->slot[x->slot];
	uint64_t lba = atapi_be(cdb + 2, 4);
	uint64_t n = cdb[0] == SCSI_READ10 ? atapi_be(cdb + 7, 2) : atapi_be(cdb + 6, 4);

	if (!atapi_media(p)) {
		atapi_fail(x, SENSE_NOT_READY, ASC_NO_MEDIUM);
		return;
	}
	if (lba > p->nsect || n > p->nsect - lba || n * ATAPI_SECT > 0xFFFFFFFFULL) {
		atapi_fail(x, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	if (n == 0) {
		atapi_ok(x, 0);
		return;
	}
	c->pio = !x->dma;
	c->xfer = (uint32_t)(n * ATAPI_SECT);
	if (ahci_prd_iov(p, c, x->prdt, x->prdtl, c->xfer) < 0) {
		atapi_fail(x, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	c->br.op = BLOCKIF_READ;
	c->br.offset = lba * ATAPI_SECT;
	c->br.iov = c->iov;
	c->br.iovcnt = c->iovcnt;
	c->br.done = atapi_read_done;
	c->br.arg = c;
	p->inflight++;
	if (blockif_submit(p->bc, &c->br) != 0) {
		p->inflight--;
		atapi_fail(x, 0x04, 0x44);      /* hardware error: internal target failure */
	}
}

static void atapi_packet(struct atapi_ctx *x, const uint8_t *cdb)
{
	switch (cdb[0]) {
	case SCSI_TEST_UNIT_READY:
		if (atapi_media(x->p))
			atapi_ok(x, 0);
		else
			atapi_fail(x, SENSE_NOT_READY, ASC_NO_MEDIUM);
		break;
	case SCSI_REQUEST_SENSE: atapi_request_sense(x, cdb); break;
	case SCSI_INQUIRY: atapi_inquiry(x, cdb); break;
	case SCSI_START_STOP: atapi_start_stop(x, cdb); break;
	case SCSI_PREVENT_ALLOW:
	case SCSI_SYNC_CACHE:
	case SCSI_SET_CD_SPEED:
		atapi_ok(x, 0);
		break;
	case SCSI_READ_CAPACITY:
		if (atapi_media(x->p))
			atapi_read_capacity(x);
		else
			atapi_fail(x, SENSE_NOT_READY, ASC_NO_MEDIUM);
		break;
	case SCSI_READ10:
	case SCSI_READ12: atapi_read(x, cdb); break;
	case SCSI_READ_TOC:
		if (atapi_media(x->p))
			atapi_read_toc(x, cdb);
		else
			atapi_fail(x, SENSE_NOT_READY, ASC_NO_MEDIUM);
		break;
	case SCSI_GET_CONFIGURATION: atapi_get_configuration(x, cdb); break;
	case SCSI_GET_EVENT_STATUS: atapi_event_status(x, cdb); break;
	case SCSI_MODE_SENSE10: atapi_mode_sense(x, cdb); break;
	default: atapi_fail(x, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE); break;
	}
}

void ahci_atapi_start(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *acmd,
		      const uint8_t *prdt, unsigned prdtl)
{
	struct ahci_cmd *c = &p->slot[slot];
	struct atapi_ctx x = { p, slot, prdt, prdtl, (cfis[3] & 1) != 0 };

	c->ncq = c->pio = c->is_write = false;
	c->iovcnt = 0;
	c->xfer = 0;
	memset(&c->br, 0, sizeof(c->br));
	switch (cfis[2]) {
	case ATA_PACKET:
		atapi_packet(&x, acmd);
		break;
	case ATA_IDENTIFY_PACKET:
		c->pio = true;
		if (ahci_prd_write(p, prdt, prdtl, p->ident, sizeof(p->ident)) < sizeof(p->ident))
			ahci_complete(p, slot, ATA_S_DRDY | ATA_S_ERR, ATA_E_ABRT, 0);
		else
			ahci_complete(p, slot, ATA_S_OK, 0, sizeof(p->ident));
		break;
	case ATA_DEVICE_RESET:
	case 0xEF:      /* SET FEATURES */
	case 0xE0: case 0xE1: case 0xE2: case 0xE3: case 0xE5: case 0xE6:
		ahci_complete(p, slot, ATA_S_OK, 0, 0);
		break;
	default:        /* IDENTIFY DEVICE included: a packet device aborts it */
		ahci_complete(p, slot, ATA_S_DRDY | ATA_S_ERR, ATA_E_ABRT, 0);
		break;
	}
}
